// The openai provider against misbehaving servers: rate limits, server errors, dropped and silent
// connections, malformed bodies, bad keys, unknown models, cancellation, and fallbacks.
#include <gtest/gtest.h>

#include <thread>

#include "providers/openai/fake_openai.h"
#include "xervo/runtime.h"

namespace xervo {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::LocalServer;

constexpr const char* kOneEmbedding =
    R"({"data":[{"index":0,"embedding":[0.5,0.25]}],"usage":{"prompt_tokens":1}})";

class OpenAiFaults : public ::testing::Test {
 protected:
  void SetUp() override { setenv(testing::kTestKeyEnv, testing::kTestKey, 1); }
  void TearDown() override {
    unsetenv(testing::kTestKeyEnv);
    server.release();
  }
  LoadedModel load(ModelTask task, json extra = json::object()) {
    auto provider = make_openai_provider(testing::openai_settings(server, std::move(extra)));
    auto loaded = provider->load(testing::openai_spec(task), {});
    EXPECT_TRUE(loaded.ok()) << loaded.error().to_string();
    return loaded.ok() ? *loaded : LoadedModel{};
  }
  Result<Embeddings> embed_one(json extra = json::object()) {
    auto model = load(ModelTask::embed, std::move(extra));
    std::vector<std::string> inputs = {"hello"};
    return model.embedding->embed(inputs);
  }
  Result<GenerateResult> stream(std::vector<std::string>* pieces = nullptr, json extra = json::object()) {
    auto model = load(ModelTask::generate, std::move(extra));
    GenerateRequest req;
    req.prompt = "hi";
    return model.generator->generate(req, [&](std::string_view p) {
      if (pieces) pieces->emplace_back(p);
      return true;
    });
  }

  LocalServer server;
};

TEST_F(OpenAiFaults, RateLimitWithRetryAfterIsRetriedThenSucceeds) {
  server.http().Post("/v1/embeddings", [&](const httplib::Request&, httplib::Response& res) {
    if (++server.requests == 1) {
      res.status = 429;
      res.set_header("Retry-After", "0");
      res.set_content(R"({"error":{"message":"Rate limit reached","type":"requests"}})", "application/json");
      return;
    }
    res.set_content(kOneEmbedding, "application/json");
  });
  server.start();
  auto r = embed_one();
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(server.requests.load(), 2);
  EXPECT_EQ(r->vectors[0], (std::vector<float>{0.5f, 0.25f}));
}

TEST_F(OpenAiFaults, RateLimitAfterAllRetriesIsRateLimited) {
  server.http().Post("/v1/embeddings", [&](const httplib::Request&, httplib::Response& res) {
    ++server.requests;
    res.status = 429;
    res.set_content(R"({"error":{"message":"Rate limit reached"}})", "application/json");
  });
  server.start();
  auto r = embed_one();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::rate_limited);
  EXPECT_EQ(server.requests.load(), 3);
  EXPECT_NE(r.error().message().find("after 3 attempts"), std::string::npos) << r.error().message();
}

TEST_F(OpenAiFaults, ServerErrorIsRetriedThenSucceeds) {
  server.http().Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
    if (++server.requests == 1) {
      res.status = 500;
      res.set_content("internal oops", "text/plain");
      return;
    }
    res.set_content(testing::chat_stream({"ok"}), "text/event-stream");
  });
  server.start();
  auto r = stream();
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->text, "ok");
  EXPECT_EQ(server.requests.load(), 2);
}

TEST_F(OpenAiFaults, ConnectionDroppedMidStreamIsUnavailable) {
  server.http().Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
    ++server.requests;
    res.set_chunked_content_provider("text/event-stream", [](size_t, httplib::DataSink& sink) {
      const std::string first = testing::chat_stream({"partial"}, false);
      sink.write(first.data(), first.size());
      return false;  // closes the connection without the terminating chunk
    });
  });
  server.start();
  std::vector<std::string> pieces;
  auto r = stream(&pieces);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::unavailable) << r.error().to_string();
  EXPECT_EQ(pieces, std::vector<std::string>{"partial"});
  EXPECT_EQ(server.requests.load(), 1);  // output already reached the caller: no retry
}

TEST_F(OpenAiFaults, StreamEndingWithoutDoneIsInferenceFailed) {
  server.http().Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(testing::chat_stream({"a", "b"}, false), "text/event-stream");
  });
  server.start();
  auto r = stream();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::inference_failed);
  EXPECT_NE(r.error().message().find("[DONE]"), std::string::npos) << r.error().message();
}

