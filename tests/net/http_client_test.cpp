#include "net/http_client.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "net/local_server.h"

namespace xervo::net {
namespace {

using namespace std::chrono_literals;
using xervo::testing::LocalServer;

TEST(HttpClient, GetReturnsStatusHeadersAndBody) {
  LocalServer server;
  server.http().Get("/hello", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("X-Custom-Thing", "yes");
    res.set_content("hi there", "text/plain");
  });
  server.start();
  HttpClient client;
  HttpRequest req;
  req.url = server.url("/hello");
  auto res = client.send(req);
  ASSERT_TRUE(res.ok()) << res.error().to_string();
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "hi there");
  EXPECT_EQ(res->headers.get("x-custom-THING").value_or(""), "yes");
  EXPECT_EQ(res->headers.get("content-type").value_or(""), "text/plain");
  EXPECT_FALSE(res->headers.get("missing").has_value());
}

TEST(HttpClient, PostSendsBodyAndHeaders) {
  LocalServer server;
  std::string seen_body, seen_header, seen_method;
  server.http().Post("/echo", [&](const httplib::Request& req, httplib::Response& res) {
    seen_body = req.body;
    seen_header = req.get_header_value("X-Token");
    res.status = 201;
    res.set_content("{}", "application/json");
  });
  server.start();
  HttpClient client;
  HttpRequest req;
  req.method = "POST";
  req.url = server.url("/echo");
  req.headers.add("X-Token", "abc\r\nInjected: 1");  // a line break must not forge a header
  req.headers.add("Content-Type", "application/json");
  req.body = R"({"a":1})";
  auto res = client.send(req);
  ASSERT_TRUE(res.ok()) << res.error().to_string();
  EXPECT_EQ(res->status, 201);
  EXPECT_EQ(seen_body, R"({"a":1})");
  EXPECT_EQ(seen_header, "abcInjected: 1");
}

TEST(HttpClient, NonSuccessStatusIsAValueNotAnError) {
  LocalServer server;
  server.http().Get("/missing", [](const httplib::Request&, httplib::Response& res) {
    res.status = 404;
    res.set_content("nope", "text/plain");
  });
  server.start();
  HttpClient client;
  HttpRequest req;
  req.url = server.url("/missing");
  auto res = client.send(req);
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->status, 404);
  EXPECT_EQ(res->body, "nope");
}

TEST(HttpClient, RangeRequestResumesFromOffset) {
  LocalServer server;
  const std::string content = "0123456789";
  std::string seen_range;
  // cpp-httplib answers Range requests itself (206 with the slice, 416 past the end).
  server.http().Get("/file", [&](const httplib::Request& req, httplib::Response& res) {
    seen_range = req.get_header_value("Range");
    res.set_content(content, "application/octet-stream");
  });
  server.start();
  HttpClient client;
  HttpRequest req;
  req.url = server.url("/file");
  req.range_start = 4;
  int start_status = 0;
  std::string streamed;
  req.on_response_start = [&](int status, const HttpHeaders& h) {
    start_status = status;
    return h.contains("content-range");
  };
  req.on_body = [&](std::string_view chunk) {
    streamed.append(chunk);
    return true;
  };
  auto res = client.send(req);
  ASSERT_TRUE(res.ok()) << res.error().to_string();
  EXPECT_EQ(seen_range, "bytes=4-");
  EXPECT_EQ(res->status, 206);
  EXPECT_EQ(start_status, 206);
  EXPECT_EQ(streamed, "456789");
  EXPECT_EQ(res->sink_bytes, 6u);

  req.range_start = 10;
  streamed.clear();
  auto past_end = client.send(req);
  ASSERT_TRUE(past_end.ok()) << past_end.error().to_string();
  EXPECT_EQ(past_end->status, 416);
  EXPECT_TRUE(streamed.empty());  // error bodies never reach the sink
}

