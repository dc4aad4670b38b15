// Writes the seed corpus of the fuzz targets: small valid inputs made by the engine's own writers
// (segments, WAL files, MANIFESTs) and typical HTTP requests. The seeds are checked in under
// tests/fuzz/corpus/<target>/; rerun this after a format change:
//   build-fuzz/tests/fuzz/puffer-make-fuzz-corpus tests/fuzz/corpus
// It writes only files named seed-*; regression inputs from findings (regress-*) stay as they are.
#include "engine/format/manifest_codec.hpp"
#include "engine/format/segment_writer.hpp"
#include "engine/index/ivf.hpp"
#include "engine/io/env.hpp"
#include "engine/wal/wal_format.hpp"
#include "tests/unit/format/segment_test_util.hpp"

#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

using namespace puffer;

namespace {

std::string root;

void write(const std::string& target, const std::string& name, std::string_view bytes)
{
    std::string dir = io::join_path(root, target);
    if (auto made = io::posix_env().make_dirs(dir); !made) {
        throw std::runtime_error(made.error().message());
    }
    std::string path = io::join_path(dir, "seed-" + name);
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size() ||
        std::fclose(f) != 0) {
        throw std::runtime_error("cannot write " + path);
    }
    std::printf("%s (%zu bytes)\n", path.c_str(), bytes.size());
}

std::string slurp(const std::string& path)
{
    auto bytes = io::read_file(io::posix_env(), path);
    if (!bytes) {
        throw std::runtime_error(bytes.error().message());
    }
    return *bytes;
}

// A segment of n rows of dimension d, clustered by the engine's own IVF builder, with a payload on
// every third row.
// codes: with sq8 codes (sections 3 and 4) or rabitq codes (6 and 7), and row checksums (5).
std::string built_segment(std::size_t n, std::size_t d, metric m, std::size_t clusters,
                          std::uint64_t id, index::quantization codes = index::quantization::none)
{
    std::vector<float> vectors(n * d);
    for (std::size_t i = 0; i < n; ++i) {
        float norm = 0;
        for (std::size_t j = 0; j < d; ++j) {
            vectors[i * d + j] =
                static_cast<float>((i * 13 + j * 5) % 17) - 8.0f + 0.25f * static_cast<float>(j);
            norm += vectors[i * d + j] * vectors[i * d + j];
        }
        if (m == metric::cosine) {
            for (std::size_t j = 0; j < d; ++j) {
                vectors[i * d + j] /= std::sqrt(norm);
            }
        }
    }
    std::vector<std::string> id_storage;
    std::vector<std::string> payload_storage;
    for (std::size_t i = 0; i < n; ++i) {
        id_storage.push_back("row-" + std::to_string(i));
        payload_storage.push_back(i % 3 == 0 ? "{\"i\":" + std::to_string(i) + ",\"tag\":\"t\"}"
                                             : "");
    }
    std::vector<std::string_view> ids(id_storage.begin(), id_storage.end());
    std::vector<std::string_view> payloads(payload_storage.begin(), payload_storage.end());
    index::ivf_options o;
    o.cluster_count = clusters;
    index::ivf_layout layout = index::build_ivf_layout(vectors.data(), n, d, o, nullptr);

    format::segment_input input;
    input.segment_id = id;
    input.distance_metric = m;
    input.dimension = d;
    input.vectors = vectors.data();
    input.ids = ids;
    input.payloads = payloads;
    input.layout = &layout;
    if (codes != index::quantization::none) {
        input.sections.push_back({format::section_kind::row_checksums, 0,
                                  format::encode_row_checksums(id, vectors.data(), layout)});
    }
    if (codes == index::quantization::sq8) {
        index::sq8_params params = index::train_sq8(vectors.data(), layout, true);
        format::code_sections s = format::encode_sq8_sections(id, params, vectors.data(), layout);
        input.sections.push_back({format::section_kind::sq8_params, 0, std::move(s.params)});
        input.sections.push_back({format::section_kind::sq8_codes, 0, std::move(s.codes)});
    } else if (codes == index::quantization::rabitq) {
        format::code_sections s =
            format::encode_rabitq_sections(id, index::rabitq_rotation(d), vectors.data(), layout);
        input.sections.push_back({format::section_kind::rabitq_params, 0, std::move(s.params)});
        input.sections.push_back({format::section_kind::rabitq_codes, 0, std::move(s.codes)});
    }
    std::string path = io::join_path(root, ".segment.tmp");
    auto info = format::write_segment(io::posix_env(), path, input);
    if (!info) {
        throw std::runtime_error(info.error().message());
    }
    std::string bytes = slurp(path);
    (void)io::posix_env().remove(path);
    return bytes;
}

