// Tool names and argument names follow the original design (subdomain, port, domain, projectName),
// so agents written against it keep working. Identity never comes from arguments: the host decides
// from the session, and a projectName other than the session's own is refused there.
#include "tool_catalog.hpp"

#include <stdexcept>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace tunnelmgr::plugins::mcp_stdio {
namespace {

struct hints {
    bool read_only;
    bool destructive;
    bool idempotent;
    bool open_world;
};

struct spec {
    const char* name;
    const char* op;
    const char* wrap_key;
    const char* title;
    const char* description;
    const char* input_schema;
    const char* output_schema;
    hints annotations;
};

// Pieces shared by several schemas.
#define TM_SUBDOMAIN                                                                                              \
    R"("subdomain":{"type":"string","minLength":1,"maxLength":63,"pattern":"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$",)" \
    R"("description":"one DNS label: letters, digits and inner hyphens, e.g. \"api\" for api.example.com"})"
#define TM_PORT                                                                                                   \
    R"("port":{"type":"integer","minimum":1,"maximum":65535,)"                                                     \
    R"("description":"the port the service listens on (inside its container, or on the host); it must be one of your project's ports"})"
// A DNS name: labels of letters, digits and inner hyphens, joined by dots, at least two of them (a
// trailing dot is allowed). Label lengths are the host's to explain; maxLength bounds the whole name.
#define TM_DNS_NAME_PATTERN                                                                                       \
    R"("pattern":"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+\\.?$",)"
#define TM_DOMAIN                                                                                                 \
    R"("domain":{"type":"string","minLength":1,"maxLength":253,)" TM_DNS_NAME_PATTERN                              \
    R"("description":"a zone of the account your project may use, e.g. \"example.com\" (see tunnel_list_domains); )" \
    R"(default: the configured default domain"})"
#define TM_PROJECT                                                                                                \
    R"("projectName":{"type":"string","minLength":1,"maxLength":128,)"                                             \
    R"("description":"optional; a project session may only name itself, the admin may name any project"})"
#define TM_LIMIT                                                                                                  \
    R"("limit":{"type":"integer","minimum":1,"maximum":1000,"description":"at most this many rows, newest first, default 50"})"
#define TM_CNAME_ROW                                                                                              \
    R"({"type":"object","properties":{"hostname":{"type":"string"},"subdomain":{"type":"string"},)"                \
    R"("domain":{"type":"string"},"project":{"type":"string"},"port":{"type":"integer"},"target":{"type":"string"},)" \
    R"("target_type":{"type":"string"},"expires_at":{"type":"integer","description":"Unix ms when the name is removed"},)" \
    R"("origin_request":{"type":"object"}}})"
// The origin settings a hostname's own ingress rule may carry (cloudflared's originRequest names).
#define TM_ORIGIN_REQUEST                                                                                         \
    R"~("originRequest":{"type":"object","description":"cloudflared origin settings for this hostname only",)~"    \
    R"~("properties":{"connectTimeout":{"type":["string","integer"],"description":"a duration such as \"10s\" (1s to 10m), or whole seconds"},)~" \
    R"~("noTLSVerify":{"type":"boolean","description":"accept the origin's certificate unchecked (https origins only)"},)~" \
    R"~("httpHostHeader":{"type":"string","maxLength":253,"description":"the Host header sent to the origin"},)~"   \
    R"~("originServerName":{"type":"string","maxLength":253,"description":"the TLS server name expected of the origin"},)~" \
    R"~("http2Origin":{"type":"boolean","description":"speak HTTP/2 to the origin (https origins only)"},)~"          \
    R"~("disableChunkedEncoding":{"type":"boolean","description":"for origins that cannot take chunked requests"}},)~" \
    R"~("additionalProperties":false})~"
#define TM_TTL                                                                                                    \
    R"~("ttl":{"type":["string","integer"],"description":"remove the hostname this long after it is published: \"30m\", \"2h\", \"7d\" )~" \
    R"~((1m to 365d), or whole seconds; leave out for a name that stays until deleted"})~"
#define TM_ZONE_ROW R"~({"type":"object","properties":{"zone_id":{"type":"string"},"name":{"type":"string"},"status":{"type":"string"}}})~"
#define TM_ERROR_PROPS                                                                                            \
    R"~("error":{"type":"string","description":"present only on failure, with isError true"},)~"                        \
    R"~("code":{"type":"string"},"recommendation":{"type":"string"})~"

