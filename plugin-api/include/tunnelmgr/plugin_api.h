/*
 * tunnelmgr plugin ABI: the one contract between the tunnelmgr host and its backends.
 * Plain C, stable across releases; read "Rules" before changing anything here.
 *
 * Rules
 * -----
 * - Each plugin is a shared object exporting exactly one symbol:
 *       const tm_plugin_api* tm_plugin_entry(void);
 *   It must return a pointer to static storage that lives as long as the library.
 * - Every struct starts with `uint32_t struct_size` (sizeof the struct as the plugin compiled it).
 *   The host copies min(struct_size, sizeof(host struct)) bytes into a zeroed struct, so fields a
 *   plugin does not know are NULL. A struct_size larger than the host's means the plugin was built
 *   against a newer API than the host has; the host refuses it.
 * - Versions are "MAJOR.MINOR.PATCH". The host loads a plugin when the majors are equal and the
 *   host's minor is >= the minor the plugin requires (required_api_version()).
 * - Tables only grow at the end. Each field added after 1.0 carries a "since 1.N" comment.
 *   A change to an existing field's meaning gets a new table name (`_v2`), never an edit.
 *
 * Memory
 * ------
 * - Inputs (const char*, structs) are borrowed for the duration of the call only.
 * - Pointers a plugin returns (strings, JSON) belong to the plugin and stay valid until the next
 *   call on the same instance, or until destroy(). The host copies them at once and never frees them.
 * - Buffers the host fills for a plugin (tm_buffer) belong to the host; the plugin gives them back
 *   with tm_host_api.buffer_release().
 * - All strings are UTF-8, NUL-terminated. Everything domain-shaped (records, rows, containers,
 *   MCP messages) crosses as a JSON text; small values cross as C values.
 *
 * Threads
 * -------
 * - The host calls the functions of one instance one at a time (it holds a lock per instance),
 *   except where a function says "concurrent": those may run while another call on the same
 *   instance is in progress, from another thread.
 * - Functions of different instances may run at the same time on different threads.
 * - tm_host_api functions may be called from any thread, at any time between init() and the end
 *   of destroy().
 *
 * Errors
 * ------
 * Every function that can fail returns a tm_rc. On anything but TM_OK, last_error(instance) gives
 * a sentence for a human that says what went wrong and what to do; it must never contain a secret.
 * No C++ exception, and no C++ type, ever crosses this boundary.
 */
#ifndef TUNNELMGR_PLUGIN_API_H
#define TUNNELMGR_PLUGIN_API_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TM_PLUGIN_API_VERSION_MAJOR 1
#define TM_PLUGIN_API_VERSION_MINOR 6
#define TM_PLUGIN_API_VERSION_PATCH 0
#define TM_PLUGIN_API_VERSION_STRING "1.6.0"

/* The name of the one symbol every plugin exports. */
#define TM_PLUGIN_ENTRY_SYMBOL "tm_plugin_entry"

#if defined(__GNUC__) || defined(__clang__)
#define TM_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define TM_PLUGIN_EXPORT
#endif

/* ---------------------------------------------------------------------------------------------
 * Result codes. A fixed-width integer, not a C enum, so its size never depends on the compiler.
 * ------------------------------------------------------------------------------------------- */
typedef int32_t tm_rc;
#define TM_OK 0          /* done */
#define TM_ERROR 1       /* failed; see last_error */
#define TM_NOT_FOUND 2   /* the thing asked for does not exist */
#define TM_CONFLICT 3    /* it exists already, or belongs to someone else */
#define TM_RETRY 4       /* a transient failure (rate limit, 5xx, busy); the same call may succeed later */
#define TM_TIMEOUT 5     /* a deadline passed */
#define TM_DENIED 6      /* not allowed (credentials, permissions, ownership) */
#define TM_INVALID 7     /* the input is wrong; the message says how */

/* Log levels for tm_host_api.log. */
typedef int32_t tm_log_level;
#define TM_LOG_TRACE 0
#define TM_LOG_DEBUG 1
#define TM_LOG_INFO 2
#define TM_LOG_WARN 3
#define TM_LOG_ERROR 4

/* An instance of a plugin, opaque to the host. */
typedef struct tm_plugin tm_plugin_t;

