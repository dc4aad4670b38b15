// The skip-or-fail rule of tests/support/skip.hpp, which ring_test, disk_full_test and the crash
// harness use: a child process calls skip_or_fail under each CI setting, and its exit status must
// be 77 (skipped) at a desk and a failure other than 77 under CI=true.
#include "tests/support/skip.hpp"

#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <cstdlib>
#include <sys/wait.h>
#include <unistd.h>

using namespace puffer;

namespace {

// Exit status of a child that sets CI (unset when ci is null) and calls skip_or_fail.
int status_of_skip(const char* ci)
{
    std::fflush(nullptr);  // the child must not print this process's buffered output again
    pid_t pid = ::fork();
    if (pid == 0) {
        if (ci == nullptr) {
            ::unsetenv("CI");
        } else {
            ::setenv("CI", ci, 1);
        }
        test::skip_or_fail("skip_test", "nothing to run here");
    }
    int st = 0;
    ::waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(skip_suite)

BOOST_AUTO_TEST_CASE(a_skip_is_77_at_a_desk_and_a_failure_under_ci)
{
    BOOST_TEST(status_of_skip(nullptr) == 77);
    BOOST_TEST(status_of_skip("") == 77);
    BOOST_TEST(status_of_skip("false") == 77);
    BOOST_TEST(status_of_skip("true") == 1);
    BOOST_TEST(status_of_skip("TRUE") == 1);
    BOOST_TEST(status_of_skip("1") == 1);
}

BOOST_AUTO_TEST_CASE(in_ci_reads_the_environment)
{
    const char* saved = std::getenv("CI");
    std::string restore = saved != nullptr ? saved : "";
    ::setenv("CI", "true", 1);
    BOOST_TEST(test::in_ci());
    ::setenv("CI", "no", 1);
    BOOST_TEST(!test::in_ci());
    ::unsetenv("CI");
    BOOST_TEST(!test::in_ci());
    BOOST_TEST(test::skip_or_fail_code("skip_test", "probe") == test::skip_exit_code);
    if (saved != nullptr) {
        ::setenv("CI", restore.c_str(), 1);
    }
}

BOOST_AUTO_TEST_SUITE_END()