void segments()
{
    std::string path = io::join_path(root, ".tiny.tmp");
    test::write_tiny_segment(path);
    write("segment_reader", "tiny.seg", slurp(path));
    (void)io::posix_env().remove(path);
    write("segment_reader", "l2-d3-n20-k4.seg", built_segment(20, 3, metric::l2, 4, 12));
    write("segment_reader", "cosine-d8-n9-k3.seg", built_segment(9, 8, metric::cosine, 3, 1));
    write("segment_reader", "ip-d1-n5-k5.seg", built_segment(5, 1, metric::inner_product, 5, 3));
    write("segment_reader", "sq8-l2-d5-n12-k3.seg", built_segment(12, 5, metric::l2, 3, 4, index::quantization::sq8));
    write("segment_reader", "rabitq-l2-d5-n12-k3.seg",
          built_segment(12, 5, metric::l2, 3, 4, index::quantization::rabitq));
}

point_batch batch(std::size_t first, std::size_t n, std::size_t d, bool payloads)
{
    point_batch b;
    b.dimension = d;
    for (std::size_t i = first; i < first + n; ++i) {
        b.ids.push_back("id-" + std::to_string(i));
        for (std::size_t j = 0; j < d; ++j) {
            b.vectors.push_back(static_cast<float>(i) + 0.5f * static_cast<float>(j));
        }
        if (payloads) {
            b.payloads.push_back(i % 2 == 0 ? "{\"n\":" + std::to_string(i) + "}" : "");
        }
    }
    return b;
}

void wal_files()
{
    std::string header = wal::encode_file_header();
    write("wal_replay", "header-only.log", header);
    std::string log = header;
    wal::append_upsert_record(log, batch(0, 3, 4, false));
    wal::append_upsert_record(log, batch(3, 2, 4, true));
    wal::append_remove_record(log, {"id-1", "id-4"});
    wal::append_upsert_record(log, batch(1, 1, 4, true));
    write("wal_replay", "mixed.log", log);
    std::string torn = log.substr(0, log.size() - 5);
    write("wal_replay", "torn-tail.log", torn);
    std::string flipped = log;
    flipped[header.size() + 12] = static_cast<char>(flipped[header.size() + 12] ^ 0x10);
    write("wal_replay", "bad-crc.log", flipped);
    std::string wide = header;
    wal::append_upsert_record(wide, batch(0, 2, 33, true));
    write("wal_replay", "d33.log", wide);
}

void manifests()
{
    format::manifest m;
    m.name = "my_vectors";
    m.dimension = 768;
    m.distance_metric = metric::cosine;
    write("manifest", "empty.manifest", format::encode_manifest(m));
    m.name = "c";
    m.dimension = 4;
    m.distance_metric = metric::l2;
    m.next_segment_id = 9;
    m.wal_start = 5;
    m.segments.push_back({3, 100, 10, 12288, {}});
    m.segments.push_back({7, 20, 4, 8192, {0, 5, 19}});
    write("manifest", "two-segments.manifest", format::encode_manifest(m));
    m.distance_metric = metric::inner_product;
    m.segments.resize(1);
    m.segments[0].tombstones = {1, 2, 3, 99};
    write("manifest", "tombstones.manifest", format::encode_manifest(m));
}

