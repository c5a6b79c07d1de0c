/* A tunnel_supervisor_v1 that misbehaves as its config says, to prove the host distrusts what
 * crosses the boundary. Config (a JSON object, read with strstr: this is a fixture):
 *   "reply":"malformed" | "array" | "no-running" | "running-string" | "huge" | "ok" (default ok)
 *   "sleep_ms":N   status() sleeps N ms before answering
 *   "crash":true   status() dereferences NULL
 * Plain C, built without the SDK, like a third-party plugin. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tunnelmgr/plugin_api.h>

struct tm_plugin {
    char reply[32];
    long sleep_ms;
    int crash;
    int restarts;
    char status_text[128];
    char* huge;
};

static const char* required_api(void) { return TM_PLUGIN_API_VERSION_STRING; }
static const char* name(void) { return "wild-supervisor"; }
static const char* version(void) { return "0.0.1"; }
static const char* schema(void) { return "{\"type\":\"object\"}"; }

static void read_string(const char* json, const char* key, char* out, size_t cap) {
    const char* at = strstr(json, key);
    out[0] = '\0';
    if (at == NULL) return;
    at = strchr(at + strlen(key), ':');
    if (at == NULL) return;
    at = strchr(at, '"');
    if (at == NULL) return;
    ++at;
    size_t n = 0;
    while (at[n] != '\0' && at[n] != '"' && n + 1 < cap) ++n;
    memcpy(out, at, n);
    out[n] = '\0';
}

static tm_plugin_t* init(const tm_host_api* host, const char* config_json, tm_rc* rc) {
    (void)host;
    struct tm_plugin* p = calloc(1, sizeof *p);
    if (p == NULL) {
        *rc = TM_ERROR;
        return NULL;
    }
    const char* cfg = config_json != NULL ? config_json : "{}";
    read_string(cfg, "\"reply\"", p->reply, sizeof p->reply);
    const char* s = strstr(cfg, "\"sleep_ms\"");
    if (s != NULL && (s = strchr(s, ':')) != NULL) p->sleep_ms = strtol(s + 1, NULL, 10);
    p->crash = strstr(cfg, "\"crash\":true") != NULL;
    *rc = TM_OK;
    return p;
}

static void destroy(tm_plugin_t* p) {
    if (p == NULL) return;
    free(p->huge);
    free(p);
}

static const char* last_error(tm_plugin_t* p) {
    (void)p;
    return "the wild supervisor fixture failed on purpose";
}

static tm_rc status(tm_plugin_t* p, const char** out) {
    if (p->sleep_ms > 0) {
        struct timespec ts = {p->sleep_ms / 1000, (p->sleep_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (p->crash) {
        volatile int* nothing = NULL;
        *out = (const char*)(long)*nothing;
        return TM_OK;
    }
    if (strcmp(p->reply, "malformed") == 0) {
        *out = "{\"running\": tru";
    } else if (strcmp(p->reply, "array") == 0) {
        *out = "[true]";
    } else if (strcmp(p->reply, "no-running") == 0) {
        *out = "{\"state\":\"active\"}";
    } else if (strcmp(p->reply, "running-string") == 0) {
        *out = "{\"running\":\"yes\",\"state\":\"active\"}";
    } else if (strcmp(p->reply, "huge") == 0) {
        size_t n = (size_t)64 << 20; /* 64 MiB */
        if (p->huge == NULL) {
            p->huge = malloc(n + 1);
            if (p->huge == NULL) return TM_ERROR;
            memset(p->huge, ' ', n);
            p->huge[0] = '{';
            p->huge[n - 1] = '}';
            p->huge[n] = '\0';
        }
        *out = p->huge;
    } else {
        snprintf(p->status_text, sizeof p->status_text,
                 "{\"running\":true,\"pid\":4242,\"state\":\"active\",\"since_ms\":null,\"detail\":\"restarts %d\"}",
                 p->restarts);
        *out = p->status_text;
    }
    return TM_OK;
}

static tm_rc restart(tm_plugin_t* p) {
    ++p->restarts;
    return TM_OK;
}

static tm_tunnel_supervisor_v1 supervisor_table;
static tm_plugin_api api_table;

TM_PLUGIN_EXPORT const tm_plugin_api* tm_plugin_entry(void) {
    memset(&supervisor_table, 0, sizeof supervisor_table);
    supervisor_table.struct_size = sizeof supervisor_table;
    supervisor_table.status = status;
    supervisor_table.restart = restart;
    memset(&api_table, 0, sizeof api_table);
    api_table.struct_size = sizeof api_table;
    api_table.required_api_version = required_api;
    api_table.name = name;
    api_table.version = version;
    api_table.config_schema = schema;
    api_table.init = init;
    api_table.destroy = destroy;
    api_table.last_error = last_error;
    api_table.tunnel_supervisor_v1 = &supervisor_table;
    return &api_table;
}
