#include "tests/support/temp_dir.hpp"

#include "engine/io/env.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>

namespace puffer::test {

temp_dir::temp_dir()
{
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/puffer-test-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
        throw std::runtime_error("mkdtemp failed for " + pattern);
    }
    path_ = pattern;
}

temp_dir::~temp_dir()
{
    (void)io::posix_env().remove_all(path_);
}

std::uint64_t test_seed(const char* test_name, std::uint64_t fixed_default)
{
    std::uint64_t seed = fixed_default;
    if (const char* s = std::getenv("PUFFER_TEST_SEED"); s != nullptr && *s != '\0') {
        seed = std::strtoull(s, nullptr, 0);
    }
    std::fprintf(stderr, "%s: seed %llu (set PUFFER_TEST_SEED to reproduce another)\n", test_name,
                 static_cast<unsigned long long>(seed));
    return seed;
}

std::string data_dir()
{
    return PUFFER_TEST_DATA_DIR;
}

std::string slurp(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

void spit(const std::string& path, const std::string& bytes)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace puffer::test
