// GET /v1/ws: the upgrade's checks (auth by header or subprotocol, origin, caps, rate limits), the
// generation protocol (concurrent requests tagged by id, cancel, errors on a connection that lives
// on), and the transport bounds (message size, slow reader, idle, pings, shutdown).
#include <algorithm>
#include <functional>
#include <map>
#include <thread>  // std::thread: stop() runs beside the client

#include "otlp_collector.h"
#include "server_fixture.h"
#include "websocket_test_client.h"

namespace xervo::testing {
namespace {

using nlohmann::json;
namespace http = boost::beast::http;

json generate(const std::string& id, const std::string& model, int max_tokens = 3) {
  return {{"type", "generate"},
          {"id", id},
          {"model", model},
          {"max_tokens", max_tokens},
          {"messages", {{{"role", "user"}, {"content", "hello"}}}}};
}

// Reads until `stop` holds for a message (returned), collecting every message read into `seen`.
std::optional<json> read_until(WsClient& c, const std::function<bool(const json&)>& stop,
                               std::vector<json>* seen = nullptr) {
  for (int i = 0; i < 100000; ++i) {
    auto m = c.read();
    if (!m) return std::nullopt;
    if (seen) seen->push_back(*m);
    if (stop(*m)) return m;
  }
  return std::nullopt;
}

auto is(const std::string& type, const std::string& id) {
  return
      [type, id](const json& m) { return m.value("type", "") == type && m.value("id", json()) == json(id); };
}

std::string content_of(const std::vector<json>& messages, const std::string& id) {
  std::string text;
  for (const auto& m : messages)
    if (m.value("type", "") == "delta" && m.value("id", "") == id) text += m["content"].get<std::string>();
  return text;
}

class WebSocketTest : public ServerTest {
 protected:
  int connect(WsClient& c, std::vector<std::string> protocols = {}, WsClient::Headers headers = {},
              int receive_buffer = 0) {
    return c.connect(server->port(), std::move(protocols), std::move(headers), receive_buffer);
  }

