// crc32c: both paths against the published check value and against Boost.CRC's generic
// CRC-32C on random buffers of every length/alignment that exercises the interleaved loop.
#include "engine/core/crc32c.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/crc.hpp>
#include <boost/test/unit_test.hpp>

#include <random>
#include <string>

using namespace puffer;

namespace {
std::uint32_t boost_crc32c(const void* data, std::size_t size)
{
    boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true> crc;
    crc.process_bytes(data, size);
    return crc.checksum();
}
}  // namespace

BOOST_AUTO_TEST_SUITE(crc32c_suite)

BOOST_AUTO_TEST_CASE(check_value_of_123456789)
{
    BOOST_TEST(crc32c::value("123456789") == 0xE3069283u);
    BOOST_TEST(crc32c::extend_portable(0, "123456789", 9) == 0xE3069283u);
}

BOOST_AUTO_TEST_CASE(empty_input_is_zero)
{
    BOOST_TEST(crc32c::value("", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(matches_boost_crc_on_random_buffers)
{
    std::mt19937_64 rng(test::test_seed("crc32c random", 7));
    std::string buffer(8192 + 64, '\0');
    for (auto& c : buffer) {
        c = static_cast<char>(rng());
    }
    for (std::size_t size : {1u, 7u, 8u, 9u, 255u, 767u, 768u, 769u, 1536u, 2304u, 3839u, 3840u, 3841u, 4096u, 8192u}) {
        for (std::size_t shift : {0u, 1u, 3u}) {
            const char* p = buffer.data() + shift;
            std::uint32_t expected = boost_crc32c(p, size);
            BOOST_TEST(crc32c::value(p, size) == expected, "size " << size << " shift " << shift);
            BOOST_TEST(crc32c::extend_portable(0, p, size) == expected);
        }
    }
}

BOOST_AUTO_TEST_CASE(extend_equals_one_shot)
{
    std::string s(5000, 'x');
    for (std::size_t i = 0; i < s.size(); ++i) {
        s[i] = static_cast<char>(i * 31);
    }
    for (std::size_t split : {0u, 1u, 100u, 768u, 2500u, 4999u}) {
        std::uint32_t a = crc32c::value(s.data(), split);
        BOOST_TEST(crc32c::extend(a, s.data() + split, s.size() - split) == crc32c::value(s));
    }
}

BOOST_AUTO_TEST_SUITE_END()
