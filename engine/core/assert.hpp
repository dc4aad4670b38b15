#pragma once
// Assertions that stay on in release builds. They catch programmer errors only: bad bytes from
// disk or bad input from a client are operating errors and travel as puffer::error instead.

#include <cstdio>
#include <cstdlib>

namespace puffer::detail {

[[noreturn]] inline void assert_fail(const char* expression, const char* file, int line)
{
    std::fprintf(stderr, "PUFFER_ASSERT failed: %s at %s:%d\n", expression, file, line);
    std::fflush(stderr);
    std::abort();
}

}  // namespace puffer::detail

#define PUFFER_ASSERT(x)                                                  \
    do {                                                                  \
        if (!(x)) [[unlikely]] {                                          \
            ::puffer::detail::assert_fail(#x, __FILE__, __LINE__);        \
        }                                                                 \
    } while (0)

#ifndef NDEBUG
#define PUFFER_DEBUG_ASSERT(x) PUFFER_ASSERT(x)
#else
#define PUFFER_DEBUG_ASSERT(x) \
    do {                       \
    } while (0)
#endif
