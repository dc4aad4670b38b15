#pragma once
// Internal: the per-level kernel tables, each defined in its own translation unit compiled for
// that instruction set. Those TUs include only this header and intrinsics (no std templates), so
// no inline function compiled with AVX-512 can be picked by the linker for other code.

#include "engine/core/distance.hpp"

namespace puffer::simd::detail {

extern const kernel_table scalar_table;
extern const kernel_table avx2_table;
extern const kernel_table avx512_table;

}  // namespace puffer::simd::detail
