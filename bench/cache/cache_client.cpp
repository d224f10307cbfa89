// The response cache benchmark's client (run by bench/cache/*.sh):
//   latency: sequential POST /v1/embeddings of one input, cycling over --distinct texts (so after the
//            first round every request is an exact repeat), with or without Cache-Control: no-cache;
//            prints p50/p99 of the measured requests as JSON.
//   reindex: embeds a corpus of --chunks texts in batches, pass 1 as written, pass 2 with every
//            (1/--changed)-th chunk edited (the re-indexing of a corpus that changed a little);
//            prints the pass's seconds as JSON.
#include <httplib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

std::string chunk_text(int i, bool edited) {
  return "Chunk " + std::to_string(i) + " of the handbook: section " + std::to_string(i / 20) +
         " explains how the service is deployed, monitored and rolled back when a release goes wrong" +
         (edited ? " (revised: the rollback now waits for the health check)" : "");
}

bool post(httplib::Client& c, const std::string& body, bool no_cache) {
  httplib::Headers h;
  if (no_cache) h.emplace("Cache-Control", "no-cache");
  auto r = c.Post("/v1/embeddings", h, body, "application/json");
  if (!r || r->status != 200) {
    std::fprintf(stderr, "request failed: %s\n",
                 r ? (std::to_string(r->status) + " " + r->body.substr(0, 200)).c_str() : "transport");
    return false;
  }
  return true;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"xervo response cache benchmark client"};
  std::string mode, model = "default";
  int port = 0, requests = 2000, distinct = 16, chunks = 10000, batch = 32, pass = 1;
  double changed = 0.1;
  bool no_cache = false;
  app.add_option("mode", mode)->required()->check(CLI::IsMember({"latency", "reindex"}));
  app.add_option("--port", port)->required();
  app.add_option("--model", model);
  app.add_option("--requests", requests, "latency: measured requests");
  app.add_option("--distinct", distinct, "latency: distinct texts cycled over");
  app.add_flag("--no-cache", no_cache, "send Cache-Control: no-cache (every request computes)");
  app.add_option("--chunks", chunks, "reindex: corpus size");
  app.add_option("--batch", batch, "reindex: inputs per request");
  app.add_option("--changed", changed, "reindex: share of chunks edited in pass 2");
  app.add_option("--pass", pass, "reindex: 1 (as written) or 2 (edited)");
  CLI11_PARSE(app, argc, argv);

  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(600, 0);
  c.set_keep_alive(true);
  c.set_tcp_nodelay(true);  // else headers and body go in two segments and delayed ACKs add ~40 ms
  if (mode == "latency") {
    auto body = [&](int n) {
      return nlohmann::json{{"model", model}, {"input", {"cached question " + std::to_string(n % distinct)}}}
          .dump();
    };
    for (int n = 0; n < distinct; ++n)  // the first round fills the cache (and warms the connection)
      if (!post(c, body(n), no_cache)) return 1;
    std::vector<double> ms;
    ms.reserve(static_cast<size_t>(requests));
    for (int n = 0; n < requests; ++n) {
      auto b = body(n);
      auto t0 = Clock::now();
      if (!post(c, b, no_cache)) return 1;
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    std::printf("%s\n",
                nlohmann::json{
                    {"requests", requests}, {"p50_ms", percentile(ms, 0.5)}, {"p99_ms", percentile(ms, 0.99)}}
                    .dump()
                    .c_str());
    return 0;
  }
  const int every = changed > 0 ? std::max(1, static_cast<int>(1.0 / changed + 0.5)) : 0;
  auto t0 = Clock::now();
  for (int start = 0; start < chunks; start += batch) {
    nlohmann::json input = nlohmann::json::array();
    for (int i = start; i < std::min(chunks, start + batch); ++i)
      input.push_back(chunk_text(i, pass == 2 && every > 0 && i % every == 0));
    if (!post(c, nlohmann::json{{"model", model}, {"input", input}}.dump(), false)) return 1;
  }
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("%s\n", nlohmann::json{{"chunks", chunks}, {"pass", pass}, {"seconds", s}}.dump().c_str());
  return 0;
}
