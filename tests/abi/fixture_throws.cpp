// ABI fixtures written in C++ that let exceptions escape (what the SDK prevents): from init, or
// from tm_plugin_entry itself. The host must catch them at its edge and refuse the plugin.
#include <stdexcept>

#include <tunnelmgr/sdk/plugin.hpp>

namespace {

class thrower final : public tunnelmgr::sdk::plugin, public tunnelmgr::sdk::tunnel_supervisor_v1 {
public:
    thrower(const tunnelmgr::sdk::host&, std::string_view) {}
    tunnelmgr::sdk::result<std::string> status() override { return std::string("{}"); }
    tunnelmgr::sdk::result<void> restart() override { return {}; }
};

const char* api_version() { return TM_PLUGIN_API_VERSION_STRING; }
const char* name() { return FIXTURE_NAME; }
const char* version() { return "0.0.1"; }
const char* schema() { return "{}"; }
tm_plugin_t* init(const tm_host_api*, const char*, tm_rc*) { throw std::runtime_error("fixture init exploded"); }
void destroy(tm_plugin_t*) {}
const char* last_error(tm_plugin_t*) { return ""; }

}  // namespace

extern "C" TM_PLUGIN_EXPORT const tm_plugin_api* tm_plugin_entry(void) {
#if defined(FIXTURE_ENTRY_THROWS)
    throw std::logic_error("fixture entry exploded");
#else
    // Take a valid supervisor table from the SDK and swap in an init that throws.
    static tm_plugin_api api = *tunnelmgr::sdk::detail::entry<thrower>::table(FIXTURE_NAME, "0.0.1", "{}");
    api.required_api_version = api_version;
    api.name = name;
    api.version = version;
    api.config_schema = schema;
    api.init = init;
    api.destroy = destroy;
    api.last_error = last_error;
    return &api;
#endif
}
