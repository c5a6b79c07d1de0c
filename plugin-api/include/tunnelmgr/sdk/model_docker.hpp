// The Docker topology snapshot (container_runtime_v1.snapshot, state_store_v1.docker_snapshot_*) as
// typed rows with one decoder and one encoder, so the runtime, the store and the host share its shape.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tunnelmgr/sdk/model.hpp>

namespace tunnelmgr::sdk::model {

// bridge, host and none come with every daemon; only networks created by someone resolve container names.
inline bool is_user_defined_network(std::string_view name) {
    return !name.empty() && name != "bridge" && name != "host" && name != "none";
}

// Members past the ones every producer knows carry default member initializers, so short aggregate
// initialisers stay valid (and quiet under -Wextra) as the shape grows.
struct docker_network {
    std::string id;
    std::string name;
    std::string driver;
    std::string scope;
    bool internal = false;
    // nullopt: the producer did not say (a stored snapshot); encode() then writes the name's rule.
    std::optional<bool> user_defined = std::nullopt;
};

// One network a container is attached to.
struct docker_endpoint {
    std::string network;  // the network's name
    std::optional<std::string> ip;
    std::vector<std::string> aliases;
    std::string network_id = {};
    std::optional<std::string> gateway = std::nullopt;
};

struct docker_port {
    int64_t container_port = 0;
    std::string protocol = "tcp";
    std::optional<std::string> host_ip;  // nullopt: not published
    std::optional<int64_t> host_port;    // nullopt: not published
};

struct docker_container {
    std::string id;
    std::string name;
    std::string image;
    std::string state;
    std::optional<std::string> project;
    std::map<std::string, std::string> labels;
    std::string network_mode;
    std::vector<docker_endpoint> networks;  // sorted by network name by the runtime
    std::vector<docker_port> ports;
};

// Where the running cloudflared is: a container (maybe with host networking) or the host.
struct cloudflared_placement {
    std::string where = "host";  // "container" or "host"
    std::optional<std::string> container;
    std::vector<std::string> networks;  // the container's networks; empty with host networking
    bool host_network = false;
    std::vector<std::string> stopped;  // stopped containers that look like cloudflared
};

// As JSON, keys in this order (what the docker-runtime plugin writes; the state store adds taken_ms):
// {"networks":[{"id","name","driver","scope","internal":bool,"user_defined":bool}],
//  "containers":[{"id","name","image","state","project":string|null,"labels":{...},"network_mode",
//                 "networks":[{"network","network_id","ip":string|null,"aliases":[],"gateway":string|null}],
//                 "ports":[{"container_port":int,"protocol","host_ip":string|null,"host_port":int|null}]}],
//  "cloudflared":{"where":"container"|"host","container":string|null,"networks":[...],"host_network":bool,
//                 "stopped":[names of stopped cloudflared containers]},
//  "host_gateway":string|null, "api_version":"1.41", "taken_ms":int|null}
struct docker_snapshot {
    std::vector<docker_network> networks;
    std::vector<docker_container> containers;
    // Only the runtime knows these two; a stored snapshot has neither, and encode() leaves out what is unset
    // rather than claim, for example, that cloudflared runs on the host.
    std::optional<cloudflared_placement> cloudflared = std::nullopt;
    std::optional<std::string> host_gateway = std::nullopt;  // how cloudflared's container reaches the host
    std::optional<std::string> api_version = std::nullopt;
    std::optional<int64_t> taken_ms = std::nullopt;  // when the store took it; a runtime's snapshot has none
};

namespace detail {

inline std::string json_value_description(const rapidjson::Value& v) {
    if (v.IsNumber() && !v.IsInt64()) return v.IsDouble() ? "a fractional number" : "a number out of range";
    return json_type_name(v);
}

// Reads one JSON object's members, keeping the first shape error. `path` names the object in errors
// ("containers[3].ports[0]"); an absent or null member takes the field's default; unknown keys are ignored.
class docker_reader {
public:
    docker_reader(const rapidjson::Value& object, std::string path, decoded_error& error)
        : object_(object), path_(std::move(path)), error_(error) {}

    std::string path_of(std::string_view key) const { return path_.empty() ? std::string(key) : path_ + "." + std::string(key); }

