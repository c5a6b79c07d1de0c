#include "stop_signals.hpp"

#include <pthread.h>
#include <signal.h>

#include <cstring>
#include <thread>

namespace tunnelmgr::stubs::cloudflared {
namespace {

sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGUSR2);
  return set;
}

void reset_to_default(int signal_number) {
  struct sigaction action {};
  action.sa_handler = SIG_DFL;
  sigemptyset(&action.sa_mask);
  sigaction(signal_number, &action, nullptr);
}

}  // namespace

void block_stop_signals() {
  // Go's signal.Notify re-enables SIGTERM/SIGINT even when started ignored (a shell's `cmd &`
  // ignores SIGINT): the stub does the same. SIGHUP's disposition is inherited untouched, as
  // cloudflared never asks for it; only its blocking is undone.
  for (int signal_number : {SIGTERM, SIGINT, SIGUSR1, SIGUSR2}) reset_to_default(signal_number);
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;  // a client hanging up mid-response must not kill the stub
  sigemptyset(&ignore.sa_mask);
  sigaction(SIGPIPE, &ignore, nullptr);

  sigset_t hangup;
  sigemptyset(&hangup);
  sigaddset(&hangup, SIGHUP);
  pthread_sigmask(SIG_UNBLOCK, &hangup, nullptr);
  const sigset_t handled = handled_signals();
  pthread_sigmask(SIG_BLOCK, &handled, nullptr);
}

void watch_stop_signals(tunnel_lifecycle& lifecycle) {
  std::thread([&lifecycle] {
    sigset_t waiting = handled_signals();
    for (;;) {
      int signal_number = 0;
      if (sigwait(&waiting, &signal_number) != 0) continue;
      if (signal_number == SIGUSR1) {
        lifecycle.set_connected(false, "SIGUSR1");
      } else if (signal_number == SIGUSR2) {
        lifecycle.set_connected(true, "SIGUSR2");
      } else {
        log_line("INF", std::string("Initiating graceful shutdown due to signal ") +
                            (signal_number == SIGTERM ? "terminated" : "interrupt") + " ...");
        lifecycle.request_shutdown(signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
        // cloudflared calls signal.Stop after the first signal, which restores the default
        // action: a second SIGTERM/SIGINT ends the process at once. Unblocking them in this
        // thread (the only one that does) gives the same.
        sigset_t stop;
        sigemptyset(&stop);
        sigaddset(&stop, SIGTERM);
        sigaddset(&stop, SIGINT);
        sigdelset(&waiting, SIGTERM);
        sigdelset(&waiting, SIGINT);
        pthread_sigmask(SIG_UNBLOCK, &stop, nullptr);
      }
    }
  }).detach();
}

}  // namespace tunnelmgr::stubs::cloudflared
