#pragma once
// Helpers shared by the libFuzzer targets: a scratch directory on tmpfs for targets that need a
// file, and a check that reports which property broke before aborting (libFuzzer then saves the
// input as a crash).

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <unistd.h>

namespace puffer::fuzz {

[[noreturn]] inline void check_failed(const char* expression, const char* file, int line,
                                      const char* format, ...)
{
    std::fprintf(stderr, "FUZZ CHECK failed: %s at %s:%d: ", expression, file, line);
    va_list args;
    va_start(args, format);
    std::vfprintf(stderr, format, args);
    va_end(args);
    std::fprintf(stderr, "\n");
    std::fflush(stderr);
    std::abort();
}

// A private directory for this process's files: under $TMPDIR when set (scripts/fuzz.sh points it
// at its scratch directory), else under /dev/shm (tmpfs: file I/O costs no disk), else /tmp.
// Removed at exit; a crashed run leaves it for the caller to clean up.
std::string scratch_dir();

// Writes bytes to path (truncating it); aborts on failure: the harness, not the input, is broken.
void write_file(const std::string& path, std::string_view bytes);

}  // namespace puffer::fuzz

#define FUZZ_CHECK(x, ...)                                                                         \
    do {                                                                                           \
        if (!(x)) [[unlikely]] {                                                                   \
            ::puffer::fuzz::check_failed(#x, __FILE__, __LINE__, __VA_ARGS__);                     \
        }                                                                                          \
    } while (0)
