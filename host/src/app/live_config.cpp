// See live_config.hpp.
#include "app/live_config.hpp"

#include "log/logger.hpp"

namespace tunnelmgr::app {

live_config::live_config(config::config initial)
    : current_(std::make_shared<const config::config>(std::move(initial))) {}

std::shared_ptr<const config::config> live_config::current() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return current_;
}

namespace {

// Everything about the projects but their tokens, as comparable text.
std::string project_rules(const config::config& c) {
    std::string out;
    for (const auto& [name, p] : c.projects) {
        out += name + "|";
        for (const auto& r : p.ports) out += std::to_string(r.first) + "-" + std::to_string(r.last) + ",";
        out += "|" + std::to_string(p.rate.changes_per_minute) + "|" + std::to_string(p.rate.checks_per_minute) + "|" +
               std::to_string(p.max_hostnames) + "|";
        for (const auto& d : p.domains) out += d + ",";
        out += "|" + p.name_prefix + "|" + p.name_suffix + "\n";
    }
    return out;
}

}  // namespace

std::vector<std::string> needs_restart(const config::config& running, const config::config& next) {
    std::vector<std::string> keys;
    for (const auto& name : config::slot_names()) {
        const auto* a = running.find_slot(name);
        const auto* b = next.find_slot(name);
        bool same = (a == nullptr && b == nullptr) ||
                    (a != nullptr && b != nullptr && a->plugin == b->plugin && a->config_json == b->config_json);
        if (!same) keys.push_back(name);
    }
    // plugin_dir is not compared: --plugin-dir overrides it, so the running value need not be the file's.
    const auto& t = running.tunnel;
    const auto& u = next.tunnel;
    if (t.id != u.id) keys.push_back("tunnel.id");
    if (t.default_domain != u.default_domain) keys.push_back("tunnel.default_domain");
    if (t.ingress != u.ingress) keys.push_back("tunnel.ingress");
    if (t.config_file != u.config_file) keys.push_back("tunnel.config_file");
    if (t.metrics != u.metrics) keys.push_back("tunnel.metrics");
    if (t.backup_dir != u.backup_dir) keys.push_back("tunnel.backup_dir");
    if (t.ready_timeout != u.ready_timeout) keys.push_back("tunnel.ready_timeout");
    if (running.metrics.listen != next.metrics.listen) keys.push_back("metrics.listen");
    if (running.api.socket != next.api.socket) keys.push_back("api.socket");
    if (running.api.group != next.api.group) keys.push_back("api.group");
    // The pipeline and the table of host calls hold each project's ports, rate, quota and scope from
    // start-up: a reload applies only the tokens of the projects it already knows.
    if (project_rules(running) != project_rules(next)) keys.push_back("projects (other than token_sha256)");
    if (running.reserved_labels != next.reserved_labels) keys.push_back("reserved_labels");
    return keys;
}

tl::expected<void, std::string> live_config::reload() {
    std::lock_guard<std::mutex> one_at_a_time(reload_mutex_);
    auto running = current();
    if (running->source.empty() || running->source.front() == '<') {
        return tl::unexpected("there is no config file to read again (tunnelmgr runs on " +
                              (running->source.empty() ? std::string("no file") : running->source) +
                              "): start it with --config FILE to reload");
    }
    auto loaded = config::load_file(running->source);
    if (!loaded) return tl::unexpected(loaded.error());
    config::config next = std::move(*loaded);
    for (const auto& w : next.warnings) log::warn("config", w);
    auto pending = needs_restart(*running, next);
    if (!pending.empty()) {
        std::string keys;
        for (const auto& k : pending) keys += (keys.empty() ? "" : ", ") + k;
        log::warn("config", running->source + ": " + keys + " changed; that takes a restart of tunnelmgr "
                  "(systemctl restart tunnelmgr) and keeps its running value until then");
    }
    // What a reload cannot apply keeps the running value, so current() never describes plugins,
    // sockets or a tunnel this process does not actually have.
    next.slots = running->slots;
    next.plugin_dirs = running->plugin_dirs;
    next.tunnel = running->tunnel;
    next.metrics = running->metrics;
    next.api = running->api;
    next.reserved_labels = running->reserved_labels;
    // Projects: the running ones, with their tokens as the file now says (a project that is no longer
    // in the file can open no new session; one that is new waits for the restart).
    auto projects = running->projects;
    for (auto& [name, p] : projects) {
        auto now = next.projects.find(name);
        p.token_sha256 = now != next.projects.end() ? now->second.token_sha256 : std::string();
    }
    next.projects = std::move(projects);
    auto fresh = std::make_shared<const config::config>(std::move(next));
    std::vector<std::function<void(const config::config&)>> callbacks;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        current_ = fresh;
        callbacks = callbacks_;
    }
    for (auto& cb : callbacks) cb(*fresh);
    return {};
}

void live_config::on_reload(std::function<void(const config::config&)> cb) {
    std::lock_guard<std::mutex> lock(mutex_);
    callbacks_.push_back(std::move(cb));
}

}  // namespace tunnelmgr::app
