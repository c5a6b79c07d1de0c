// See config_check.hpp. RapidJSON's validator (1.1, draft-04) stops at the first problem and says only
// which keyword failed where; to report every mistake, the value it complained about is taken out of
// a copy of the section and the copy is validated again, and each keyword's failure is put into words
// from the schema itself (the expected type, the allowed keys, the bounds).
#include "plugin_host/config_check.hpp"

// JSON Schema patterns are ECMAScript regular expressions: std::regex's default grammar rather than
// RapidJSON's own small subset. Only this file includes schema.h, so the choice is consistent.
// (RapidJSON 1.1 turns the internal engine off when this macro is defined at all, whatever its value,
// and then picks std::regex when RAPIDJSON_SCHEMA_USE_STDREGEX is *not* defined.)
#define RAPIDJSON_SCHEMA_USE_INTERNALREGEX 0

#include <regex>
#include <set>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/pointer.h>
#include <rapidjson/schema.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

static_assert(RAPIDJSON_SCHEMA_USE_STDREGEX == 1, "patterns must be checked with std::regex");

namespace tunnelmgr::host {
namespace {

using rapidjson::Document;
using rapidjson::Pointer;
using rapidjson::Value;

constexpr int max_problems = 50;

std::string compact(const Value& v) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    v.Accept(w);
    std::string s = buf.GetString();
    if (s.size() > 60) s = s.substr(0, 57) + "...";
    return s;
}

std::string kind_of(const Value& v) {
    if (v.IsNull()) return "nothing (null)";
    if (v.IsBool()) return "a boolean";
    if (v.IsInt64() || v.IsUint64()) return "an integer";
    if (v.IsNumber()) return "a number";
    if (v.IsString()) return "a string";
    if (v.IsArray()) return "a list";
    return "a map";
}

// "a string (\"soon\")": the kind, and the value itself when it is short enough to read.
std::string got(const Value& v) {
    std::string out = kind_of(v);
    if (!v.IsObject() && !v.IsArray() && !v.IsNull()) out += " (" + compact(v) + ")";
    return out;
}

std::string type_words(const std::string& t) {
    if (t == "integer") return "an integer";
    if (t == "number") return "a number";
    if (t == "string") return "a string";
    if (t == "boolean") return "a boolean (true or false)";
    if (t == "array") return "a list";
    if (t == "object") return "a map";
    if (t == "null") return "null";
    return t;
}

std::string number_text(const Value& v) { return v.IsNumber() ? compact(v) : "?"; }

std::string join(const std::vector<std::string>& items, const std::string& last_sep) {
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += i + 1 == items.size() ? last_sep : ", ";
        out += items[i];
    }
    return out;
}

const Value* member(const Value* v, const char* key) {
    if (v == nullptr || !v->IsObject()) return nullptr;
    auto it = v->FindMember(key);
    return it == v->MemberEnd() ? nullptr : &it->value;
}

std::string pointer_text(const Pointer& p) {
    rapidjson::StringBuffer buf;
    p.Stringify(buf);
    return buf.GetString();
}

// ---- Is the schema a schema? RapidJSON ignores what it cannot read, which would turn a broken schema
// into one that silently accepts everything; so the keywords it uses are checked for shape first.

const std::set<std::string>& type_names() {
    static const std::set<std::string> names{"null", "boolean", "object", "array", "number", "string", "integer"};
    return names;
}

std::string regex_problem(const std::string& pattern) {
    try {
        std::regex r(pattern, std::regex_constants::ECMAScript);
        return {};
    } catch (const std::regex_error& e) {
        return "'" + pattern + "' is not a regular expression (" + e.what() + ")";
    }
}

std::string schema_problem(const Value& s, const std::string& at, const Document& root, int depth);

std::string sub_schema_problem(const Value& s, const std::string& at, const Document& root, int depth) {
    if (s.IsBool()) return {};
    return schema_problem(s, at, root, depth + 1);
}

std::string schema_list_problem(const Value& v, const std::string& at, const Document& root, int depth) {
    if (!v.IsArray() || v.Empty()) return at + " must be a non-empty list of schemas";
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
        if (auto p = sub_schema_problem(v[i], at + "/" + std::to_string(i), root, depth); !p.empty()) return p;
    }
    return {};
}