TEST(HttpClient, ErrorBodyOfStreamedRequestIsKeptNotStreamed) {
  LocalServer server;
  server.http().Post("/stream", [](const httplib::Request&, httplib::Response& res) {
    res.status = 429;
    res.set_content(R"({"error":{"message":"slow down"}})", "application/json");
  });
  server.start();
  HttpClient client;
  HttpRequest req;
  req.method = "POST";
  req.url = server.url("/stream");
  bool sink_called = false;
  req.on_body = [&](std::string_view) { return sink_called = true; };
  auto res = client.send(req);
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->status, 429);
  EXPECT_FALSE(sink_called);
  EXPECT_NE(res->body.find("slow down"), std::string::npos);
}

TEST(HttpClient, FollowsRedirects) {
  LocalServer server;
  server.http().Get("/old",
                    [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/new", 302); });
  server.http().Get("/new", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("moved here", "text/plain");
  });
  server.start();
  HttpClient client;
  HttpRequest req;
  req.url = server.url("/old");
  auto res = client.send(req);
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "moved here");
  EXPECT_EQ(res->effective_url, server.url("/new"));
}

TEST(HttpClient, AuthorizationIsDroppedOnCrossHostRedirect) {
  LocalServer target;  // reached as "localhost": another host name than 127.0.0.1
  std::string target_auth = "unset", same_host_auth = "unset";
  target.http().Get("/file", [&](const httplib::Request& req, httplib::Response& res) {
    target_auth = req.get_header_value("Authorization");
    res.set_content("data", "text/plain");
  });
  target.start("127.0.0.1");
  LocalServer origin;
  const std::string cross = "http://localhost:" + std::to_string(target.port()) + "/file";
  origin.http().Get("/cross",
                    [&](const httplib::Request&, httplib::Response& res) { res.set_redirect(cross, 302); });
  origin.http().Get("/same",
                    [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/here", 302); });
  origin.http().Get("/here", [&](const httplib::Request& req, httplib::Response& res) {
    same_host_auth = req.get_header_value("Authorization");
    res.set_content("ok", "text/plain");
  });
  origin.start();
  HttpClient client;
  HttpRequest req;
  req.headers.add("Authorization", "Bearer secret-token");
  req.url = origin.url("/same");
  auto same = client.send(req);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same_host_auth, "Bearer secret-token");

  req.url = origin.url("/cross");
  auto res = client.send(req);
  ASSERT_TRUE(res.ok()) << res.error().to_string();
  EXPECT_EQ(res->body, "data");
  EXPECT_EQ(target_auth, "");
}

TEST(HttpClient, ReusesTheConnectionAcrossRequests) {
  LocalServer server(/*keep_alive=*/true);
  std::mutex m;
  std::set<int> ports;
  server.http().Get("/x", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(m);
    ports.insert(req.remote_port);
    res.set_content("x", "text/plain");
  });
  server.start();
  HttpClient client;
  HttpRequest req;
  req.url = server.url("/x");
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(client.send(req).ok());
  EXPECT_EQ(ports.size(), 1u);
}

