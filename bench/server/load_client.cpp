// xervo_bench_server: drives an OpenAI-compatible server (xervo serve or llama-server) with N
// concurrent keep-alive connections for a fixed time and prints one JSON line: throughput and
// latency percentiles. Modes: `embed` (POST /v1/embeddings) and `chat` (streamed
// /v1/chat/completions: time to first token, time to last byte, generated tokens per second).
// `--raw FILE` keeps every sample; `--summarize FILE...` pools the samples of several runs (run.sh's
// rounds) so that p99 rests on all of them rather than on the few slowest requests of one run.
// Several `--model`s are requested round-robin; `--requests N` stops after N requests (a cold start
// is one); `--during`/`--outside FILE` split pooled samples by time windows (bench/lifecycle's swaps).
#include <httplib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Sample {
  double latency_ms = 0;
  double ttft_ms = 0;
  int64_t tokens = 0;
  int64_t start_unix_ms = 0;     // wall clock, so that a script can line samples up with its own events
  bool transport_error = false;  // no HTTP response at all (connection closed, reset)
};

struct Settings {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string mode = "embed";
  std::vector<std::string> models = {"default"};  // requests go round-robin over these
  int concurrency = 16;
  double seconds = 20;
  double warmup_seconds = 2;
  uint64_t requests = 0;     // stop after this many requests (0: run for `seconds`)
  bool drain = false;        // count requests that start in the window and end after it
  int inputs = 1;            // embed: inputs per request
  int max_tokens = 64;       // chat
  double temperature = 0.8;  // chat; 0 = greedy
  std::string api_key;
  std::string label;  // --row: the server's name in the printed table row
};

const std::string& model_of(const Settings& s, uint64_t n) { return s.models[n % s.models.size()]; }

std::string embed_body(const Settings& s, uint64_t n) {
  nlohmann::json input = nlohmann::json::array();
  for (int i = 0; i < s.inputs; ++i)
    input.push_back("request " + std::to_string(n) + " item " + std::to_string(i) +
                    ": the quick brown fox jumps over the lazy dog while the cat sleeps on the warm mat");
  return nlohmann::json{{"model", model_of(s, n)}, {"input", input}}.dump();
}

std::string chat_body(const Settings& s, uint64_t n) {
  return nlohmann::json{
      {"model", model_of(s, n)},
      {"stream", true},
      {"max_tokens", s.max_tokens},
      {"temperature", s.temperature},
      {"seed", n},
      {"stream_options", {{"include_usage", true}}},
      {"messages", {{{"role", "user"}, {"content", "Tell me a story number " + std::to_string(n)}}}}}
      .dump();
}

// One request; false on a transport error or a non-200 status.
bool run_one(httplib::Client& client, const Settings& s, uint64_t n, Sample& out) {
  auto start = Clock::now();
  out.start_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  httplib::Headers headers;
  if (!s.api_key.empty()) headers.emplace("Authorization", "Bearer " + s.api_key);
  if (s.mode == "embed") {
    auto r = client.Post("/v1/embeddings", headers, embed_body(s, n), "application/json");
    out.transport_error = !r;
    if (!r || r->status != 200) return false;
    out.latency_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    return true;
  }
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/chat/completions";
  req.headers = headers;
  req.set_header("Content-Type", "application/json");
  req.body = chat_body(s, n);
  std::string buffer;
  int64_t pieces = 0, usage_tokens = -1;
  bool first = true;
  req.content_receiver = [&](const char* data, size_t len, uint64_t, uint64_t) {
    buffer.append(data, len);
    size_t pos;
    while ((pos = buffer.find("\n\n")) != std::string::npos) {
      std::string event = buffer.substr(0, pos);
      buffer.erase(0, pos + 2);
      if (event.rfind("data: ", 0) != 0 || event == "data: [DONE]") continue;
      auto j = nlohmann::json::parse(event.substr(6), nullptr, false);
      if (!j.is_object()) continue;
      if (j.contains("usage") && j["usage"].is_object())
        usage_tokens = j["usage"].value("completion_tokens", -1);
      if (j.contains("choices") && j["choices"].is_array() && !j["choices"].empty()) {
        const auto& delta = j["choices"][0].value("delta", nlohmann::json::object());
        if (delta.contains("content") && delta["content"].is_string() &&
            !delta["content"].get<std::string>().empty()) {
          if (first) {
            out.ttft_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
            first = false;
          }
          ++pieces;
        }
      }
    }
    return true;
  };
  auto r = client.send(req);
  out.transport_error = !r;
  if (!r || r->status != 200) {
    if (std::getenv("XERVO_BENCH_DEBUG"))
      std::fprintf(stderr, "chat request failed: %s\n",
                   r ? ("HTTP " + std::to_string(r->status) + " " + r->body.substr(0, 200)).c_str()
                     : httplib::to_string(r.error()).c_str());
    return false;
  }
  out.latency_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  out.tokens = usage_tokens >= 0 ? usage_tokens : pieces;
  return true;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// The measured samples of one or more runs of the same test, pooled.
struct Pool {
  std::vector<Sample> samples;
  int64_t errors = 0;
  double seconds = 0;  // measured time, summed over runs
};

// A raw file: "# seconds S errors E" then one "latency_ms ttft_ms tokens start_unix_ms" line a sample.
void write_raw(const std::string& path, const Pool& pool) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    std::exit(1);
  }
  std::fprintf(f, "# seconds %.3f errors %lld\n", pool.seconds, static_cast<long long>(pool.errors));
  for (const auto& x : pool.samples)
    std::fprintf(f, "%.3f %.3f %lld %lld\n", x.latency_ms, x.ttft_ms, static_cast<long long>(x.tokens),
                 static_cast<long long>(x.start_unix_ms));
  std::fclose(f);
}

