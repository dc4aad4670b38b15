// The disk cache's block states: block arithmetic at the object's end, pins that hold a block
// against eviction, fills claimed by one fetch at a time, and a pinned read that never sees an
// eviction's freed bytes while another thread evicts and refills the same blocks.
#include "engine/storage/block_states.hpp"

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <thread>
#include <vector>

using namespace puffer::storage;

BOOST_AUTO_TEST_SUITE(block_states_suite)

BOOST_AUTO_TEST_CASE(blocks_cover_ranges_and_the_short_last_block)
{
    block_states s(10 * 4096 + 100, 4096);
    BOOST_TEST(s.block_count() == 11u);
    BOOST_TEST(s.size_of(0) == 4096u);
    BOOST_TEST(s.size_of(10) == 100u);
    BOOST_TEST((s.blocks_of(0, 1) == std::pair<std::size_t, std::size_t>{0, 1}));
    BOOST_TEST((s.blocks_of(4095, 2) == std::pair<std::size_t, std::size_t>{0, 2}));
    BOOST_TEST((s.blocks_of(4096, 4096) == std::pair<std::size_t, std::size_t>{1, 2}));
    // Clipped at the end, empty past it or for no bytes.
    BOOST_TEST((s.blocks_of(10 * 4096, 1 << 20) == std::pair<std::size_t, std::size_t>{10, 11}));
    BOOST_TEST((s.blocks_of(10 * 4096 + 100, 10) == std::pair<std::size_t, std::size_t>{0, 0}));
    BOOST_TEST((s.blocks_of(5, 0) == std::pair<std::size_t, std::size_t>{0, 0}));
    block_states empty(0, 4096);
    BOOST_TEST(empty.block_count() == 0u);
}

BOOST_AUTO_TEST_CASE(a_pin_needs_every_block_present_and_holds_them_against_eviction)
{
    block_states s(4 * 4096, 4096);
    BOOST_TEST(!s.try_pin(0, 2));
    BOOST_TEST(s.pins(0) == 0u);  // the failed pin gave its pins back
    BOOST_TEST(s.begin_fill(0));
    s.end_fill(0, true);
    BOOST_TEST(!s.try_pin(0, 2));  // block 1 still absent
    BOOST_TEST(s.pins(0) == 0u);
    BOOST_TEST(s.pins(1) == 0u);
    BOOST_TEST(s.begin_fill(1));
    BOOST_TEST(!s.try_pin(1, 2));  // filling is not present
    s.end_fill(1, true);
    BOOST_TEST(s.try_pin(0, 2));
    BOOST_TEST(s.try_pin(1, 2));
    BOOST_TEST(s.pins(1) == 2u);
    BOOST_TEST(!s.try_evict(0));
    BOOST_TEST(!s.try_evict(1));
    s.unpin(0, 2);
    BOOST_TEST(s.try_evict(0));
    BOOST_TEST(!s.present(0));
    BOOST_TEST(!s.try_evict(1));  // one pin left
    s.unpin(1, 2);
    BOOST_TEST(s.try_evict(1));
    BOOST_TEST(!s.try_evict(1));  // already absent
    BOOST_TEST(!s.try_evict(2));
}

BOOST_AUTO_TEST_CASE(one_fill_at_a_time_and_a_failed_fill_leaves_the_block_absent)
{
    block_states s(3 * 4096, 4096);
    BOOST_TEST(s.begin_fill(2));
    BOOST_TEST(!s.begin_fill(2));  // a second fetch of the same block writes nothing
    BOOST_TEST(!s.try_evict(2));   // nor does the evictor touch a block being filled
    s.end_fill(2, false);
    BOOST_TEST(!s.present(2));
    BOOST_TEST(s.begin_fill(2));
    s.end_fill(2, true);
    BOOST_TEST(s.present(2));
    BOOST_TEST(!s.begin_fill(2));  // present: nothing to fill
}

BOOST_AUTO_TEST_CASE(a_pinned_read_never_sees_an_evicted_block)
{
    // The block's "bytes" are one word each: the evictor zeroes them after an eviction (as a
    // punched hole reads) and writes them back when it refills. A reader that holds a pin must
    // always find them intact.
    constexpr std::size_t blocks = 4;
    constexpr std::uint32_t value = 0xC0FFEE;
    block_states s(blocks * 4096, 4096);
    std::vector<std::atomic<std::uint32_t>> bytes(blocks);
    for (std::size_t b = 0; b < blocks; ++b) {
        bytes[b].store(value);
        BOOST_TEST(s.begin_fill(b));
        s.end_fill(b, true);
    }
    std::atomic<bool> done{false};
    std::atomic<std::uint64_t> evictions{0};
    std::thread evictor([&] {
        std::size_t b = 0;
        while (!done.load()) {
            if (s.try_evict(b)) {
                bytes[b].store(0, std::memory_order_relaxed);
                evictions.fetch_add(1, std::memory_order_relaxed);
                if (s.begin_fill(b)) {
                    bytes[b].store(value, std::memory_order_relaxed);
                    s.end_fill(b, true);
                }
            }
            b = (b + 1) % blocks;
        }
    });
    std::uint64_t pinned = 0;
    std::uint64_t torn = 0;
    for (int i = 0; i < 400000; ++i) {
        std::size_t first = static_cast<std::size_t>(i) % blocks;
        std::size_t last = std::min(blocks, first + 1 + static_cast<std::size_t>(i / blocks) % 2);
        if (s.try_pin(first, last)) {
            ++pinned;
            for (std::size_t b = first; b < last; ++b) {
                torn += bytes[b].load(std::memory_order_relaxed) != value;
            }
            s.unpin(first, last);
        }
    }
    done.store(true);
    evictor.join();
    BOOST_TEST(torn == 0u);
    BOOST_TEST(pinned > 0u);
    BOOST_TEST(evictions.load() > 0u);
    for (std::size_t b = 0; b < blocks; ++b) {
        BOOST_TEST(s.pins(b) == 0u);
    }
}

BOOST_AUTO_TEST_SUITE_END()
