#pragma once
// Test helpers: a temporary directory removed at scope exit, the seed of randomized tests
// (printed; PUFFER_TEST_SEED overrides it), and paths to the checked-in real data.

#include <cstdint>
#include <string>

namespace puffer::test {

class temp_dir {
public:
    temp_dir();
    ~temp_dir();
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    const std::string& path() const { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

// Seed for a randomized test: PUFFER_TEST_SEED if set, else fixed_default. Printed once so a
// failure can be reproduced.
std::uint64_t test_seed(const char* test_name, std::uint64_t fixed_default);

// tests/data in the source tree.
std::string data_dir();

// Reads/writes a whole file (raw bytes), for corruption tests.
std::string slurp(const std::string& path);
void spit(const std::string& path, const std::string& bytes);

}  // namespace puffer::test
