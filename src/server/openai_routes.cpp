// OpenAI-compatible routes without generation: GET /v1/models, POST /v1/embeddings, and the
// Cohere/Jina-shaped POST /v1/rerank.
#include <openssl/evp.h>

#include <bit>
#include <cstring>
#include <ctime>

#include "core/log.h"
#include "server/json_fields.h"
#include "server/model_policy.h"
#include "server/server_state.h"

namespace xervo::server {
namespace {

// OpenAI's base64 embedding format: the little-endian float32 bytes, base64-encoded.
std::string base64_floats(const std::vector<float>& values) {
  std::string bytes(values.size() * sizeof(float), '\0');
  std::memcpy(bytes.data(), values.data(), bytes.size());
  if constexpr (std::endian::native == std::endian::big) {
    for (size_t i = 0; i + 3 < bytes.size(); i += 4) {
      std::swap(bytes[i], bytes[i + 3]);
      std::swap(bytes[i + 1], bytes[i + 2]);
    }
  }
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return out;
}

std::vector<std::string> embedding_inputs(const nlohmann::json& body, size_t max_inputs) {
  auto it = body.find("input");
  if (it == body.end() || it->is_null()) reject_input("'input' is required: a string or an array of strings");
  std::vector<std::string> inputs;
  if (it->is_string()) {
    inputs.push_back(it->get<std::string>());
  } else if (it->is_array()) {
    if (it->empty()) reject_input("'input' is an empty array; send at least one string");
    if (it->size() > max_inputs)
      reject_input("'input' has " + std::to_string(it->size()) + " items; this server accepts at most " +
                   std::to_string(max_inputs) + " per request (max_inputs)");
    for (size_t i = 0; i < it->size(); ++i) {
      const auto& v = (*it)[i];
      if (!v.is_string())
        reject_input("'input[" + std::to_string(i) + "]' must be a string, not " + json_type_name(v) +
                     " (token arrays are not supported; send text)");
      inputs.push_back(v.get<std::string>());
    }
  } else {
    reject_input("'input' must be a string or an array of strings, not " + json_type_name(*it));
  }
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].empty()) reject_input("'input[" + std::to_string(i) + "]' is an empty string");
  return inputs;
}

nlohmann::json usage_json(const Usage& usage) {
  return {{"prompt_tokens", usage.prompt_tokens}, {"total_tokens", usage.total()}};
}

void list_models(ServerState& state, HttpResponse& res) {
  current_request().route = "/v1/models";
  nlohmann::json data = nlohmann::json::array();
  auto created = std::chrono::system_clock::to_time_t(state.started);
  for (const auto& spec : state.runtime->specs()) {
    if (!request_may_use(spec.alias)) continue;  // a key sees only the models its roles allow
    data.push_back({{"id", spec.alias},
                    {"object", "model"},
                    {"created", static_cast<int64_t>(created)},
                    {"owned_by", spec.provider},
                    {"task", std::string(to_string(spec.task))}});
  }
  send_json(res, 200, {{"object", "list"}, {"data", data}});
}

void create_embeddings(ServerState& state, const HttpRequest& req, HttpResponse& res) {
  auto& ctx = current_request();
  ctx.route = "/v1/embeddings";
  auto body = parse_json_object(req.body);
  std::string model = require_string(body, "model");
  auto inputs = embedding_inputs(body, state.options.max_inputs);
  std::string format = optional_string(body, "encoding_format").value_or("float");
  if (format != "float" && format != "base64")
    reject_input("'encoding_format' must be \"float\" or \"base64\", not \"" + format + "\"");
  EmbedOptions options;
  if (auto d = optional_int(body, "dimensions", 1, 65536)) options.dimensions = static_cast<int>(*d);
  auto keep_alive = optional_keep_alive(body);

  auto admitted = admit_model(state, model, ModelTask::embed);
  auto cancel = track_call(state);
  auto handle = unwrap(stopped_as(state.runtime->embedding(model, bounds(*cancel, keep_alive)), *cancel,
                                  state, "loading the model"));
  options.cancel = cancel->token();
  auto result = unwrap(stopped_as(handle->embed(inputs, options), *cancel, state, "the embedding request"));

  nlohmann::json data = nlohmann::json::array();
  for (size_t i = 0; i < result.vectors.size(); ++i) {
    nlohmann::json item = {{"object", "embedding"}, {"index", i}};
    if (format == "base64")
      item["embedding"] = base64_floats(result.vectors[i]);
    else
      item["embedding"] = result.vectors[i];
    data.push_back(std::move(item));
  }
  record_usage(state, result.usage.prompt_tokens, 0);
  record_cache(result.usage.cached, static_cast<int64_t>(inputs.size()));
  if (!result.served_by.empty()) res.set_header("X-Served-By", result.served_by);
  send_json(res, 200,
            {{"object", "list"}, {"data", data}, {"model", model}, {"usage", usage_json(result.usage)}});
}

