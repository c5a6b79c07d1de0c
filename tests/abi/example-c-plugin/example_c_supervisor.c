/* An example tunnel supervisor in plain C, written against plugin_api.h alone (no SDK): the entry
 * table, one capability table, an instance struct and the memory rules by hand. It supervises nothing
 * — status() always reports a running tunnel and restart() only counts — so it runs anywhere; a real
 * one would ask its process manager. */
#include <stdio.h>
#include <stdlib.h>

#include <tunnelmgr/plugin_api.h>

/* The instance behind the opaque tm_plugin_t*. */
struct tm_plugin {
    const tm_host_api* host;
    long restarts;
    /* status() returns a pointer into this: the plugin owns it, valid until the next call. */
    char status_json[160];
    char error[128];
};

static const char* required_api_version(void) { return TM_PLUGIN_API_VERSION_STRING; }
static const char* name(void) { return "example-c-supervisor"; }
static const char* version(void) { return "1.0.0"; }
/* It takes no settings: an empty object, nothing else. */
static const char* config_schema(void) { return "{\"type\":\"object\",\"additionalProperties\":false}"; }

/* init() has no instance to hang an error on: last_error(NULL) reads this one, per thread. */
static _Thread_local char init_error[128];

static tm_plugin_t* init(const tm_host_api* host, const char* config_json, tm_rc* rc) {
    (void)config_json; /* the host checked it against config_schema() already */
    tm_plugin_t* p = calloc(1, sizeof *p);
    if (p == NULL) {
        snprintf(init_error, sizeof init_error, "out of memory");
        *rc = TM_ERROR;
        return NULL;
    }
    p->host = host;
    host->log(host->host_ctx, TM_LOG_INFO, "example-c-supervisor", "started: reports a running tunnel");
    *rc = TM_OK;
    return p;
}

static void destroy(tm_plugin_t* p) { free(p); }

static const char* last_error(tm_plugin_t* p) { return p != NULL ? p->error : init_error; }

static tm_rc status(tm_plugin_t* p, const char** out_json) {
    int n = snprintf(p->status_json, sizeof p->status_json,
                     "{\"running\":true,\"pid\":null,\"state\":\"active\",\"since_ms\":null,"
                     "\"detail\":\"restarted %ld times\"}",
                     p->restarts);
    if (n < 0 || (size_t)n >= sizeof p->status_json) {
        snprintf(p->error, sizeof p->error, "status did not fit its buffer");
        return TM_ERROR;
    }
    *out_json = p->status_json;
    return TM_OK;
}

static tm_rc restart(tm_plugin_t* p) {
    ++p->restarts;
    p->host->emit_event(p->host->host_ctx, "tunnel.started", "{\"by\":\"example-c-supervisor\"}");
    return TM_OK;
}

/* Static storage, as plugin_api.h asks; watch_start/watch_stop are optional and left NULL. */
static const tm_tunnel_supervisor_v1 supervisor = {
    .struct_size = sizeof(tm_tunnel_supervisor_v1),
    .status = status,
    .restart = restart,
};

static const tm_plugin_api api = {
    .struct_size = sizeof(tm_plugin_api),
    .required_api_version = required_api_version,
    .name = name,
    .version = version,
    .config_schema = config_schema,
    .init = init,
    .destroy = destroy,
    .last_error = last_error,
    .tunnel_supervisor_v1 = &supervisor,
};

TM_PLUGIN_EXPORT const tm_plugin_api* tm_plugin_entry(void) { return &api; }
