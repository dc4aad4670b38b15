#pragma once
// A collection's write path: its durable state (MANIFEST, segments, WAL) and its in-memory state
// (staging, id index, tombstones). Everything here runs on the owning shard's thread
// (shard-local), except open() and create_on_disk(), which run before the collection is handed
// to its shard, and the jobs it sends to the background pool, which touch only immutable data
// and files.
//
// Write path: validate -> WAL record (group commit, fdatasync) -> apply to staging -> reply.
// After every change the collection's next read_view differs (view() builds it on first use):
// searches see views only, never the state here.
// Flush: rotate the WAL and freeze staging (still searched), build a segment off the shard (its
// rows assigned to the collection's current centroid table, or a new table trained for the
// first segment), install it in a new MANIFEST, then drop the frozen staging and its WAL files.
// Compaction (compaction_policy) merges or retrains segments; it runs beside flushes, and the
// MANIFEST installs of both go one at a time.

#include "engine/collection/compaction_policy.hpp"
#include "engine/collection/context.hpp"
#include "engine/collection/staging.hpp"
#include "engine/collection/types.hpp"
#include "engine/core/point_batch.hpp"
#include "engine/core/result.hpp"
#include "engine/core/unique_function.hpp"
#include "engine/format/manifest_codec.hpp"
#include "engine/format/snapshot_format.hpp"
#include "engine/index/payload_patch.hpp"
#include "engine/query/executor.hpp"
#include "engine/query/read_view.hpp"
#include "engine/query/request.hpp"
#include "engine/wal/wal_writer.hpp"

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace puffer::collection {

struct build_rows;
struct built_segment;
struct build_table;

// Where a live id's row is: a container (segment id, or a staging id with the top bit set) and
// the row's position in it.
struct location {
    std::uint64_t container = 0;
    std::uint32_t row = 0;
};

// Where a position of a newly built segment came from, as the shard sees it at install time.
struct source_row {
    bool dead = false;     // deleted or replaced since the rows were gathered
    std::string_view id;
    std::uint64_t container = 0;  // where the id index points while the source row is live
    std::uint32_t row = 0;
};

class collection : public std::enable_shared_from_this<collection> {
public:
    // Creates <dir> with an empty MANIFEST and the first WAL file, atomically (built under a
    // temporary name, then renamed). errc::already_exists if dir exists. On any other error dir
    // is left absent (unless undoing the rename fails too). Blocking.
    // unindexed_fields: payload paths (dotted, with everything beneath them) left out of the
    // attribute index; filters naming them are refused.
    [[nodiscard]] static status create_on_disk(io::env& e, const std::string& dir, const std::string& name,
                                               std::size_t dimension, metric m,
                                               const std::vector<std::string>& unindexed_fields = {},
                                               index::quantization quantization = index::quantization::none);

    // Recovers a collection from dir (MANIFEST, segments, tombstones, WAL replay with torn-tail
    // truncation, orphan cleanup). Never fails: a collection that cannot be opened comes back
    // failed, answering every call with the reason. Blocking.
    static std::shared_ptr<collection> open(io::env& e, const std::string& dir, const std::string& name,
                                            const options& o);

    ~collection();
    collection(const collection&) = delete;
    collection& operator=(const collection&) = delete;

    // Hands the collection to its shard. Shard-local from here on.
    void attach(context& ctx);

    const std::string& name() const { return name_; }
    std::size_t dimension() const { return dimension_; }
    metric distance_metric() const { return metric_; }
    bool failed() const { return failure_.has_value(); }
    // errc::failed with the reason the collection could not be opened.
    error failed_error() const;
    collection_info info() const;
    collection_stats stats() const;

    // Validates and durably applies a batch (upsert: an existing id is replaced). done gets an
    // error and nothing is applied if any point is invalid or the log write fails.
    void upsert(point_batch batch, unique_function<void(status)> done);
    // Deletes ids; done gets how many existed.
    void remove(std::vector<std::string> ids, unique_function<void(result<std::size_t>)> done);
    // Deletes every live point that matches f, as one write: its ids are chosen once every write
    // before it is applied, and logged (a replay deletes the same points); done gets how many.
    void remove_matching(std::shared_ptr<const index::filter> f, unique_function<void(result<std::size_t>)> done);
    // Sets (merge) or replaces the payloads of the live points chosen by ids or by a filter,
    // keeping their vectors (read back with reader): one upsert of those points, chosen and
    // logged like remove_matching. done gets how many points changed (a point the patch leaves
    // as it was is not rewritten).
    struct payload_patch {
        std::vector<std::string> ids;                 // or
        std::shared_ptr<const index::filter> filter;  // when ids is empty
        std::string payload;                          // a JSON object
        index::patch_mode mode = index::patch_mode::merge;
    };
    void patch_payloads(payload_patch patch, query::executor& reader,
                        unique_function<void(result<std::size_t>)> done);
    // A patch reads back and rewrites at most this many bytes of payloads and vectors.
    static constexpr std::size_t patch_bytes_max = std::size_t{256} << 20;

    // The live points with these ids now, for reading back: the view to read them from, their
    // rows in the order asked (an id asked twice once), and the ids that no live point has.
    struct located {
        std::shared_ptr<const query::read_view> view;
        std::vector<query::row_ref> rows;
        std::vector<std::string> missing;
    };
    located locate(const std::vector<std::string>& ids);

    // Links the collection's files as of now into dir (snapshot.cpp): its segments, and its WAL
    // files up to the last durable record, so that a recovery from dir with the MANIFEST given
    // here finds exactly the collection of this moment. The descriptor lists MANIFEST (to be
    // written beside the links) and every linked file with its length; the caller fills in the
    // id and the time. Blocking but short (a link per file); REQUIRES: not failed.
    struct snapshot_parts {
        format::snapshot_descriptor descriptor;
        std::string manifest;
    };
    [[nodiscard]] result<snapshot_parts> link_snapshot(const std::string& dir);

    // Makes everything in staging a segment; done when it is installed (or nothing to do).
    void flush(unique_function<void(status)> done);
    // Merges segments now if the policy wants it (tests call it; it also runs after flushes).
    void compact(unique_function<void(status)> done);
    // The shard calls this every few hundred milliseconds: staging left below the flush
    // threshold by writes that have stopped (options::idle_flush_ms) is flushed, once per quiet
    // spell (a failed idle flush waits for the next write).
    void tick(std::chrono::steady_clock::time_point now);

    // What searches see now. REQUIRES: not failed.
    std::shared_ptr<const query::read_view> view();
    // invalid_argument naming the field when f uses one the collection does not index.
    [[nodiscard]] status check_filter(const index::filter& f) const;

    // The collection is being deleted: pending calls fail, background results are dropped.
    void drop();
    // Set while its directory is being renamed away (the delete may still fail and be undone):
    // a flush or compaction that fails meanwhile, because its files vanished, reports the delete.
    void set_dropping(bool dropping) { dropping_ = dropping; }

private:
    collection(io::env& e, std::string dir, std::string name, const options& o);

    enum class job_kind { flush, compact };
    struct job {
        job_kind kind;
        // Everyone waiting for this job: requests for a job of the same kind that arrive while one
        // is queued (not yet started) join it instead of queueing another.
        std::vector<unique_function<void(status)>> done;
    };
    // Flushes and compactions each run one at a time, in their own lane, beside each other.
    struct lane {
        std::optional<job> running;
        std::optional<job> queued;
    };
    // A MANIFEST to write: made from the state when its turn comes, committed once durable.
    struct install {
        unique_function<format::manifest()> make;
        unique_function<void(status)> then;
    };

    // recovery.cpp
    [[nodiscard]] status recover();
    [[nodiscard]] status replay_wal(const std::string& wal_dir);
    void assign_quantizers();

    [[nodiscard]] status validate(point_batch& batch) const;
    // Logs and then applies (writes_pending_ counts them meanwhile).
    void log_upsert(point_batch batch, unique_function<void(status)> done);
    void log_remove(std::vector<std::string> ids, unique_function<void(result<std::size_t>)> done);

    // reading_writes.cpp: writes start in arrival order. A write that reads the collection to
    // choose its points (reads) starts once every write logged before it is applied, and the
    // writes after it wait until it has logged its record (end_reading_write). start gets ok
    // when the write's turn has come, or why it will not (busy: the queue is full; not_found:
    // the collection was dropped first).
    void submit_write(bool reads, unique_function<void(status run)> start);
    void end_reading_write();
    void run_queued_writes();
    // The view's index of a live point's container.
    std::uint32_t view_container(const location& where) const;
    void apply_upsert(const point_batch& batch);
    std::size_t apply_remove(const std::vector<std::string>& ids);
    void kill(const location& where);
    staging* find_staging(std::uint64_t container);
    segment_record* find_segment(std::uint64_t id);
    std::size_t staged_rows() const;
    void changed() { view_.reset(); }
    std::shared_ptr<staging> new_staging(std::uint64_t first_wal);

    // jobs.cpp
    lane& lane_of(job_kind kind) { return kind == job_kind::flush ? flush_lane_ : compact_lane_; }
    void enqueue_job(job_kind kind, unique_function<void(status)> done);
    void start_job(job_kind kind);
    void finish_job(job_kind kind, status s);
    void start_flush();
    void flush_after_rotation();
    void start_compaction();
    bool compaction_wanted() const;
    void maybe_auto_flush();
    // After every applied write: starts the quiet spell tick() measures, and asks maybe_auto_flush.
    void after_write();
    policy_options policy() const;
    std::vector<segment_summary> summaries() const;
    // The centroid table new rows go to: the current quantizer's largest segment, or null.
    std::shared_ptr<const storage::segment> current_table() const;

    // Queues a MANIFEST install (one write at a time); then(status) runs on the shard.
    void install_manifest(install request);
    void next_install();
    // Installs the MANIFEST that make() gives with built's segment in it; once durable runs
    // commit on the shard; if the write fails, keeps the new file until a later MANIFEST and
    // fails the job.
    void install_built(job_kind kind, unique_function<format::manifest()> make,
                       std::shared_ptr<built_segment> built, unique_function<void()> commit);
    void write_manifest(format::manifest m, unique_function<void(status)> then);
    format::manifest manifest_now() const;
    // Hands the live rows of a new segment's sources over to it: positions whose source died
    // meanwhile are tombstoned, every other id now points at the segment.
    void adopt(segment_record& rec, const unique_function<source_row(std::size_t)>& source_of);
    void insert_segment(segment_record rec);
    void repair_wal(io::file& f, std::uint64_t durable_size);
    void remove_files_in_background(std::vector<std::string> paths);
    void keep_until_next_manifest(std::string segment_path);
    // Moves the segments kept by keep_until_next_manifest to out. Call once a MANIFEST written
    // after them is durable.
    void take_unreferenced_segments(std::vector<std::string>& out);
    void retire(const segment_record& rec);

    io::env& env_;
    context* ctx_ = nullptr;
    std::string dir_;
    std::string name_;
    options options_;
    std::size_t dimension_ = 0;
    metric metric_ = metric::l2;
    std::optional<error> failure_;
    // From the MANIFEST; shared with every staging's attribute index and every view.
    std::shared_ptr<const std::vector<std::string>> unindexed_ = std::make_shared<const std::vector<std::string>>();
    bool dropped_ = false;
    // Set with dropped_, read by segment builds on the background pool.
    std::atomic<bool> stop_builds_{false};
    bool dropping_ = false;

    std::uint64_t next_segment_id_ = 1;
    std::uint64_t next_staging_id_ = 1;
    std::uint64_t wal_start_ = 1;        // first WAL number still needed (MANIFEST's view)
    std::uint64_t next_wal_number_ = 2;  // the next WAL file to create
    std::map<std::uint64_t, std::uint64_t> wal_sizes_;  // retained WAL files -> bytes
    // Segments written for a MANIFEST whose write failed: on disk it may be the old MANIFEST or
    // the new one, so they are removed only after the next MANIFEST is durable.
    std::vector<std::string> unreferenced_segments_;

    std::vector<segment_record> segments_;  // ascending id
    std::shared_ptr<staging> active_;
    std::vector<std::shared_ptr<staging>> frozen_;  // being flushed, still searched
    std::unordered_map<std::string, location> ids_;
    wal::wal_writer wal_;
    std::shared_ptr<const query::read_view> view_;  // null: changed since the last view()

    struct queued_write {
        bool reads = false;
        unique_function<void(status run)> start;
    };
    // Writes waiting behind a reading one; more are refused (busy).
    static constexpr std::size_t write_queue_max = 4096;
    std::deque<queued_write> write_queue_;
    std::size_t writes_pending_ = 0;  // logged, not yet applied
    bool reading_write_ = false;      // one is choosing its points (it may be reading them)
    bool draining_writes_ = false;    // run_queued_writes is on the stack

    lane flush_lane_;
    std::chrono::steady_clock::time_point last_write_{};
    bool idle_flush_asked_ = true;  // for the current quiet spell (none before the first write)
    lane compact_lane_;
    std::deque<install> installs_;
    bool installing_ = false;

    // What the searches read (the executor counts into it through the views).
    std::shared_ptr<query::search_counters> counters_ = std::make_shared<query::search_counters>();
    std::uint64_t flushes_ = 0;
    std::uint64_t compactions_ = 0;
    std::uint64_t retrains_ = 0;
};

}  // namespace puffer::collection
