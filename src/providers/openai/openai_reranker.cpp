#include <algorithm>
#include <cmath>

#include "providers/openai/openai_models.h"

namespace xervo::openai {
namespace {

// POST {base}/rerank in the Cohere/Jina shape, which vLLM, llama-server, Jina and Cohere accept.
class OpenAiReranker final : public RerankerModel {
 public:
  explicit OpenAiReranker(ModelConfig config) : config_(std::move(config)) {}

  Result<Reranking> rerank(std::string_view query, std::span<const std::string> documents,
                           std::optional<size_t> top_n, std::stop_token cancel) override {
    Reranking out;
    if (documents.empty()) return out;
    const size_t n = std::min(top_n.value_or(documents.size()), documents.size());
    nlohmann::json body = {{"model", config_.model}, {"query", std::string(query)}, {"top_n", n}};
    body["documents"] = nlohmann::json::array();
    for (const auto& d : documents) body["documents"].push_back(d);
    merge_extra_body(body, config_.extra_body);
    auto reply = config_.api->post_json("/rerank", body, cancel);
    if (!reply) return reply.error();

    const auto& ctx = config_.api->context();
    const std::string shown = reply->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    auto results = reply->find("results");
    if (!reply->is_object() || results == reply->end() || !results->is_array())
      return net::malformed_response(ctx, "{results: [{index, relevance_score}]}", shown);
    std::vector<bool> seen(documents.size(), false);
    for (const auto& r : *results) {
      if (!r.is_object()) return net::malformed_response(ctx, "result objects", shown);
      auto idx = r.find("index");
      auto score = r.find("relevance_score");
      if (score == r.end()) score = r.find("score");
      if (idx == r.end() || !idx->is_number_integer() || idx->get<int64_t>() < 0 ||
          idx->get<uint64_t>() >= documents.size())
        return net::malformed_response(ctx, "index in [0, " + std::to_string(documents.size()) + ")", shown);
      if (score == r.end() || !score->is_number() || !std::isfinite(score->get<double>()))
        return net::malformed_response(ctx, "a numeric relevance_score", shown);
      const size_t i = idx->get<size_t>();
      if (seen[i]) return net::malformed_response(ctx, "each index once", shown);
      seen[i] = true;
      out.results.push_back({i, score->get<double>()});
    }
    std::stable_sort(out.results.begin(), out.results.end(),
                     [](const RerankResult& a, const RerankResult& b) { return a.score > b.score; });
    if (out.results.size() > n) out.results.resize(n);
    out.usage = read_usage(*reply);
    return out;
  }

 private:
  ModelConfig config_;
};

}  // namespace

std::shared_ptr<RerankerModel> make_reranker_model(ModelConfig config) {
  return std::make_shared<OpenAiReranker>(std::move(config));
}

}  // namespace xervo::openai