std::string schema_problem(const Value& s, const std::string& at, const Document& root, int depth) {
    const std::string here = at.empty() ? "the schema" : at;
    if (depth > 64) return here + " is nested too deeply";
    if (!s.IsObject()) return here + " must be a JSON object (a schema), not " + kind_of(s);
    for (auto m = s.MemberBegin(); m != s.MemberEnd(); ++m) {
        const std::string key(m->name.GetString(), m->name.GetStringLength());
        const Value& v = m->value;
        const std::string where = at + "/" + key;
        std::string p;
        if (key == "type") {
            auto known = [](const Value& t) { return t.IsString() && type_names().count(t.GetString()) > 0; };
            bool ok = known(v);
            if (v.IsArray() && !v.Empty()) {
                ok = true;
                for (const auto& t : v.GetArray()) ok = ok && known(t);
            }
            if (!ok) p = where + " must name JSON types (string, integer, number, boolean, object, array, null)";
        } else if (key == "properties" || key == "patternProperties" || key == "definitions" || key == "$defs") {
            if (!v.IsObject()) {
                p = where + " must be an object of schemas";
            } else {
                for (auto e = v.MemberBegin(); e != v.MemberEnd() && p.empty(); ++e) {
                    const std::string name(e->name.GetString(), e->name.GetStringLength());
                    if (key == "patternProperties") p = regex_problem(name);
                    if (p.empty()) p = sub_schema_problem(e->value, where + "/" + name, root, depth);
                }
            }
        } else if (key == "additionalProperties" || key == "additionalItems" || key == "not") {
            if (!v.IsBool() || key == "not") p = sub_schema_problem(v, where, root, depth);
        } else if (key == "items") {
            if (v.IsArray()) {
                for (rapidjson::SizeType i = 0; i < v.Size() && p.empty(); ++i) {
                    p = sub_schema_problem(v[i], where + "/" + std::to_string(i), root, depth);
                }
            } else {
                p = sub_schema_problem(v, where, root, depth);
            }
        } else if (key == "required") {
            bool ok = v.IsArray();
            if (ok) {
                for (const auto& r : v.GetArray()) ok = ok && r.IsString();
            }
            if (!ok) p = where + " must be a list of key names";
        } else if (key == "enum") {
            if (!v.IsArray() || v.Empty()) p = where + " must be a non-empty list of values";
        } else if (key == "allOf" || key == "anyOf" || key == "oneOf") {
            p = schema_list_problem(v, where, root, depth);
        } else if (key == "minimum" || key == "maximum") {
            if (!v.IsNumber()) p = where + " must be a number";
        } else if (key == "multipleOf") {
            if (!v.IsNumber() || v.GetDouble() <= 0) p = where + " must be a number greater than 0";
        } else if (key == "exclusiveMinimum" || key == "exclusiveMaximum") {
            if (!v.IsBool() && !v.IsNumber()) p = where + " must be a boolean or a number";
        } else if (key == "minLength" || key == "maxLength" || key == "minItems" || key == "maxItems" ||
                   key == "minProperties" || key == "maxProperties") {
            if (!v.IsUint64()) p = where + " must be a whole number, 0 or more";
        } else if (key == "uniqueItems") {
            if (!v.IsBool()) p = where + " must be true or false";
        } else if (key == "pattern") {
            p = v.IsString() ? regex_problem(v.GetString()) : where + " must be a string";
            if (!p.empty() && v.IsString()) p = where + ": " + p;
        } else if (key == "$ref") {
            if (!v.IsString() || v.GetStringLength() == 0 || v.GetString()[0] != '#') {
                p = where + " must point inside the schema (\"#/definitions/NAME\"); other documents are not fetched";
            } else {
                Pointer target(v.GetString() + 1, v.GetStringLength() - 1);
                if (!target.IsValid() || target.Get(root) == nullptr) {
                    p = where + " points at " + v.GetString() + ", which is not in the schema";
                }
            }
        } else if (key == "dependencies") {
            if (!v.IsObject()) {
                p = where + " must be an object";
            } else {
                for (auto e = v.MemberBegin(); e != v.MemberEnd() && p.empty(); ++e) {
                    if (e->value.IsArray()) {
                        for (const auto& d : e->value.GetArray()) {
                            if (!d.IsString()) p = where + " lists must hold key names";
                        }
                    } else {
                        p = sub_schema_problem(e->value, where + "/" + e->name.GetString(), root, depth);
                    }
                }
            }
        }
        // Any other keyword (title, description, default, examples, const, format, $schema, ...) is
        // either an annotation or one draft-04 does not know; JSON Schema ignores those.
        if (!p.empty()) return p;
    }
    return {};
}