TEST_F(OpenAiFaults, ErrorEventInsideAStreamIsInferenceFailed) {
  server.http().Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content("data: {\"error\":{\"message\":\"engine died\"}}\n\n", "text/event-stream");
  });
  server.start();
  auto r = stream();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::inference_failed);
  EXPECT_NE(r.error().message().find("engine died"), std::string::npos);
}

TEST_F(OpenAiFaults, ServerThatNeverAnswersTimesOut) {
  server.http().Post("/v1/embeddings", [&](const httplib::Request&, httplib::Response&) {
    ++server.requests;
    server.hang();
  });
  server.start();
  const auto start = std::chrono::steady_clock::now();
  auto r = embed_one({{"timeout_ms", 300}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::timeout) << r.error().to_string();
  EXPECT_EQ(server.requests.load(), 1);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);  // a bound against hanging, not a timing check
}

TEST_F(OpenAiFaults, SilentStreamHitsTheIdleTimeout) {
  server.http().Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("text/event-stream", [&](size_t, httplib::DataSink& sink) {
      const std::string first = testing::chat_stream({"x"}, false);
      sink.write(first.data(), first.size());
      server.hang();
      return false;
    });
  });
  server.start();
  auto r = stream(nullptr, {{"stream_idle_timeout_ms", 200}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::timeout);
}

TEST_F(OpenAiFaults, AStopRequestEndsAnEmbeddingCallTheServerNeverAnswers) {
  server.http().Post("/v1/embeddings", [&](const httplib::Request&, httplib::Response&) { server.hang(); });
  server.start();
  auto model = load(ModelTask::embed);
  std::stop_source stop;
  EmbedOptions o;
  o.cancel = stop.get_token();
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    stop.request_stop();
  });
  std::vector<std::string> inputs = {"hello"};
  auto r = model.embedding->embed(inputs, o);
  canceller.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::cancelled);
}

TEST_F(OpenAiFaults, MalformedJsonIsInferenceFailedWithAnExcerpt) {
  server.http().Post("/v1/embeddings", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content("<html>gateway page " + std::string(1000, 'x') + "</html>", "text/html");
  });
  server.start();
  auto r = embed_one();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::inference_failed);
  EXPECT_NE(r.error().message().find("<html>gateway page"), std::string::npos);
  EXPECT_LT(r.error().message().size(), 600u);
}

TEST_F(OpenAiFaults, WrongShapeIsInferenceFailed) {
  server.http().Post("/v1/embeddings", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"data":[{"index":0,"embedding":"AAAA"}]})", "application/json");
  });
  server.start();
  auto r = embed_one();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::inference_failed);
  EXPECT_NE(r.error().message().find("embedding"), std::string::npos);
}

TEST_F(OpenAiFaults, UnauthorizedNamesTheVariableAndHidesTheKey) {
  server.http().Post("/v1/embeddings", [&](const httplib::Request& req, httplib::Response& res) {
    ++server.requests;
    res.status = 401;
    // Servers echo the key back; it must not reach the message.
    res.set_content(
        json({{"error",
               {{"message", "Incorrect API key provided: " + req.get_header_value("Authorization")},
                {"code", "invalid_api_key"}}}})
            .dump(),
        "application/json");
  });
  server.start();
  auto r = embed_one();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::unauthorized);
  EXPECT_NE(r.error().message().find(testing::kTestKeyEnv), std::string::npos) << r.error().message();
  EXPECT_EQ(r.error().message().find("0123456789abcdef"), std::string::npos) << r.error().message();
  EXPECT_EQ(server.requests.load(), 1);  // never retried
}

TEST_F(OpenAiFaults, UnknownModelIsModelNotFound) {
  server.http().Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
    ++server.requests;
    res.status = 404;
    res.set_content(
        R"({"error":{"message":"The model `test-model` does not exist","code":"model_not_found"}})",
        "application/json");
  });
  server.start();
  auto r = stream();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::model_not_found);
  EXPECT_NE(r.error().message().find("test-model"), std::string::npos);
  EXPECT_EQ(server.requests.load(), 1);
}

TEST_F(OpenAiFaults, ContextLengthErrorIsContextOverflow) {
  server.http().Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
    res.status = 400;
    res.set_content(R"({"error":{"message":"too long","code":"context_length_exceeded"}})",
                    "application/json");
  });
  server.start();
  auto r = stream();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::context_overflow);
}