/* A caller's identity, created by the host; opaque to plugins. */
typedef struct tm_session tm_session_t;

/* A byte buffer the host fills and owns; release with tm_host_api.buffer_release(). */
typedef struct tm_buffer {
    uint32_t struct_size;
    const char* data; /* NUL-terminated; NULL when empty */
    uint64_t size;    /* bytes, without the NUL */
    void* opaque;     /* the host's; do not touch */
} tm_buffer;

/* ---------------------------------------------------------------------------------------------
 * What the host gives every instance at init(). Valid until destroy() returns.
 * ------------------------------------------------------------------------------------------- */
typedef struct tm_host_api {
    uint32_t struct_size;
    /* The host's version, "MAJOR.MINOR.PATCH" of this header as the host compiled it. */
    const char* api_version;
    /* Pass back as the first argument of every function below. */
    void* host_ctx;

    /* Required. Write a log line. component: a short name such as "cloudflare-dns"; msg: one line,
     * no secrets. Concurrent; never fails. */
    void (*log)(void* host_ctx, tm_log_level level, const char* component, const char* msg);

    /* Required. Tell the host something happened (for example "container.die" with
     * {"id":"...","name":"cloudflared"}). type: dotted lowercase; json: an object.
     * Concurrent; returns TM_INVALID for malformed JSON. The host never calls back into the
     * plugin from inside emit_event. */
    tm_rc (*emit_event)(void* host_ctx, const char* type, const char* json);

    /* Required for transports, provided to every plugin. Ask the host to do `op` (for example
     * "cname.request") with `args_json` (an object) on behalf of `session`. On TM_OK, *out holds the
     * result JSON; on failure *out holds {"error":"sentence","code":"..."} and the rc says the kind.
     * The host fills *out; the caller releases it with buffer_release(). Concurrent. */
    tm_rc (*call)(void* host_ctx, const char* op, const char* args_json, const tm_session_t* session,
                  tm_buffer* out);

    /* Required. Give back a buffer the host filled. Safe on a zeroed buffer. */
    void (*buffer_release)(void* host_ctx, tm_buffer* buf);
} tm_host_api;

/* ---------------------------------------------------------------------------------------------
 * Capability: state_store_v1 — the system of record (ownership, journal, audit, health, topology).
 * All rows cross as JSON. Times are Unix milliseconds (int64). Hostnames are lower-case.
 * ------------------------------------------------------------------------------------------- */
