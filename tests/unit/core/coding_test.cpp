// Little-endian coding and the bounds-checked decoder: every get past the end fails.
#include "engine/core/coding.hpp"

#include <boost/test/unit_test.hpp>

using namespace puffer;

BOOST_AUTO_TEST_SUITE(coding_suite)

BOOST_AUTO_TEST_CASE(fixed_encodings_are_little_endian)
{
    std::byte b[8];
    put_fixed32_le(b, 0x01020304u);
    BOOST_TEST(static_cast<int>(b[0]) == 0x04);
    BOOST_TEST(static_cast<int>(b[3]) == 0x01);
    BOOST_TEST(get_fixed32_le(b) == 0x01020304u);
    put_fixed64_le(b, 0x0102030405060708ull);
    BOOST_TEST(static_cast<int>(b[0]) == 0x08);
    BOOST_TEST(get_fixed64_le(b) == 0x0102030405060708ull);
}

BOOST_AUTO_TEST_CASE(encoder_decoder_round_trip)
{
    std::string buf;
    encoder enc(buf);
    enc.put_u8(7);
    enc.put_u32(123456);
    enc.put_u64(9876543210ull);
    enc.put_f32(1.5f);
    enc.put_string32("hello");
    decoder dec(buf);
    std::uint8_t a = 0;
    std::uint32_t b = 0;
    std::uint64_t c = 0;
    float f = 0;
    std::string_view s;
    BOOST_TEST(dec.get_u8(a));
    BOOST_TEST(dec.get_u32(b));
    BOOST_TEST(dec.get_u64(c));
    BOOST_TEST(dec.get_f32(f));
    BOOST_TEST(dec.get_string32(s, 100));
    BOOST_TEST(a == 7);
    BOOST_TEST(b == 123456u);
    BOOST_TEST(c == 9876543210ull);
    BOOST_TEST(f == 1.5f);
    BOOST_TEST(s == "hello");
    BOOST_TEST(dec.done());
}

BOOST_AUTO_TEST_CASE(decoder_refuses_to_read_past_the_end)
{
    std::string buf;
    encoder enc(buf);
    enc.put_string32("hello");
    for (std::size_t cut = 0; cut < buf.size(); ++cut) {
        decoder dec(buf.data(), cut);
        std::string_view s;
        BOOST_TEST(!dec.get_string32(s, 100), "cut at " << cut);
    }
    decoder dec(buf);
    std::string_view s;
    BOOST_TEST(!dec.get_string32(s, 4));  // longer than the allowed maximum
}

BOOST_AUTO_TEST_SUITE_END()