bool read_raw(const std::string& path, Pool& pool) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return false;
  double secs = 0;
  long long errors = 0;
  bool ok = std::fscanf(f, "# seconds %lf errors %lld", &secs, &errors) == 2;
  Sample x;
  long long tokens = 0, start = 0;
  while (ok && std::fscanf(f, "%lf %lf %lld %lld", &x.latency_ms, &x.ttft_ms, &tokens, &start) == 4) {
    x.tokens = tokens;
    x.start_unix_ms = start;
    pool.samples.push_back(x);
  }
  std::fclose(f);
  pool.seconds += secs;
  pool.errors += errors;
  return ok;
}

// Time windows, one "start_unix_ms end_unix_ms" line each (a script's record of its swaps).
struct Window {
  int64_t start = 0, end = 0;
};

std::vector<Window> read_windows(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "cannot read windows file %s\n", path.c_str());
    std::exit(1);
  }
  std::vector<Window> out;
  Window w;
  while (in >> w.start >> w.end) out.push_back(w);
  return out;
}

// Keeps the samples whose request overlapped one of `windows` (or, with keep_overlapping false,
// overlapped none). Errors carry no time: they stay with the pool as a whole.
void filter_by_windows(Pool& pool, const std::vector<Window>& windows, bool keep_overlapping) {
  std::erase_if(pool.samples, [&](const Sample& x) {
    const int64_t end = x.start_unix_ms + static_cast<int64_t>(x.latency_ms);
    const bool overlaps = std::any_of(windows.begin(), windows.end(), [&](const Window& w) {
      return x.start_unix_ms <= w.end && end >= w.start;
    });
    return overlaps != keep_overlapping;
  });
}

nlohmann::json summary(const Settings& s, const Pool& pool) {
  std::vector<double> latency, ttft;
  int64_t tokens = 0;
  for (const auto& x : pool.samples) {
    latency.push_back(x.latency_ms);
    if (x.ttft_ms > 0) ttft.push_back(x.ttft_ms);
    tokens += x.tokens;
  }
  const double secs = pool.seconds > 0 ? pool.seconds : 1;
  nlohmann::json out = {{"mode", s.mode},
                        {"concurrency", s.concurrency},
                        {"seconds", pool.seconds},
                        {"requests", pool.samples.size()},
                        {"errors", pool.errors},
                        {"requests_per_s", static_cast<double>(pool.samples.size()) / secs},
                        {"p50_ms", percentile(latency, 0.5)},
                        {"p99_ms", percentile(latency, 0.99)}};
  if (s.mode == "embed") out["inputs_per_s"] = static_cast<double>(pool.samples.size()) * s.inputs / secs;
  if (s.mode == "chat") {
    out["tokens_per_s"] = static_cast<double>(tokens) / secs;
    out["ttft_p50_ms"] = percentile(ttft, 0.5);
    out["ttft_p99_ms"] = percentile(ttft, 0.99);
  }
  return out;
}

void print(const Settings& s, const nlohmann::json& out, bool row) {
  if (!row) {
    std::printf("%s\n", out.dump().c_str());
    return;
  }
  // server | test | conc | requests | req/s | p50 ms | p99 ms | ttft p50 ms | tokens/s | errors
  const bool chat = s.mode == "chat";
  std::printf("%-13s %-6s %5d %8zu %9.1f %9.1f %9.1f %11s %10s %7lld\n", s.label.c_str(), s.mode.c_str(),
              s.concurrency, out["requests"].get<size_t>(), out["requests_per_s"].get<double>(),
              out["p50_ms"].get<double>(), out["p99_ms"].get<double>(),
              chat ? std::to_string(static_cast<int>(out["ttft_p50_ms"].get<double>())).c_str() : "-",
              chat ? std::to_string(static_cast<int>(out["tokens_per_s"].get<double>())).c_str() : "-",
              out["errors"].get<long long>());
}

