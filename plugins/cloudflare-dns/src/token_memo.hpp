// Remembers for a while that Cloudflare accepted an API token, so that a CLI command need not ask
// again at every start: one line per (API base, token) in a file only this user may read or write.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace tunnelmgr::plugins::cloudflare_dns {

class token_memo {
public:
    using wall_clock = std::function<std::chrono::system_clock::time_point()>;

    // dir: where the memo file lives (created 0700 when missing); empty, or ttl 0: remember nothing.
    token_memo(std::filesystem::path dir, std::chrono::seconds ttl, wall_clock now = {});

    // $XDG_RUNTIME_DIR/tunnelmgr (per user, gone at logout), else the state folder tunnelmgr uses
    // ($XDG_STATE_HOME/tunnelmgr, else ~/.local/state/tunnelmgr); empty when none is known.
    static std::filesystem::path default_dir();

    // What identifies a check: a SHA-256 over the API base and the token, so the file never holds the
    // token, and a token checked against a stand-in is not taken as checked by Cloudflare.
    static std::string key_of(std::string_view api_base, std::string_view token);

    // True when `key` was remembered less than ttl ago (by a file this user owns, that no one else can write).
    [[nodiscard]] bool remembers(const std::string& key) const;
    // Best effort: a memo that cannot be written only means the next start checks again.
    void remember(const std::string& key) const;
    // After Cloudflare refused the token: the next start checks it again.
    void forget(const std::string& key) const;

    [[nodiscard]] const std::filesystem::path& file() const { return file_; }

private:
    std::filesystem::path dir_;
    std::filesystem::path file_;
    std::chrono::seconds ttl_;
    wall_clock now_;
};

}  // namespace tunnelmgr::plugins::cloudflare_dns