TEST_F(OpenAiFaults, InputTooLargeIsContextOverflowWithoutRetries) {
  server.http().Post("/v1/embeddings", [&](const httplib::Request&, httplib::Response& res) {
    ++server.requests;
    res.status = 500;  // what llama-server answers for an input longer than its batch
    res.set_content(
        R"({"error":{"code":500,"message":"input (402 tokens) is too large to process. increase the physical batch size","type":"server_error"}})",
        "application/json");
  });
  server.start();
  auto r = embed_one();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::context_overflow);
  EXPECT_EQ(server.requests.load(), 1);
}

TEST_F(OpenAiFaults, UnreachableServerIsUnavailable) {
  int port = 0;
  {
    LocalServer gone;
    gone.start();
    port = gone.port();
  }
  auto provider = make_openai_provider({{"base_url", "http://127.0.0.1:" + std::to_string(port) + "/v1"},
                                        {"retry", {{"max_attempts", 2}, {"base_delay_ms", 1}}}});
  auto loaded = provider->load(testing::openai_spec(ModelTask::embed), {});
  ASSERT_TRUE(loaded.ok());
  std::vector<std::string> inputs = {"x"};
  auto r = loaded->embedding->embed(inputs);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::unavailable);
}

// A stream that would run for seconds; counts the client going away.
void serve_endless_stream(LocalServer& server) {
  server.http().Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("text/event-stream", [&](size_t, httplib::DataSink& sink) {
      const std::string piece = testing::chat_stream({"tok "}, false);
      for (int i = 0; i < 500; ++i) {
        if (!sink.is_writable() || !sink.write(piece.data(), piece.size())) {
          ++server.disconnects;
          return false;
        }
        std::this_thread::sleep_for(10ms);
      }
      sink.done();
      return true;
    });
  });
}

void wait_for_disconnect(LocalServer& server) {
  for (int i = 0; i < 300 && server.disconnects.load() == 0; ++i) std::this_thread::sleep_for(10ms);
}

TEST_F(OpenAiFaults, CallbackCancellingClosesTheConnection) {
  serve_endless_stream(server);
  server.start();
  auto model = load(ModelTask::generate);
  GenerateRequest req;
  req.prompt = "go";
  int pieces = 0;
  auto r = model.generator->generate(req, [&](std::string_view) { return ++pieces < 3; });
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->finish_reason, FinishReason::cancelled);
  EXPECT_EQ(r->text, "tok tok tok ");
  wait_for_disconnect(server);
  EXPECT_EQ(server.disconnects.load(), 1);
}

TEST_F(OpenAiFaults, StopTokenCancelsAStreamAndClosesTheConnection) {
  serve_endless_stream(server);
  server.start();
  auto model = load(ModelTask::generate);
  GenerateRequest req;
  req.prompt = "go";
  std::stop_source stop;
  req.cancel = stop.get_token();
  int pieces = 0;
  auto r = model.generator->generate(req, [&](std::string_view) {
    if (++pieces == 2) stop.request_stop();
    return true;
  });
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->finish_reason, FinishReason::cancelled);
  wait_for_disconnect(server);
  EXPECT_EQ(server.disconnects.load(), 1);
}

TEST_F(OpenAiFaults, RuntimeFallsBackToASecondServerOn503) {
  server.http().Post("/v1/embeddings", [&](const httplib::Request&, httplib::Response& res) {
    ++server.requests;
    res.status = 503;
    res.set_content(R"({"error":{"message":"overloaded"}})", "application/json");
  });
  server.start();
  LocalServer backup;
  backup.http().Post("/v1/embeddings", [&](const httplib::Request&, httplib::Response& res) {
    ++backup.requests;
    res.set_content(kOneEmbedding, "application/json");
  });
  backup.start();

  auto primary = testing::openai_spec(ModelTask::embed, "m", "embed/primary");
  primary.fallbacks = {"embed/backup"};
  auto secondary = testing::openai_spec(ModelTask::embed, "m", "embed/backup");
  secondary.options = {{"base_url", backup.url("/v1")}};
  RuntimeBuilder builder;
  builder.add_provider(make_openai_provider(testing::openai_settings(server)));
  builder.add_spec(primary);
  builder.add_spec(secondary);
  auto runtime = builder.build();
  ASSERT_TRUE(runtime.ok()) << runtime.error().to_string();
  auto handle = (*runtime)->embedding("embed/primary");
  ASSERT_TRUE(handle.ok()) << handle.error().to_string();
  std::vector<std::string> inputs = {"x"};
  auto r = (*handle)->embed(inputs);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->served_by, "embed/backup");
  EXPECT_EQ(server.requests.load(), 3);  // the primary was retried before falling back
  EXPECT_EQ(backup.requests.load(), 1);
}

}  // namespace
}  // namespace xervo