Pool run_load(const Settings& s) {
  std::atomic<uint64_t> counter{0};
  std::atomic<int64_t> errors{0};
  std::mutex mu;
  Pool pool;
  const auto begin = Clock::now();
  const auto measure_from =
      begin + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s.warmup_seconds));
  const auto end =
      measure_from + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s.seconds));
  std::vector<std::thread> workers;
  for (int w = 0; w < s.concurrency; ++w) {
    workers.emplace_back([&] {
      httplib::Client client(s.host, s.port);
      client.set_keep_alive(true);
      // As curl, browsers, Node's fetch and Python's urllib3 do. Without it httplib writes the
      // request's headers and body in two segments and Nagle holds the body back until the server's
      // delayed ACK of the headers: about 40 ms on every request after the first on a kept-alive
      // connection, which measures the client, not the server.
      client.set_tcp_nodelay(true);
      client.set_read_timeout(300, 0);
      std::vector<Sample> mine;
      while (Clock::now() < end) {
        auto started = Clock::now();
        Sample sample;
        uint64_t n = counter++;
        if (s.requests > 0 && n >= s.requests) break;
        bool ok = run_one(client, s, n, sample);
        // A server may close a kept-alive connection after a stream (llama-server does); the client
        // notices only on the next request: retry that once on a fresh connection.
        if (!ok && sample.transport_error) {
          sample = Sample{};
          ok = run_one(client, s, n, sample);
        }
        // Only requests that started and finished inside the window count (with --drain, all that
        // started inside it: else the slowest ones, still running at the end, are left out of p99).
        if (started < measure_from || (!s.drain && Clock::now() > end)) continue;
        if (ok)
          mine.push_back(sample);
        else
          errors++;
      }
      std::lock_guard lock(mu);
      pool.samples.insert(pool.samples.end(), mine.begin(), mine.end());
    });
  }
  for (auto& t : workers) t.join();
  // A --requests run ends when its last request does; a timed one is measured for `seconds`.
  pool.seconds = std::min(s.seconds, std::chrono::duration<double>(Clock::now() - measure_from).count());
  pool.errors = errors.load();
  return pool;
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  CLI::App app{"HTTP load client for OpenAI-compatible servers"};
  app.add_option("--host", s.host);
  app.add_option("--port", s.port);
  app.add_option("--mode", s.mode)->check(CLI::IsMember({"embed", "chat"}));
  app.add_option("--model", s.models, "model to request; several: round-robin")->delimiter(',');
  app.add_option("-c,--concurrency", s.concurrency)->check(CLI::Range(1, 1024));
  app.add_option("--seconds", s.seconds, "measured time");
  app.add_option("--warmup", s.warmup_seconds, "unmeasured time first");
  app.add_option("--requests", s.requests, "stop after this many requests in all (0: run for --seconds)");
  app.add_flag("--drain", s.drain,
               "count requests that start in the measured time even if they end after it");
  app.add_option("--inputs", s.inputs, "embed: inputs per request");
  app.add_option("--max-tokens", s.max_tokens, "chat: max_tokens per request");
  app.add_option("--temperature", s.temperature, "chat: sampling temperature (0 = greedy; default 0.8)");
  app.add_option("--api-key", s.api_key);
  bool row = false;
  app.add_flag("--row", row, "print one table row (see run.sh) instead of JSON");
  app.add_option("--label", s.label, "server name in the row");
  std::string raw;
  app.add_option("--raw", raw, "also write every measured sample to this file");
  std::vector<std::string> pooled;
  app.add_option("--summarize", pooled, "print the pooled result of these --raw files instead of running");
  std::string during, outside;
  app.add_option("--during", during, "--summarize: only samples that overlap a window of this file");
  app.add_option("--outside", outside, "--summarize: only samples that overlap no window of this file");
  CLI11_PARSE(app, argc, argv);

  Pool pool;
  if (!pooled.empty()) {
    for (const auto& path : pooled)
      if (!read_raw(path, pool)) {
        std::fprintf(stderr, "%s is not a --raw file\n", path.c_str());
        return 1;
      }
    if (!during.empty()) filter_by_windows(pool, read_windows(during), true);
    if (!outside.empty()) filter_by_windows(pool, read_windows(outside), false);
  } else {
    if (app.count("--port") == 0) {
      std::fprintf(stderr, "--port is required\n");
      return 2;
    }
    pool = run_load(s);
    if (!raw.empty()) write_raw(raw, pool);
  }
  print(s, summary(s, pool), row);
  return pool.samples.empty() ? 1 : 0;
}
