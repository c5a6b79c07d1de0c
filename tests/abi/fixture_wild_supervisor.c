/* A tunnel_supervisor_v1 that misbehaves as its config says, to prove the host distrusts what
 * crosses the boundary. Config (a JSON object, read with strstr: this is a fixture):
 *   "reply":"malformed" | "array" | "no-running" | "running-string" | "huge" | "ok" (default ok)
 *   "sleep_ms":N   status() (and replica_status()) sleeps N ms before answering
 *   "crash":true   status() dereferences NULL
 * Replicas (since 1.2; the functions are always there):
 *   "replicas":N          replica_count answers N (default 1); "count_fails":true makes it fail
 *   "replica_reply":...   replica_status's reply, as "reply" above, plus "name-number" (a
 *                         numeric "name"); "ok" is {"running","pid":5000+100*i+restarts of i,
 *                         "name":"wild@i","metrics":"127.0.0.1:2024i",...}
 *   "restart_all":true    replica_restart(i) restarts every replica (a broken plugin)
 *   an index outside 0..N-1 is TM_INVALID.
 * Plain C, built without the SDK, like a third-party plugin. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tunnelmgr/plugin_api.h>

#define WILD_MAX_REPLICAS 16

struct tm_plugin {
    char reply[32];
    long sleep_ms;
    int crash;
    int restarts;
    char status_text[256];
    char* huge;
    long replicas;
    int count_fails;
    int restart_all;
    char replica_reply[32];
    int replica_restarts[WILD_MAX_REPLICAS];
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
    p->replicas = 1;
    s = strstr(cfg, "\"replicas\"");
    if (s != NULL && (s = strchr(s, ':')) != NULL) p->replicas = strtol(s + 1, NULL, 10);
    p->count_fails = strstr(cfg, "\"count_fails\":true") != NULL;
    p->restart_all = strstr(cfg, "\"restart_all\":true") != NULL;
    read_string(cfg, "\"replica_reply\"", p->replica_reply, sizeof p->replica_reply);
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

static tm_rc replica_count(tm_plugin_t* p, int32_t* out) {
    if (p->count_fails) return TM_ERROR;
    *out = (int32_t)p->replicas;
    return TM_OK;
}

static int in_range(tm_plugin_t* p, int32_t i) {
    return i >= 0 && i < p->replicas && i < WILD_MAX_REPLICAS;
}

static tm_rc replica_status(tm_plugin_t* p, int32_t i, const char** out) {
    if (p->sleep_ms > 0) {
        struct timespec ts = {p->sleep_ms / 1000, (p->sleep_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (!in_range(p, i)) return TM_INVALID;
    if (strcmp(p->replica_reply, "malformed") == 0) {
        *out = "{\"running\": tru";
    } else if (strcmp(p->replica_reply, "array") == 0) {
        *out = "[true]";
    } else if (strcmp(p->replica_reply, "no-running") == 0) {
        *out = "{\"state\":\"active\",\"name\":\"wild\"}";
    } else if (strcmp(p->replica_reply, "running-string") == 0) {
        *out = "{\"running\":\"yes\",\"name\":\"wild\"}";
    } else if (strcmp(p->replica_reply, "name-number") == 0) {
        *out = "{\"running\":true,\"pid\":1,\"name\":7}";
    } else {
        snprintf(p->status_text, sizeof p->status_text,
                 "{\"running\":true,\"pid\":%d,\"state\":\"active\",\"since_ms\":null,\"detail\":\"replica %d\","
                 "\"name\":\"wild@%d\",\"metrics\":\"127.0.0.1:2024%d\"}",
                 5000 + 100 * i + p->replica_restarts[i], i, i, i);
        *out = p->status_text;
    }
    return TM_OK;
}

static tm_rc replica_restart(tm_plugin_t* p, int32_t i) {
    if (!in_range(p, i)) return TM_INVALID;
    if (p->restart_all) {
        for (int32_t j = 0; j < p->replicas && j < WILD_MAX_REPLICAS; ++j) ++p->replica_restarts[j];
    } else {
        ++p->replica_restarts[i];
    }
    return TM_OK;
}

static tm_tunnel_supervisor_v1 supervisor_table;
static tm_plugin_api api_table;

TM_PLUGIN_EXPORT const tm_plugin_api* tm_plugin_entry(void) {
    memset(&supervisor_table, 0, sizeof supervisor_table);
    supervisor_table.struct_size = sizeof supervisor_table;
    supervisor_table.status = status;
    supervisor_table.restart = restart;
    supervisor_table.replica_count = replica_count;
    supervisor_table.replica_status = replica_status;
    supervisor_table.replica_restart = replica_restart;
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