typedef struct tm_state_store_v1 {
    uint32_t struct_size;

    /* Required. The schema version (the number of the newest applied migration). */
    tm_rc (*schema_version)(tm_plugin_t* p, int64_t* out_version);

    /* Required. Row counts and file facts as a JSON object, e.g.
     * {"schema_version":3,"path":"...","cnames":12,"audit_log":400,...}. */
    tm_rc (*stats)(tm_plugin_t* p, const char** out_json);

    /* --- cnames: one row per published hostname ------------------------------------------ */

    /* Required. Insert a committed CNAME row: {"hostname","subdomain","domain","project","port",
     * "target","target_type","container_name","docker_network","dns_record_id","zone_id"}.
     * TM_CONFLICT when the hostname (case-insensitive) is taken.
     * Since 1.3 a row may carry "expires_at" (Unix ms, or null: never) and "origin_request" (an object
     * of the rule's cloudflared originRequest settings, or null: none). A store requiring 1.3 keeps
     * both and returns them from cname_get and cname_list (absent or null when unset); an older store
     * drops them, so the host refuses expiring names and origin settings over it.
     * Since 1.4 a row may carry "machine": the machine (its tunnel) whose cloudflared serves the name.
     * A store shared by several machines (postgres-state) keeps it, sets its own machine on a row
     * that has none, and returns it on every row; hostnames stay unique across all machines. A store
     * of one machine may leave it out; the host then treats every row as its own. Since 1.4 a
     * "created_at" (> 0) given here is kept (`tunnelmgr state copy`); the pipeline never gives one. */
    tm_rc (*cname_insert)(tm_plugin_t* p, const char* row_json, int64_t* out_id);

    /* Required. Delete the row of `hostname`. TM_NOT_FOUND when there is none. */
    tm_rc (*cname_delete)(tm_plugin_t* p, const char* hostname);

    /* Required. The row of `hostname` as a JSON object; TM_NOT_FOUND when there is none. */
    tm_rc (*cname_get)(tm_plugin_t* p, const char* hostname, const char** out_json);

    /* Required. Rows as a JSON array, ordered by hostname. filter_json: {} or {"project":"name"}, and
     * since 1.1 "limit" (1..10000) and "offset" (>= 0) for one page; a 1.0 store ignores them and
     * returns every row (the host then pages by itself). Since 1.3 "expires_before" (Unix ms): only
     * rows whose expires_at is set and <= it (the daemon's expiry pass).
     * Since 1.5 "after" (a hostname; the store folds it as sdk::fold_hostname does): only rows whose
     * hostname sorts after it in this same order, so that a page starts where the last one ended however
     * many rows were added or removed before it (keyset paging: pass the last hostname of the previous
     * page). It combines with every other member but "offset": "after" and "offset" together are
     * TM_INVALID. The order (and so "after") is byte order of the lower-case hostname; a store answers it
     * with an index seek, not by reading the rows before it. An older store ignores "after" (the host
     * then lists every row and takes the page itself). */
    tm_rc (*cname_list)(tm_plugin_t* p, const char* filter_json, const char** out_json);

    /* --- operations: the CNAME pipeline's journal ------------------------------------------ */

    /* Required. Start an operation: {"kind":"create"|"delete","hostname","project","request":{...}};
     * since 1.3 also "retarget" (the row's service changes, its DNS record does not).
     * Its state starts at "validated". TM_CONFLICT when another unfinished operation holds the same
     * hostname (so two processes never work on one name at once). */
    tm_rc (*operation_begin)(tm_plugin_t* p, const char* op_json, int64_t* out_id);

    /* Required. Move operation `id` to `state` and merge `patch_json` (an object, may be "{}") into
     * its data. TM_NOT_FOUND for an unknown id. Until 1.5 each call was durable before it returned.
     * Since 1.6 it may be lazy: kept by a crash of the process at once, and by a crash of the machine
     * once any later durable write (operation_begin, operation_commit, every other write) returns; a
     * machine crash keeps a prefix of the writes, never a later one without an earlier one. A 1.6 host
     * recovers an operation as if any step after the journaled one may have been done. */
    tm_rc (*operation_advance)(tm_plugin_t* p, int64_t id, const char* state, const char* patch_json);

    /* Required. In one transaction: insert (kind "create") or delete (kind "delete") the CNAME row
     * given in `cname_json` and mark operation `id` "committed". Since 1.3, kind "retarget" replaces
     * every field of the stored row of that hostname but id and created_at with cname_json's
     * (TM_NOT_FOUND, and the operation stays as it was, when there is no such row). */
    tm_rc (*operation_commit)(tm_plugin_t* p, int64_t id, const char* cname_json);

    /* Required. Operations in neither "committed" nor "rolled_back", as a JSON array, oldest first.
     * A store shared by several machines returns only its own machine's: each machine settles its own. */
    tm_rc (*operation_list_unfinished)(tm_plugin_t* p, const char** out_json);

    /* --- audit log ---------------------------------------------------------------------- */

    /* Required. Append {"actor","role","action","target","result","error","details":{}}; the store
     * sets the time. Callers must not put secrets in it. Since 1.4 a "ts" (Unix ms, > 0) given in the
     * entry is kept instead (`tunnelmgr state copy` moves history), and a shared store returns each
     * entry's "machine". */
    tm_rc (*audit_append)(tm_plugin_t* p, const char* entry_json);

    /* Required. Newest first as a JSON array. filter_json: {"project"?, "action"?, "since_ms"?,
     * "limit"? (default 100, max 10000)}. Since 1.4 "before_id": only entries with a smaller id, ordered
     * by id, newest first — pages through the whole log. */
    tm_rc (*audit_query)(tm_plugin_t* p, const char* filter_json, const char** out_json);

    /* --- tunnel health --------------------------------------------------------------------- */

    /* Required. Record a health observation {"status","ready_connections","restart_count",
     * "last_error","uptime_s","detail":{}}. Since 1.4 a given "ts" (> 0) is kept, as for audit. A shared
     * store keeps health, the Docker snapshot and leases per machine. */
    tm_rc (*health_record)(tm_plugin_t* p, const char* json);

    /* Required. Newest first as a JSON array. filter_json: {"since_ms"?, "limit"?}; since 1.4
     * "before_id" as for audit_query. */
    tm_rc (*health_history)(tm_plugin_t* p, const char* filter_json, const char** out_json);

    /* --- domains (zones) ----------------------------------------------------------------------- */

    /* Required. Replace the known zones with `zones_json`, an array of {"zone_id","name","status"}. */
    tm_rc (*domains_replace)(tm_plugin_t* p, const char* zones_json);

    /* Required. Known zones as a JSON array ordered by name. */
    tm_rc (*domains_list)(tm_plugin_t* p, const char** out_json);

    /* --- docker topology ----------------------------------------------------------------------- */

    /* Required. Replace the whole last snapshot in one transaction:
     * {"networks":[{"id","name","driver","scope"}],
     *  "containers":[{"id","name","image","state","project","networks":[{"network","ip","aliases":[]}],
     *                 "ports":[{"container_port","protocol","host_ip","host_port"}]}]} */
    tm_rc (*docker_snapshot_replace)(tm_plugin_t* p, const char* snapshot_json);

    /* Required. The last snapshot in the same shape, plus "taken_ms". */
    tm_rc (*docker_snapshot_get)(tm_plugin_t* p, const char** out_json);

    /* --- leases: which process runs the background loops ------------------------------------- */

    /* Required. Take or renew lease `name` for `holder` until now + ttl_ms. *out_acquired is 1 when
     * `holder` holds it after the call, 0 when another holder's unexpired lease stands. */
    tm_rc (*lease_acquire)(tm_plugin_t* p, const char* name, const char* holder, int64_t ttl_ms,
                           int32_t* out_acquired);

    /* Required. Give up lease `name` if `holder` holds it; otherwise do nothing. */
    tm_rc (*lease_release)(tm_plugin_t* p, const char* name, const char* holder);

    /* --- retention ------------------------------------------------------------------------------ */

    /* Required. Delete health and audit rows past the configured retention; *out_deleted counts them. */
    tm_rc (*prune)(tm_plugin_t* p, int64_t* out_deleted);

    /* since 1.1 — Optional. How many rows cname_list would return for filter_json without
     * "limit"/"offset" (and, since 1.5, "after") ({} or {"project":"name"}), without building them.
     * NULL (or failing): the host counts cname_list's rows instead. Since 1.4
     * {"project","pending_before":id} adds the project's unfinished "create" operations with a smaller
     * id (every machine's, in a shared store), counted in the same snapshot as the rows: the host's
     * quota check. */
    tm_rc (*cname_count)(tm_plugin_t* p, const char* filter_json, int64_t* out_count);
} tm_state_store_v1;