    std::optional<std::string> optional_text(const char* key) {
        const rapidjson::Value* v = find(key);
        if (v == nullptr) return std::nullopt;
        if (!v->IsString()) return wrong(path_of(key), *v, "a string");
        return std::string(v->GetString(), v->GetStringLength());
    }
    std::string text(const char* key, std::string fallback = {}) { return optional_text(key).value_or(std::move(fallback)); }

    std::optional<int64_t> optional_whole(const char* key) {
        const rapidjson::Value* v = find(key);
        if (v == nullptr) return std::nullopt;
        if (!v->IsInt64()) return wrong(path_of(key), *v, "a whole number");
        return v->GetInt64();
    }

    std::optional<bool> optional_flag(const char* key) {
        const rapidjson::Value* v = find(key);
        if (v == nullptr) return std::nullopt;
        if (!v->IsBool()) return wrong(path_of(key), *v, "a boolean");
        return v->GetBool();
    }

    // An array member, or nullptr when absent, null or of another type (then an error is kept).
    const rapidjson::Value* array(const char* key) {
        const rapidjson::Value* v = find(key);
        if (v == nullptr) return nullptr;
        if (!v->IsArray()) {
            wrong(path_of(key), *v, "an array");
            return nullptr;
        }
        return v;
    }

    const rapidjson::Value* object(const char* key) {
        const rapidjson::Value* v = find(key);
        if (v == nullptr) return nullptr;
        if (!v->IsObject()) {
            wrong(path_of(key), *v, "an object");
            return nullptr;
        }
        return v;
    }

    std::vector<std::string> texts(const char* key) {
        std::vector<std::string> out;
        const rapidjson::Value* a = array(key);
        if (a == nullptr) return out;
        rapidjson::SizeType i = 0;
        for (const auto& v : a->GetArray()) {
            if (!v.IsString()) {
                wrong(path_of(key) + "[" + std::to_string(i) + "]", v, "a string");
                return out;
            }
            out.emplace_back(v.GetString(), v.GetStringLength());
            ++i;
        }
        return out;
    }

    std::map<std::string, std::string> text_map(const char* key) {
        std::map<std::string, std::string> out;
        const rapidjson::Value* o = object(key);
        if (o == nullptr) return out;
        for (const auto& m : o->GetObject()) {
            std::string name(m.name.GetString(), m.name.GetStringLength());
            if (!m.value.IsString()) {
                wrong(path_of(key) + "." + name, m.value, "a string");
                return out;
            }
            out[std::move(name)] = std::string(m.value.GetString(), m.value.GetStringLength());
        }
        return out;
    }

    bool ok() const { return error_.empty(); }
    // A reader for a nested object, sharing this one's error.
    docker_reader nested(const rapidjson::Value& object, std::string path) const { return {object, std::move(path), error_}; }

    // Records "<path> is <what it is>, not <expected>" unless an earlier error stands.
    std::nullopt_t wrong(const std::string& path, const rapidjson::Value& v, const char* expected) {
        if (error_.empty()) error_ = path + " is " + json_value_description(v) + ", not " + expected;
        return std::nullopt;
    }

private:
    const rapidjson::Value* find(const char* key) const {
        auto it = object_.FindMember(key);
        return it == object_.MemberEnd() || it->value.IsNull() ? nullptr : &it->value;
    }

