// See process_identity.hpp.
#include "sys/process_identity.hpp"

#include <fstream>
#include <sstream>
#include <unistd.h>

namespace tunnelmgr::sys {
namespace {

// Field 22 of /proc/PID/stat; the command name (field 2) may hold spaces, so count from its ')'.
std::string start_time_of(long pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string all;
    if (!in || !std::getline(in, all)) return "";
    auto close = all.rfind(')');
    if (close == std::string::npos) return "";
    std::istringstream rest(all.substr(close + 2));
    std::string field;
    for (int i = 3; i <= 22 && rest >> field; ++i) {
        if (i == 22) return field;
    }
    return "";
}

}  // namespace

std::string self_identity() {
    long pid = static_cast<long>(::getpid());
    return std::to_string(pid) + ":" + start_time_of(pid);
}

bool identity_alive(const std::string& identity) {
    auto colon = identity.find(':');
    if (colon == std::string::npos || colon == 0) return false;
    long pid = 0;
    try {
        pid = std::stol(identity.substr(0, colon));
    } catch (...) {
        return false;
    }
    if (pid <= 0) return false;
    std::string started = start_time_of(pid);
    return !started.empty() && started == identity.substr(colon + 1);
}

}  // namespace tunnelmgr::sys
