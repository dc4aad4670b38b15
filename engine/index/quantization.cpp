#include "engine/index/quantization.hpp"

namespace puffer::index {

std::string_view to_string(quantization q)
{
    switch (q) {
    case quantization::none: return "none";
    case quantization::sq8: return "sq8";
    case quantization::rabitq: return "rabitq";
    }
    return "unknown";
}

std::optional<quantization> parse_quantization(std::string_view name)
{
    for (quantization q : {quantization::none, quantization::sq8, quantization::rabitq}) {
        if (name == to_string(q)) {
            return q;
        }
    }
    return std::nullopt;
}

}  // namespace puffer::index
