/* ABI fixtures: one small plugin per way of being wrong, each built from this file with one
 * FIXTURE_* macro defined (see CMakeLists.txt). The loader must refuse every one of them with a
 * clear line, and accept abi-good. Plain C, like a third-party plugin written without the SDK. */
#include <stddef.h>
#include <string.h>

#include <tunnelmgr/plugin_api.h>

#ifndef FIXTURE_NAME
#error "define FIXTURE_NAME"
#endif

static const char* required_api(void) {
#if defined(FIXTURE_MAJOR_2)
    return "2.0.0";
#elif defined(FIXTURE_V1_0)
    return "1.0.0";
#elif defined(FIXTURE_V1_1_DNS) || defined(FIXTURE_V1_1_SUPERVISOR)
    return "1.1.0";
#elif defined(FIXTURE_NEWER_MINOR)
    return "1.99.0";
#elif defined(FIXTURE_BAD_VERSION)
    return "one.two";
#else
    return TM_PLUGIN_API_VERSION_STRING;
#endif
}
static const char* name(void) {
#if defined(FIXTURE_WRONG_NAME)
    return "somebody-else";
#else
    return FIXTURE_NAME;
#endif
}
static const char* version(void) { return "0.0.1"; }
static const char* schema(void) { return "{\"type\":\"object\"}"; }

struct tm_plugin {
    int unused;
};
static struct tm_plugin the_instance;

static tm_plugin_t* init(const tm_host_api* host, const char* config_json, tm_rc* rc) {
    (void)config_json;
#if defined(FIXTURE_INIT_FAILS)
    (void)host;
    *rc = TM_INVALID;
    return NULL;
#else
    if (host != NULL && host->log != NULL) host->log(host->host_ctx, TM_LOG_DEBUG, FIXTURE_NAME, "init");
    *rc = TM_OK;
    return &the_instance;
#endif
}
static void destroy(tm_plugin_t* p) { (void)p; }
static const char* last_error(tm_plugin_t* p) {
#if defined(FIXTURE_INIT_FAILS)
    if (p == NULL) return "the fixture refuses to start: its config lacks everything it needs";
#endif
    (void)p;
    return "fixture error";
}

/* A state store that answers every call with TM_ERROR, except schema_version. */
static tm_rc schema_version(tm_plugin_t* p, int64_t* v) { (void)p; *v = 1; return TM_OK; }
static tm_rc s_json0(tm_plugin_t* p, const char** o) { (void)p; *o = "{}"; return TM_OK; }
static tm_rc s_str_id(tm_plugin_t* p, const char* a, int64_t* id) { (void)p; (void)a; (void)id; return TM_ERROR; }
static tm_rc s_str(tm_plugin_t* p, const char* a) { (void)p; (void)a; return TM_ERROR; }
static tm_rc s_str_json(tm_plugin_t* p, const char* a, const char** o) { (void)p; (void)a; (void)o; return TM_ERROR; }
static tm_rc s_adv(tm_plugin_t* p, int64_t id, const char* a, const char* b) { (void)p; (void)id; (void)a; (void)b; return TM_ERROR; }
static tm_rc s_commit(tm_plugin_t* p, int64_t id, const char* a) { (void)p; (void)id; (void)a; return TM_ERROR; }
static tm_rc s_lease(tm_plugin_t* p, const char* a, const char* b, int64_t t, int32_t* o) { (void)p; (void)a; (void)b; (void)t; (void)o; return TM_ERROR; }
static tm_rc s_str2(tm_plugin_t* p, const char* a, const char* b) { (void)p; (void)a; (void)b; return TM_ERROR; }
static tm_rc s_prune(tm_plugin_t* p, int64_t* n) { (void)p; *n = 0; return TM_OK; }
static tm_rc s_count_99(tm_plugin_t* p, const char* a, int64_t* n) { (void)p; (void)a; *n = 99; return TM_OK; }
static tm_rc s_two_rows(tm_plugin_t* p, const char* a, const char** o) { (void)p; (void)a; *o = "[{},{}]"; return TM_OK; }