// ---- Putting a failure into words.

int line_of(const section_origin& origin, std::string pointer) {
    for (;;) {
        auto it = origin.key_lines.find(pointer);
        if (it != origin.key_lines.end() && it->second > 0) return it->second;
        if (pointer.empty()) return 0;
        pointer = pointer.substr(0, pointer.rfind('/'));
    }
}

// "/retention/audit_days" → "state.retention.audit_days"; "/names/0" → "runtime.names[0]".
std::string key_name(const section_origin& origin, const Pointer& p, const Value& doc) {
    std::string out = origin.slot;
    const Value* cur = &doc;
    for (size_t i = 0; i < p.GetTokenCount(); ++i) {
        const auto& t = p.GetTokens()[i];
        const std::string name(t.name, t.length);
        if (cur != nullptr && cur->IsArray()) {
            out += "[" + name + "]";
            cur = t.index < cur->Size() ? &(*cur)[t.index] : nullptr;
        } else {
            out += (out.empty() ? "" : ".") + name;
            cur = member(cur, name.c_str());
        }
    }
    return out;
}

std::string sentence(const section_origin& origin, const std::string& pointer, const std::string& key,
                     const std::string& what) {
    std::string out = origin.file;
    int line = line_of(origin, pointer);
    if (line > 0) out += ":" + std::to_string(line);
    if (!out.empty()) out += ": ";
    return out + (key.empty() ? "(section)" : key) + ": " + what;
}

// The keys of a oneOf/anyOf whose every branch is just {"required": [...]} ("exactly one of
// api_token_file and api_token_env"), or empty when the branches say more than that.
std::vector<std::string> required_only_branches(const Value* list) {
    std::vector<std::string> keys;
    if (list == nullptr || !list->IsArray()) return {};
    for (const auto& branch : list->GetArray()) {
        if (!branch.IsObject()) return {};
        for (auto m = branch.MemberBegin(); m != branch.MemberEnd(); ++m) {
            std::string k = m->name.GetString();
            if (k == "required") {
                for (const auto& r : m->value.GetArray()) keys.emplace_back(r.GetString());
            } else if (k != "description" && k != "title" && k != "$comment") {
                return {};
            }
        }
    }
    return keys;
}

struct failure {
    std::vector<std::string> problems;
    bool erase = true;  // take the value out and validate again; false: nothing more can be learnt
};

