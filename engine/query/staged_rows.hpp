#pragma once
// Rows written since the last flush, in arrival order: vectors, ids and payloads. Rows are only
// appended, never changed, so a read view can stand for the first n rows while more arrive (a
// replaced or deleted row is marked in the staging's dead bitmap, not here). Shard-local: the
// owning shard appends and scans; a frozen staging (being flushed) is also read by the
// background build, which is safe because nothing appends to it any more.

#include "engine/core/assert.hpp"
#include "engine/index/attributes.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace puffer::query {

class staged_rows {
public:
    // unindexed: payload paths the attribute index leaves out (null: none).
    explicit staged_rows(std::size_t dimension, std::shared_ptr<const std::vector<std::string>> unindexed = {})
        : dimension_(dimension)
    {
        attributes_.exclude(std::move(unindexed));
    }

    std::size_t dimension() const { return dimension_; }
    std::size_t size() const { return ids_.size(); }

    std::uint32_t append(std::string id, const float* vector, std::string payload)
    {
        auto row = static_cast<std::uint32_t>(ids_.size());
        ids_.push_back(std::move(id));
        attributes_.add(row, payload);
        payloads_.push_back(std::move(payload));
        vectors_.insert(vectors_.end(), vector, vector + dimension_);
        return row;
    }

    // Rows [0, size()) row-major: valid until the next append.
    const float* vectors() const { return vectors_.data(); }
    const float* vector(std::size_t row) const
    {
        PUFFER_DEBUG_ASSERT(row < size());
        return vectors_.data() + row * dimension_;
    }
    const std::string& id(std::size_t row) const { return ids_[row]; }
    const std::string& payload(std::size_t row) const { return payloads_[row]; }
    // The payloads' fields, unsealed (it grows with the rows): filters on staging rows use it.
    const index::attribute_index& attributes() const { return attributes_; }

private:
    std::size_t dimension_;
    std::vector<float> vectors_;
    std::vector<std::string> ids_;
    std::vector<std::string> payloads_;
    index::attribute_index attributes_;
};

}  // namespace puffer::query
