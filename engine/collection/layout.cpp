#include "engine/collection/layout.hpp"

#include "engine/wal/wal_format.hpp"

namespace puffer::collection {

result<std::unique_ptr<io::file>> create_wal_file(io::env& e, const std::string& path)
{
    PUFFER_TRY_ASSIGN(auto f, e.open(path, io::open_mode::read_write));
    std::string header = wal::encode_file_header();
    status s = f->truncate(0);
    s = s ? f->write_at(0, std::as_bytes(std::span(header.data(), header.size()))) : s;
    s = s ? f->sync() : s;
    s = s ? e.sync_dir(io::parent_dir(path)) : s;
    if (!s) {
        f.reset();
        (void)e.remove(path);  // best effort: start-up also skips an empty or headerless file
        return s.error();
    }
    return f;
}

}  // namespace puffer::collection