failure describe(const section_origin& origin, const std::string& keyword, const Value* sub, const Pointer& at,
                 const Value& doc, const std::set<std::string>& erased) {
    failure f;
    const std::string ptr = pointer_text(at);
    const Value* value = at.Get(doc);
    const std::string key = key_name(origin, at, doc);
    auto say = [&](const std::string& what) { f.problems.push_back(sentence(origin, ptr, key, what)); };
    auto got_text = [&] { return value != nullptr ? got(*value) : std::string("nothing"); };
    // A container that fails only because a value inside it was already reported and taken out
    // (an emptied list, a oneOf that lost its key) would repeat that sentence less clearly.
    bool emptied = false;
    for (const auto& e : erased) emptied = emptied || e.rfind(ptr + "/", 0) == 0;

    if (keyword == "type") {
        const Value* t = member(sub, "type");
        std::vector<std::string> wanted;
        if (t != nullptr && t->IsString()) wanted.push_back(type_words(t->GetString()));
        if (t != nullptr && t->IsArray()) {
            for (const auto& e : t->GetArray()) wanted.push_back(type_words(e.GetString()));
        }
        say("must be " + join(wanted, " or ") + ", got " + got_text());
    } else if (keyword == "enum") {
        std::vector<std::string> allowed;
        if (const Value* e = member(sub, "enum")) {
            for (const auto& v : e->GetArray()) allowed.push_back(compact(v));
        }
        say("must be one of " + join(allowed, " or ") + ", got " + got_text());
    } else if (keyword == "required") {
        if (const Value* req = member(sub, "required"); req != nullptr && value != nullptr && value->IsObject()) {
            for (const auto& r : req->GetArray()) {
                std::string name(r.GetString(), r.GetStringLength());
                std::string child = ptr + "/" + name;
                if (value->HasMember(r) || erased.count(child) > 0) continue;
                f.problems.push_back(sentence(origin, ptr, key + (key.empty() ? "" : ".") + name,
                                              "is required but missing"));
            }
        }
    } else if (keyword == "additionalProperties") {
        // The pointer already names the unknown key; the object's schema lists the allowed ones.
        std::vector<std::string> known;
        if (const Value* props = member(sub, "properties"); props != nullptr && props->IsObject()) {
            for (auto m = props->MemberBegin(); m != props->MemberEnd(); ++m) {
                bool top = ptr.rfind('/') == 0;  // the slot's own key `plugin` is not the plugin's to list
                if (std::string(m->name.GetString()) != "plugin" || !top) known.emplace_back(m->name.GetString());
            }
        }
        std::string what = "unknown key";
        if (!known.empty()) what += "; the keys allowed here are: " + join(known, ", ");
        say(what);
    } else if (keyword == "minimum" || keyword == "maximum") {
        bool min = keyword == "minimum";
        const Value* bound = member(sub, min ? "minimum" : "maximum");
        const Value* excl = member(sub, min ? "exclusiveMinimum" : "exclusiveMaximum");
        bool exclusive = excl != nullptr && excl->IsBool() && excl->GetBool();
        std::string rel = min ? (exclusive ? "greater than " : "at least ") : (exclusive ? "less than " : "at most ");
        say("must be " + rel + (bound ? number_text(*bound) : "?") + ", got " + got_text());
    } else if (keyword == "multipleOf") {
        const Value* m = member(sub, "multipleOf");
        say("must be a multiple of " + (m ? number_text(*m) : "?") + ", got " + got_text());
    } else if (keyword == "minLength" || keyword == "maxLength") {
        const Value* n = member(sub, keyword.c_str());
        if (keyword == "minLength" && n != nullptr && n->IsUint64() && n->GetUint64() == 1) {
            say("must not be empty");
        } else {
            say("must be " + std::string(keyword == "minLength" ? "at least " : "at most ") + (n ? number_text(*n) : "?") +
                " characters long, got " + got_text());
        }
    } else if (keyword == "pattern") {
        const Value* p = member(sub, "pattern");
        say(got_text() + " does not have the expected form (the pattern " +
            (p != nullptr && p->IsString() ? std::string(p->GetString()) : std::string("?")) + ")");
    } else if (keyword == "oneOf" || keyword == "anyOf") {
        auto keys = required_only_branches(member(sub, keyword.c_str()));
        bool cascade = false;
        for (const auto& k : keys) cascade = cascade || erased.count(ptr + "/" + k) > 0;
        if (cascade) {
            // One of these keys was already reported (and taken out): that sentence says it all.
        } else if (!keys.empty() && value != nullptr && value->IsObject()) {
            int present = 0;
            for (const auto& k : keys) present += value->HasMember(k.c_str()) ? 1 : 0;
            if (keyword == "oneOf" && present > 1) {
                say("give only one of " + join(keys, " and ") + ", not several");
            } else {
                say(std::string(keyword == "oneOf" ? "needs exactly one of " : "needs at least one of ") +
                    join(keys, keyword == "oneOf" ? " and " : " or "));
            }
        } else if (!emptied) {
            say(keyword == "oneOf" ? "does not match exactly one of the alternatives the plugin's schema allows"
                                   : "does not match any of the alternatives the plugin's schema allows");
        }
    } else if (emptied && keyword != "required" && keyword != "dependencies") {
        // Said already.
    } else if (keyword == "minItems" || keyword == "maxItems") {
        const Value* n = member(sub, keyword.c_str());
        say("must list " + std::string(keyword == "minItems" ? "at least " : "at most ") + (n ? number_text(*n) : "?") +
            " entries");
    } else if (keyword == "minProperties" || keyword == "maxProperties") {
        const Value* n = member(sub, keyword.c_str());
        say("must have " + std::string(keyword == "minProperties" ? "at least " : "at most ") +
            (n ? number_text(*n) : "?") + " keys");
    } else if (keyword == "uniqueItems") {
        say("repeats an earlier entry: " + got_text());
    } else if (keyword == "dependencies") {
        const Value* deps = member(sub, "dependencies");
        bool said = false;
        if (deps != nullptr && value != nullptr && value->IsObject()) {
            for (auto d = deps->MemberBegin(); d != deps->MemberEnd(); ++d) {
                if (!value->HasMember(d->name) || !d->value.IsArray()) continue;
                std::vector<std::string> missing;
                for (const auto& need : d->value.GetArray()) {
                    if (!value->HasMember(need) && erased.count(ptr + "/" + need.GetString()) == 0) {
                        missing.emplace_back(need.GetString());
                    }
                }
                if (missing.empty()) continue;
                f.problems.push_back(sentence(origin, ptr + "/" + d->name.GetString(),
                                              key + (key.empty() ? "" : ".") + d->name.GetString(),
                                              "needs " + join(missing, " and ") + " as well"));
                said = true;
            }
        }
        if (!said && !emptied) say("does not meet the plugin's schema (a key it has needs another one)");
    } else if (keyword == "allOf") {
        say("does not meet every rule the plugin's schema sets for it");
    } else if (keyword == "not") {
        say("is a value the plugin's schema rules out: " + got_text());
    } else if (keyword == "patternProperties") {
        say("does not match the schema the plugin gives for keys like this: " + got_text());
    } else {
        say("does not meet the plugin's schema (" + keyword + ")");
    }
    if (ptr.empty()) f.erase = false;
    return f;
}

}  // namespace