std::vector<std::string> rerank_documents(const nlohmann::json& body, size_t max_inputs) {
  auto it = body.find("documents");
  if (it == body.end() || !it->is_array() || it->empty())
    reject_input("'documents' is required: a non-empty array of strings or {\"text\": ...} objects");
  if (it->size() > max_inputs)
    reject_input("'documents' has " + std::to_string(it->size()) + " items; this server accepts at most " +
                 std::to_string(max_inputs) + " per request (max_inputs)");
  std::vector<std::string> docs;
  for (size_t i = 0; i < it->size(); ++i) {
    const auto& d = (*it)[i];
    if (d.is_string()) {
      docs.push_back(d.get<std::string>());
    } else if (d.is_object() && d.contains("text") && d["text"].is_string()) {
      docs.push_back(d["text"].get<std::string>());
    } else {
      reject_input("'documents[" + std::to_string(i) +
                   "]' must be a string or an object with a string 'text'");
    }
  }
  return docs;
}

void rerank(ServerState& state, const HttpRequest& req, HttpResponse& res) {
  auto& ctx = current_request();
  ctx.route = "/v1/rerank";
  auto body = parse_json_object(req.body);
  std::string model = require_string(body, "model");
  std::string query = require_string(body, "query");
  if (query.empty()) reject_input("'query' is an empty string");
  auto docs = rerank_documents(body, state.options.max_inputs);
  std::optional<size_t> top_n;
  if (auto n = optional_int(body, "top_n", 1, INT32_MAX)) top_n = std::min<size_t>(*n, docs.size());
  bool return_documents = optional_bool(body, "return_documents").value_or(true);
  auto keep_alive = optional_keep_alive(body);

  auto admitted = admit_model(state, model, ModelTask::rerank);
  auto cancel = track_call(state);
  auto handle = unwrap(stopped_as(state.runtime->reranker(model, bounds(*cancel, keep_alive)), *cancel, state,
                                  "loading the model"));
  auto result = unwrap(
      stopped_as(handle->rerank(query, docs, top_n, cancel->token()), *cancel, state, "the rerank request"));

  nlohmann::json results = nlohmann::json::array();
  for (const auto& r : result.results) {
    if (r.index >= docs.size())
      throw Rejection(Error(ErrorCode::internal, "the reranker returned an index out of range"));
    nlohmann::json item = {{"index", r.index}, {"relevance_score", r.score}};
    if (return_documents) item["document"] = {{"text", docs[r.index]}};
    results.push_back(std::move(item));
  }
  record_usage(state, result.usage.prompt_tokens, 0);
  record_cache(result.usage.cached, 1);
  if (!result.served_by.empty()) res.set_header("X-Served-By", result.served_by);
  send_json(res, 200,
            {{"id", "rerank-" + ctx.request_id},
             {"model", model},
             {"results", results},
             {"usage", usage_json(result.usage)}});
}

}  // namespace

void add_openai_routes(Router& router, ServerState& state) {
  router.get("/v1/models", [&state](const HttpRequest&, HttpResponse& res) { list_models(state, res); });
  router.post("/v1/embeddings",
              [&state](const HttpRequest& req, HttpResponse& res) { create_embeddings(state, req, res); });
  for (const char* path : {"/v1/rerank", "/rerank", "/v1/reranking"})
    router.post(path, [&state](const HttpRequest& req, HttpResponse& res) { rerank(state, req, res); });
}

}  // namespace xervo::server
