#include "tests/support/skip.hpp"

#include <cctype>
#include <cstdio>
#include <cstdlib>

namespace puffer::test {

bool in_ci()
{
    const char* value = std::getenv("CI");
    if (value == nullptr) {
        return false;
    }
    std::string v(value);
    for (auto& c : v) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return v == "true" || v == "1";
}

int skip_or_fail_code(std::string_view what, std::string_view reason)
{
    std::string w(what);
    std::string r(reason);
    if (in_ci()) {
        std::fprintf(stderr,
                     "%s: FAILED: cannot run: %s\n"
                     "%s: CI=true, so this skip counts as a failure (unset CI to skip at a desk)\n",
                     w.c_str(), r.c_str(), w.c_str());
        std::fflush(stderr);
        return ci_skip_exit_code;
    }
    std::fprintf(stderr, "%s: skipped: %s (exit %d; under CI=true this fails)\n", w.c_str(),
                 r.c_str(), skip_exit_code);
    std::fflush(stderr);
    return skip_exit_code;
}

void skip_or_fail(std::string_view what, std::string_view reason)
{
    std::exit(skip_or_fail_code(what, reason));
}

}  // namespace puffer::test
