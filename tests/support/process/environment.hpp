// The environment a test hands a child process: its own, with `extra` set over it.
#pragma once

#include <map>
#include <string>
#include <vector>

extern char** environ;

namespace tunnelmgr::testing {

// Owns the strings; envp() points into them, NULL-terminated, for posix_spawn.
class child_environment {
public:
    explicit child_environment(const std::map<std::string, std::string>& extra) {
        for (char** e = environ; *e != nullptr; ++e) {
            std::string kv(*e);
            if (extra.count(kv.substr(0, kv.find('='))) == 0) store_.push_back(kv);
        }
        for (const auto& [k, v] : extra) store_.push_back(k + "=" + v);
        for (auto& e : store_) ptrs_.push_back(e.data());
        ptrs_.push_back(nullptr);
    }
    char** envp() { return ptrs_.data(); }

private:
    std::vector<std::string> store_;
    std::vector<char*> ptrs_;
};

}  // namespace tunnelmgr::testing
