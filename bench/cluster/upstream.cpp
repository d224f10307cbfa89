// A stand-in OpenAI-compatible upstream for bench/cluster: POST /v1/embeddings answers each request
// after DELAY_MS (a remote API's latency, not its work: the thread sleeps), with one small vector per
// input. Prints "listening on http://127.0.0.1:PORT" once bound. Usage: xervo_bench_upstream DELAY_MS [PORT]
#include <httplib.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <thread>

int main(int argc, char** argv) {
  const int delay_ms = argc > 1 ? std::atoi(argv[1]) : 50;
  const int want_port = argc > 2 ? std::atoi(argv[2]) : 0;
  httplib::Server server;
  server.new_task_queue = [] { return new httplib::ThreadPool(256); };
  // Without it a kept-alive connection waits for the delayed ACK (~40 ms) before each answer.
  server.set_tcp_nodelay(true);
  server.Post("/v1/embeddings", [delay_ms](const httplib::Request& req, httplib::Response& res) {
    auto body = nlohmann::json::parse(req.body, nullptr, false);
    nlohmann::json input = body.is_object() ? body.value("input", nlohmann::json()) : nlohmann::json();
    size_t n = input.is_array() ? input.size() : 1;
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    nlohmann::json data = nlohmann::json::array();
    for (size_t i = 0; i < n; ++i)
      data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", {0.1, 0.2, 0.3}}});
    res.set_content(nlohmann::json{{"object", "list"},
                                   {"data", data},
                                   {"model", "stand-in"},
                                   {"usage", {{"prompt_tokens", n}, {"total_tokens", n}}}}
                        .dump(),
                    "application/json");
  });
  int port = want_port > 0 ? (server.bind_to_port("127.0.0.1", want_port) ? want_port : -1)
                           : server.bind_to_any_port("127.0.0.1");
  if (port <= 0) {
    std::fprintf(stderr, "cannot bind\n");
    return 1;
  }
  std::printf("listening on http://127.0.0.1:%d\n", port);
  std::fflush(stdout);
  server.listen_after_bind();
  return 0;
}