void http_requests()
{
    const std::pair<const char*, const char*> requests[] = {
        {"healthz", "GET /healthz\n"},
        {"list", "GET /v1/collections\n"},
        {"create", "POST /v1/collections\n{\"name\": \"my_collection\", \"dimension\": 4, "
                   "\"metric\": \"cosine\"}"},
        {"create-exists", "POST /v1/collections\n{\"name\":\"c\",\"dimension\":4}"},
        {"describe", "GET /v1/collections/c\n"},
        {"stats", "GET /v1/collections/cos/stats\n"},
        {"delete-collection", "DELETE /v1/collections/nope\n"},
        {"upsert",
         "POST "
         "/v1/collections/c/points\n{\"points\":[{\"id\":\"vec1\",\"vector\":[0.1,0.2,-3,4e-2],"
         "\"payload\":{\"key\":\"value\"}},{\"id\":7,\"vector\":[1,2,3,4]}]}"},
        {"upsert-escapes",
         "POST /v1/collections/cos/points\n{ \"points\" : [ {\"vector\":[1E2,-0,0.5,-0.0],"
         "\"id\":\"a\\u0041\",\"payload\":null} ] }"},
        {"upsert-dimension",
         "POST /v1/collections/c/points\n{\"points\":[{\"id\":\"x\",\"vector\":[1,2]}]}"},
        {"search",
         "POST /v1/collections/c/search\n{\"vector\":[0.1,0.2,0.3,0.4],\"top_k\":5,\"nprobe\":2,"
         "\"include_payload\":true}"},
        {"search-cosine", "POST /v1/collections/cos/search\n{\"vector\":[1,0,0,0]}"},
        {"delete-points", "POST /v1/collections/c/points/delete\n{\"ids\":[\"p1\",\"s2\",3]}"},
        {"flush", "POST /v1/collections/c/flush\n"},
        {"compact", "POST /v1/collections/c/compact\n"},
        {"wrong-method", "PUT /v1/collections/c/search?x=1\n{}"},
        {"bad-name", "GET /v1/collections/bad.name/stats\n"},
        {"not-json",
         "POST /v1/collections/c/points\n{\"points\":[{\"id\":\"a\",\"vector\":[1,2,3,"},
        {"search-ip", "POST /v1/collections/ip/search\n{\"vector\":[1,-2,3,-4],\"top_k\":3}"},
        // Sequences: requests separated by 0x1E.
        {"sequence-create-load-flush-search",
         "POST /v1/collections\n{\"name\":\"x\",\"dimension\":2}\x1e"
         "POST /v1/collections/x/points\n{\"points\":[{\"id\":\"a\",\"vector\":[1,2]},"
         "{\"id\":\"b\",\"vector\":[3,4],\"payload\":{\"k\":1}},"
         "{\"id\":\"c\",\"vector\":[-1,0]}]}\x1e"
         "POST /v1/collections/x/flush\n\x1e"
         "POST /v1/collections/x/search\n"
         "{\"vector\":[1,1],\"top_k\":2,\"include_payload\":true}\x1e"
         "GET /v1/collections/x/stats\n"},
        {"sequence-delete-compact",
         "POST /v1/collections/c/points/delete\n{\"ids\":[\"p1\",\"p2\",\"p3\",\"p4\","
         "\"p5\",\"p6\",\"p7\",\"p8\",\"p9\",\"p10\",\"p11\",\"p12\",\"p13\",\"p14\","
         "\"p15\",\"p16\",\"p17\"]}\x1e"
         "POST /v1/collections/c/compact\n\x1e"
         "POST /v1/collections/c/search\n{\"vector\":[0,0,0,0],\"top_k\":50}"},
        {"sequence-large-values-flush",
         "POST /v1/collections/ip/points\n"
         "{\"points\":[{\"id\":\"big\",\"vector\":[3e38,-3e38,1e30,-1]}]}\x1e"
         "POST /v1/collections/ip/flush\n\x1e"
         "POST /v1/collections/ip/search\n{\"vector\":[3e38,3e38,-3e38,1],\"nprobe\":100}"},
    };
    for (const auto& [name, text] : requests) {
        write("http_request", std::string(name) + ".txt", text);
    }
}

}  // namespace

int main(int argc, char** argv)
{
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s CORPUS_DIR (tests/fuzz/corpus)\n", argv[0]);
        return 2;
    }
    root = argv[1];
    if (auto made = io::posix_env().make_dirs(root); !made) {
        std::fprintf(stderr, "%s\n", made.error().message().c_str());
        return 1;
    }
    segments();
    wal_files();
    manifests();
    http_requests();
    return 0;
}
