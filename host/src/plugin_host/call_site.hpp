// Which plugin function this thread is inside, so a fatal signal there is blamed on the plugin
// (and the function) instead of leaving a bare "Segmentation fault".
#pragma once

namespace tunnelmgr::host {

// Marks the current thread as inside `plugin`'s `function` for its lifetime. Both strings must
// outlive the call (a library's name and a string literal do).
class call_site {
public:
    call_site(const char* plugin, const char* function);
    ~call_site();
    call_site(const call_site&) = delete;
    call_site& operator=(const call_site&) = delete;

private:
    const char* prev_plugin_;
    const char* prev_function_;
};

// Installs handlers for SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGABRT that print one line naming
// the plugin and function the crashing thread was in (or "in the host"), then die of the same
// signal, so exit codes and core dumps stay what they were. Idempotent.
void install_crash_reporter();

}  // namespace tunnelmgr::host