/* ---------------------------------------------------------------------------------------------
 * Capability: dns_provider_v1 — DNS records and zones (Cloudflare API v4 in the stock plugin).
 * ------------------------------------------------------------------------------------------- */
typedef struct tm_dns_provider_v1 {
    uint32_t struct_size;

    /* Required. Every zone the credentials can see, following all pages:
     * JSON array of {"zone_id","name","status"}. */
    tm_rc (*list_zones)(tm_plugin_t* p, const char** out_json);

    /* Required. The record of `hostname` of type `type` ("CNAME") in `zone_id`, as
     * {"id","name","type","content","proxied","comment"}; TM_NOT_FOUND when there is none. */
    tm_rc (*find_record)(tm_plugin_t* p, const char* zone_id, const char* hostname, const char* type,
                         const char** out_json);

    /* Required. Create a proxied CNAME {"name","content","comment"} in `zone_id`; returns the created
     * record as find_record does. TM_CONFLICT when a record with that name exists (81053/81054/81057). */
    tm_rc (*create_record)(tm_plugin_t* p, const char* zone_id, const char* record_json,
                           const char** out_json);

    /* Required. Delete record `record_id` in `zone_id`, but only when its comment equals
     * `expected_comment` (the ownership marker): TM_CONFLICT, naming it, when it differs;
     * TM_NOT_FOUND when it is already gone. */
    tm_rc (*delete_record)(tm_plugin_t* p, const char* zone_id, const char* record_id,
                           const char* expected_comment);

    /* Optional (NULL when unsupported). Replace a remotely-managed tunnel's ingress:
     * config_json is {"config":{"ingress":[...],"originRequest":{...}}}, plus "version" (optional)
     * when the host read one: the version its edit started from. A plugin that can tell that the PUT
     * did not make exactly the next version (another writer came between) returns TM_CONFLICT, with
     * the new configuration stored; the host then reads again and re-applies its change. */
    tm_rc (*put_tunnel_config)(tm_plugin_t* p, const char* tunnel_id, const char* config_json);

    /* Optional. Read a remotely-managed tunnel's configuration, same shape as above, with "version"
     * (the number Cloudflare gives each stored configuration) when the provider has one. */
    tm_rc (*get_tunnel_config)(tm_plugin_t* p, const char* tunnel_id, const char** out_json);

    /* since 1.2 — Optional (NULL when unsupported). Every record in `zone_id`, of any type, whose
     * comment starts with `comment_prefix` (byte for byte: a plugin whose API matches
     * case-insensitively, as Cloudflare's comment.startswith does, drops the records that differ),
     * following all pages: a JSON array of find_record's objects
     * {"id","name","type","content","proxied","comment"}, "[]" when there are none. `comment_prefix` is
     * never empty. NULL: the host looks the names it knows up one by one with find_record instead. */
    tm_rc (*list_records)(tm_plugin_t* p, const char* zone_id, const char* comment_prefix, const char** out_json);
} tm_dns_provider_v1;