/* A DNS provider built against 1.1: its table ends at get_tunnel_config, before list_records. */
static tm_rc d_zones(tm_plugin_t* p, const char** o) { (void)p; *o = "[]"; return TM_OK; }
static tm_rc d_find(tm_plugin_t* p, const char* z, const char* h, const char* t, const char** o) { (void)p; (void)z; (void)h; (void)t; (void)o; return TM_NOT_FOUND; }
static tm_rc d_create(tm_plugin_t* p, const char* z, const char* r, const char** o) { (void)p; (void)z; (void)r; (void)o; return TM_ERROR; }
static tm_rc d_delete(tm_plugin_t* p, const char* z, const char* id, const char* c) { (void)p; (void)z; (void)id; (void)c; return TM_NOT_FOUND; }
static tm_rc d_list_poisoned(tm_plugin_t* p, const char* z, const char* c, const char** o) { (void)p; (void)z; (void)c; *o = "[{\"name\":\"read-past-struct-size.example.com\"}]"; return TM_OK; }
static tm_dns_provider_v1 dns_storage;

/* A supervisor built against 1.1: its table ends at watch_stop, before the replica functions. */
static int sup_restarts;
static char sup_status_text[96];
static tm_rc v_status(tm_plugin_t* p, const char** o) {
    (void)p;
    sup_status_text[0] = '\0';
    strcat(sup_status_text, sup_restarts == 0 ? "{\"running\":true,\"pid\":1100}" : "{\"running\":true,\"pid\":1101}");
    *o = sup_status_text;
    return TM_OK;
}
static tm_rc v_restart(tm_plugin_t* p) { (void)p; ++sup_restarts; return TM_OK; }
static tm_rc v_count_poisoned(tm_plugin_t* p, int32_t* n) { (void)p; *n = 7; return TM_OK; }
static tm_rc v_status_poisoned(tm_plugin_t* p, int32_t i, const char** o) { (void)p; (void)i; *o = "{\"running\":false,\"name\":\"read-past-struct-size\"}"; return TM_OK; }
static tm_rc v_restart_poisoned(tm_plugin_t* p, int32_t i) { (void)p; (void)i; return TM_ERROR; }
static tm_tunnel_supervisor_v1 supervisor_storage;

#if defined(FIXTURE_TABLE_OVERSIZED)
struct padded_store {
    tm_state_store_v1 table;
    char future[32];
};
static struct padded_store store_storage;
#define STORE (store_storage.table)
#else
static tm_state_store_v1 store_storage;
#define STORE store_storage
#endif

#if defined(FIXTURE_OVERSIZED)
struct padded_api {
    tm_plugin_api api;
    char future[64];
};
static struct padded_api api_storage;
#define API (api_storage.api)
#else
static tm_plugin_api api_storage;
#define API api_storage
#endif

