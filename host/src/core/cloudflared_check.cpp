// See cloudflared_check.hpp.
#include "core/cloudflared_check.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

#include "log/logger.hpp"
#include "sys/process.hpp"

namespace tunnelmgr::core {
namespace {

bool runnable(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

std::string find_in_path(const std::string& name) {
    const char* env = std::getenv("PATH");
    std::string dirs = env != nullptr && *env != '\0' ? env : "/usr/local/bin:/usr/bin:/bin";
    size_t start = 0;
    while (start <= dirs.size()) {
        size_t end = dirs.find(':', start);
        if (end == std::string::npos) end = dirs.size();
        std::string dir = dirs.substr(start, end - start);
        if (dir.empty()) dir = ".";
        std::string candidate = dir + "/" + name;
        if (runnable(candidate)) return candidate;
        start = end + 1;
    }
    return "";
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
    if (from.empty()) return;
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
}

// What cloudflared said, without its "Validating rules from ..." preamble, on one line.
std::string refusal_text(const sys::process_output& r) {
    std::string all = r.err + (r.err.empty() || r.out.empty() ? "" : "\n") + r.out;
    std::string msg;
    size_t start = 0;
    while (start < all.size()) {
        size_t end = all.find('\n', start);
        if (end == std::string::npos) end = all.size();
        std::string line = all.substr(start, end - start);
        start = end + 1;
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
        size_t first = line.find_first_not_of(' ');
        if (first == std::string::npos || line.rfind("Validating rules from ", 0) == 0) continue;
        msg += (msg.empty() ? "" : " ") + line.substr(first);
    }
    for (char& c : msg) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
    }
    if (msg.size() > 600) msg = msg.substr(0, 600) + "...";
    return msg.empty() ? "it exited with status " + std::to_string(r.exit_code) + " and said nothing" : msg;
}

// A folder only this user may enter, removed with what it holds when this goes out of scope.
struct private_dir {
    std::string path;
    ~private_dir() {
        if (path.empty()) return;
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

}  // namespace

cloudflared_check::cloudflared_check(std::string bin, std::chrono::milliseconds timeout)
    : bin_(std::move(bin)), timeout_(timeout) {}

std::string cloudflared_check::binary() const {
    if (off()) return "";
    if (bin_.empty()) return find_in_path("cloudflared");
    if (bin_.find('/') != std::string::npos) return runnable(bin_) ? bin_ : "";
    return find_in_path(bin_);
}

void cloudflared_check::log_skipped(const std::string& about) const {
    if (!off() && !bin_.empty()) {
        log::warn("ingress", "tunnel.cloudflared_bin " + bin_ + " is not an executable file: " + about +
                                 " is checked by tunnelmgr's own rules only");
    } else {
        log::debug("ingress", "no cloudflared to check " + about + " with (tunnel.cloudflared_bin)");
    }
}

result<void> cloudflared_check::validate_file(const std::string& path) const {
    const std::string program = binary();
    if (program.empty()) {
        log_skipped(path);
        return {};
    }
    return run_validate(program, path, path);
}

result<void> cloudflared_check::validate_text(const std::string& text, const std::string& shown_as) const {
    const std::string program = binary();
    if (program.empty()) {
        log_skipped(shown_as);
        return {};
    }
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/tunnelmgr-check-XXXXXX";
    private_dir dir;
    if (::mkdtemp(pattern.data()) == nullptr) {
        return fail(errc::error, "cannot make a private folder to check " + shown_as + " with cloudflared (" + pattern +
                                     "): " + std::strerror(errno));
    }
    dir.path = pattern;
    std::string name = std::filesystem::path(shown_as).filename().string();
    std::string file = dir.path + "/" + (name.empty() ? std::string("config.yml") : name);
    int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return fail(errc::error, "cannot write " + file + " to check it with cloudflared: " + std::strerror(errno));
    size_t done = 0;
    while (done < text.size()) {
        ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int e = errno;
            ::close(fd);
            return fail(errc::error, "cannot write " + file + " to check it with cloudflared: " + std::strerror(e));
        }
        done += static_cast<size_t>(n);
    }
    ::close(fd);
    return run_validate(program, file, shown_as);
}

result<void> cloudflared_check::run_validate(const std::string& program, const std::string& file,
                                             const std::string& shown_as) const {
    auto r = sys::run({program, "--no-autoupdate", "tunnel", "--config", file, "ingress", "validate"}, timeout_);
    if (!r) {
        return fail(r.error().code == errc::timeout ? errc::timeout : errc::error,
                    "cannot check " + shown_as + " with cloudflared: " + r.error().message +
                        " (set tunnel.cloudflared_bin to a working cloudflared, or to `none` to skip this check)");
    }
    if (r->exit_code == 0) {
        log::debug("ingress", "cloudflared (" + program + ") accepts " + shown_as);
        return {};
    }
    std::string said = refusal_text(*r);
    replace_all(said, file, shown_as);
    if (r->exit_code < 0) {
        return fail(errc::error, "cannot check " + shown_as + " with cloudflared: " + program +
                                     " was killed by a signal (" + said + ")");
    }
    return fail(errc::invalid, said);
}

}  // namespace tunnelmgr::core
