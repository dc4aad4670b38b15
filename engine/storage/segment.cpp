#include "engine/storage/segment.hpp"


namespace puffer::storage {
namespace {

std::atomic<std::uint64_t> next_uid{1};

}  // namespace

result<std::shared_ptr<const segment>> segment::open(io::env& e, const std::string& path, std::uint64_t id,
                                                     io_mode mode)
{
    std::shared_ptr<segment> s(new segment());
    s->path_ = path;
    PUFFER_TRY_ASSIGN(s->reader_, format::segment_reader::open(e, path, id));
    s->uid_ = next_uid.fetch_add(1);
    if (mode == io_mode::direct) {
        PUFFER_TRY_ASSIGN(s->file_, e.open(path, io::open_mode::read_direct));
    } else {
        PUFFER_TRY_ASSIGN(s->file_, e.open(path, io::open_mode::read));
        // Through the env, so that fault injection reaches mmap mode too.
        PUFFER_TRY_ASSIGN(s->mapping_, e.map(*s->file_, s->reader_.file_size_bytes()));
        s->map_ = s->mapping_->data();
        // Two bits per cluster: its vectors, then its codes.
        std::size_t words = (2 * s->reader_.cluster_count() + 63) / 64;
        s->verified_ = std::make_unique<std::atomic<std::uint64_t>[]>(words);
        for (std::size_t w = 0; w < words; ++w) {
            s->verified_[w].store(0, std::memory_order_relaxed);
        }
    }
    return std::shared_ptr<const segment>(std::move(s));
}

status segment::verify_mapped_cluster(std::size_t c) const
{
    return verify_mapped_once(2 * c, [&] { return reader_.verify_cluster(c, map_ + reader_.cluster_range(c).offset_bytes); });
}

status segment::verify_mapped_codes(std::size_t c) const
{
    return verify_mapped_once(2 * c + 1, [&] { return reader_.verify_codes(c, map_ + reader_.code_range(c).offset_bytes); });
}

}  // namespace puffer::storage
