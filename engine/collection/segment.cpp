#include "engine/collection/internal.hpp"

#include "engine/core/log.hpp"
#include "engine/format/segment_writer.hpp"
#include "engine/index/ivf.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cerrno>
#include <fcntl.h>
#include <numeric>
#include <sys/mman.h>
#include <unistd.h>

namespace puffer::collection {
namespace {

std::atomic<std::uint64_t> next_uid{1};

}  // namespace

std::size_t default_nprobe(std::size_t cluster_count)
{
    auto n = static_cast<std::size_t>(1.5 * std::sqrt(static_cast<double>(cluster_count)) + 0.5);
    return std::clamp<std::size_t>(n, 1, std::max<std::size_t>(1, cluster_count));
}

segment::~segment()
{
    if (map != nullptr) {
        ::munmap(const_cast<std::byte*>(map), map_size_bytes);
    }
}

result<std::shared_ptr<segment>> segment::open(io::env& e, const std::string& path, std::uint64_t id,
                                               io_mode mode)
{
    auto s = std::make_shared<segment>();
    s->path = path;
    PUFFER_TRY_ASSIGN(s->reader, format::segment_reader::open(e, path, id));
    s->uid = next_uid.fetch_add(1);
    s->tombstones.assign((s->reader.vector_count() + 63) / 64, 0);
    if (mode == io_mode::direct) {
        PUFFER_TRY_ASSIGN(s->data_file, e.open(path, io::open_mode::read_direct));
    } else {
        PUFFER_TRY_ASSIGN(auto f, e.open(path, io::open_mode::read));
        void* p = ::mmap(nullptr, s->reader.file_size_bytes(), PROT_READ, MAP_SHARED, f->fd(), 0);
        if (p == MAP_FAILED) {
            return make_system_error(errno, path + ": mmap");
        }
        s->map = static_cast<const std::byte*>(p);
        s->map_size_bytes = s->reader.file_size_bytes();
        s->verified.assign((s->reader.cluster_count() + 63) / 64, 0);
        s->data_file = std::move(f);
    }
    return s;
}

std::vector<std::uint32_t> segment::tombstone_list() const
{
    std::vector<std::uint32_t> out;
    out.reserve(tombstone_count);
    for (std::size_t p = 0; p < reader.vector_count(); ++p) {
        if (is_dead(p)) {
            out.push_back(static_cast<std::uint32_t>(p));
        }
    }
    return out;
}

result<built_segment> build_segment(io::env& e, const std::string& segments_dir, std::uint64_t id,
                                    metric m, const build_rows& rows, const options& o, thread_pool* pool,
                                    const std::atomic<bool>* stop)
{
    const std::size_t n = rows.ids.size();
    PUFFER_ASSERT(n >= 1);
    index::ivf_options io;
    io.cluster_count = o.cluster_count;
    io.kmeans.seed = o.kmeans_seed + id;
    io.kmeans.cancel = o.cancel;
    io.kmeans.cancel_also = stop;
    index::ivf_layout layout = index::build_ivf_layout(rows.vectors.data(), n, rows.dimension, io, pool);
    if (layout.cancelled) {
        if (stop != nullptr && stop->load()) {
            return make_error(errc::not_found, "segment build cancelled: the collection was deleted");
        }
        return make_error(errc::shutting_down, "segment build cancelled: the server is shutting down");
    }

    format::segment_input input;
    input.segment_id = id;
    input.distance_metric = m;
    input.dimension = rows.dimension;
    input.vectors = rows.vectors.data();
    input.ids = rows.ids;
    bool any_payload = false;
    for (auto p : rows.payloads) {
        any_payload = any_payload || !p.empty();
    }
    if (any_payload) {
        input.payloads = rows.payloads;
    }
    input.layout = &layout;
    std::string path = io::join_path(segments_dir, format::segment_file_name(id));
    PUFFER_TRY(format::write_segment(e, path, input));
    PUFFER_TRY(e.sync_dir(segments_dir));

    built_segment out;
    PUFFER_TRY_ASSIGN(out.seg, segment::open(e, path, id, o.mode));
    out.position_source.assign(layout.order.begin(), layout.order.end());
    return out;
}

}  // namespace puffer::collection