static void fill(void) {
    memset(&STORE, 0, sizeof STORE);
    STORE.struct_size = sizeof(tm_state_store_v1);
#if defined(FIXTURE_V1_0)
    /* Built against 1.0: the table ends at prune, so the host must read cname_count as NULL. */
    STORE.struct_size = (uint32_t)(offsetof(tm_state_store_v1, prune) + sizeof(STORE.prune));
#endif
#if defined(FIXTURE_TABLE_OVERSIZED)
    STORE.struct_size = sizeof(struct padded_store);
#endif
#if !defined(FIXTURE_INCOMPLETE_TABLE)
    STORE.schema_version = schema_version;
#endif
    STORE.stats = s_json0;
    STORE.cname_insert = s_str_id;
    STORE.cname_delete = s_str;
    STORE.cname_get = s_str_json;
#if defined(FIXTURE_V1_0)
    STORE.cname_list = s_two_rows;
    /* Past struct_size: a host that copied it anyway would count 99 instead of listing 2 rows. */
    STORE.cname_count = s_count_99;
#else
    STORE.cname_list = s_str_json;
#endif
    STORE.operation_begin = s_str_id;
    STORE.operation_advance = s_adv;
    STORE.operation_commit = s_commit;
    STORE.operation_list_unfinished = s_json0;
    STORE.audit_append = s_str;
    STORE.audit_query = s_str_json;
    STORE.health_record = s_str;
    STORE.health_history = s_str_json;
    STORE.domains_replace = s_str;
    STORE.domains_list = s_json0;
    STORE.docker_snapshot_replace = s_str;
    STORE.docker_snapshot_get = s_json0;
    STORE.lease_acquire = s_lease;
    STORE.lease_release = s_str2;
    STORE.prune = s_prune;

    memset(&API, 0, sizeof API);
    API.struct_size = sizeof(tm_plugin_api);
#if defined(FIXTURE_OVERSIZED)
    API.struct_size = sizeof(struct padded_api);
#elif defined(FIXTURE_UNDERSIZED)
    API.struct_size = 8;
#endif
    API.required_api_version = required_api;
    API.name = name;
    API.version = version;
    API.config_schema = schema;
#if !defined(FIXTURE_MISSING_INIT)
    API.init = init;
#endif
    API.destroy = destroy;
    API.last_error = last_error;
#if defined(FIXTURE_V1_1_DNS)
    memset(&dns_storage, 0, sizeof dns_storage);
    dns_storage.struct_size = (uint32_t)(offsetof(tm_dns_provider_v1, get_tunnel_config) + sizeof(dns_storage.get_tunnel_config));
    dns_storage.list_zones = d_zones;
    dns_storage.find_record = d_find;
    dns_storage.create_record = d_create;
    dns_storage.delete_record = d_delete;
    /* Past struct_size: a host that copied it anyway would think this plugin can list records. */
    dns_storage.list_records = d_list_poisoned;
    API.dns_provider_v1 = &dns_storage;
#elif defined(FIXTURE_V1_1_SUPERVISOR)
    memset(&supervisor_storage, 0, sizeof supervisor_storage);
    supervisor_storage.struct_size =
        (uint32_t)(offsetof(tm_tunnel_supervisor_v1, watch_stop) + sizeof(supervisor_storage.watch_stop));
    supervisor_storage.status = v_status;
    supervisor_storage.restart = v_restart;
    /* Past struct_size: a host that copied them anyway would see 7 replicas that do not exist. */
    supervisor_storage.replica_count = v_count_poisoned;
    supervisor_storage.replica_status = v_status_poisoned;
    supervisor_storage.replica_restart = v_restart_poisoned;
    API.tunnel_supervisor_v1 = &supervisor_storage;
#elif defined(FIXTURE_PARTIAL_REPLICAS)
    /* replica_count without replica_status/replica_restart: half a capability, refused. */
    memset(&supervisor_storage, 0, sizeof supervisor_storage);
    supervisor_storage.struct_size = sizeof supervisor_storage;
    supervisor_storage.status = v_status;
    supervisor_storage.restart = v_restart;
    supervisor_storage.replica_count = v_count_poisoned;
    API.tunnel_supervisor_v1 = &supervisor_storage;
#elif !defined(FIXTURE_NO_CAPABILITY)
    API.state_store_v1 = &STORE;
#endif
}

#if !defined(FIXTURE_NO_ENTRY)
TM_PLUGIN_EXPORT const tm_plugin_api* tm_plugin_entry(void) {
#if defined(FIXTURE_NULL_ENTRY)
    return NULL;
#else
    fill();
    return &API;
#endif
}
#else
/* Exports something, but not the entry point. */
TM_PLUGIN_EXPORT int not_a_plugin(void) { return 42; }
#endif