  std::string metrics() {
    auto r = get("/metrics");
    return r ? r->body : "";
  }
};

TEST_F(WebSocketTest, PlainGetIsAskedToUpgrade) {
  start();
  auto r = get("/v1/ws");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 426);
  EXPECT_EQ(r->get_header_value("Upgrade"), "websocket");
  EXPECT_EQ(error_code(r), "upgrade_required");
}

TEST_F(WebSocketTest, KeyByHeaderOrSubprotocolElseRefused) {
  ApiKey key;
  key.name = "app";
  key.sha256 = sha256_hex("ws-key");
  key.scopes = {"inference"};
  options.keys = {key};
  start();
  {
    WsClient c;
    EXPECT_EQ(connect(c), 401);
    EXPECT_NE(c.response().body().find("unauthorized"), std::string::npos) << c.response().body();
  }
  {
    WsClient c;
    EXPECT_EQ(connect(c, {"xervo.v1", "bearer.wrong"}), 401);
  }
  {
    WsClient c;
    ASSERT_EQ(connect(c, {}, {{"Authorization", "Bearer ws-key"}}), 101);
    ASSERT_TRUE(c.send(json{{"type", "ping"}, {"id", "p"}}));
    auto pong = c.read();
    ASSERT_TRUE(pong);
    EXPECT_EQ((*pong)["type"], "pong");
    EXPECT_EQ((*pong)["id"], "p");
  }
  {
    // The browser's way: the key as a subprotocol; the server picks xervo.v1, never echoing the key.
    WsClient c;
    ASSERT_EQ(connect(c, {"xervo.v1", "bearer.ws-key"}), 101);
    EXPECT_EQ(c.response_header(http::field::sec_websocket_protocol), "xervo.v1");
  }
  {
    WsClient c;
    EXPECT_EQ(connect(c, {"bearer.ws-key"}), 400);  // must offer xervo.v1 as well
  }
}

TEST_F(WebSocketTest, CrossOriginRefusedUnlessAllowed) {
  options.cors_origins = {"http://app.example"};
  start();
  const std::string self = "http://127.0.0.1:" + std::to_string(server->port());
  {
    WsClient c;
    EXPECT_EQ(connect(c, {}, {{"Origin", "http://evil.example"}}), 403);
    EXPECT_NE(c.response().body().find("cors_origins"), std::string::npos);
  }
  {
    WsClient c;
    EXPECT_EQ(connect(c, {}, {{"Origin", "http://app.example"}}), 101);
  }
  {
    WsClient c;  // a page of this server itself
    EXPECT_EQ(connect(c, {}, {{"Origin", self}}), 101);
  }
  EXPECT_NE(metrics().find("xervo_rejected_requests_total{reason=\"origin\"} 1"), std::string::npos);
}

TEST_F(WebSocketTest, TwoGenerationsRunAtOnceEachTaggedWithItsId) {
  start();
  WsClient c;
  ASSERT_EQ(connect(c), 101);
  ASSERT_TRUE(c.send(generate("a", "chat/endless")));
  ASSERT_TRUE(c.send(generate("b", "chat/endless")));
  // Both stream before either ends: they run at once (an endless one only ends when cancelled).
  std::vector<json> seen;
  bool a = false, b = false;
  ASSERT_TRUE(read_until(
      c,
      [&](const json& m) {
        a = a || is("delta", "a")(m);
        b = b || is("delta", "b")(m);
        return a && b;
      },
      &seen));
  ASSERT_TRUE(c.send(json{{"type", "cancel"}, {"id", "a"}}));
  auto done = read_until(c, is("done", "a"), &seen);
  ASSERT_TRUE(done);
  EXPECT_EQ((*done)["finish_reason"], "cancelled");
  EXPECT_GE((*done)["usage"]["completion_tokens"].get<int>(), 1);
  // b goes on after a ended.
  ASSERT_TRUE(read_until(c, is("delta", "b")));
  EXPECT_EQ(probe->cancelled.load(), 1);
  // Each id's pieces arrive in order: tok0, tok1, ... as the model made them.
  std::string expected;
  for (size_t i = 0, n = std::count_if(seen.begin(), seen.end(), is("delta", "a")); i < n; ++i)
    expected += "tok" + std::to_string(i) + " ";
  EXPECT_EQ(content_of(seen, "a"), expected);
  c.drop();  // closing the socket cancels what still runs
  EXPECT_TRUE(Probe::eventually([&] { return probe->cancelled.load() == 2; }));
  EXPECT_EQ(probe->finished.load(), 0);
}

TEST_F(WebSocketTest, EachGenerationIsASpanUnderTheUpgradeOrItsOwnTraceparent) {
  Collector collector;
  options.telemetry.enabled = true;
  options.telemetry.traces_endpoint = collector.url();
  options.telemetry.export_interval = std::chrono::milliseconds(5);
  start();
  const std::string upgrade_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
  const std::string own_trace = "0af7651916cd43dd8448eb211c80319c";
  WsClient c;
  ASSERT_EQ(connect(c, {}, {{"traceparent", "00-" + upgrade_trace + "-00f067aa0ba902b7-01"}}), 101);
  ASSERT_TRUE(c.send(generate("a", "chat/test")));
  ASSERT_TRUE(read_until(c, is("done", "a")));
  json b = generate("b", "chat/test");
  b["traceparent"] = "00-" + own_trace + "-b7ad6b7169203331-01";
  ASSERT_TRUE(c.send(b));
  ASSERT_TRUE(read_until(c, is("done", "b")));
  json bad = generate("c", "chat/test");
  bad["traceparent"] = "00-nonsense";  // ignored: the upgrade's trace is used
  ASSERT_TRUE(c.send(bad));
  ASSERT_TRUE(read_until(c, is("done", "c")));
  c.drop();
  server->stop();
  auto spans = collector.spans();
  std::map<std::string, json> by_message;
  std::string upgrade_span;
  for (const auto& s : spans) {
    if (s["name"] == "WS /v1/ws") by_message[attr(s, "xervo.ws.message_id")] = s;
    if (s["name"] == "GET /v1/ws") upgrade_span = s["spanId"];
  }
  ASSERT_EQ(by_message.size(), 3u) << json(spans).dump(1);
  ASSERT_FALSE(upgrade_span.empty());
  EXPECT_EQ(by_message["\"a\""]["traceId"], upgrade_trace);
  EXPECT_EQ(by_message["\"a\""]["parentSpanId"], upgrade_span);
  EXPECT_EQ(by_message["\"b\""]["traceId"], own_trace);
  EXPECT_EQ(by_message["\"b\""]["parentSpanId"], "b7ad6b7169203331");
  EXPECT_EQ(by_message["\"c\""]["parentSpanId"], upgrade_span);
  EXPECT_EQ(attr(by_message["\"a\""], "gen_ai.request.model"), "\"chat/test\"");
  EXPECT_NE(attr(by_message["\"a\""], "gen_ai.usage.output_tokens"), "");
  // The model's own spans hang under the generation's.
  const json* acquire = nullptr;
  for (const auto& s : spans)
    if (s["name"] == "acquire" && s.value("parentSpanId", "") == by_message["\"a\""]["spanId"]) acquire = &s;
  EXPECT_TRUE(acquire) << json(spans).dump(1);
}

TEST_F(WebSocketTest, CancelOneWhileTheOtherCompletes) {
  start();
  WsClient c;
  ASSERT_EQ(connect(c), 101);
  ASSERT_TRUE(c.send(generate("long", "chat/endless")));
  ASSERT_TRUE(read_until(c, is("delta", "long")));
  ASSERT_TRUE(c.send(generate("short", "chat/test", 3)));
  std::vector<json> seen;
  auto done = read_until(c, is("done", "short"), &seen);
  ASSERT_TRUE(done) << "no done for short";
  EXPECT_EQ(content_of(seen, "short"), "tok0 tok1 tok2 ");
  EXPECT_EQ((*done)["finish_reason"], "length");
  EXPECT_EQ((*done)["model"], "chat/test");
  EXPECT_EQ((*done)["usage"]["completion_tokens"], 3);
  EXPECT_EQ((*done)["usage"]["prompt_tokens"], 5);  // the test model counts characters
  ASSERT_TRUE(read_until(c, is("delta", "long")));  // still running
  ASSERT_TRUE(c.send(json{{"type", "cancel"}, {"id", "long"}}));
  auto cancelled = read_until(c, is("done", "long"));
  ASSERT_TRUE(cancelled);
  EXPECT_EQ((*cancelled)["finish_reason"], "cancelled");
  EXPECT_EQ(probe->cancelled.load(), 1);
  EXPECT_EQ(probe->finished.load(), 1);
  // The id is free again once its done arrived.
  ASSERT_TRUE(c.send(generate("long", "chat/test", 1)));
  auto again = read_until(c, is("done", "long"));
  ASSERT_TRUE(again);
  EXPECT_EQ((*again)["finish_reason"], "length");
}

TEST_F(WebSocketTest, BadMessagesGetErrorsAndTheConnectionLives) {
  start();
  WsClient c;
  ASSERT_EQ(connect(c), 101);
  auto error_for = [&](const std::string& text, bool binary = false) -> json {
    EXPECT_TRUE(c.send(text, binary));
    auto m = c.read();
    if (!m) return json();
    EXPECT_EQ((*m)["type"], "error") << m->dump();
    return *m;
  };
  auto bad_json = error_for("{\"type\": \"generate\", ");
  EXPECT_TRUE(bad_json["id"].is_null());
  EXPECT_EQ(bad_json["error"]["code"], "invalid_input");

  auto unknown = error_for(R"({"type": "launch", "id": "u1"})");
  EXPECT_EQ(unknown["id"], "u1");
  EXPECT_NE(unknown["error"]["message"].get<std::string>().find("launch"), std::string::npos);

  EXPECT_EQ(error_for(R"({"id": "t"})")["error"]["code"], "invalid_input");  // no type
  EXPECT_EQ(error_for(R"([1, 2])")["error"]["code"], "invalid_input");       // not an object
  auto no_id = error_for(R"({"type": "generate", "model": "chat/test", "prompt": "x"})");
  EXPECT_TRUE(no_id["id"].is_null());
  EXPECT_NE(no_id["error"]["message"].get<std::string>().find("'id'"), std::string::npos);
  EXPECT_EQ(error_for("{\"type\": \"ping\"}", true)["error"]["code"], "invalid_input");  // binary

  auto no_alias = error_for(generate("n1", "chat/none").dump());
  EXPECT_EQ(no_alias["id"], "n1");
  EXPECT_EQ(no_alias["error"]["code"], "alias_not_found");

  // The OpenAI parser judges the fields, with its own messages.
  auto hot = generate("h1", "chat/test");
  hot["temperature"] = 5;
  auto too_hot = error_for(hot.dump());
  EXPECT_EQ(too_hot["id"], "h1");
  EXPECT_NE(too_hot["error"]["message"].get<std::string>().find("temperature"), std::string::npos);
  auto both = generate("b1", "chat/test");
  both["prompt"] = "x";
  EXPECT_EQ(error_for(both.dump())["error"]["code"], "invalid_input");
  auto cancel_none = error_for(R"({"type": "cancel", "id": "nothing"})");
  EXPECT_EQ(cancel_none["id"], "nothing");

  // Still serving: a raw prompt completes.
  ASSERT_TRUE(c.send(
      json{{"type", "generate"}, {"id", "p"}, {"model", "chat/test"}, {"prompt", "hi"}, {"max_tokens", 2}}));
  std::vector<json> seen;
  auto done = read_until(c, is("done", "p"), &seen);
  ASSERT_TRUE(done);
  EXPECT_EQ(content_of(seen, "p"), "tok0 tok1 ");
}

TEST_F(WebSocketTest, DuplicateLiveIdIsRefused) {
  start();
  WsClient c;
  ASSERT_EQ(connect(c), 101);
  ASSERT_TRUE(c.send(generate("x", "chat/endless")));
  ASSERT_TRUE(read_until(c, is("delta", "x")));
  ASSERT_TRUE(c.send(generate("x", "chat/test")));
  auto refused = read_until(c, is("error", "x"));
  ASSERT_TRUE(refused);
  EXPECT_NE((*refused)["error"]["message"].get<std::string>().find("still running"), std::string::npos);
  ASSERT_TRUE(read_until(c, is("delta", "x")));  // the first one is untouched
  ASSERT_TRUE(c.send(json{{"type", "cancel"}, {"id", "x"}}));
  ASSERT_TRUE(read_until(c, is("done", "x")));
  EXPECT_EQ(probe->started.load(), 1);
}

TEST_F(WebSocketTest, OversizedMessageClosesWith1009) {
  options.websocket.max_message_bytes = 4096;
  start();
  WsClient c;
  ASSERT_EQ(connect(c), 101);
  auto big = generate("big", "chat/test");
  big["messages"][0]["content"] = std::string(8192, 'x');
  ASSERT_TRUE(c.send(big));
  EXPECT_EQ(c.read_until_closed(), 1009) << c.read_error();
  EXPECT_EQ(probe->started.load(), 0);
  EXPECT_TRUE(Probe::eventually([&] {
    return metrics().find("xervo_rejected_requests_total{reason=\"websocket_message_too_big\"} 1") !=
           std::string::npos;
  }));
}

TEST_F(WebSocketTest, TooManyRequestsOnOneConnection) {
  options.websocket.max_requests = 2;
  start();
  WsClient c;
  ASSERT_EQ(connect(c), 101);
  ASSERT_TRUE(c.send(generate("1", "chat/endless")));
  ASSERT_TRUE(c.send(generate("2", "chat/endless")));
  ASSERT_TRUE(c.send(generate("3", "chat/endless")));
  auto refused = read_until(c, is("error", "3"));
  ASSERT_TRUE(refused);
  EXPECT_EQ((*refused)["error"]["code"], "unavailable");
  EXPECT_EQ((*refused)["retry_after_s"], 1);
  for (const char* id : {"1", "2"}) ASSERT_TRUE(c.send(json{{"type", "cancel"}, {"id", id}}));
  ASSERT_TRUE(read_until(c, is("done", "1")));
  ASSERT_TRUE(read_until(c, is("done", "2")));
  EXPECT_EQ(probe->started.load(), 2);
}

TEST_F(WebSocketTest, RateLimitCountsEachGenerate) {
  options.requests_per_minute = 2;  // one for the upgrade, one for the first generate
  start();
  WsClient c;
  ASSERT_EQ(connect(c), 101);
  ASSERT_TRUE(c.send(generate("1", "chat/test", 1)));
  ASSERT_TRUE(read_until(c, is("done", "1")));
  ASSERT_TRUE(c.send(generate("2", "chat/test", 1)));
  auto limited = read_until(c, is("error", "2"));
  ASSERT_TRUE(limited);
  EXPECT_EQ((*limited)["error"]["code"], "rate_limited");
  EXPECT_GE((*limited)["retry_after_s"].get<int>(), 1);
}

TEST_F(WebSocketTest, CountsAgainstTheConnectionCaps) {
  options.max_connections_per_client = 1;
  start();
  WsClient c;
  ASSERT_EQ(connect(c), 101);
  auto r = get("/health");  // a second connection of the same address
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
}

TEST_F(WebSocketTest, SlowReaderIsDroppedAndItsGenerationCancelled) {
  options.websocket.max_send_queue_bytes = 16 * 1024;
  options.max_tokens = 1 << 24;
  start({test_spec("chat/fast", ModelTask::generate, "fast")});  // pieces as fast as the loop runs
  WsClient c;
  ASSERT_EQ(connect(c, {}, {}, 4096), 101);
  ASSERT_TRUE(c.send(generate("flood", "chat/fast", 1 << 24)));
  // Not reading: the kernel's buffers fill, then the server's bounded queue; the server drops us.
  EXPECT_TRUE(Probe::eventually([&] { return probe->cancelled.load() == 1; }, std::chrono::seconds(60)));
  EXPECT_EQ(probe->finished.load(), 0);
  EXPECT_TRUE(Probe::eventually([&] {
    return metrics().find("xervo_rejected_requests_total{reason=\"websocket_slow_reader\"} 1") !=
           std::string::npos;
  }));
  EXPECT_EQ(c.read_until_closed(), 1006);  // what was buffered, then the cut (no close frame)
}

TEST_F(WebSocketTest, IdleConnectionIsClosed) {
  options.websocket.idle_timeout = std::chrono::seconds(1);
  start();
  WsClient c;
  ASSERT_EQ(connect(c), 101);
  EXPECT_EQ(c.read_until_closed(), 1000);
  EXPECT_NE(c.close_reason().find("idle"), std::string::npos) << c.close_reason();
}

TEST_F(WebSocketTest, ServerPingsASilentClientAndAnswersAppPings) {
  options.websocket.ping_interval = std::chrono::seconds(1);
  start();
  WsClient c;
  ASSERT_EQ(connect(c), 101);
  EXPECT_TRUE(c.wait_for_pings(2));  // answered by the client's stack: the connection stays
  ASSERT_TRUE(c.send(json{{"type", "ping"}}));
  auto pong = c.read();
  ASSERT_TRUE(pong);
  EXPECT_EQ((*pong)["type"], "pong");
}

TEST_F(WebSocketTest, RequestsAreCountedInMetrics) {
  start();
  WsClient c;
  ASSERT_EQ(connect(c), 101);
  ASSERT_TRUE(c.send(generate("m", "chat/test", 2)));
  ASSERT_TRUE(read_until(c, is("done", "m")));
  auto text = metrics();
  EXPECT_NE(text.find("xervo_http_requests_total{route=\"/v1/ws\",model=\"chat/test\",status=\"200\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("xervo_http_requests_total{route=\"/v1/ws\",model=\"\",status=\"101\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("xervo_websocket_connections 1"), std::string::npos);
  EXPECT_NE(text.find("xervo_tokens_total{model=\"chat/test\",direction=\"out\"} 2"), std::string::npos);
}

TEST_F(WebSocketTest, ShutdownFinishesGenerationsThenCloses1001) {
  start();
  WsClient c;
  ASSERT_EQ(connect(c), 101);
  ASSERT_TRUE(c.send(generate("g", "chat/gated", 2)));
  ASSERT_TRUE(Probe::eventually([&] { return probe->started.load() == 1; }));
  std::thread stopper([&] { server->stop(); });
  probe->gate.open();
  auto done = read_until(c, is("done", "g"));
  ASSERT_TRUE(done);
  EXPECT_EQ((*done)["finish_reason"], "length");
  EXPECT_EQ(c.read_until_closed(), 1001);
  stopper.join();
}

TEST(WebSocketOptions, ParsedFromServerWebsocketTable) {
  auto o = parse_server_options(
      {{"websocket", {{"max_message_bytes", 2048}, {"max_requests", 3}, {"ping_interval_s", 5}}}});
  ASSERT_TRUE(o.ok()) << o.error().to_string();
  EXPECT_EQ(o->websocket.max_message_bytes, 2048u);
  EXPECT_EQ(o->websocket.max_requests, 3);
  EXPECT_EQ(o->websocket.ping_interval, std::chrono::seconds(5));
  auto unknown = parse_server_options({{"websocket", {{"max_request", 3}}}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message().find("websocket.max_request"), std::string::npos);
  auto zero = parse_server_options({{"websocket", {{"max_requests", 0}}}});
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.error().code(), ErrorCode::config_invalid);
}

}  // namespace
}  // namespace xervo::testing
