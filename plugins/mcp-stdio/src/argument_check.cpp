// A deliberately small validator: our own schemas are flat objects of scalars, and a full JSON
// Schema engine would be a large dependency for that. Unknown keywords are ignored, as the spec says.
#include "argument_check.hpp"

#include <cmath>
#include <regex>
#include <string_view>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace tunnelmgr::plugins::mcp_stdio {
namespace {

std::string_view str(const rapidjson::Value& v) { return {v.GetString(), v.GetStringLength()}; }

std::string describe(const rapidjson::Value& v) {
    if (v.IsNull()) return "null";
    if (v.IsBool()) return v.GetBool() ? "true" : "false";
    if (v.IsObject()) return "an object";
    if (v.IsArray()) return "an array";
    if (v.IsString()) {
        // The text is the client's: control characters are shown, never passed on (the reply may be
        // printed on a terminal).
        std::string s;
        for (char c : str(v).substr(0, 40)) {
            auto u = static_cast<unsigned char>(c);
            if (u < 0x20 || u == 0x7f) {
                static const char hex[] = "0123456789abcdef";
                s += std::string("\\x") + hex[u >> 4] + hex[u & 15];
            } else {
                s += c;
            }
        }
        return "the string \"" + s + (v.GetStringLength() > 40 ? "...\"" : "\"");
    }
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    v.Accept(w);
    return std::string("the number ") + buf.GetString();
}

bool is_integral(const rapidjson::Value& v) {
    if (v.IsInt64() || v.IsUint64()) return true;
    if (!v.IsDouble()) return false;
    double d = v.GetDouble();
    return std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9.0e15;
}

double as_double(const rapidjson::Value& v) {
    if (v.IsInt64()) return static_cast<double>(v.GetInt64());
    if (v.IsUint64()) return static_cast<double>(v.GetUint64());
    return v.GetDouble();
}

std::string type_phrase(std::string_view type) {
    if (type == "integer") return "an integer";
    if (type == "object") return "an object";
    if (type == "array") return "an array";
    return "a " + std::string(type);
}

bool has_type(const rapidjson::Value& v, std::string_view type) {
    if (type == "string") return v.IsString();
    if (type == "integer") return v.IsNumber() && is_integral(v);
    if (type == "number") return v.IsNumber();
    if (type == "boolean") return v.IsBool();
    if (type == "object") return v.IsObject();
    if (type == "array") return v.IsArray();
    if (type == "null") return v.IsNull();
    return true;
}

std::string range_phrase(const rapidjson::Value& schema) {
    bool lo = schema.HasMember("minimum") && schema["minimum"].IsNumber();
    bool hi = schema.HasMember("maximum") && schema["maximum"].IsNumber();
    auto num = [](const rapidjson::Value& v) {
        return v.IsInt64() ? std::to_string(v.GetInt64()) : std::to_string(v.GetDouble());
    };
    if (lo && hi) return " from " + num(schema["minimum"]) + " to " + num(schema["maximum"]);
    if (lo) return " of at least " + num(schema["minimum"]);
    if (hi) return " of at most " + num(schema["maximum"]);
    return "";
}

tl::expected<void, std::string> check_value(const std::string& name, const rapidjson::Value& schema,
                                            const rapidjson::Value& v) {
    if (!schema.IsObject()) return {};
    std::string type = schema.HasMember("type") && schema["type"].IsString() ? std::string(str(schema["type"])) : "";
    if (!type.empty() && !has_type(v, type)) {
        return tl::unexpected(name + " must be " + type_phrase(type) + range_phrase(schema) + ", not " + describe(v));
    }
    if (v.IsNumber()) {
        double d = as_double(v);
        if ((schema.HasMember("minimum") && schema["minimum"].IsNumber() && d < as_double(schema["minimum"])) ||
            (schema.HasMember("maximum") && schema["maximum"].IsNumber() && d > as_double(schema["maximum"]))) {
            return tl::unexpected(name + " must be " + type_phrase(type.empty() ? "number" : type) +
                                  range_phrase(schema) + ", not " + describe(v));
        }
    }
    if (v.IsString()) {
        // JSON Schema lengths count characters, not UTF-8 bytes.
        size_t len = 0;
        for (char c : str(v)) len += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
        if (schema.HasMember("minLength") && schema["minLength"].IsUint() && len < schema["minLength"].GetUint()) {
            return tl::unexpected(name + " must not be empty" +
                                  (schema["minLength"].GetUint() > 1
                                       ? " (at least " + std::to_string(schema["minLength"].GetUint()) + " characters)"
                                       : std::string()));
        }
        if (schema.HasMember("maxLength") && schema["maxLength"].IsUint() && len > schema["maxLength"].GetUint()) {
            return tl::unexpected(name + " is too long: at most " + std::to_string(schema["maxLength"].GetUint()) +
                                  " characters");
        }
        if (schema.HasMember("enum") && schema["enum"].IsArray()) {
            bool found = false;
            std::string choices;
            for (const auto& e : schema["enum"].GetArray()) {
                if (!e.IsString()) continue;
                if (str(e) == str(v)) found = true;
                choices += (choices.empty() ? "" : ", ") + std::string(str(e));
            }
            if (!found) return tl::unexpected(name + " must be one of " + choices + ", not " + describe(v));
        }
        if (schema.HasMember("pattern") && schema["pattern"].IsString()) {
            try {
                std::regex re(std::string(str(schema["pattern"])), std::regex::ECMAScript);
                if (!std::regex_search(std::string(str(v)), re)) {
                    std::string hint = schema.HasMember("description") && schema["description"].IsString()
                                           ? " (" + std::string(str(schema["description"])) + ")"
                                           : std::string();
                    return tl::unexpected(name + " has the wrong form: " + describe(v) + " does not match " +
                                          std::string(str(schema["pattern"])) + hint);
                }
            } catch (const std::regex_error&) {
                // Our own schema's pattern is broken: let the host, which validates again, decide.
            }
        }
    }
    if (v.IsObject() && type == "object") {
        if (schema.HasMember("required") && schema["required"].IsArray()) {
            for (const auto& r : schema["required"].GetArray()) {
                if (r.IsString() && !v.HasMember(r)) {
                    std::string what = std::string(str(r));
                    std::string kind;
                    if (schema.HasMember("properties") && schema["properties"].IsObject() &&
                        schema["properties"].HasMember(r) && schema["properties"][r].IsObject() &&
                        schema["properties"][r].HasMember("type") && schema["properties"][r]["type"].IsString()) {
                        kind = " (" + type_phrase(str(schema["properties"][r]["type"])) + ")";
                    }
                    return tl::unexpected("missing required argument " + what + kind);
                }
            }
        }
        const rapidjson::Value* props =
            schema.HasMember("properties") && schema["properties"].IsObject() ? &schema["properties"] : nullptr;
        bool closed = schema.HasMember("additionalProperties") && schema["additionalProperties"].IsFalse();
        for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) {
            std::string key(str(m->name));
            if (props != nullptr && props->HasMember(m->name)) {
                auto r = check_value(key, (*props)[m->name], m->value);
                if (!r) return r;
            } else if (closed) {
                std::string known;
                if (props != nullptr) {
                    for (auto p = props->MemberBegin(); p != props->MemberEnd(); ++p) {
                        known += (known.empty() ? "" : ", ") + std::string(str(p->name));
                    }
                }
                return tl::unexpected("unknown argument " + key +
                                      (known.empty() ? "; this tool takes no arguments"
                                                     : "; this tool takes: " + known));
            }
        }
    }
    return {};
}

}  // namespace

tl::expected<void, std::string> check_arguments(const rapidjson::Value& schema, const rapidjson::Value& args) {
    if (!args.IsObject()) return tl::unexpected("arguments must be a JSON object, not " + describe(args));
    return check_value("arguments", schema, args);
}

}  // namespace tunnelmgr::plugins::mcp_stdio
