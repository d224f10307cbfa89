// xervo_bench_hostile: what a public endpoint meets, measured from the client side (run by
// hostile.sh). Two modes, each printing one JSON line:
//   slowloris: N connections send their headers one byte a second (reconnecting when cut) while a
//     probe sends a normal embedding request on a fresh connection every 100 ms: probe latency.
//   idle: N keep-alive connections (from 127.0.0.2, .3, ... so that no address holds more than
//     --per-address) each make one request and then stay open; the server's RSS before and after,
//     how many are still open at the end, and probe latency while they are held.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Settings {
  std::string mode = "slowloris";
  int port = 8080;
  int connections = 200;
  double seconds = 20;
  std::string model = "embed/bench";
  int server_pid = 0;
  int per_address = 200;
  std::string label;
};

int connect_to(int port, uint32_t source = 0) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (source != 0) {
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(source);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
      ::close(fd);
      return -1;
    }
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Reads one response with a Content-Length body; the HTTP status, or 0 on error / timeout.
int read_response(int fd, int timeout_ms) {
  std::string got;
  auto end = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    size_t head = got.find("\r\n\r\n");
    if (head != std::string::npos) {
      size_t cl = got.find("Content-Length: ");
      if (cl == std::string::npos) cl = got.find("content-length: ");
      size_t length = cl == std::string::npos ? 0 : std::stoul(got.substr(cl + 16));
      if (got.size() >= head + 4 + length) return std::stoi(got.substr(9, 3));
    }
    int left =
        static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count());
    if (left <= 0) return 0;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, left) <= 0) return 0;
    char buf[16384];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return 0;
    got.append(buf, static_cast<size_t>(n));
  }
}

std::string embed_request(const std::string& model) {
  std::string body =
      nlohmann::json{{"model", model}, {"input", "a normal request among hostile ones"}}.dump();
  return "POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
         "application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

struct Probes {
  std::vector<double> ms;
  int failed = 0;
};

// A normal request on a fresh connection every 100 ms until `until`; latency of each.
Probes probe(const Settings& s, Clock::time_point until) {
  Probes out;
  const std::string request = embed_request(s.model);
  while (Clock::now() < until) {
    auto t0 = Clock::now();
    int fd = connect_to(s.port);
    int status = fd >= 0 && send_all(fd, request) ? read_response(fd, 10000) : 0;
    if (fd >= 0) ::close(fd);
    if (status == 200)
      out.ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    else
      out.failed++;
    std::this_thread::sleep_until(t0 + std::chrono::milliseconds(100));
  }
  return out;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

nlohmann::json probe_json(const Probes& p) {
  return {{"probes_ok", p.ms.size()},
          {"probes_failed", p.failed},
          {"probe_p50_ms", percentile(p.ms, 0.5)},
          {"probe_p99_ms", percentile(p.ms, 0.99)},
          {"probe_max_ms", p.ms.empty() ? 0.0 : *std::max_element(p.ms.begin(), p.ms.end())}};
}

int slowloris(const Settings& s) {
  std::atomic<bool> stop{false};
  std::atomic<int64_t> reconnects{0};
  std::thread attacker([&] {
    const std::string header = "POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ";
    std::vector<int> fds(static_cast<size_t>(s.connections), -1);
    std::vector<size_t> sent(fds.size(), 0);
    while (!stop.load()) {
      for (size_t i = 0; i < fds.size() && !stop.load(); ++i) {
        if (fds[i] < 0) {
          fds[i] = connect_to(s.port);
          sent[i] = 0;
          if (fds[i] >= 0 && i < fds.size()) reconnects++;
        }
        if (fds[i] < 0) continue;
        char byte = sent[i] < header.size() ? header[sent[i]] : 'x';
        if (::send(fds[i], &byte, 1, MSG_NOSIGNAL) != 1) {
          ::close(fds[i]);
          fds[i] = -1;
          continue;
        }
        sent[i]++;
      }
      std::this_thread::sleep_for(std::chrono::seconds(1));  // one byte a second on each connection
    }
    for (int fd : fds)
      if (fd >= 0) ::close(fd);
  });
  std::this_thread::sleep_for(std::chrono::seconds(2));  // let every slow connection open
  Probes p = probe(s, Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                         std::chrono::duration<double>(s.seconds)));
  stop = true;
  attacker.join();
  nlohmann::json row = probe_json(p);
  row["label"] = s.label;
  row["mode"] = "slowloris";
  row["slow_connections"] = s.connections;
  row["slow_connects"] = reconnects.load();
  std::printf("%s\n", row.dump().c_str());
  return 0;
}

int64_t rss_kb(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with("VmRSS:")) return std::stoll(line.substr(6));
  return -1;
}

int idle(const Settings& s) {
  int64_t before = rss_kb(s.server_pid);
  std::vector<int> fds;
  const std::string request = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  int refused = 0;
  int failed_in_a_row = 0;
  for (int i = 0; i < s.connections; ++i) {
    uint32_t source = (127u << 24) + 2u + static_cast<uint32_t>(i / s.per_address);  // 127.0.0.2, ...
    int fd = connect_to(s.port, source);
    if (fd < 0 || !send_all(fd, request) || read_response(fd, 5000) != 200) {
      refused++;
      if (fd >= 0) ::close(fd);
      if (++failed_in_a_row == 20) break;  // the server stopped taking connections: measure what holds
      continue;
    }
    failed_in_a_row = 0;
    fds.push_back(fd);
  }
  int64_t after = rss_kb(s.server_pid);
  Probes p = probe(s, Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                         std::chrono::duration<double>(s.seconds)));
  // Still open? A closed connection reads as end of stream at once.
  int open = 0;
  for (int fd : fds) {
    pollfd q{fd, POLLIN, 0};
    char b;
    if (::poll(&q, 1, 0) == 0 || ::recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0) open++;
    ::close(fd);
  }
  nlohmann::json row = probe_json(p);
  row["label"] = s.label;
  row["mode"] = "idle";
  row["connections_asked"] = s.connections;
  row["connections_made"] = fds.size();
  row["refused_or_failed"] = refused;
  row["still_open_at_end"] = open;
  row["rss_before_kb"] = before;
  row["rss_after_kb"] = after;
  row["kb_per_connection"] =
      fds.empty() ? 0.0 : static_cast<double>(after - before) / static_cast<double>(fds.size());
  std::printf("%s\n", row.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  CLI::App app{"xervo_bench_hostile: slowloris and idle keep-alive connections against an HTTP server"};
  app.add_option("--mode", s.mode, "slowloris | idle")->check(CLI::IsMember({"slowloris", "idle"}));
  app.add_option("--port", s.port);
  app.add_option("-c,--connections", s.connections);
  app.add_option("--seconds", s.seconds, "how long the probe runs");
  app.add_option("--model", s.model, "embedding model the probe asks for");
  app.add_option("--pid", s.server_pid, "server process (idle: RSS)");
  app.add_option("--per-address", s.per_address, "idle: connections per source address");
  app.add_option("--label", s.label);
  CLI11_PARSE(app, argc, argv);
  return s.mode == "slowloris" ? slowloris(s) : idle(s);
}
