#include "tests/fuzz/fuzz_util.hpp"

#include "engine/io/env.hpp"

#include <fcntl.h>
#include <mutex>
#include <sys/stat.h>

namespace puffer::fuzz {
namespace {

std::string make_scratch_dir()
{
    std::string base;
    if (const char* t = std::getenv("TMPDIR"); t != nullptr && *t != '\0') {
        base = t;
    } else {
        struct stat st {};
        base = ::stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
    }
    std::string pattern = base + "/puffer-fuzz-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
        std::fprintf(stderr, "fuzz: mkdtemp %s failed\n", pattern.c_str());
        std::abort();
    }
    return pattern;
}

std::string* scratch_path = nullptr;

void remove_scratch_dir()
{
    if (scratch_path != nullptr) {
        (void)io::posix_env().remove_all(*scratch_path);
    }
}

}  // namespace

std::string scratch_dir()
{
    static std::once_flag once;
    std::call_once(once, [] {
        scratch_path = new std::string(make_scratch_dir());
        std::atexit(remove_scratch_dir);
    });
    return *scratch_path;
}

void write_file(const std::string& path, std::string_view bytes)
{
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        std::fprintf(stderr, "fuzz: cannot create %s\n", path.c_str());
        std::abort();
    }
    std::size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n <= 0) {
            std::fprintf(stderr, "fuzz: cannot write %s\n", path.c_str());
            std::abort();
        }
        done += static_cast<std::size_t>(n);
    }
    ::close(fd);
}

}  // namespace puffer::fuzz