/* ---------------------------------------------------------------------------------------------
 * Capability: container_runtime_v1 — the Docker topology.
 * ------------------------------------------------------------------------------------------- */
typedef struct tm_container_runtime_v1 {
    uint32_t struct_size;

    /* Required. A full snapshot, in the shape of tm_state_store_v1.docker_snapshot_replace, plus
     * "cloudflared":{"where":"container"|"host","container":"name","networks":[...],"host_network":bool}. */
    tm_rc (*snapshot)(tm_plugin_t* p, const char** out_json);

    /* Optional. Start following runtime events; each arrives through tm_host_api.emit_event
     * ("container.start", "container.die", "network.connect", ...) from the plugin's own thread. */
    tm_rc (*watch_start)(tm_plugin_t* p);

    /* Optional. Stop following events; returns after the plugin's thread has stopped. Concurrent. */
    tm_rc (*watch_stop)(tm_plugin_t* p);
} tm_container_runtime_v1;

/* ---------------------------------------------------------------------------------------------
 * Capability: tunnel_supervisor_v1 — run, watch and restart cloudflared.
 * ------------------------------------------------------------------------------------------- */
typedef struct tm_tunnel_supervisor_v1 {
    uint32_t struct_size;

    /* Required. {"running":bool,"pid":int|null,"state":"...","since_ms":int|null,"detail":"..."}. */
    tm_rc (*status)(tm_plugin_t* p, const char** out_json);

    /* Required. Restart cloudflared and return once the restart was issued (not once it is ready:
     * the host waits for /ready itself). */
    tm_rc (*restart)(tm_plugin_t* p);

    /* Optional. Follow process events ("tunnel.died", "tunnel.started") through emit_event. */
    tm_rc (*watch_start)(tm_plugin_t* p);

    /* Optional. Stop following; returns after the plugin's thread has stopped. Concurrent. */
    tm_rc (*watch_stop)(tm_plugin_t* p);

    /* --- replicas: several connectors of the same tunnel (since 1.2) ---------------------------
     * One tunnel may run several cloudflared processes ("replicas"), each its own unit or container
     * with its own metrics address; traffic goes to whichever are connected, so restarting them one
     * at a time keeps the tunnel up. A supervisor of replicas provides all three functions below, or
     * none (the host refuses a table with only some of them). Replicas are numbered 0..count-1 in
     * the order of the plugin's config; the count and each replica's name and metrics address are
     * fixed for the life of the instance.
     * With replicas, status() answers for the whole: "running" is true when any replica runs, and
     * "pid"/"since_ms" are those of the first replica that runs (of the first that answers when
     * none runs); and
     * restart() restarts every replica. The host uses the replica functions when replica_count
     * gives more than 1. Without them (NULL, or a plugin built before 1.2) the host treats the
     * supervisor as one replica: replica 0 is status()/restart(). */

    /* since 1.2 — Optional. How many replicas this instance supervises (>= 1). */
    tm_rc (*replica_count)(tm_plugin_t* p, int32_t* out_count);

    /* since 1.2 — Optional. status() of replica `index` (0-based), in status()'s shape plus
     * "name" (the unit or container, e.g. "cloudflared@1.service") and "metrics" (its metrics
     * address "HOST:PORT" as the plugin's config gives it, "" when the config gives none: the host
     * then uses the tunnel's). TM_INVALID for an index out of range. */
    tm_rc (*replica_status)(tm_plugin_t* p, int32_t index, const char** out_json);

    /* since 1.2 — Optional. Restart replica `index` only, and return once the restart was issued
     * (as restart(): the host waits for that replica's new process to be ready itself).
     * TM_INVALID for an index out of range. */
    tm_rc (*replica_restart)(tm_plugin_t* p, int32_t index);
} tm_tunnel_supervisor_v1;

