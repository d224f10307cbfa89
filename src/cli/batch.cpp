// `xervo batch submit|status|results|cancel|list`: the Batch API of a running `xervo serve`
// (--url or $XERVO_URL, default http://127.0.0.1:8080). submit uploads a JSONL file
// (POST /v1/files, purpose=batch) and creates a batch on it; --wait follows it to the end with a
// progress bar on a terminal (plain progress lines otherwise) and exits non-zero unless it completed.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <thread>

#include "cli/command.h"
#include "cli/server_client.h"
#include "net/http_client.h"

namespace xervo::cli {
namespace {

using nlohmann::json;
constexpr std::string_view kDefaultUrl = "http://127.0.0.1:8080";

struct BatchFlags {
  ServerFlags server;
  std::string file;
  std::string endpoint = "/v1/chat/completions";
  std::vector<std::string> metadata;  // key=value
  bool wait = false;
  std::string id;
  std::string output;
  bool errors = false;
  bool json = false;
  int limit = 20;
  double poll_s = 1.0;
};

std::string env_or_empty(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  return v ? v : "";
}

// One raw call: the body on 2xx, else the server's error (code and message) as an Exception.
std::string call_raw(const ServerFlags& flags, const std::string& method, const std::string& path,
                     const std::string& body = {}, const std::string& content_type = {}) {
  std::string base = server_url(flags, kDefaultUrl);
  net::HttpRequest request;
  request.method = method;
  request.url = base + path;
  request.timeout = std::chrono::minutes(10);
  request.max_body_bytes = 1ull << 30;
  if (std::string key = env_or_empty(flags.api_key_env); !key.empty())
    request.headers.add("Authorization", "Bearer " + key);
  if (!content_type.empty()) request.headers.add("Content-Type", content_type);
  request.body = body;
  auto outcome = net::HttpClient::shared()->perform(request);
  if (!outcome.ok())
    throw Exception(Error(net::error_code_for(outcome.error),
                          "cannot reach xervo serve at " + base + ": " + outcome.message));
  const auto& response = outcome.response;
  if (response.success()) return response.body;
  auto e = json::parse(response.body, nullptr, false);
  std::string message =
      e.is_object() && e.contains("error") ? e["error"].value("message", "") : response.body;
  std::string code = e.is_object() && e.contains("error") ? e["error"].value("code", "") : "";
  auto parsed = parse_error_code(code);
  throw Exception(Error(parsed.value_or(ErrorCode::unavailable),
                        base + path + " answered " + std::to_string(response.status) + ": " + message));
}

json call_json(const ServerFlags& flags, const std::string& method, const std::string& path,
               const json& body) {
  std::string text = call_raw(flags, method, path, body.is_null() ? "" : body.dump(),
                              body.is_null() ? "" : "application/json");
  auto parsed = json::parse(text, nullptr, false);
  if (parsed.is_discarded())
    throw Exception(Error(ErrorCode::unavailable, path + " answered something that is not JSON"));
  return parsed;
}

std::string upload(const BatchFlags& flags) {
  std::string content = read_text_file(flags.file);
  std::mt19937_64 rng{std::random_device{}()};
  std::string boundary = "xervo-batch-" + std::to_string(rng());
  std::string filename = std::filesystem::path(flags.file).filename().string();
  std::string body =
      "--" + boundary + "\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n--" + boundary +
      "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + filename +
      "\"\r\nContent-Type: application/jsonl\r\n\r\n" + content + "\r\n--" + boundary + "--\r\n";
  auto file = json::parse(
      call_raw(flags.server, "POST", "/v1/files", body, "multipart/form-data; boundary=" + boundary), nullptr,
      false);
  if (!file.is_object() || !file.contains("id"))
    throw Exception(Error(ErrorCode::unavailable, "POST /v1/files answered without a file id"));
  return file["id"];
}

bool is_final(const std::string& status) {
  return status == "completed" || status == "failed" || status == "expired" || status == "cancelled";
}

std::string counts_text(const json& b) {
  const auto& c = b.value("request_counts", json::object());
  int64_t total = c.value("total", int64_t{0}), done = c.value("completed", int64_t{0}),
          failed = c.value("failed", int64_t{0});
  return std::to_string(done + failed) + "/" + std::to_string(total) + " (" + std::to_string(done) + " ok, " +
         std::to_string(failed) + " failed)";
}

void draw_bar(const json& b) {
  const auto& c = b.value("request_counts", json::object());
  int64_t total = c.value("total", int64_t{0});
  int64_t done = c.value("completed", int64_t{0}) + c.value("failed", int64_t{0});
  constexpr int kWidth = 30;
  int filled = total > 0 ? static_cast<int>(kWidth * done / total) : 0;
  std::fprintf(stderr, "\r[%s%s] %s %s   ", std::string(static_cast<size_t>(filled), '#').c_str(),
               std::string(static_cast<size_t>(kWidth - filled), ' ').c_str(), counts_text(b).c_str(),
               b.value("status", "").c_str());
  std::fflush(stderr);
}

// Polls the batch until it ends; its last state.
json follow(const BatchFlags& flags, const std::string& id) {
  const bool terminal = ::isatty(STDERR_FILENO) == 1;
  std::string last;
  for (;;) {
    json b = call_json(flags.server, "GET", "/v1/batches/" + id, nullptr);
    std::string line = b.value("status", "") + " " + counts_text(b);
    if (terminal) {
      draw_bar(b);
    } else if (line != last) {
      std::fprintf(stderr, "%s: %s\n", id.c_str(), line.c_str());
    }
    last = line;
    if (is_final(b.value("status", ""))) {
      if (terminal) std::fprintf(stderr, "\n");
      return b;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>(flags.poll_s * 1000)));
  }
}

void print_batch(const json& b, bool as_json) {
  if (as_json) {
    std::printf("%s\n", b.dump(2).c_str());
    return;
  }
  auto text = [&](const char* k) { return b.value(k, json()).is_string() ? b[k].get<std::string>() : "-"; };
  std::printf("id:       %s\nstatus:   %s\nendpoint: %s\nrequests: %s\noutput:   %s\nerrors:   %s\n",
              text("id").c_str(), text("status").c_str(), text("endpoint").c_str(), counts_text(b).c_str(),
              text("output_file_id").c_str(), text("error_file_id").c_str());
  if (b.value("errors", json()).is_object())
    for (const auto& e : b["errors"].value("data", json::array()))
      std::printf("error:    %s: %s\n", e.value("code", "").c_str(), e.value("message", "").c_str());
}

void submit(const BatchFlags& flags) {
  json body = {{"input_file_id", upload(flags)}, {"endpoint", flags.endpoint}, {"completion_window", "24h"}};
  if (!flags.metadata.empty()) {
    json meta = json::object();
    for (const auto& kv : flags.metadata) {
      auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0)
        throw Exception(Error(ErrorCode::invalid_input, "--metadata takes KEY=VALUE, not '" + kv + "'"));
      meta[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    body["metadata"] = meta;
  }
  json b = call_json(flags.server, "POST", "/v1/batches", body);
  std::string id = b.value("id", "");
  if (!flags.wait) {
    std::printf("%s\n", id.c_str());
    return;
  }
  std::fprintf(stderr, "batch %s submitted\n", id.c_str());
  b = follow(flags, id);
  print_batch(b, flags.json);
  if (b.value("status", "") != "completed")
    throw Exception(Error(ErrorCode::inference_failed, "batch " + id + " ended " + b.value("status", "")));
}

void results(const BatchFlags& flags) {
  json b = call_json(flags.server, "GET", "/v1/batches/" + flags.id, nullptr);
  const char* key = flags.errors ? "error_file_id" : "output_file_id";
  if (!b.value(key, json()).is_string()) {
    if (!is_final(b.value("status", "")))
      throw Exception(Error(ErrorCode::not_ready, "batch " + flags.id + " is " + b.value("status", "") +
                                                      "; results come when it ends (xervo batch status)"));
    std::fprintf(stderr, "batch %s has no %s lines\n", flags.id.c_str(), flags.errors ? "error" : "output");
    return;
  }
  std::string content = call_raw(flags.server, "GET", "/v1/files/" + b[key].get<std::string>() + "/content");
  if (flags.output.empty()) {
    std::fwrite(content.data(), 1, content.size(), stdout);
    return;
  }
  std::ofstream out(flags.output, std::ios::binary);
  out << content;
  if (!out.flush()) throw Exception(Error(ErrorCode::io_error, "cannot write " + flags.output));
  std::fprintf(stderr, "wrote %s (%zu bytes)\n", flags.output.c_str(), content.size());
}

void list(const BatchFlags& flags) {
  json page = call_json(flags.server, "GET", "/v1/batches?limit=" + std::to_string(flags.limit), nullptr);
  if (flags.json) {
    std::printf("%s\n", page.dump(2).c_str());
    return;
  }
  std::printf("%-32s %-12s %-22s %s\n", "ID", "STATUS", "ENDPOINT", "REQUESTS");
  for (const auto& b : page.value("data", json::array()))
    std::printf("%-32s %-12s %-22s %s\n", b.value("id", "").c_str(), b.value("status", "").c_str(),
                b.value("endpoint", "").c_str(), counts_text(b).c_str());
}

void setup_batch(CLI::App& app, GlobalOptions&) {
  auto flags = std::make_shared<BatchFlags>();
  auto* cmd = app.add_subcommand("batch", "Run JSONL request files through a server's Batch API");
  cmd->require_subcommand(1);
  auto* sub = cmd->add_subcommand("submit", "Upload FILE.jsonl and start a batch on it");
  sub->add_option("file", flags->file, "JSONL: one {custom_id, method, url, body} request per line")
      ->required();
  sub->add_option("--endpoint", flags->endpoint,
                  "/v1/chat/completions (default), /v1/completions or /v1/embeddings");
  sub->add_option("--metadata", flags->metadata, "KEY=VALUE stored with the batch (repeatable)");
  sub->add_flag("--wait", flags->wait, "follow the batch to its end with a progress bar");
  sub->add_option("--poll-s", flags->poll_s, "seconds between polls with --wait (default 1)")
      ->check(CLI::Range(0.05, 3600.0));
  sub->add_flag("--json", flags->json, "with --wait: print the final batch as JSON");
  sub->callback([flags] { submit(*flags); });
  auto* status = cmd->add_subcommand("status", "Show a batch: status, request counts, result files");
  status->add_option("id", flags->id, "batch id")->required();
  status->add_flag("--json", flags->json, "print the batch object as JSON");
  status->callback([flags] {
    print_batch(call_json(flags->server, "GET", "/v1/batches/" + flags->id, nullptr), flags->json);
  });
  auto* res = cmd->add_subcommand("results", "Print (or write) a batch's output file, or its error file");
  res->add_option("id", flags->id, "batch id")->required();
  res->add_option("-o,--output", flags->output, "write to this file instead of stdout");
  res->add_flag("--errors", flags->errors, "the error file instead of the output file");
  res->callback([flags] { results(*flags); });
  auto* cancel = cmd->add_subcommand("cancel", "Cancel a batch (the answers so far are kept)");
  cancel->add_option("id", flags->id, "batch id")->required();
  cancel->callback([flags] {
    json b = call_json(flags->server, "POST", "/v1/batches/" + flags->id + "/cancel", json::object());
    std::printf("%s %s\n", b.value("id", "").c_str(), b.value("status", "").c_str());
  });
  auto* ls = cmd->add_subcommand("list", "List batches, newest first");
  ls->add_option("--limit", flags->limit, "how many (1 to 100, default 20)")->check(CLI::Range(1, 100));
  ls->add_flag("--json", flags->json, "print the server's answer as JSON");
  ls->callback([flags] { list(*flags); });
  for (auto* c : {sub, status, res, cancel, ls}) add_server_flags(c, flags->server, kDefaultUrl);
}

}  // namespace

XERVO_CLI_COMMAND(52, setup_batch);

}  // namespace xervo::cli
