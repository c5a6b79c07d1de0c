// cloudflare-api-fake: the Cloudflare fake as its own process, for tests that kill tunnelmgr mid-way
// and for the local demo. Serves until SIGTERM/SIGINT; /__fake/... steers it (see README.md).
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "cloudflare_fake.hpp"

namespace {

using tunnelmgr::testing::cloudflare_fake;

constexpr const char* k_usage =
    "usage: cloudflare-api-fake [--listen 127.0.0.1:0] [--port-file F] [--token T]... [--token-file F]\n"
    "                           [--read-only-token T]... [--account-id A] [--zone NAME]... [--zones-generate N]\n"
    "                           [--tls-cert C --tls-key K] [--clamp-zone-per-page] [--quiet]\n";

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

bool write_port_file(const std::string& path, int port) {
  // Write then rename, so a poller never reads a half-written number.
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    if (!out.flush()) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

int fail(const std::string& message) {
  std::cerr << "cloudflare-api-fake: " << message << "\n" << k_usage;
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  cloudflare_fake::options opts;
  opts.control_endpoints = true;
  opts.log_requests = true;
  opts.tokens.clear();
  std::string port_file;
  const std::vector<std::string> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> const std::string* { return i + 1 < args.size() ? &args[++i] : nullptr; };
    if (a == "--help" || a == "-h") {
      std::cout << k_usage;
      return 0;
    }
    if (a == "--quiet") {
      opts.log_requests = false;
      continue;
    }
    if (a == "--clamp-zone-per-page") {
      opts.clamp_zone_per_page = true;
      continue;
    }
    const std::string* v = value();
    if (v == nullptr) return fail(a + " needs a value");
    if (a == "--listen") {
      const auto colon = v->rfind(':');
      if (colon == std::string::npos) return fail("--listen wants HOST:PORT");
      opts.host = v->substr(0, colon);
      if (opts.host.size() > 2 && opts.host.front() == '[') opts.host = opts.host.substr(1, opts.host.size() - 2);
      try {
        opts.port = std::stoi(v->substr(colon + 1));
      } catch (const std::exception&) {
        return fail("bad port in --listen " + *v);
      }
    } else if (a == "--port-file") {
      port_file = *v;
    } else if (a == "--token") {
      opts.tokens.push_back(*v);
    } else if (a == "--read-only-token") {
      opts.read_only_tokens.push_back(*v);
    } else if (a == "--token-file") {
      std::ifstream in(*v);
      if (!in) return fail("cannot read token file " + *v);
      for (std::string line; std::getline(in, line);) {
        if (!trim(line).empty()) opts.tokens.push_back(trim(line));
      }
    } else if (a == "--account-id") {
      opts.account_id = *v;
    } else if (a == "--zone") {
      opts.zones.push_back(*v);
    } else if (a == "--zones-generate") {
      opts.generated_zones = std::atoi(v->c_str());
    } else if (a == "--tls-cert") {
      opts.tls_cert_file = *v;
    } else if (a == "--tls-key") {
      opts.tls_key_file = *v;
    } else {
      return fail("unknown option " + a);
    }
  }
  if (opts.tokens.empty() && opts.read_only_tokens.empty()) opts.tokens.push_back("fake-token-for-tests");

  // Block the stop signals before any thread exists, so only sigwait below ever sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  auto fake = cloudflare_fake::start(opts);
  if (!fake) {
    std::cerr << "cloudflare-api-fake: " << fake.error() << "\n";
    return 1;
  }
  if (!port_file.empty() && !write_port_file(port_file, (*fake)->port())) {
    std::cerr << "cloudflare-api-fake: cannot write port file " << port_file << "\n";
    return 1;
  }
  std::cerr << "listening on " << (*fake)->base_url() << std::endl;

  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::cerr << "cloudflare-api-fake: signal " << sig << ", stopping" << std::endl;
  (*fake)->stop();
  return 0;
}
