#pragma once
// Internal: the per-level kernel tables, each defined in its own translation unit compiled for
// that instruction set. Those TUs include only this header and intrinsics (no std templates), so
// no inline function compiled with AVX-512 can be picked by the linker for other code.

#include "engine/core/distance.hpp"

namespace puffer::simd::detail {

extern const kernel_table scalar_table;
extern const kernel_table avx2_table;
extern const kernel_table avx512_table;

// AVX-512 VNNI (vpdpbusd) 8-bit code kernel, in a translation unit of its own: used in place of
// avx512_table's when the CPU has the instructions.
void dot_u8s8_rows_vnni(const std::int8_t* w, const std::uint8_t* codes, std::size_t n, std::size_t d,
                        std::size_t stride, std::int32_t* out);

// The 1-bit code kernel with one popcnt instruction per word and plane (distance_avx2.cpp, built
// with -mpopcnt; every CPU with AVX2 has it): the AVX2 and AVX-512 tables' kernel, and the
// VPOPCNTDQ kernel's for rows it does not pack.
void bits_dot_rows_popcnt(const std::uint64_t* planes, const std::uint64_t* codes, std::size_t n, std::size_t words,
                          std::int32_t* out);
// AVX-512 VPOPCNTDQ 1-bit code kernel, in a translation unit of its own likewise.
void bits_dot_rows_vpopcnt(const std::uint64_t* planes, const std::uint64_t* codes, std::size_t n, std::size_t words,
                           std::int32_t* out);

}  // namespace puffer::simd::detail
