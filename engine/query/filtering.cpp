#include "engine/query/filtering.hpp"

#include <algorithm>

namespace puffer::query {
namespace {

// Clears in m the bits set in dead, which may be longer or shorter than m (a staging's dead
// bitmap grows ahead of its rows).
void remove_dead(bitmap& m, const bitmap* dead)
{
    if (dead == nullptr || dead->empty()) {
        return;
    }
    std::size_t words = std::min(m.word_count(), dead->word_count());
    std::uint64_t* w = m.mutable_words();
    const std::uint64_t* d = dead->words();
    for (std::size_t i = 0; i < words; ++i) {
        w[i] &= ~d[i];
    }
    m.recount();
}

}  // namespace

void match_rows(const read_view& view, const index::filter& f, filtered_rows& out)
{
    out.segments.clear();
    out.staging.clear();
    out.segment_matches = 0;
    out.staging_matches = 0;
    for (const view_segment& vs : view.segments) {
        const auto& reader = vs.segment->reader();
        index::filter_rows target;
        target.rows = reader.vector_count();
        target.attributes = reader.attributes().get();
        target.id = [&reader](std::uint32_t r) { return reader.id(r); };
        bitmap m = index::evaluate(f, target);
        remove_dead(m, vs.tombstones.get());
        out.segment_matches += m.count();
        out.segments.push_back(std::move(m));
    }
    for (const view_staging& st : view.staging) {
        const staged_rows& rows = *st.rows;
        index::filter_rows target;
        target.rows = st.row_count;
        target.attributes = &rows.attributes();
        target.id = [&rows](std::uint32_t r) { return std::string_view(rows.id(r)); };
        bitmap m = index::evaluate(f, target);
        remove_dead(m, st.dead.get());
        out.staging_matches += m.count();
        out.staging.push_back(std::move(m));
    }
}

std::size_t count_matches(const read_view& view, const index::filter* f)
{
    if (f == nullptr) {
        return view.live_points;
    }
    filtered_rows rows;
    match_rows(view, *f, rows);
    return rows.total();
}

}  // namespace puffer::query
