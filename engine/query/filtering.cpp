#include "engine/query/filtering.hpp"

namespace puffer::query {

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
        if (vs.tombstones) {
            m.and_not_with(*vs.tombstones);
        }
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
        if (st.dead) {
            m.and_not_with(*st.dead);
        }
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

status check_filter(const std::string& collection, const std::vector<std::string>& unindexed,
                    const index::filter& f)
{
    if (const std::string* field = index::excluded_field(f, unindexed)) {
        return make_error(errc::invalid_argument, "filter: field '" + field->substr(0, 256) +
                                                      "' is not indexed in collection '" + collection +
                                                      "' (it is one of its unindexed_fields)");
    }
    return ok();
}

}  // namespace puffer::query
