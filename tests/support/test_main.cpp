// The one Boost.Test main for every test executable (dynamic Boost.Test library).
#define BOOST_TEST_MODULE openpuffer
#include <boost/test/unit_test.hpp>