/* ---------------------------------------------------------------------------------------------
 * Capability: transport_v1 — how clients talk to tunnelmgr (MCP over stdio in the stock plugin).
 * ------------------------------------------------------------------------------------------- */
typedef struct tm_transport_v1 {
    uint32_t struct_size;

    /* Required. Serve `session` until the peer goes away (EOF on stdin for stdio) or stop() is
     * called; requests reach the host through tm_host_api.call(). Blocks the calling thread. */
    tm_rc (*serve)(tm_plugin_t* p, const tm_session_t* session);

    /* Required. Make serve() return soon. Concurrent. */
    tm_rc (*stop)(tm_plugin_t* p);

    /* Optional. Deliver a host event (for example "tunnel.status" with its JSON) to connected
     * clients. Concurrent with serve(). */
    tm_rc (*deliver_event)(tm_plugin_t* p, const char* type, const char* json);
} tm_transport_v1;

/* ---------------------------------------------------------------------------------------------
 * The plugin's entry table.
 * ------------------------------------------------------------------------------------------- */
typedef struct tm_plugin_api {
    uint32_t struct_size;

    /* Required. The API version the plugin was built against, "MAJOR.MINOR.PATCH"
     * (normally TM_PLUGIN_API_VERSION_STRING). Static storage. */
    const char* (*required_api_version)(void);

    /* Required. The plugin's name, kebab-case, equal to its file name without ".so". Static. */
    const char* (*name)(void);

    /* Required. The plugin's own version, "MAJOR.MINOR.PATCH". Static. */
    const char* (*version)(void);

    /* Required. A JSON Schema (draft 2020-12) of the plugin's config section. Static. */
    const char* (*config_schema)(void);

    /* Required. Create an instance. config_json is the plugin's config section as a JSON object.
     * `host` stays valid until destroy() returns. On failure, return NULL and set *rc; then
     * last_error(NULL) gives the reason, until the next init() on the same thread. */
    tm_plugin_t* (*init)(const tm_host_api* host, const char* config_json, tm_rc* rc);

    /* Required. Free the instance; stop its threads first. Safe on NULL. */
    void (*destroy)(tm_plugin_t* p);

    /* Required. The last error of `p` (or of the last failed init() on this thread when p is NULL)
     * as one sentence; "" when there is none. Valid until the next call on `p`. Concurrent. */
    const char* (*last_error)(tm_plugin_t* p);

    /* One table per capability; NULL when not provided. Static storage. */
    const tm_state_store_v1* state_store_v1;
    const tm_dns_provider_v1* dns_provider_v1;
    const tm_container_runtime_v1* container_runtime_v1;
    const tm_tunnel_supervisor_v1* tunnel_supervisor_v1;
    const tm_transport_v1* transport_v1;
} tm_plugin_api;

/* The one symbol a plugin exports. */
typedef const tm_plugin_api* (*tm_plugin_entry_fn)(void);
TM_PLUGIN_EXPORT const tm_plugin_api* tm_plugin_entry(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* TUNNELMGR_PLUGIN_API_H */
