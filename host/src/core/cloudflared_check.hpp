// cloudflared's own verdict on an ingress file, asked offline (`cloudflared tunnel --config FILE
// ingress validate` opens no socket): the judge of every edit where a cloudflared binary is installed.
#pragma once

#include <chrono>
#include <string>

#include "core/result.hpp"

namespace tunnelmgr::core {

class cloudflared_check {
public:
    // bin is tunnel.cloudflared_bin: "" looks `cloudflared` up in PATH, "none" turns the check off,
    // anything else is the program to run (a path, or a name looked up in PATH). The default is off,
    // so an editor built without one behaves as before.
    explicit cloudflared_check(std::string bin = "none", std::chrono::milliseconds timeout = std::chrono::seconds(10));

    // Whether the operator turned the check off (`none`).
    bool off() const { return bin_ == "none"; }
    // What was configured: "" (PATH), "none", or a path or name.
    const std::string& configured() const { return bin_; }
    // The program that would run now; "" when the check is off or no cloudflared is installed.
    std::string binary() const;

    // cloudflared's verdict on the file at `path`: invalid with cloudflared's own message when it
    // refuses, error or timeout when it could not say. With no cloudflared installed (or the check
    // off) the answer is ok, logged at debug: the built-in rules (ingress_rules.hpp) stand alone.
    result<void> validate_file(const std::string& path) const;

    // The same for `text` not written anywhere yet: it goes to a private temp file (0600 in a 0700
    // folder: the file may hold a tunnel token), removed afterwards. cloudflared's message names
    // `shown_as` instead of the temp file, so the operator sees the file it is about.
    result<void> validate_text(const std::string& text, const std::string& shown_as) const;

private:
    void log_skipped(const std::string& about) const;
    result<void> run_validate(const std::string& program, const std::string& file, const std::string& shown_as) const;
    std::string bin_;
    std::chrono::milliseconds timeout_;
};

}  // namespace tunnelmgr::core
