// /v1/batches over HTTP: a batch of good and bad lines completes with the right request_counts and
// every custom_id exactly once across the output and error files; failing lines are retried, then
// reach the error file; cancel; a server stopped in the middle of a batch resumes it on restart
// with no line lost or answered twice.
#include "batch_fixture.h"
#include "otlp_collector.h"

namespace xervo::testing {
namespace {

using nlohmann::json;

// custom_id -> how many times it appears in the lines.
std::map<std::string, int> custom_ids(const std::vector<json>& lines) {
  std::map<std::string, int> out;
  for (const auto& l : lines)
    out[l["custom_id"].is_string() ? l["custom_id"].get<std::string>() : "<null>"]++;
  return out;
}

TEST_F(BatchTest, MixedGoodAndBadLinesCompleteWithTheRightCounts) {
  start_batch_server();
  std::string input;
  for (int i = 0; i < 5; ++i)
    input += chat_line("good-" + std::to_string(i), "chat/test", "hello " + std::to_string(i));
  input += "this is not json\n";
  input += chat_line("unknown-model", "chat/nope", "x");
  input += chat_line("good-0", "chat/test", "duplicate id");
  input +=
      json{
          {"custom_id", "wrong-url"}, {"method", "POST"}, {"url", "/v1/embeddings"}, {"body", json::object()}}
          .dump() +
      "\n";
  input += json{{"custom_id", "wrong-method"},
                {"method", "GET"},
                {"url", "/v1/chat/completions"},
                {"body", json::object()}}
               .dump() +
           "\n";
  input += chat_line("fails", "chat/fail", "x");
  input += "\n";  // blank lines are skipped
  input += chat_line("bad-body", "chat/test", "x").replace(0, 0, "");
  std::string file = upload(input);
  auto created = create_batch(file);
  EXPECT_EQ(created["object"], "batch");
  EXPECT_EQ(created["status"], "validating");
  EXPECT_EQ(created["endpoint"], "/v1/chat/completions");
  EXPECT_EQ(created["completion_window"], "24h");
  EXPECT_EQ(created["input_file_id"], file);
  EXPECT_EQ(created["expires_at"].get<int64_t>() - created["created_at"].get<int64_t>(), 24 * 3600);

  auto done = wait_final(created["id"]);
  ASSERT_EQ(done["status"], "completed") << done.dump();
  EXPECT_EQ(done["request_counts"]["total"], 12) << done.dump();
  EXPECT_EQ(done["request_counts"]["completed"], 6) << done.dump();  // 5 good + bad-body's line is valid
  EXPECT_EQ(done["request_counts"]["failed"], 6) << done.dump();
  EXPECT_TRUE(done["in_progress_at"].is_number());
  EXPECT_TRUE(done["finalizing_at"].is_number());
  EXPECT_TRUE(done["completed_at"].is_number());

  auto output = file_lines(done["output_file_id"]);
  auto errors = file_lines(done["error_file_id"]);
  ASSERT_EQ(output.size(), 6u);
  ASSERT_EQ(errors.size(), 6u);
  for (const auto& l : output) {
    EXPECT_TRUE(l["id"].get<std::string>().starts_with("batch_req_"));
    EXPECT_EQ(l["response"]["status_code"], 200) << l.dump();
    EXPECT_EQ(l["response"]["body"]["object"], "chat.completion") << l.dump();
    EXPECT_TRUE(l["error"].is_null());
  }
  auto ids = custom_ids(output);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(ids["good-" + std::to_string(i)], 1);
  // The first good-0 ran; the later line with the same custom_id is an error line.
  auto err = custom_ids(errors);
  EXPECT_EQ(err["good-0"], 1);
  EXPECT_EQ(err["<null>"], 1);  // the malformed line has no custom_id
  for (const char* id : {"unknown-model", "wrong-url", "wrong-method", "fails"}) EXPECT_EQ(err[id], 1) << id;
  std::map<std::string, json> by_id;
  for (const auto& l : errors)
    by_id[l["custom_id"].is_string() ? l["custom_id"].get<std::string>() : "<null>"] = l;
  EXPECT_EQ(by_id["<null>"]["error"]["code"], "invalid_json");
  EXPECT_EQ(by_id["good-0"]["error"]["code"], "duplicate_custom_id");
  EXPECT_EQ(by_id["wrong-url"]["error"]["code"], "invalid_url");
  EXPECT_EQ(by_id["wrong-method"]["error"]["code"], "invalid_method");
  EXPECT_EQ(by_id["unknown-model"]["response"]["status_code"], 404) << by_id["unknown-model"].dump();
  EXPECT_EQ(by_id["fails"]["response"]["status_code"], 500) << by_id["fails"].dump();
  // A 5xx line is tried batch_max_attempts times before it goes to the error file.
  EXPECT_EQ(probe->started.load(), 5 + 1 + options.batch_max_attempts);

  auto listed = json::parse(get("/v1/batches")->body);
  ASSERT_EQ(listed["data"].size(), 1u);
  EXPECT_EQ(listed["data"][0]["id"], done["id"]);
  // The results are files like any other (purpose batch_output).
  auto out_file = json::parse(get("/v1/files/" + done["output_file_id"].get<std::string>())->body);
  EXPECT_EQ(out_file["purpose"], "batch_output");
}

TEST_F(BatchTest, EmbeddingBatches) {
  start_batch_server();
  std::string input;
  for (int i = 0; i < 3; ++i)
    input += json{{"custom_id", "e" + std::to_string(i)},
                  {"method", "POST"},
                  {"url", "/v1/embeddings"},
                  {"body", {{"model", "embed/test"}, {"input", std::string(i + 1, 'x')}}}}
                 .dump() +
             "\n";
  auto done = wait_final(create_batch(upload(input), "/v1/embeddings")["id"]);
  ASSERT_EQ(done["status"], "completed") << done.dump();
  auto output = file_lines(done["output_file_id"]);
  ASSERT_EQ(output.size(), 3u);
  for (const auto& l : output) EXPECT_EQ(l["response"]["body"]["data"][0]["object"], "embedding");
  EXPECT_TRUE(done["error_file_id"].is_null());
}

TEST_F(BatchTest, EachLineIsARequestSpanUnderTheBatchsSpan) {
  Collector collector;
  options.telemetry.enabled = true;
  options.telemetry.traces_endpoint = collector.url();
  options.telemetry.export_interval = std::chrono::milliseconds(5);
  start_batch_server();
  std::string input;
  for (int i = 0; i < 2; ++i)
    input += json{{"custom_id", "e" + std::to_string(i)},
                  {"method", "POST"},
                  {"url", "/v1/embeddings"},
                  {"body", {{"model", "embed/test"}, {"input", "x"}}}}
                 .dump() +
             "\n";
  const std::string id = create_batch(upload(input), "/v1/embeddings")["id"];
  ASSERT_EQ(wait_final(id)["status"], "completed");
  server->stop();  // sends what is queued
  auto spans = collector.spans();
  const json* batch = named(spans, "batch");
  ASSERT_TRUE(batch) << json(spans).dump(1);
  EXPECT_EQ(attr(*batch, "xervo.batch.id"), json(id).dump());
  EXPECT_EQ(attr(*batch, "xervo.batch.status"), "\"completed\"");
  EXPECT_EQ(attr(*batch, "xervo.batch.completed"), "\"2\"");
  int lines = 0;
  for (const auto& s : spans) {
    if (s["name"] != "POST /v1/embeddings" || s.value("parentSpanId", "") != (*batch)["spanId"]) continue;
    ++lines;
    EXPECT_EQ(s["traceId"], (*batch)["traceId"]);
    EXPECT_EQ(attr(s, "gen_ai.request.model"), "\"embed/test\"");
  }
  EXPECT_EQ(lines, 2) << json(spans).dump(1);
}

TEST_F(BatchTest, BadRequestsAreRefused) {
  start_batch_server();
  std::string file = upload(chat_line("a", "chat/test", "x"));
  auto code_of = [&](const json& body) {
    auto r = post("/v1/batches", body);
    return r ? r->status : 0;
  };
  EXPECT_EQ(code_of({{"input_file_id", file}, {"endpoint", "/v1/rerank"}}), 400);
  EXPECT_EQ(code_of({{"input_file_id", file}, {"endpoint", "/v1/embeddings"}, {"completion_window", "1h"}}),
            400);
  EXPECT_EQ(code_of({{"input_file_id", "file-nope"}, {"endpoint", "/v1/embeddings"}}), 404);
  EXPECT_EQ(code_of({{"endpoint", "/v1/embeddings"}}), 400);
  EXPECT_EQ(code_of({{"input_file_id", file}, {"endpoint", "/v1/embeddings"}, {"metadata", {{"k", 1}}}}),
            400);
  EXPECT_EQ(get("/v1/batches/batch_nope")->status, 404);
  EXPECT_EQ(post("/v1/batches/batch_nope/cancel", json::object())->status, 404);
  EXPECT_EQ(get("/v1/batches?limit=0")->status, 400);
  // An empty file fails the batch as a whole.
  auto empty = wait_final(create_batch(upload("\n\n"))["id"]);
  EXPECT_EQ(empty["status"], "failed");
  EXPECT_EQ(empty["errors"]["data"][0]["code"], "empty_file") << empty.dump();
  // Metadata comes back as given.
  auto r = post(
      "/v1/batches",
      {{"input_file_id", file}, {"endpoint", "/v1/chat/completions"}, {"metadata", {{"job", "nightly"}}}});
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["metadata"]["job"], "nightly");
  EXPECT_EQ(json::parse(r->body)["request_counts"]["total"], 0);
}

TEST_F(BatchTest, CountBoundsAreEnforced) {
  options.max_batch_lines = 2;
  options.max_files = 2;
  start_batch_server();
  std::string three =
      chat_line("a", "chat/test", "x") + chat_line("b", "chat/test", "x") + chat_line("c", "chat/test", "x");
  auto done = wait_final(create_batch(upload(three))["id"]);
  EXPECT_EQ(done["status"], "failed");
  EXPECT_EQ(done["errors"]["data"][0]["code"], "too_many_requests") << done.dump();
  upload("second\n");
  auto third =
      upload_raw("multipart/form-data; boundary=b5", multipart_body("b5", "batch", "t.jsonl", "x\n"));
  ASSERT_TRUE(third);
  EXPECT_EQ(third->status, 400);
  EXPECT_NE(error_message(third).find("max_files"), std::string::npos) << third->body;
}

TEST_F(BatchTest, CancelKeepsTheAnswersSoFar) {
  latch->answer_first = 2;
  start_batch_server();
  std::string input;
  for (int i = 0; i < 6; ++i)
    input += chat_line("c" + std::to_string(i), "chat/latch", "p" + std::to_string(i));
  std::string id = create_batch(upload(input))["id"];
  // Two lines answered, the third held at the latch.
  ASSERT_TRUE(Probe::eventually([&] {
    std::lock_guard lock(latch->mu);
    return latch->held == 1;
  }));
  auto r = post("/v1/batches/" + id + "/cancel", json::object());
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["status"], "cancelling");
  latch->release();  // the running line finishes; no later line starts
  auto done = wait_final(id);
  ASSERT_EQ(done["status"], "cancelled") << done.dump();
  EXPECT_TRUE(done["cancelling_at"].is_number());
  EXPECT_TRUE(done["cancelled_at"].is_number());
  EXPECT_EQ(done["request_counts"]["completed"], 3);
  EXPECT_EQ(file_lines(done["output_file_id"]).size(), 3u);
  {
    std::lock_guard lock(latch->mu);
    EXPECT_EQ(latch->calls, 3);
  }
  // A final batch cannot be cancelled again.
  EXPECT_EQ(post("/v1/batches/" + id + "/cancel", json::object())->status, 409);
}