const spec specs[] = {
    {"tunnel_get_status", "status.get", "", "Tunnel status",
     "The health of the Cloudflare Tunnel: status (up, degraded, down...), ready connections, restarts, uptime, "
     "the last error, the supervisor's view of cloudflared, and how many hostnames are published.",
     R"({"type":"object","properties":{},"additionalProperties":false})",
     R"({"type":"object","properties":{"tunnel":{"type":"object","properties":{"status":{"type":"string"},)"
     R"("ready_connections":{"type":"integer"},"restart_count":{"type":"integer"},"uptime_s":{"type":"number"},)"
     R"("last_error":{"type":["string","null"]},"checked_ms":{"type":"integer"}}},)"
     R"("supervisor":{"type":["object","null"]},"cnames":{"type":"integer"},"project":{"type":"string"},"role":{"type":"string"},)" TM_ERROR_PROPS "}}",
     {true, false, true, false}},
    {"tunnel_request_cname", "cname.request", "", "Publish a hostname",
     "Publish SUBDOMAIN.DOMAIN through the tunnel to a service of your project on PORT. tunnelmgr finds the "
     "container listening on that port, picks how cloudflared reaches it, creates the DNS record and the ingress "
     "rule, and waits for cloudflared to be ready again (this can take up to a minute). Returns the public url, or "
     "an error with a recommendation saying what to change (for example connect cloudflared to your network).",
     "{\"type\":\"object\",\"properties\":{" TM_SUBDOMAIN "," TM_PORT "," TM_DOMAIN "," TM_PROJECT "," TM_TTL
     "," TM_ORIGIN_REQUEST "},\"required\":[\"subdomain\",\"port\"],\"additionalProperties\":false}",
     R"({"type":"object","properties":{"hostname":{"type":"string"},"url":{"type":"string"},)"
     R"("ingress_target":{"type":"string"},"target_type":{"type":"string"},"container_name":{"type":["string","null"]},)"
     R"("docker_network":{"type":["string","null"]},"reason":{"type":"string"},"project":{"type":"string"},)"
     R"("port":{"type":"integer"},"dns_record_id":{"type":"string"},"apply":{},"operation_id":{"type":"integer"},)"
     R"("expires_at":{"type":"integer"},"origin_request":{"type":"object"},"origin_note":{"type":"string"},)" TM_ERROR_PROPS "}}",
     {false, false, false, true}},
    {"tunnel_update_cname", "cname.retarget", "", "Point a hostname elsewhere",
     "Switch a published hostname to another service without any DNS change (blue → green): give another port of "
     "your project (tunnelmgr picks the target from Docker as for a new name), and/or new origin settings "
     "(originRequest replaces the rule's settings; {} removes them). cloudflared applies it like any change; if "
     "that fails the old service is put back. Only the admin may give a target URL.",
     R"({"type":"object","properties":{"hostname":{"type":"string","minLength":1,"maxLength":253,)" TM_DNS_NAME_PATTERN
     R"("description":"the full hostname, as tunnel_list_cnames shows it"},)" TM_PORT ","
     R"("target":{"type":"string","minLength":1,"maxLength":2048,"description":"admin only: an ingress service URL such as http://10.0.0.5:8080"},)"
     TM_ORIGIN_REQUEST R"(},"required":["hostname"],"additionalProperties":false})",
     R"({"type":"object","properties":{"hostname":{"type":"string"},"changed":{"type":"boolean"},)"
     R"("previous_target":{"type":"string"},"ingress_target":{"type":"string"},"target_type":{"type":"string"},)"
     R"("container_name":{"type":["string","null"]},"docker_network":{"type":["string","null"]},"port":{"type":"integer"},)"
     R"("project":{"type":"string"},"origin_request":{"type":["object","null"]},"origin_note":{"type":"string"},)"
     R"("apply":{},"operation_id":{"type":"integer"},)" TM_ERROR_PROPS "}}",
     {false, false, true, true}},
    {"tunnel_delete_cname", "cname.delete", "", "Remove a hostname",
     "Remove a published hostname: its ingress rule and its DNS record (only a record tunnelmgr created). "
     "A project session may remove only its own hostnames.",
     R"({"type":"object","properties":{"hostname":{"type":"string","minLength":1,"maxLength":253,)" TM_DNS_NAME_PATTERN
     R"("description":"the full hostname, e.g. api.example.com, as tunnel_list_cnames shows it"}},)"
     R"("required":["hostname"],"additionalProperties":false})",
     R"({"type":"object","properties":{"hostname":{"type":"string"},"deleted":{"type":"boolean"},"apply":{},)" TM_ERROR_PROPS "}}",
     {false, true, true, true}},
    {"tunnel_list_cnames", "cname.list", "cnames", "List hostnames",
     "The hostnames published through the tunnel with their targets: your project's own, or every project's "
     "for the admin. One page at a time (100 by default, ordered by hostname); `total` says how many there are. "
     "For the next page pass `after`: the `next_after` of this page (null on the last page). Pages by `after` "
     "neither skip nor repeat a name when names are added or removed meanwhile, and stay fast on the last page; "
     "`offset`/`next_offset` still work, but not together with `after`.",
     "{\"type\":\"object\",\"properties\":{" TM_PROJECT ","
     "\"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":1000,\"description\":\"rows per page (default 100)\"},"
     "\"after\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":253,\"description\":\"the next_after of the "
     "previous page: this page starts with the first hostname after it\"},"
     "\"offset\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"rows to skip: the next_offset of the previous "
     "page (prefer after)\"}"
     "},\"additionalProperties\":false}",
     "{\"type\":\"object\",\"properties\":{\"cnames\":{\"type\":\"array\",\"items\":" TM_CNAME_ROW
     "},\"count\":{\"type\":\"integer\"},\"total\":{\"type\":\"integer\"},\"limit\":{\"type\":\"integer\"},"
     "\"offset\":{\"type\":[\"integer\",\"null\"]},\"next_offset\":{\"type\":[\"integer\",\"null\"]},"
     "\"next_after\":{\"type\":[\"string\",\"null\"]}," TM_ERROR_PROPS "}}",
     {true, false, true, false}},
    {"tunnel_list_domains", "domains.list", "domains", "List domains",
     "The zones (domains) of the Cloudflare account that hostnames can be published under, as last fetched.",
     R"({"type":"object","properties":{},"additionalProperties":false})",
     "{\"type\":\"object\",\"properties\":{\"domains\":{\"type\":\"array\",\"items\":" TM_ZONE_ROW
     "},\"count\":{\"type\":\"integer\"}," TM_ERROR_PROPS "}}",
     {true, false, true, false}},
    {"tunnel_check_target", "target.check", "", "Check a target (dry run)",
     "Without changing anything, show how SUBDOMAIN.DOMAIN on PORT would be published: the ingress target, "
     "whether it is available, and if not, the problem and how to fix it.",
     "{\"type\":\"object\",\"properties\":{" TM_SUBDOMAIN "," TM_PORT "," TM_DOMAIN "," TM_PROJECT
     "},\"required\":[\"subdomain\",\"port\"],\"additionalProperties\":false}",
     R"({"type":"object","properties":{"hostname":{"type":"string"},"ingress_target":{"type":["string","null"]},)"
     R"("target_type":{"type":["string","null"]},"container_name":{"type":["string","null"]},)"
     R"("docker_network":{"type":["string","null"]},"reason":{"type":"string"},"available":{"type":"boolean"},)"
     R"("problem":{"type":["string","null"]},)" TM_ERROR_PROPS "}}",
     {true, false, true, false}},
    {"tunnel_restart", "tunnel.restart", "", "Restart cloudflared (admin)",
     "Restart cloudflared now. Admin sessions only. Every published hostname is briefly unreachable.",
     R"({"type":"object","properties":{},"additionalProperties":false})",
     R"({"type":"object","properties":{"restarted":{"type":"boolean"},"detail":{},)" TM_ERROR_PROPS "}}",
     {false, true, false, false}},
    {"tunnel_audit_log", "audit.query", "entries", "Audit log",
     "Who did what and when, newest first: your project's rows, or every row (or one project's, with projectName) for the admin.",
     "{\"type\":\"object\",\"properties\":{" TM_LIMIT "," TM_PROJECT
     ",\"action\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":64,\"description\":\"only this action, e.g. "
     "cname.request\"}},\"additionalProperties\":false}",
     R"({"type":"object","properties":{"entries":{"type":"array","items":{"type":"object"}},"count":{"type":"integer"},)" TM_ERROR_PROPS "}}",
     {true, false, true, false}},
    {"tunnel_health_history", "health.history", "history", "Health history",
     "The tunnel's recent health checks, newest first: status, ready connections, restarts, last error.",
     "{\"type\":\"object\",\"properties\":{" TM_LIMIT "},\"additionalProperties\":false}",
     R"({"type":"object","properties":{"history":{"type":"array","items":{"type":"object"}},"count":{"type":"integer"},)" TM_ERROR_PROPS "}}",
     {true, false, true, false}},
    {"tunnel_refresh_domains", "domains.refresh", "domains", "Refresh domains (admin)",
     "Ask Cloudflare for the account's zones now and store them. Admin sessions only.",
     R"({"type":"object","properties":{},"additionalProperties":false})",
     "{\"type\":\"object\",\"properties\":{\"domains\":{\"type\":\"array\",\"items\":" TM_ZONE_ROW
     "},\"count\":{\"type\":\"integer\"}," TM_ERROR_PROPS "}}",
     {false, false, true, true}},
    {"tunnel_reconcile", "reconcile.run", "", "Reconcile (admin)",
     "Compare what tunnelmgr published (its state) with the DNS records carrying its marker, the ingress rules and "
     "the Docker topology, and list the drift by class: record_missing, record_changed, rule_missing, rule_changed, "
     "orphan_record, project_removed, target_moved. With the operator's reconcile.repair: repair (and dryRun false) "
     "missing or changed records and missing rules are restored, each audited; hand-edited rules, orphans, removed "
     "projects and moved targets are only reported. Admin sessions only.",
     R"x({"type":"object","properties":{"dryRun":{"type":"boolean","description":"list what would be repaired, change nothing (default false)"}},"additionalProperties":false})x",
     R"({"type":"object","properties":{"drift":{"type":"boolean"},"policy":{"type":"string"},"dry_run":{"type":"boolean"},)"
     R"("findings":{"type":"array","items":{"type":"object","properties":{"class":{"type":"string"},"hostname":{"type":"string"},)"
     R"("project":{"type":"string"},"expected":{"type":"string"},"found":{"type":"string"},"detail":{"type":"string"},)"
     R"("repairable":{"type":"boolean"},"action":{"type":"string"},"repair_error":{"type":"string"}}}},)"
     R"("problems":{"type":"array","items":{"type":"string"}},"notes":{"type":"array","items":{"type":"string"}},)"
     R"("apply":{"type":"string"},)" TM_ERROR_PROPS "}}",
     {false, false, true, true}},
};