TEST(HttpClient, SinkReturningFalseClosesTheConnection) {
  LocalServer server;
  server.http().Get("/stream", [&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("text/plain", [&](size_t, httplib::DataSink& sink) {
      for (int i = 0; i < 200; ++i) {
        if (!sink.is_writable() || !sink.write("chunk\n", 6)) {
          ++server.disconnects;
          return false;
        }
        std::this_thread::sleep_for(20ms);
      }
      sink.done();
      return true;
    });
  });
  server.start();
  HttpClient client;
  HttpRequest req;
  req.url = server.url("/stream");
  int pieces = 0;
  req.on_body = [&](std::string_view) { return ++pieces < 3; };
  auto outcome = client.perform(req);
  EXPECT_EQ(outcome.error, TransportError::cancelled);
  EXPECT_EQ(error_code_for(outcome.error), ErrorCode::cancelled);
  for (int i = 0; i < 200 && server.disconnects.load() == 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(server.disconnects.load(), 1);
}

TEST(HttpClient, StopTokenCancelsAWaitingRequest) {
  LocalServer server;
  server.http().Get("/slow", [&](const httplib::Request&, httplib::Response& res) {
    server.hang();
    res.set_content("late", "text/plain");
  });
  server.start();
  HttpClient client;
  HttpRequest req;
  req.url = server.url("/slow");
  std::stop_source stop;
  std::thread canceller([&] {
    std::this_thread::sleep_for(100ms);
    stop.request_stop();
  });
  auto outcome = client.perform(req, stop.get_token());
  canceller.join();
  EXPECT_EQ(outcome.error, TransportError::cancelled);
}

TEST(HttpClient, IdleTimeoutFiresWhenTheServerGoesSilent) {
  LocalServer server;
  server.http().Get("/silent", [&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("text/plain", [&](size_t, httplib::DataSink& sink) {
      sink.write("first", 5);
      server.hang();
      return false;
    });
  });
  server.start();
  HttpClient client;
  HttpRequest req;
  req.url = server.url("/silent");
  req.idle_timeout = 200ms;
  std::string got;
  req.on_body = [&](std::string_view c) {
    got.append(c);
    return true;
  };
  auto outcome = client.perform(req);
  EXPECT_EQ(outcome.error, TransportError::idle_timeout);
  EXPECT_EQ(error_code_for(outcome.error), ErrorCode::timeout);
  EXPECT_EQ(got, "first");
}

TEST(HttpClient, WholeRequestTimeoutFires) {
  LocalServer server;
  server.http().Get("/never", [&](const httplib::Request&, httplib::Response& res) { server.hang(); });
  server.start();
  HttpClient client;
  HttpRequest req;
  req.url = server.url("/never");
  req.timeout = 200ms;
  auto res = client.send(req);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code(), ErrorCode::timeout);
  EXPECT_NE(res.error().message().find("/never"), std::string::npos);
}

TEST(HttpClient, RefusedConnectionIsUnavailable) {
  int port = 0;
  {
    LocalServer gone;
    gone.start();
    port = gone.port();
  }
  HttpClient client;
  HttpRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(port) + "/x";
  auto outcome = client.perform(req);
  EXPECT_EQ(outcome.error, TransportError::connect);
  EXPECT_EQ(error_code_for(outcome.error), ErrorCode::unavailable);
}

TEST(HttpClient, BodyOverTheLimitFails) {
  LocalServer server;
  server.http().Get("/big", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(100000, 'x'), "text/plain");
  });
  server.start();
  HttpClient client;
  HttpRequest req;
  req.url = server.url("/big");
  req.max_body_bytes = 1000;
  auto outcome = client.perform(req);
  EXPECT_EQ(outcome.error, TransportError::too_large);
}

TEST(HttpClient, RejectsNonHttpSchemes) {
  HttpClient client;
  HttpRequest req;
  req.url = "file:///etc/passwd";
  auto outcome = client.perform(req);
  EXPECT_EQ(outcome.error, TransportError::invalid_request);
}

TEST(HttpClient, ManyThreadsShareOneClient) {
  LocalServer server;
  server.http().Get("/n", [](const httplib::Request& req, httplib::Response& res) {
    res.set_content(req.get_param_value("i"), "text/plain");
  });
  server.start();
  HttpClient client;
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        HttpRequest req;
        req.url = server.url("/n?i=" + std::to_string(t * 100 + i));
        auto res = client.send(req);
        if (res.ok() && res->body == std::to_string(t * 100 + i)) ++good;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(good.load(), 80);
}

TEST(HttpClient, RedactUrlDropsQueryAndUserInfo) {
  EXPECT_EQ(redact_url("https://user:pw@host:1/p/a?key=secret#x"), "https://host:1/p/a");
  EXPECT_EQ(redact_url("http://host/p"), "http://host/p");
}

}  // namespace
}  // namespace xervo::net
