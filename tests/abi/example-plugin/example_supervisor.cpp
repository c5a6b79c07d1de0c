// An example tunnel supervisor written the way a third-party author would: one plain class and
// the TM_PLUGIN line. It "supervises" by reading a status file and counting restarts in it, so it
// runs anywhere; a real one would talk to its process manager.
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include <tunnelmgr/sdk/plugin.hpp>

namespace sdk = tunnelmgr::sdk;

class example_supervisor final : public sdk::plugin, public sdk::tunnel_supervisor_v1 {
public:
    example_supervisor(const sdk::host& host, std::string_view config_json) : host_(host) {
        // The SDK leaves JSON parsing to the plugin; this example needs one string key only.
        std::string cfg(config_json);
        auto key = cfg.find("\"status_file\"");
        if (key == std::string::npos) {
            throw std::runtime_error("supervisor.status_file is missing: give the file this example reads its state from");
        }
        auto start = cfg.find('"', cfg.find(':', key) + 1);
        auto end = cfg.find('"', start + 1);
        status_file_ = cfg.substr(start + 1, end - start - 1);
        host_.info("example-supervisor", "watching " + status_file_);
    }

    sdk::result<std::string> status() override {
        std::ifstream in(status_file_);
        if (!in) return sdk::fail(TM_NOT_FOUND, "cannot read " + status_file_ + ": create it with the word running or stopped");
        std::string word;
        in >> word;
        bool running = word == "running";
        return std::string("{\"running\":") + (running ? "true" : "false") + ",\"pid\":null,\"state\":\"" + word +
               "\",\"since_ms\":null,\"detail\":\"from " + status_file_ + "\"}";
    }

    sdk::result<void> restart() override {
        std::ofstream out(status_file_, std::ios::trunc);
        if (!out) return sdk::fail(TM_ERROR, "cannot write " + status_file_);
        out << "running\n";
        host_.emit_event("tunnel.started", "{\"by\":\"example-supervisor\"}");
        return {};
    }

private:
    sdk::host host_;
    std::string status_file_;
};

TM_PLUGIN(example_supervisor, "example-supervisor", "1.0.0",
          R"({"type":"object","required":["status_file"],"properties":{"status_file":{"type":"string"}}})")
