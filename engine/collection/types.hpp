#pragma once
// Requests, responses and settings of the collection API (the engine's C++ API that net/ calls).

#include "engine/core/distance.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace puffer::collection {

enum class io_mode { direct, mmap };

struct options {
    // Staging holding this many rows (live, replaced or deleted: all take memory until a flush)
    // is flushed to a segment automatically.
    std::size_t flush_threshold_vectors = 20000;
    // So is a collection whose current WAL file reaches this size, though staging be small:
    // deletes of indexed points add only log.
    std::uint64_t wal_flush_bytes = std::uint64_t{256} << 20;
    // Writes are refused (errc::busy) while staging holds this many vectors: a bound on memory
    // when inserts outrun segment builds.
    std::size_t staging_vectors_max = 200000;
    // Compaction keeps the number of segments at or below this.
    std::size_t segments_max = 8;
    // A segment with at least this fraction of its rows tombstoned is rewritten by compaction.
    double tombstone_ratio_max = 0.3;
    // Clusters per new segment; 0: index::default_cluster_count(rows).
    std::size_t cluster_count = 0;
    io_mode mode = io_mode::direct;
    std::size_t dma_alignment_bytes = 4096;
    std::uint64_t kmeans_seed = 0x5EED;
    // Set by the database when it shuts down: segment builds in progress stop early.
    const std::atomic<bool>* cancel = nullptr;
};

struct search_request {
    std::vector<float> vector;
    std::size_t top_k = 10;
    std::size_t nprobe = 0;  // 0: default_nprobe(cluster count) per segment
    bool include_payload = false;
    // The payloads of the answer may total at most this many bytes (0: no bound); past it the
    // search fails with invalid_argument before any payload is read.
    std::size_t payload_bytes_max = 0;
};

struct search_hit {
    std::string id;
    float score = 0;      // metric's natural value: squared L2 (lower is closer) or dot/cosine
    std::string payload;  // raw JSON object text, empty when none or not asked for
};

struct search_stats {
    std::size_t segments = 0;
    std::size_t clusters_probed = 0;
    std::size_t clusters_read = 0;  // read from disk (cache misses)
    std::size_t vectors_scanned = 0;
    std::uint64_t bytes_read = 0;
};

struct search_response {
    std::vector<search_hit> hits;
    search_stats stats;
};

struct collection_info {
    std::string name;
    std::size_t dimension = 0;
    metric distance_metric = metric::l2;
    std::size_t points = 0;
    bool failed = false;
};

struct collection_stats {
    collection_info info;
    std::string failure;  // why the collection is failed, if it is
    std::size_t segments = 0;
    std::size_t staging_vectors = 0;   // live vectors in staging (searched exactly)
    std::size_t frozen_vectors = 0;    // of those, in staging being flushed
    std::size_t tombstones = 0;        // dead rows still held by segments
    std::uint64_t disk_bytes = 0;      // segment files + WAL files
    std::uint64_t segment_bytes = 0;
    std::uint64_t wal_bytes = 0;
    std::uint64_t cache_hits = 0;
    std::uint64_t cache_misses = 0;
    std::uint64_t bytes_read = 0;      // cluster and payload bytes read from disk
    std::uint64_t flushes = 0;
    std::uint64_t compactions = 0;
    std::uint64_t wal_groups = 0;      // fdatasync'd groups (group commit: <= batches)
    bool flushing = false;
    bool compacting = false;
};

// Probes per segment when a search does not say: about 1.5 * sqrt(nlist), which measured
// recall@10 ~0.96-0.98 on real SIFT data at 20k-200k vectors (docs/results.md).
std::size_t default_nprobe(std::size_t cluster_count);

}  // namespace puffer::collection
