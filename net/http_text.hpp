#pragma once
// Small text rules of HTTP header values, shared by the server and the key check.

#include <cstddef>
#include <string_view>

namespace puffer::net {

// v without the spaces and tabs around it (RFC 9110's optional whitespace).
inline std::string_view trim_blanks(std::string_view v)
{
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
        v.remove_prefix(1);
    }
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) {
        v.remove_suffix(1);
    }
    return v;
}

// a == b, ASCII letters compared without case (header tokens such as an auth scheme).
inline bool iequals_ascii(std::string_view a, std::string_view b)
{
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
        char y = b[i] >= 'A' && b[i] <= 'Z' ? static_cast<char>(b[i] - 'A' + 'a') : b[i];
        if (x != y) {
            return false;
        }
    }
    return true;
}

}  // namespace puffer::net
