#include "engine/collection/compaction_policy.hpp"

#include "engine/index/ivf.hpp"

#include <algorithm>
#include <cmath>

namespace puffer::collection {

std::uint64_t current_quantizer(const std::vector<segment_summary>& segments)
{
    const segment_summary* best = &segments.front();
    for (const auto& s : segments) {
        if (s.rows > best->rows || (s.rows == best->rows && s.id > best->id)) {
            best = &s;
        }
    }
    return best->quantizer;
}

std::size_t retrain_cluster_count(std::size_t n, const policy_options& o)
{
    auto ahead = static_cast<std::size_t>(std::llround(static_cast<double>(n) * o.growth_ahead));
    std::size_t k = index::default_cluster_count(ahead);
    return std::clamp<std::size_t>(k, 1, std::max<std::size_t>(1, n / 16));
}

std::size_t first_table_cluster_count(std::size_t n, std::size_t d, const policy_options& o)
{
    std::size_t full = retrain_cluster_count(n, o);
    // k-means here: ~12 passes (10 Lloyd iterations, 2 to balance) over the rows, each comparing
    // every row with every centroid (the training sample is all rows while n <= 256 k).
    constexpr double passes = 12;
    double affordable = o.first_table_madds_max / (static_cast<double>(std::max<std::size_t>(1, n)) *
                                                   static_cast<double>(std::max<std::size_t>(1, d)) * passes);
    return std::clamp<std::size_t>(static_cast<std::size_t>(affordable), 1, full);
}

compaction_choice choose_compaction(const std::vector<segment_summary>& segments, const policy_options& o)
{
    compaction_choice choice;
    if (segments.empty()) {
        return choice;
    }
    std::size_t live = 0;
    for (const auto& s : segments) {
        live += s.live;
    }
    std::uint64_t current = current_quantizer(segments);
    std::size_t current_clusters = 0;
    for (const auto& s : segments) {
        if (s.quantizer == current) {
            current_clusters = s.clusters;
        }
    }
    auto all_ids = [&] {
        std::vector<std::uint64_t> ids;
        for (const auto& s : segments) {
            ids.push_back(s.id);
        }
        std::sort(ids.begin(), ids.end());
        return ids;
    };

    // A table much coarser (or finer) than the collection's size calls for: train a new one on
    // every row. Not for a collection too small to give a table more clusters (n / 16 caps it).
    if (live > 0 && o.fixed_cluster_count == 0) {
        double wanted = static_cast<double>(index::default_cluster_count(live));
        double have = static_cast<double>(current_clusters);
        std::size_t retrained = retrain_cluster_count(live, o);
        bool coarse = have * o.coarse_ratio_max < wanted && retrained > current_clusters;
        bool fine = have > o.fine_ratio_max * wanted && retrained < current_clusters;
        if (coarse || fine) {
            choice.what = compaction_choice::kind::retrain;
            choice.segments = all_ids();
            choice.cluster_count = retrained;
            return choice;
        }
    }

    // Segments of older tables (flushed while a retrain ran): their rows go to the current one.
    std::vector<const segment_summary*> chosen;
    for (const auto& s : segments) {
        if (s.quantizer != current) {
            chosen.push_back(&s);
        }
    }
    // Too many segments: merge the smallest, down to half the bound, so merges are not redone at
    // every flush. Segments with many tombstones are rewritten.
    std::vector<const segment_summary*> by_size;
    for (const auto& s : segments) {
        by_size.push_back(&s);
    }
    std::sort(by_size.begin(), by_size.end(), [](const auto* a, const auto* b) {
        return a->live != b->live ? a->live < b->live : a->id < b->id;
    });
    std::size_t merge_count = 0;
    if (segments.size() > o.segments_max) {
        merge_count = segments.size() - std::max<std::size_t>(1, o.segments_max / 2) + 1;
    }
    for (std::size_t i = 0; i < by_size.size(); ++i) {
        const segment_summary* s = by_size[i];
        bool too_dead = s->rows > s->live &&
                        static_cast<double>(s->rows - s->live) >= o.tombstone_ratio_max * static_cast<double>(s->rows);
        if ((i < merge_count || too_dead) && std::find(chosen.begin(), chosen.end(), s) == chosen.end()) {
            chosen.push_back(s);
        }
    }
    if (chosen.empty()) {
        return choice;
    }
    choice.what = compaction_choice::kind::merge;
    for (const auto* s : chosen) {
        choice.segments.push_back(s->id);
    }
    std::sort(choice.segments.begin(), choice.segments.end());
    return choice;
}

}  // namespace puffer::collection
