// Streaming (SSE), cancellation when the client goes away, request timeouts, and graceful shutdown.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>

#include "server_fixture.h"

namespace xervo::testing {
namespace {

using nlohmann::json;

// The `data:` payloads of an SSE body, in order.
std::vector<std::string> sse_data(const std::string& body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = body.find("data: ", pos)) != std::string::npos) {
    size_t end = body.find("\n\n", pos);
    out.push_back(body.substr(pos + 6, end - pos - 6));
    pos = end;
  }
  return out;
}

json chat_body(const std::string& model, bool stream, int max_tokens = 5) {
  return {{"model", model},
          {"stream", stream},
          {"max_tokens", max_tokens},
          {"stream_options", {{"include_usage", true}}},
          {"messages", {{{"role", "user"}, {"content", "hello"}}}}};
}

TEST_F(ServerTest, ChatStreamsSseChunksThenUsageThenDone) {
  start();
  auto r = post("/v1/chat/completions", chat_body("chat/test", true, 4));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_NE(r->get_header_value("Content-Type").find("text/event-stream"), std::string::npos);
  auto events = sse_data(r->body);
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text;
  json usage;
  std::string finish;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    auto j = json::parse(events[i]);
    EXPECT_EQ(j["object"], "chat.completion.chunk");
    if (j.contains("usage") && !j["usage"].is_null()) usage = j["usage"];
    for (const auto& c : j["choices"]) {
      if (c["delta"].contains("content")) text += c["delta"]["content"].get<std::string>();
      if (!c["finish_reason"].is_null()) finish = c["finish_reason"];
    }
  }
  EXPECT_EQ(json::parse(events[0])["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(text, "tok0 tok1 tok2 tok3 ");
  EXPECT_EQ(finish, "length");
  EXPECT_EQ(usage["completion_tokens"], 4);
  EXPECT_EQ(json::parse(events[events.size() - 2])["choices"].size(), 0u);  // the usage chunk has no choices
}

TEST_F(ServerTest, TextCompletionStreams) {
  start();
  auto r =
      post("/v1/completions", {{"model", "chat/test"}, {"prompt", "x"}, {"stream", true}, {"max_tokens", 2}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  auto events = sse_data(r->body);
  ASSERT_EQ(events.size(), 4u);  // two pieces, the finish chunk, [DONE]
  EXPECT_EQ(json::parse(events[0])["choices"][0]["text"], "tok0 ");
  EXPECT_EQ(json::parse(events[2])["choices"][0]["finish_reason"], "length");
}

TEST_F(ServerTest, StreamErrorsBeforeTheFirstByteAreJsonErrors) {
  start();
  auto r = post("/v1/chat/completions", chat_body("chat/none", true));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(error_code(r), "alias_not_found");
}

TEST_F(ServerTest, ClientDisconnectMidStreamCancelsTheGeneration) {
  start();
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(server->port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  std::string body = chat_body("chat/endless", true).dump();
  std::string request =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  ASSERT_EQ(::send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  std::string got;
  char buf[4096];
  while (got.find("tok3") == std::string::npos) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    ASSERT_GT(n, 0);
    got.append(buf, static_cast<size_t>(n));
  }
  EXPECT_EQ(probe->cancelled.load(), 0);
  ::close(fd);
  EXPECT_TRUE(Probe::eventually([&] { return probe->cancelled.load() == 1; }))
      << "the generation kept running after the client went away";
  EXPECT_EQ(probe->finished.load(), 0);
  EXPECT_EQ(get("/health")->status, 200);
}

TEST_F(ServerTest, GenerationPastRequestTimeoutIs504) {
  options.request_timeout = std::chrono::seconds(1);
  start();
  auto r = post("/v1/chat/completions", chat_body("chat/endless", false));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 504);
  EXPECT_EQ(error_code(r), "timeout");
  EXPECT_EQ(probe->cancelled.load(), 1);

  auto s = post("/v1/chat/completions", chat_body("chat/endless", true));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->status, 200);  // the stream had begun; the timeout arrives as an error event
  auto events = sse_data(s->body);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(json::parse(events[events.size() - 2])["error"]["code"], "timeout");
}

TEST_F(ServerTest, EmbeddingAndRerankPastRequestTimeoutAre504AndCancelled) {
  options.request_timeout = std::chrono::seconds(1);
  start({test_spec("embed/endless", ModelTask::embed, "endless"),
         test_spec("rerank/endless", ModelTask::rerank, "endless")});
  auto e = post("/v1/embeddings", json{{"model", "embed/endless"}, {"input", "hello"}});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status, 504);
  EXPECT_EQ(error_code(e), "timeout");
  auto r = post("/v1/rerank", json{{"model", "rerank/endless"}, {"query", "q"}, {"documents", {"a", "b"}}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 504);
  EXPECT_EQ(error_code(r), "timeout");
  EXPECT_EQ(probe->cancelled.load(), 2);  // the engine saw both stop requests
}

TEST_F(ServerTest, GracefulShutdownFinishesTheRequestInFlight) {
  start();
  runtime->load("embed/test").value_or_throw();
  auto in_flight = std::async(std::launch::async, [&] {
    auto r = post("/v1/chat/completions", chat_body("chat/gated", false, 2));
    return r ? r->status : -1;
  });
  ASSERT_TRUE(Probe::eventually([&] { return probe->started.load() == 1; }));
  auto stopping = std::async(std::launch::async, [&] { server->stop(); });
  EXPECT_EQ(stopping.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout)
      << "stop() returned while a request was in flight";
  // No new connections while draining.
  EXPECT_FALSE(client()->Get("/health"));
  probe->gate.open();
  EXPECT_EQ(in_flight.get(), 200);
  stopping.get();
  for (const auto& r : runtime->models()) EXPECT_NE(r.state, ModelState::loaded) << r.key.to_string();
}

TEST_F(ServerTest, ShutdownCancelsGenerationsLeftAfterTheGrace) {
  options.shutdown_grace = std::chrono::seconds(1);
  start();
  auto endless = std::async(std::launch::async, [&] {
    auto r = post("/v1/chat/completions", chat_body("chat/endless", false));
    return r ? std::make_pair(r->status, error_code(r)) : std::make_pair(-1, std::string());
  });
  ASSERT_TRUE(Probe::eventually([&] { return probe->started.load() == 1; }));
  server->stop();
  EXPECT_EQ(probe->cancelled.load(), 1);
  auto [status, code] = endless.get();
  EXPECT_EQ(status, 503);
  EXPECT_EQ(code, "unavailable");
}

TEST_F(ServerTest, StopIsIdempotentAndWaitReturnsAfterIt) {
  start();
  auto waiter = std::async(std::launch::async, [&] { server->wait(); });
  server->stop();
  server->stop();
  EXPECT_EQ(waiter.wait_for(std::chrono::seconds(10)), std::future_status::ready);
}

}  // namespace
}  // namespace xervo::testing
