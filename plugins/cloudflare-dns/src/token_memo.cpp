// The memo is a cache, never an authority: anything odd about the file (another owner, a mode others
// may read or write, a line it cannot parse, an expiry further away than the ttl) counts as "not
// remembered", and the token is checked with Cloudflare as before.
#include "token_memo.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <iterator>
#include <map>
#include <vector>

#include <openssl/evp.h>

namespace tunnelmgr::plugins::cloudflare_dns {

namespace {

constexpr const char* file_name = "cloudflare-token-checks";
constexpr std::size_t max_file_size = 64 * 1024;
constexpr std::size_t max_entries = 32;  // other tokens and API bases, the freshest kept

using entries = std::map<std::string, long long>;  // key -> expiry, Unix seconds

bool is_key(std::string_view s) {
    return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}

// A file this user owns, that only this user may read or write, not a link: else nothing.
entries read_entries(const std::filesystem::path& file) {
    entries out;
    int fd = ::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return out;
    struct stat st {};
    std::string text;
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::geteuid() && (st.st_mode & 077) == 0 &&
        static_cast<std::size_t>(st.st_size) <= max_file_size) {
        text.resize(static_cast<std::size_t>(st.st_size));
        std::size_t got = 0;
        while (got < text.size()) {
            ssize_t n = ::read(fd, text.data() + got, text.size() - got);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            got += static_cast<std::size_t>(n);
        }
        text.resize(got);
    }
    ::close(fd);
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        std::string_view line(text.data() + pos, end - pos);
        pos = end + 1;
        std::size_t space = line.find(' ');
        if (space == std::string_view::npos || !is_key(line.substr(0, space))) continue;
        std::string number(line.substr(space + 1));
        if (number.empty() || number.size() > 18 || number.find_first_not_of("0123456789") != std::string::npos) continue;
        out[std::string(line.substr(0, space))] = std::stoll(number);
    }
    return out;
}

// The folder must be ours and closed to others, since the file is replaced by a rename inside it.
bool private_dir(const std::filesystem::path& dir) {
    std::error_code ec;
    if (!std::filesystem::exists(dir, ec)) {
        std::filesystem::create_directories(dir.parent_path(), ec);
        if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return false;
    }
    struct stat st {};
    return ::lstat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == ::geteuid() && (st.st_mode & 022) == 0;
}

void write_entries(const std::filesystem::path& dir, const std::filesystem::path& file, const entries& all) {
    if (!private_dir(dir)) return;
    std::vector<std::pair<std::string, long long>> kept(all.begin(), all.end());
    std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    if (kept.size() > max_entries) kept.resize(max_entries);
    std::string text;
    for (const auto& [key, expiry] : kept) text += key + " " + std::to_string(expiry) + "\n";
    const std::filesystem::path tmp = dir / ("." + std::string(file_name) + "." + std::to_string(::getpid()) + ".tmp");
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return;
    std::size_t put = 0;
    while (put < text.size()) {
        ssize_t n = ::write(fd, text.data() + put, text.size() - put);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        put += static_cast<std::size_t>(n);
    }
    bool ok = put == text.size() && ::fchmod(fd, 0600) == 0;
    ok = ::close(fd) == 0 && ok;
    if (!ok || ::rename(tmp.c_str(), file.c_str()) != 0) ::unlink(tmp.c_str());
}

}  // namespace

token_memo::token_memo(std::filesystem::path dir, std::chrono::seconds ttl, wall_clock now)
    : dir_(std::move(dir)), ttl_(ttl), now_(now ? std::move(now) : wall_clock([] { return std::chrono::system_clock::now(); })) {
    if (ttl_.count() <= 0) dir_.clear();
    if (!dir_.empty()) file_ = dir_ / file_name;
}

std::filesystem::path token_memo::default_dir() {
    auto absolute_env = [](const char* name) -> std::filesystem::path {
        const char* v = std::getenv(name);
        return v != nullptr && v[0] == '/' ? std::filesystem::path(v) : std::filesystem::path();
    };
    if (auto run = absolute_env("XDG_RUNTIME_DIR"); !run.empty()) return run / "tunnelmgr";
    if (auto state = absolute_env("XDG_STATE_HOME"); !state.empty()) return state / "tunnelmgr";
    if (auto home = absolute_env("HOME"); !home.empty()) return home / ".local/state/tunnelmgr";
    return {};
}

std::string token_memo::key_of(std::string_view api_base, std::string_view token) {
    std::string input = "tunnelmgr cloudflare-dns token check\n";
    input.append(api_base).append("\n").append(token);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    bool ok = EVP_Digest(input.data(), input.size(), digest, &size, EVP_sha256(), nullptr) == 1;
    std::fill(input.begin(), input.end(), '\0');
    if (!ok) return {};
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < size; ++i) {
        out += hex[digest[i] >> 4];
        out += hex[digest[i] & 0xf];
    }
    return out;
}

bool token_memo::remembers(const std::string& key) const {
    if (file_.empty() || !is_key(key)) return false;
    const entries all = read_entries(file_);
    auto it = all.find(key);
    if (it == all.end()) return false;
    const long long now = std::chrono::duration_cast<std::chrono::seconds>(now_().time_since_epoch()).count();
    // An expiry further off than the ttl was not written by this setting (or the clock went back).
    return now < it->second && it->second - now <= ttl_.count();
}

void token_memo::remember(const std::string& key) const {
    if (file_.empty() || !is_key(key)) return;
    const long long now = std::chrono::duration_cast<std::chrono::seconds>(now_().time_since_epoch()).count();
    entries all = read_entries(file_);
    for (auto it = all.begin(); it != all.end();) it = it->second <= now ? all.erase(it) : std::next(it);
    all[key] = now + ttl_.count();
    write_entries(dir_, file_, all);
}

void token_memo::forget(const std::string& key) const {
    if (file_.empty()) return;
    entries all = read_entries(file_);
    if (all.erase(key) == 0) return;
    write_entries(dir_, file_, all);
}

}  // namespace tunnelmgr::plugins::cloudflare_dns