void parse_or_throw(rapidjson::Document& doc, const char* json, const char* what) {
    doc.Parse(json);
    if (doc.HasParseError()) throw std::logic_error(std::string("broken built-in schema: ") + what);
}

}  // namespace

tool_catalog::tool_catalog() {
    rapidjson::StringBuffer list;
    rapidjson::Writer<rapidjson::StringBuffer> w(list);
    w.StartObject();
    w.Key("tools");
    w.StartArray();
    for (const spec& s : specs) {
        tool_def def;
        def.name = s.name;
        def.op = s.op;
        def.wrap_key = s.wrap_key;
        parse_or_throw(def.input_schema, s.input_schema, s.name);
        rapidjson::Document output;
        parse_or_throw(output, s.output_schema, s.name);

        rapidjson::StringBuffer one;
        rapidjson::Writer<rapidjson::StringBuffer> t(one);
        t.StartObject();
        t.Key("name");
        t.String(s.name);
        t.Key("title");
        t.String(s.title);
        t.Key("description");
        t.String(s.description);
        t.Key("inputSchema");
        def.input_schema.Accept(t);
        t.Key("outputSchema");
        output.Accept(t);
        t.Key("annotations");
        t.StartObject();
        t.Key("title");
        t.String(s.title);
        t.Key("readOnlyHint");
        t.Bool(s.annotations.read_only);
        t.Key("destructiveHint");
        t.Bool(s.annotations.destructive);
        t.Key("idempotentHint");
        t.Bool(s.annotations.idempotent);
        t.Key("openWorldHint");
        t.Bool(s.annotations.open_world);
        t.EndObject();
        t.EndObject();
        def.tool_json = one.GetString();
        w.RawValue(one.GetString(), one.GetSize(), rapidjson::kObjectType);
        tools_.push_back(std::move(def));
    }
    w.EndArray();
    w.EndObject();
    list_result_ = list.GetString();
}

const tool_def* tool_catalog::find(std::string_view name) const {
    for (const auto& t : tools_) {
        if (t.name == name) return &t;
    }
    return nullptr;
}

std::string recommendation_for(std::string_view tool, std::string_view code) {
    if (code == "invalid") {
        return "Fix the argument the error names and call " + std::string(tool) +
               " again; tools/list shows each argument's form.";
    }
    if (code == "denied") {
        return "This session acts for its own project only: use your project's own ports and hostnames and leave "
               "projectName out, or ask the operator for an admin session.";
    }
    if (code == "not_found") return "Check the name with tunnel_list_cnames or tunnel_list_domains, then call again.";
    if (code == "conflict") {
        return "Pick another subdomain, or if the existing hostname is yours, remove it first with "
               "tunnel_delete_cname.";
    }
    if (code == "retry") return "A transient failure (rate limit or a busy store): wait a few seconds and call again.";
    if (code == "timeout") {
        return "cloudflared did not become ready in time: check tunnel_get_status, then call again; the operation "
               "is journaled, so a retry is safe.";
    }
    return "Check tunnel_get_status and tunnel_health_history; if the tunnel is down an admin can call "
           "tunnel_restart.";
}

}  // namespace tunnelmgr::plugins::mcp_stdio
