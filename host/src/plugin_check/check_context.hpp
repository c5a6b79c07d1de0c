// What every conformance suite shares: the plugin under test, the config its instances start with,
// and a scratch folder per test. main() fills it once before the suites run.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include <tl/expected.hpp>

#include "plugin_host/host_services.hpp"
#include "plugin_host/loader.hpp"

namespace tunnelmgr::plugin_check {

// "{tmpdir}" in a config stands for a fresh folder per test, so each test gets a store of its own.
inline constexpr const char* tmpdir_placeholder = "{tmpdir}";

struct check_context {
    std::shared_ptr<host::loaded_library> library;
    std::string config_template = "{}";
    bool config_given = false;
    // The zone the dns_provider_v1 suite may create its own records in (--dns-zone), lower-case, no
    // trailing dot; empty: that suite skips, since it would otherwise have to guess where it may write.
    std::string dns_zone;
    // --allow-restart: the config points the plugin at a cloudflared that may be restarted (a stub,
    // a test machine), so the supervisor suite may call replica_restart(). Never without it.
    bool allow_restart = false;
};

check_context& context();

// The config for a plugin that was given none: a state store whose schema knows "path" gets a file in
// the test's scratch folder (what sqlite-state needs); anything else gets {}.
std::string default_config(const host::loaded_library& lib);

// The config template with {tmpdir} replaced by `dir` (JSON-escaped).
std::string expand_config(const std::string& config_template, const std::filesystem::path& dir);

// A folder under the system temp dir, removed with everything in it when this goes away.
class scratch_dir {
public:
    scratch_dir();
    ~scratch_dir();
    scratch_dir(const scratch_dir&) = delete;
    scratch_dir& operator=(const scratch_dir&) = delete;
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

// A new instance of the plugin under test; the error is the loader's refusal sentence.
tl::expected<std::unique_ptr<host::plugin_instance>, std::string> start_instance(const std::string& config_json);

// A short tag unique to this process and test, for names that must not collide with rows already in a
// store the author pointed us at.
std::string unique_tag();

}  // namespace tunnelmgr::plugin_check