TEST_F(BatchTest, AStoppedServerResumesTheBatchWithNoLineLostOrDoubled) {
  latch->answer_first = 3;
  start_batch_server();
  const int kLines = 8;
  std::string input;
  for (int i = 0; i < kLines; ++i)
    input += chat_line("r" + std::to_string(i), "chat/latch", "p" + std::to_string(i));
  std::string id = create_batch(upload(input))["id"];
  ASSERT_TRUE(Probe::eventually([&] {
    std::lock_guard lock(latch->mu);
    return latch->held == 1;
  }));
  EXPECT_EQ(get_batch(id)["request_counts"]["completed"], 3);
  server.reset();  // stops the runner: the held line is cancelled and not recorded
  EXPECT_EQ(latch->answered_count("p3"), 0);

  latch->release();
  start_batch_server();
  auto done = wait_final(id);
  ASSERT_EQ(done["status"], "completed") << done.dump();
  EXPECT_EQ(done["request_counts"]["total"], kLines);
  EXPECT_EQ(done["request_counts"]["completed"], kLines);
  EXPECT_EQ(done["request_counts"]["failed"], 0);
  auto output = file_lines(done["output_file_id"]);
  ASSERT_EQ(output.size(), static_cast<size_t>(kLines));
  auto ids = custom_ids(output);
  for (int i = 0; i < kLines; ++i) {
    EXPECT_EQ(ids["r" + std::to_string(i)], 1) << i;
    // Each line's generation ran to its end exactly once, across both servers.
    EXPECT_EQ(latch->answered_count("p" + std::to_string(i)), 1) << i;
  }
}

TEST_F(BatchTest, BatchLinesRunThroughTheRoutesWithTheServersValidation) {
  start_batch_server();
  // max_tokens over the server's cap: the same 400 as over HTTP.
  std::string line = json{{"custom_id", "big"},
                          {"method", "POST"},
                          {"url", "/v1/chat/completions"},
                          {"body",
                           {{"model", "chat/test"},
                            {"max_tokens", options.max_tokens + 1},
                            {"messages", {{{"role", "user"}, {"content", "x"}}}}}}}
                         .dump();
  auto over_http = post("/v1/chat/completions", json::parse(line)["body"]);
  auto done = wait_final(create_batch(upload(line + "\n"))["id"]);
  auto errors = file_lines(done["error_file_id"]);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0]["response"]["status_code"], over_http->status);
  EXPECT_EQ(errors[0]["response"]["body"]["error"]["message"], error_message(over_http));
}

}  // namespace
}  // namespace xervo::testing
