// See call_site.hpp. The handler only reads two thread-local pointers and calls write(2): nothing
// in it allocates or locks, as a signal handler must not.
#include "plugin_host/call_site.hpp"

#include <csignal>
#include <initializer_list>
#include <cstring>
#include <unistd.h>

namespace tunnelmgr::host {
namespace {

thread_local const char* current_plugin = nullptr;
thread_local const char* current_function = nullptr;

void say(const char* s) {
    size_t n = std::strlen(s);
    while (n > 0) {
        ssize_t w = ::write(STDERR_FILENO, s, n);
        if (w <= 0) return;
        s += w;
        n -= static_cast<size_t>(w);
    }
}

const char* signal_name(int sig) {
    switch (sig) {
        case SIGSEGV: return "SIGSEGV";
        case SIGBUS: return "SIGBUS";
        case SIGILL: return "SIGILL";
        case SIGFPE: return "SIGFPE";
        case SIGABRT: return "SIGABRT";
        default: return "a fatal signal";
    }
}

void on_fatal_signal(int sig) {
    say("tunnelmgr: fatal: ");
    say(signal_name(sig));
    if (current_plugin != nullptr) {
        say(" inside plugin '");
        say(current_plugin);
        say("', function ");
        say(current_function != nullptr ? current_function : "?");
        say("(): the plugin crashed the host; report it to the plugin's author, or remove it from the config\n");
    } else {
        say(" in tunnelmgr itself (not inside a plugin call)\n");
    }
    // SA_RESETHAND restored the default action: raising again ends the process as the signal would.
    ::raise(sig);
}

}  // namespace

call_site::call_site(const char* plugin, const char* function)
    : prev_plugin_(current_plugin), prev_function_(current_function) {
    current_plugin = plugin;
    current_function = function;
}

call_site::~call_site() {
    current_plugin = prev_plugin_;
    current_function = prev_function_;
}

void install_crash_reporter() {
    struct sigaction sa {};
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND | SA_NODEFER;
    for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT}) ::sigaction(sig, &sa, nullptr);
}

}  // namespace tunnelmgr::host