    const rapidjson::Value& object_;
    std::string path_;
    decoded_error& error_;
};

// Calls read(reader of the element) for each element of array `key`, which must be objects.
template <class T, class Read>
std::vector<T> read_objects(docker_reader& r, const char* key, Read read) {
    std::vector<T> out;
    const rapidjson::Value* a = r.array(key);
    if (a == nullptr) return out;
    rapidjson::SizeType i = 0;
    for (const auto& v : a->GetArray()) {
        const std::string path = r.path_of(key) + "[" + std::to_string(i++) + "]";
        if (!v.IsObject()) {
            r.wrong(path, v, "an object");
            return out;
        }
        docker_reader element = r.nested(v, path);
        out.push_back(read(element));
        if (!r.ok()) return out;
    }
    return out;
}

inline docker_endpoint read_docker_endpoint(docker_reader& r) {
    docker_endpoint e;
    e.network = r.text("network");
    e.network_id = r.text("network_id");
    e.ip = r.optional_text("ip");
    e.aliases = r.texts("aliases");
    e.gateway = r.optional_text("gateway");
    return e;
}

inline docker_port read_docker_port(docker_reader& r) {
    docker_port p;
    p.container_port = r.optional_whole("container_port").value_or(0);
    p.protocol = r.text("protocol", "tcp");
    p.host_ip = r.optional_text("host_ip");
    p.host_port = r.optional_whole("host_port");
    return p;
}

inline docker_network read_docker_network(docker_reader& r) {
    docker_network n;
    n.id = r.text("id");
    n.name = r.text("name");
    n.driver = r.text("driver");
    n.scope = r.text("scope");
    n.internal = r.optional_flag("internal").value_or(false);
    n.user_defined = r.optional_flag("user_defined");
    return n;
}

inline docker_container read_docker_container(docker_reader& r) {
    docker_container c;
    c.id = r.text("id");
    c.name = r.text("name");
    c.image = r.text("image");
    c.state = r.text("state");
    c.project = r.optional_text("project");
    c.labels = r.text_map("labels");
    c.network_mode = r.text("network_mode");
    if (!r.ok()) return c;
    c.networks = read_objects<docker_endpoint>(r, "networks", read_docker_endpoint);
    if (!r.ok()) return c;
    c.ports = read_objects<docker_port>(r, "ports", read_docker_port);
    return c;
}

inline cloudflared_placement read_cloudflared(docker_reader& r) {
    cloudflared_placement cf;
    cf.where = r.text("where", "host");
    cf.container = r.optional_text("container");
    cf.networks = r.texts("networks");
    cf.host_network = r.optional_flag("host_network").value_or(false);
    cf.stopped = r.texts("stopped");
    return cf;
}

using docker_writer = rapidjson::Writer<rapidjson::StringBuffer>;

inline void write_text(docker_writer& w, const std::string& s) {
    w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
}
inline void write_text(docker_writer& w, const std::optional<std::string>& s) {
    if (s) write_text(w, *s); else w.Null();
}
inline void write_texts(docker_writer& w, const std::vector<std::string>& items) {
    w.StartArray();
    for (const auto& s : items) write_text(w, s);
    w.EndArray();
}

inline void write_docker_network(docker_writer& w, const docker_network& n) {
    w.StartObject();
    w.Key("id");
    write_text(w, n.id);
    w.Key("name");
    write_text(w, n.name);
    w.Key("driver");
    write_text(w, n.driver);
    w.Key("scope");
    write_text(w, n.scope);
    w.Key("internal");
    w.Bool(n.internal);
    w.Key("user_defined");
    w.Bool(n.user_defined.value_or(is_user_defined_network(n.name)));
    w.EndObject();
}

inline void write_docker_endpoint(docker_writer& w, const docker_endpoint& e) {
    w.StartObject();
    w.Key("network");
    write_text(w, e.network);
    w.Key("network_id");
    write_text(w, e.network_id);
    w.Key("ip");
    write_text(w, e.ip);
    w.Key("aliases");
    write_texts(w, e.aliases);
    w.Key("gateway");
    write_text(w, e.gateway);
    w.EndObject();
}

inline void write_docker_port(docker_writer& w, const docker_port& p) {
    w.StartObject();
    w.Key("container_port");
    w.Int64(p.container_port);
    w.Key("protocol");
    write_text(w, p.protocol);
    w.Key("host_ip");
    write_text(w, p.host_ip);
    w.Key("host_port");
    if (p.host_port) w.Int64(*p.host_port); else w.Null();
    w.EndObject();
}

inline void write_docker_container(docker_writer& w, const docker_container& c) {
    w.StartObject();
    w.Key("id");
    write_text(w, c.id);
    w.Key("name");
    write_text(w, c.name);
    w.Key("image");
    write_text(w, c.image);
    w.Key("state");
    write_text(w, c.state);
    w.Key("project");
    write_text(w, c.project);
    w.Key("labels");
    w.StartObject();
    for (const auto& [k, v] : c.labels) {
        w.Key(k.c_str(), static_cast<rapidjson::SizeType>(k.size()));
        write_text(w, v);
    }
    w.EndObject();
    w.Key("network_mode");
    write_text(w, c.network_mode);
    w.Key("networks");
    w.StartArray();
    for (const auto& e : c.networks) write_docker_endpoint(w, e);
    w.EndArray();
    w.Key("ports");
    w.StartArray();
    for (const auto& p : c.ports) write_docker_port(w, p);
    w.EndArray();
    w.EndObject();
}

inline void write_cloudflared(docker_writer& w, const cloudflared_placement& cf) {
    w.StartObject();
    w.Key("where");
    write_text(w, cf.where);
    w.Key("container");
    write_text(w, cf.container);
    w.Key("networks");
    write_texts(w, cf.networks);
    w.Key("host_network");
    w.Bool(cf.host_network);
    w.Key("stopped");
    write_texts(w, cf.stopped);
    w.EndObject();
}

}  // namespace detail

// Shape-checks a parsed snapshot. Every key may be missing or null (its field keeps its default); a
// key of the wrong type is an error naming its path, e.g. "containers[3].ports[0].host_port is a
// string, not a whole number". Unknown keys are ignored. Meaning (ids present, ports in range) is the
// caller's to check.
inline decoded<docker_snapshot> decode_docker_snapshot(const rapidjson::Value& root) {
    if (!root.IsObject()) return tl::unexpected(std::string("the snapshot is ") + detail::json_type_name(root) + ", not a JSON object");
    decoded_error error;
    detail::docker_reader r(root, "", error);
    docker_snapshot s;
    s.networks = detail::read_objects<docker_network>(r, "networks", detail::read_docker_network);
    if (!error.empty()) return tl::unexpected(error);
    s.containers = detail::read_objects<docker_container>(r, "containers", detail::read_docker_container);
    if (!error.empty()) return tl::unexpected(error);
    if (const rapidjson::Value* cf = r.object("cloudflared")) {
        detail::docker_reader c = r.nested(*cf, "cloudflared");
        s.cloudflared = detail::read_cloudflared(c);
        if (error.empty() && s.cloudflared->where != "container" && s.cloudflared->where != "host") {
            error = "cloudflared.where is \"" + s.cloudflared->where + "\", not \"container\" or \"host\"";
        }
    }
    s.host_gateway = r.optional_text("host_gateway");
    s.api_version = r.optional_text("api_version");
    s.taken_ms = r.optional_whole("taken_ms");
    if (!error.empty()) return tl::unexpected(error);
    return s;
}

inline decoded<docker_snapshot> decode_docker_snapshot(std::string_view text) {
    rapidjson::Document d;
    d.Parse(text.data(), text.size());
    if (d.HasParseError()) return tl::unexpected(decoded_error("the snapshot is not JSON"));
    return decode_docker_snapshot(static_cast<const rapidjson::Value&>(d));
}

// Whether encode() writes "taken_ms" when the snapshot has none: a store always reports the key
// (null: nothing stored yet); a runtime's snapshot never has it.
enum class taken_ms_key { when_set, always };

// The runtime's shape, keys in the runtime's order: networks, containers, cloudflared, host_gateway,
// api_version, then the store's taken_ms. Unset cloudflared and api_version are left out.
inline std::string encode(const docker_snapshot& s, taken_ms_key taken = taken_ms_key::when_set) {
    rapidjson::StringBuffer buf;
    detail::docker_writer w(buf);
    w.StartObject();
    w.Key("networks");
    w.StartArray();
    for (const auto& n : s.networks) detail::write_docker_network(w, n);
    w.EndArray();
    w.Key("containers");
    w.StartArray();
    for (const auto& c : s.containers) detail::write_docker_container(w, c);
    w.EndArray();
    if (s.cloudflared) {
        w.Key("cloudflared");
        detail::write_cloudflared(w, *s.cloudflared);
    }
    w.Key("host_gateway");
    detail::write_text(w, s.host_gateway);
    if (s.api_version) {
        w.Key("api_version");
        detail::write_text(w, *s.api_version);
    }
    if (s.taken_ms || taken == taken_ms_key::always) {
        w.Key("taken_ms");
        if (s.taken_ms) w.Int64(*s.taken_ms); else w.Null();
    }
    w.EndObject();
    return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace tunnelmgr::sdk::model
