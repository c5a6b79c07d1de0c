// Text that may carry what a client sent (a name, a domain, an error quoting them), made safe for a
// terminal: control characters are shown as \xNN (C1 controls as \u0080..\u009f) instead of being
// emitted, so no argument can clear an operator's screen, move the cursor or forge a line.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace tunnelmgr {

inline std::string printable(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
        auto c = static_cast<unsigned char>(text[i]);
        char buf[8];
        if (c < 0x20 || c == 0x7f) {
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        } else if (c == 0xc2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
                   static_cast<unsigned char>(text[i + 1]) <= 0x9f) {
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned char>(text[i + 1]));
            out += buf;
            ++i;
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

}  // namespace tunnelmgr
