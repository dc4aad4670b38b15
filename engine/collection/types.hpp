#pragma once
// Settings, descriptions and statistics of collections (the engine's C++ API that net/ calls).

#include "engine/core/distance.hpp"
#include "engine/core/histogram.hpp"
#include "engine/index/sq8.hpp"
#include "engine/storage/segment.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace puffer::collection {

using io_mode = storage::io_mode;

struct options {
    // Staging holding this many rows (live, replaced or deleted: all take memory until a flush)
    // is flushed to a segment automatically.
    std::size_t flush_threshold_vectors = 20000;
    // Staging below the threshold is flushed too once no write has come for this long, so that
    // a collection whose writes have stopped ends fully indexed (0: it waits for the threshold).
    std::uint32_t idle_flush_ms = 1000;
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
    // Codes stored beside the float vectors of every new segment. The collection sets it from
    // its MANIFEST (chosen at create), not from a server flag.
    index::quantization quantization = index::quantization::none;
    // Set by the database when it shuts down: segment builds in progress stop early.
    const std::atomic<bool>* cancel = nullptr;
};

// What a collection is created with besides its name, dimension and metric.
struct create_settings {
    // Payload paths (dotted, with everything beneath them) left out of the attribute index.
    std::vector<std::string> unindexed_fields;
    // Codes its segments store beside the float vectors.
    index::quantization quantization = index::quantization::none;
};

struct collection_info {
    std::string name;
    std::size_t dimension = 0;
    metric distance_metric = metric::l2;
    std::size_t points = 0;
    bool failed = false;
    std::vector<std::string> unindexed_fields;  // payload paths filters cannot use
    index::quantization quantization = index::quantization::none;
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
    // Continuous recall: searches sampled and re-run exactly, and the mean recall@k of the last
    // 256 of them (-1 before the first).
    std::uint64_t recall_samples = 0;
    double recall_estimate = -1;
    std::uint64_t flushes = 0;
    std::uint64_t compactions = 0;
    std::uint64_t retrains = 0;        // compactions that trained a new centroid table
    std::size_t centroid_tables = 0;   // distinct tables among the segments
    std::size_t clusters = 0;          // clusters of the current table (0: no segment yet)
    std::uint64_t wal_groups = 0;      // fdatasync'd groups (group commit: <= batches)
    std::uint64_t wal_records = 0;     // records (write batches) those groups held
    latency_histogram wal_sync;        // each group's fdatasync, since the collection opened
    bool flushing = false;
    bool compacting = false;
};

}  // namespace puffer::collection
