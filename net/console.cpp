#include "net/console.hpp"

#include <fstream>
#include <iterator>

namespace puffer::net {

namespace {

bool plain_file_name(std::string_view name)
{
    if (name.empty() || name.size() > 128 || name.front() == '.') {
        return false;
    }
    for (char ch : name) {
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
                  ch == '-' || ch == '_';
        if (!ok) {
            return false;
        }
    }
    return true;
}

bool ends_with(std::string_view s, std::string_view suffix)
{
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

std::string_view console_content_type(std::string_view name)
{
    if (ends_with(name, ".html")) {
        return "text/html; charset=utf-8";
    }
    if (ends_with(name, ".js") || ends_with(name, ".mjs")) {
        return "text/javascript; charset=utf-8";
    }
    if (ends_with(name, ".css")) {
        return "text/css; charset=utf-8";
    }
    if (ends_with(name, ".svg")) {
        return "image/svg+xml";
    }
    if (ends_with(name, ".png")) {
        return "image/png";
    }
    return "application/octet-stream";
}

std::optional<std::string> console_file_bytes(std::string_view dir, std::string_view name)
{
    if (!plain_file_name(name)) {
        return std::nullopt;
    }
    if (!dir.empty()) {
        std::ifstream in(std::string(dir) + "/" + std::string(name), std::ios::binary);
        if (!in) {
            return std::nullopt;
        }
        return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    for (const console_file& f : built_in_console_files()) {
        if (f.name == name) {
            return std::string(f.bytes);
        }
    }
    return std::nullopt;
}

}  // namespace puffer::net
