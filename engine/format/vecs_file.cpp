#include "engine/format/vecs_file.hpp"

#include "engine/core/log.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace puffer::format {
namespace {

struct file_closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
};
using file_ptr = std::unique_ptr<std::FILE, file_closer>;

template <class T>
result<matrix<T>> read_vecs(const std::string& path, std::size_t limit)
{
    file_ptr f(std::fopen(path.c_str(), "rb"));
    if (!f) {
        return make_system_error(errno, path + ": open");
    }
    std::fseek(f.get(), 0, SEEK_END);
    long size = std::ftell(f.get());
    std::fseek(f.get(), 0, SEEK_SET);
    std::int32_t d = 0;
    if (size < 4 || std::fread(&d, 4, 1, f.get()) != 1 || d <= 0 || d > 65536) {
        return make_error(errc::corruption, path + ": not a .fvecs/.ivecs file (bad first dimension)");
    }
    std::size_t row_bytes = 4 + static_cast<std::size_t>(d) * sizeof(T);
    if (static_cast<std::size_t>(size) % row_bytes != 0) {
        return make_error(errc::corruption,
                          strprintf("%s: size %ld is not a multiple of the row size %zu", path.c_str(),
                                    size, row_bytes));
    }
    matrix<T> m;
    m.dimension = static_cast<std::size_t>(d);
    m.rows = static_cast<std::size_t>(size) / row_bytes;
    if (limit != 0 && limit < m.rows) {
        m.rows = limit;
    }
    m.data.resize(m.rows * m.dimension);
    std::fseek(f.get(), 0, SEEK_SET);
    for (std::size_t i = 0; i < m.rows; ++i) {
        std::int32_t row_d = 0;
        if (std::fread(&row_d, 4, 1, f.get()) != 1 || row_d != d ||
            std::fread(m.data.data() + i * m.dimension, sizeof(T), m.dimension, f.get()) != m.dimension) {
            return make_error(errc::corruption,
                              strprintf("%s: row %zu: bad dimension or short read", path.c_str(), i));
        }
    }
    return m;
}

template <class T>
status write_vecs(const std::string& path, const matrix<T>& m)
{
    file_ptr f(std::fopen(path.c_str(), "wb"));
    if (!f) {
        return make_system_error(errno, path + ": open");
    }
    auto d = static_cast<std::int32_t>(m.dimension);
    for (std::size_t i = 0; i < m.rows; ++i) {
        if (std::fwrite(&d, 4, 1, f.get()) != 1 ||
            std::fwrite(m.row(i), sizeof(T), m.dimension, f.get()) != m.dimension) {
            return make_system_error(errno, path + ": write");
        }
    }
    if (std::fflush(f.get()) != 0) {
        return make_system_error(errno, path + ": write");
    }
    return ok();
}

}  // namespace

result<matrix<float>> read_fvecs(const std::string& path, std::size_t limit)
{
    return read_vecs<float>(path, limit);
}

result<matrix<std::int32_t>> read_ivecs(const std::string& path, std::size_t limit)
{
    return read_vecs<std::int32_t>(path, limit);
}

status write_fvecs(const std::string& path, const matrix<float>& m)
{
    return write_vecs(path, m);
}

status write_ivecs(const std::string& path, const matrix<std::int32_t>& m)
{
    return write_vecs(path, m);
}

}  // namespace puffer::format
