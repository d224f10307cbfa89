// /v1/files over HTTP: upload (multipart, like the SDKs), list, get, content, delete; hostile
// multipart bodies get a 400 that says what is wrong, oversized uploads a 413; files persist
// across a restart on the same batch_dir.
#include "batch_fixture.h"

namespace xervo::testing {
namespace {

using nlohmann::json;

TEST_F(BatchTest, UploadListGetContentDelete) {
  start_batch_server();
  const std::string content = "{\"custom_id\": \"a\"}\n{\"custom_id\": \"b\"}\n";
  auto r = upload_raw("multipart/form-data; boundary=xervoBoundary42",
                      multipart_body("xervoBoundary42", "batch", "dir/requests.jsonl", content));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto file = json::parse(r->body);
  std::string id = file["id"];
  EXPECT_TRUE(id.starts_with("file-")) << id;
  EXPECT_EQ(file["object"], "file");
  EXPECT_EQ(file["bytes"], content.size());
  EXPECT_EQ(file["filename"], "requests.jsonl");  // the last path component only
  EXPECT_EQ(file["purpose"], "batch");

  std::string second = upload("x\n", "second.jsonl");
  auto list = get("/v1/files");
  ASSERT_EQ(list->status, 200) << list->body;
  auto listed = json::parse(list->body);
  ASSERT_EQ(listed["data"].size(), 2u);
  EXPECT_EQ(listed["data"][0]["id"], second);  // newest first
  EXPECT_EQ(listed["data"][1]["id"], id);
  auto page = json::parse(get("/v1/files?limit=1")->body);
  ASSERT_EQ(page["data"].size(), 1u);
  EXPECT_TRUE(page["has_more"].get<bool>());
  auto next = json::parse(get("/v1/files?limit=1&after=" + second)->body);
  ASSERT_EQ(next["data"].size(), 1u);
  EXPECT_EQ(next["data"][0]["id"], id);
  EXPECT_FALSE(next["has_more"].get<bool>());

  auto one = get("/v1/files/" + id);
  ASSERT_EQ(one->status, 200);
  EXPECT_EQ(json::parse(one->body)["bytes"], content.size());
  auto bytes = get("/v1/files/" + id + "/content");
  ASSERT_EQ(bytes->status, 200);
  EXPECT_EQ(bytes->body, content);

  auto del = client()->Delete(("/v1/files/" + id).c_str());
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 200) << del->body;
  EXPECT_TRUE(json::parse(del->body)["deleted"].get<bool>());
  EXPECT_EQ(get("/v1/files/" + id)->status, 404);
  EXPECT_EQ(get("/v1/files/" + id + "/content")->status, 404);
  EXPECT_EQ(client()->Delete(("/v1/files/" + id).c_str())->status, 404);
  EXPECT_FALSE(std::filesystem::exists(dir / "batches" / "files" / id));
}

TEST_F(BatchTest, FilesPersistAcrossARestart) {
  start_batch_server();
  std::string id = upload("{\"k\": 1}\n");
  server.reset();
  start_batch_server();
  auto bytes = get("/v1/files/" + id + "/content");
  ASSERT_TRUE(bytes);
  EXPECT_EQ(bytes->status, 200);
  EXPECT_EQ(bytes->body, "{\"k\": 1}\n");
}

TEST_F(BatchTest, OtherPurposesAreRefused) {
  start_batch_server();
  auto r =
      upload_raw("multipart/form-data; boundary=b0", multipart_body("b0", "fine-tune", "x.jsonl", "{}\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(error_message(r).find("purpose=batch"), std::string::npos) << r->body;
}

TEST_F(BatchTest, HostileMultipartBodiesGetAClear400) {
  start_batch_server();
  struct Case {
    std::string content_type, body, says;
  };
  const std::string ok = multipart_body("b1", "batch", "x.jsonl", "{}\n");
  std::string many;
  for (int i = 0; i < 1000; ++i) many += "--b1\r\nContent-Disposition: form-data; name=\"p\"\r\n\r\nv\r\n";
  many += "--b1--\r\n";
  const std::vector<Case> cases = {
      {"application/json", "{}", "multipart/form-data"},
      {"multipart/form-data", ok, "no boundary"},
      {"multipart/form-data; boundary=" + std::string(80, 'x'), ok, "1 to 70"},
      {"multipart/form-data; boundary=other", ok, "never appears"},
      {"multipart/form-data; boundary=b1", ok.substr(0, ok.size() - 12), "never closed"},
      {"multipart/form-data; boundary=b1", "--b1\r\nContent-Disposition: form-data; name=\"file\"",
       "never end"},
      {"multipart/form-data; boundary=b1", many, "more than 16 parts"},
      {"multipart/form-data; boundary=b1", "--b1\r\nX-Other: 1\r\n\r\ndata\r\n--b1--",
       "no Content-Disposition"},
      {"multipart/form-data; boundary=b1",
       "--b1\r\nContent-Disposition: form-data; name=\"file\"\r\n" + std::string(9000, 'h') +
           "\r\n\r\nx\r\n--b1--",
       "larger than"},
      {"multipart/form-data; boundary=b1",
       "--b1\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n--b1--", "no 'file' part"},
  };
  for (const auto& c : cases) {
    auto r = upload_raw(c.content_type, c.body);
    ASSERT_TRUE(r) << c.says;
    EXPECT_EQ(r->status, 400) << c.says << ": " << r->body;
    EXPECT_NE(error_message(r).find(c.says), std::string::npos) << c.says << ": " << r->body;
  }
  // Quoted boundaries and a preamble are fine.
  auto r = upload_raw("multipart/form-data; boundary=\"b 2\"",
                      "preamble\r\n" + multipart_body("b 2", "batch", "q.jsonl", "{}\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
}

TEST_F(BatchTest, UploadsAreBoundByMaxUploadBytesAndOtherRoutesByMaxBodyBytes) {
  options.max_body_bytes = 4096;
  options.max_upload_bytes = 64 * 1024;
  start_batch_server();
  std::string big(20000, 'x');  // over max_body_bytes, under max_upload_bytes
  auto r = upload_raw("multipart/form-data; boundary=b3", multipart_body("b3", "batch", "big.jsonl", big));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  auto chat = post_raw("/v1/chat/completions", big);
  ASSERT_TRUE(chat);
  EXPECT_EQ(chat->status, 413);
  auto huge = upload_raw("multipart/form-data; boundary=b3",
                         multipart_body("b3", "batch", "huge.jsonl", std::string(100000, 'x')));
  ASSERT_TRUE(huge);
  EXPECT_EQ(huge->status, 413);
  EXPECT_NE(huge->body.find("max_upload_bytes"), std::string::npos) << huge->body;
}

TEST_F(BatchTest, OffWithoutABatchDir) {
  options.batch_dir.clear();
  start_batch_server();
  auto r = get("/v1/batches");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_NE(error_message(r).find("batch_dir"), std::string::npos) << r->body;
}

TEST_F(BatchTest, FilesOfOneKeyAreInvisibleToAnother) {
  for (const char* name : {"alice", "bob"}) {
    ApiKey key;
    key.name = name;
    key.sha256 = sha256_hex(std::string(name) + "-key");
    key.scopes = {"inference"};
    options.keys.push_back(key);
  }
  start_batch_server();
  auto as = [](const std::string& key) { return httplib::Headers{{"Authorization", "Bearer " + key}}; };
  auto up = client()->Post("/v1/files", as("alice-key"), multipart_body("b4", "batch", "a.jsonl", "{}\n"),
                           "multipart/form-data; boundary=b4");
  ASSERT_TRUE(up);
  ASSERT_EQ(up->status, 200) << up->body;
  std::string id = json::parse(up->body)["id"];
  EXPECT_EQ(get("/v1/files/" + id, as("alice-key"))->status, 200);
  EXPECT_EQ(get("/v1/files/" + id, as("bob-key"))->status, 404);
  EXPECT_EQ(json::parse(get("/v1/files", as("bob-key"))->body)["data"].size(), 0u);
  EXPECT_EQ(get("/v1/files")->status, 401);
}

}  // namespace
}  // namespace xervo::testing