tl::expected<std::vector<std::string>, std::string> check_section(std::string_view schema_text,
                                                                   std::string_view section_json,
                                                                   const section_origin& origin) {
    std::vector<std::string> problems;
    if (schema_text.find_first_not_of(" \t\r\n") == std::string_view::npos) return problems;

    Document schema;
    schema.Parse(schema_text.data(), schema_text.size());
    if (schema.HasParseError()) {
        return tl::unexpected("its config_schema() is broken: not valid JSON (" +
                              std::string(rapidjson::GetParseError_En(schema.GetParseError())) + " at offset " +
                              std::to_string(schema.GetErrorOffset()) +
                              "); this is a fault in the plugin, not in the config: report it to the plugin's author");
    }
    if (schema.IsBool() && schema.GetBool()) return problems;
    if (auto p = schema_problem(schema, "", schema, 0); !p.empty()) {
        return tl::unexpected("its config_schema() is broken: not a usable JSON Schema (" + p +
                              "); this is a fault in the plugin, not in the config: report it to the plugin's author");
    }

    Document section;
    section.Parse(section_json.data(), section_json.size());
    if (section.HasParseError()) {
        problems.push_back(sentence(origin, "", origin.slot, "the section could not be read as JSON"));
        return problems;
    }

    rapidjson::SchemaDocument compiled(schema);
    std::set<std::string> erased;
    for (int round = 0; round < max_problems; ++round) {
        rapidjson::SchemaValidator validator(compiled);
        section.Accept(validator);
        if (validator.IsValid()) break;
        const std::string keyword = validator.GetInvalidSchemaKeyword();
        const Pointer at = validator.GetInvalidDocumentPointer();
        const Value* sub = validator.GetInvalidSchemaPointer().Get(schema);
        if (sub == nullptr) sub = &schema;
        failure f = describe(origin, keyword, sub, at, section, erased);
        for (auto& p : f.problems) {
            if (problems.empty() || problems.back() != p) problems.push_back(std::move(p));
        }
        if (!f.erase || !at.Erase(section)) break;
        erased.insert(pointer_text(at));
    }
    return problems;
}

}  // namespace tunnelmgr::host
