#pragma once
// An open segment file as every shard sees it: the parsed metadata (segment_reader), and a file
// for ring reads (O_DIRECT in direct mode) or a read-only mapping of the whole file (mmap mode).
// Immutable once opened, so it is safe to share between shards: each reads through its own ring
// at explicit offsets. Tombstones are not here: they belong to the collection, which publishes
// them in its read views. The file closes (and the mapping goes) when the last holder lets go.

#include "engine/core/result.hpp"
#include "engine/format/segment_reader.hpp"
#include "engine/io/env.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace puffer::storage {

enum class io_mode { direct, mmap };

class segment {
public:
    // Opens and checks path. Blocking.
    [[nodiscard]] static result<std::shared_ptr<const segment>> open(io::env& e, const std::string& path,
                                                                     std::uint64_t id, io_mode mode);
    ~segment() = default;
    segment(const segment&) = delete;
    segment& operator=(const segment&) = delete;

    std::uint64_t id() const { return reader_.segment_id(); }
    // Unique in the process: the cluster caches' key (a segment id repeats across collections).
    std::uint64_t uid() const { return uid_; }
    const std::string& path() const { return path_; }
    const format::segment_reader& reader() const { return reader_; }
    std::size_t vector_count() const { return reader_.vector_count(); }
    std::size_t cluster_count() const { return reader_.cluster_count(); }

    // Direct mode: the descriptor to read clusters and payloads from (O_DIRECT).
    int fd() const { return file_->fd(); }
    // Mmap mode: the whole file, else null.
    const std::byte* map() const { return map_; }

    // Mmap mode: checks cluster c's crc the first time any shard scans it (later scans trust
    // it). Safe for concurrent use.
    [[nodiscard]] status verify_mapped_cluster(std::size_t c) const;
    // The same for cluster c's codes. REQUIRES: reader().codes() != none.
    [[nodiscard]] status verify_mapped_codes(std::size_t c) const;
    // Whether searches score this segment's rows with its codes (then re-rank single rows).
    bool scores_with_codes() const
    {
        return reader_.codes() != index::quantization::none && reader_.has_row_checksums();
    }

    // Set by the collection when the segment leaves it (compaction, delete): cluster reads that
    // finish afterwards are not cached. Safe for concurrent use.
    void retire() const { retired_.store(true, std::memory_order_relaxed); }
    bool retired() const { return retired_.load(std::memory_order_relaxed); }

private:
    segment() = default;
    // Runs verify() unless bit bit_index of verified_ says it passed before; sets it when it passes.
    template <class Verify>
    [[nodiscard]] status verify_mapped_once(std::size_t bit_index, Verify verify) const
    {
        std::uint64_t bit = std::uint64_t{1} << (bit_index % 64);
        if ((verified_[bit_index / 64].load(std::memory_order_acquire) & bit) != 0) {
            return ok();
        }
        PUFFER_TRY(verify());
        verified_[bit_index / 64].fetch_or(bit, std::memory_order_release);
        return ok();
    }

    std::string path_;
    format::segment_reader reader_;
    std::unique_ptr<io::file> file_;
    std::unique_ptr<io::mapping> mapping_;  // mmap mode
    const std::byte* map_ = nullptr;
    std::uint64_t uid_ = 0;
    mutable std::unique_ptr<std::atomic<std::uint64_t>[]> verified_;  // mmap mode: clusters checked
    mutable std::atomic<bool> retired_{false};
};

}  // namespace puffer::storage
