/* A dns_provider_v1 whose list_records (since 1.2) misbehaves as the zone id it is asked about
 * says, to prove the host checks the reply before anyone reads it. Zone ids:
 *   "ok" (two records, one without a comment) | "empty" | "not-json" | "object" | "not-object" |
 *   "no-name" | "number-name" | "bad-comment" | "null" (TM_OK without a reply) | "fails" (TM_RETRY)
 * Config: "sleep_ms":N makes list_records sleep N ms first. The other functions answer as a DNS
 * with no records would. Plain C, built without the SDK, like a third-party plugin. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tunnelmgr/plugin_api.h>

struct tm_plugin {
    long sleep_ms;
    char error[160];
};

static const char* required_api(void) { return TM_PLUGIN_API_VERSION_STRING; }
static const char* name(void) { return "wild-dns"; }
static const char* version(void) { return "0.0.1"; }
static const char* schema(void) { return "{\"type\":\"object\"}"; }

static tm_plugin_t* init(const tm_host_api* host, const char* config_json, tm_rc* rc) {
    (void)host;
    struct tm_plugin* p = calloc(1, sizeof *p);
    if (p == NULL) {
        *rc = TM_ERROR;
        return NULL;
    }
    const char* s = config_json != NULL ? strstr(config_json, "\"sleep_ms\"") : NULL;
    if (s != NULL && (s = strchr(s, ':')) != NULL) p->sleep_ms = strtol(s + 1, NULL, 10);
    *rc = TM_OK;
    return p;
}

static void destroy(tm_plugin_t* p) { free(p); }

static const char* last_error(tm_plugin_t* p) { return p != NULL ? p->error : ""; }

static tm_rc fail(tm_plugin_t* p, tm_rc rc, const char* why) {
    snprintf(p->error, sizeof p->error, "%s", why);
    return rc;
}

static tm_rc list_zones(tm_plugin_t* p, const char** out) {
    (void)p;
    *out = "[]";
    return TM_OK;
}
static tm_rc find_record(tm_plugin_t* p, const char* zone, const char* host, const char* type, const char** out) {
    (void)zone; (void)host; (void)type; (void)out;
    return fail(p, TM_NOT_FOUND, "the wild dns fixture has no records");
}
static tm_rc create_record(tm_plugin_t* p, const char* zone, const char* rec, const char** out) {
    (void)zone; (void)rec; (void)out;
    return fail(p, TM_ERROR, "the wild dns fixture creates nothing");
}
static tm_rc delete_record(tm_plugin_t* p, const char* zone, const char* id, const char* comment) {
    (void)zone; (void)id; (void)comment;
    return fail(p, TM_NOT_FOUND, "the wild dns fixture has no records");
}

static tm_rc list_records(tm_plugin_t* p, const char* zone, const char* prefix, const char** out) {
    (void)prefix;
    if (p->sleep_ms > 0) {
        struct timespec ts = {p->sleep_ms / 1000, (p->sleep_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (strcmp(zone, "ok") == 0) {
        *out = "[{\"id\":\"r1\",\"name\":\"a.example.com\",\"type\":\"CNAME\",\"content\":\"t.cfargotunnel.com\","
               "\"proxied\":true,\"comment\":\"tunnelmgr:alpha\"},"
               "{\"id\":\"r2\",\"name\":\"b.example.com\",\"type\":\"CNAME\",\"content\":\"t.cfargotunnel.com\","
               "\"proxied\":true,\"comment\":null}]";
    } else if (strcmp(zone, "empty") == 0) {
        *out = "[]";
    } else if (strcmp(zone, "not-json") == 0) {
        *out = "[{\"name\":";
    } else if (strcmp(zone, "object") == 0) {
        *out = "{\"records\":[]}";
    } else if (strcmp(zone, "not-object") == 0) {
        *out = "[\"a.example.com\"]";
    } else if (strcmp(zone, "no-name") == 0) {
        *out = "[{\"id\":\"r1\",\"name\":\"a.example.com\"},{\"id\":\"r2\",\"comment\":\"tunnelmgr:alpha\"}]";
    } else if (strcmp(zone, "number-name") == 0) {
        *out = "[{\"id\":\"r1\",\"name\":7}]";
    } else if (strcmp(zone, "bad-comment") == 0) {
        *out = "[{\"id\":\"r1\",\"name\":\"a.example.com\",\"comment\":[\"tunnelmgr:alpha\"]}]";
    } else if (strcmp(zone, "null") == 0) {
        *out = NULL;
    } else {
        return fail(p, TM_RETRY, "the wild dns fixture was told to fail: try again later");
    }
    return TM_OK;
}

static tm_dns_provider_v1 dns_table;
static tm_plugin_api api_table;

TM_PLUGIN_EXPORT const tm_plugin_api* tm_plugin_entry(void) {
    memset(&dns_table, 0, sizeof dns_table);
    dns_table.struct_size = sizeof dns_table;
    dns_table.list_zones = list_zones;
    dns_table.find_record = find_record;
    dns_table.create_record = create_record;
    dns_table.delete_record = delete_record;
    dns_table.list_records = list_records;
    memset(&api_table, 0, sizeof api_table);
    api_table.struct_size = sizeof api_table;
    api_table.required_api_version = required_api;
    api_table.name = name;
    api_table.version = version;
    api_table.config_schema = schema;
    api_table.init = init;
    api_table.destroy = destroy;
    api_table.last_error = last_error;
    api_table.dns_provider_v1 = &dns_table;
    return &api_table;
}
