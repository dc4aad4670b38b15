#pragma once
// Skipping a test that cannot run here (no io_uring, no permission to mount a tmpfs, ...). At a
// desk the test exits 77, which CTest reports as skipped (SKIP_RETURN_CODE 77, liburing's
// T_EXIT_SKIP). Under CI (CI=true in the environment) a skip is a failure instead: coverage that
// silently vanished on the machine that decides whether a change lands would hide a regression.
// Free of Boost.Test, so plain mains (the crash harness) use it too.

#include <string>
#include <string_view>

namespace puffer::test {

inline constexpr int skip_exit_code = 77;
// What a skip becomes under CI: a failure that is not 77.
inline constexpr int ci_skip_exit_code = 1;

// True when the environment says this is a CI run: CI set to "true" or "1" (any case).
bool in_ci();

// The exit code for a test that cannot run, after printing why to stderr: skip_exit_code at a
// desk, ci_skip_exit_code (with a line saying that CI=true turns the skip into a failure) under CI.
// what names the test; reason says what is missing.
int skip_or_fail_code(std::string_view what, std::string_view reason);

// skip_or_fail_code, then exits the process with it.
[[noreturn]] void skip_or_fail(std::string_view what, std::string_view reason);

}  // namespace puffer::test
