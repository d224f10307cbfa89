#include <atomic>
#include <cmath>

#include "providers/gemini/gemini_models.h"

namespace xervo::gemini {
namespace {

class GeminiEmbedding final : public EmbeddingModel {
 public:
  explicit GeminiEmbedding(ModelConfig config) : config_(std::move(config)) {
    if (config_.dimensions) dimensions_ = *config_.dimensions;
  }

  Result<Embeddings> embed(std::span<const std::string> inputs, const EmbedOptions& options) override {
    Embeddings out;
    out.dimensions = dimensions_.load();
    if (inputs.empty()) return out;
    const std::optional<int> dims = options.dimensions ? options.dimensions : config_.dimensions;
    if (dims && *dims <= 0) return Error(ErrorCode::invalid_input, "dimensions must be positive");
    const auto& ctx = config_.api->context();
    const std::string name = "models/" + config_.model;
    auto request_for = [&](const std::string& text) {
      nlohmann::json r = {{"model", name}, {"content", {{"parts", {{{"text", text}}}}}}};
      if (dims) r["outputDimensionality"] = *dims;
      if (!config_.task_type.empty()) r["taskType"] = config_.task_type;
      return r;
    };

    if (inputs.size() == 1) {
      auto reply =
          config_.api->post_json("/" + name + ":embedContent", request_for(inputs[0]), options.cancel);
      if (!reply) return reply.error();
      auto emb = reply->is_object() ? reply->find("embedding") : reply->end();
      if (emb == reply->end())
        return net::malformed_response(ctx, "{embedding: {values}}",
                                       reply->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      auto vec = read_values(*emb);
      if (!vec) return vec.error();
      out.vectors.push_back(std::move(*vec));
    } else {
      for (size_t start = 0; start < inputs.size(); start += config_.max_batch_inputs) {
        const size_t count = std::min(config_.max_batch_inputs, inputs.size() - start);
        nlohmann::json requests = nlohmann::json::array();
        for (size_t i = 0; i < count; ++i) requests.push_back(request_for(inputs[start + i]));
        auto reply = config_.api->post_json("/" + name + ":batchEmbedContents",
                                            {{"requests", std::move(requests)}}, options.cancel);
        if (!reply) return reply.error();
        const std::string shown = reply->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        auto list = reply->is_object() ? reply->find("embeddings") : reply->end();
        if (list == reply->end() || !list->is_array())
          return net::malformed_response(ctx, "{embeddings: [{values}]}", shown);
        if (list->size() != count)
          return net::malformed_response(ctx, std::to_string(count) + " embeddings",
                                         std::to_string(list->size()) + " came back: " + shown);
        for (const auto& e : *list) {  // the API answers in request order
          auto vec = read_values(e);
          if (!vec) return vec.error();
          out.vectors.push_back(std::move(*vec));
        }
      }
    }
    const size_t width = out.vectors.front().size();
    for (const auto& v : out.vectors)
      if (v.size() != width)
        return net::malformed_response(
            ctx, "vectors of one length",
            "lengths " + std::to_string(width) + " and " + std::to_string(v.size()));
    out.dimensions = static_cast<int>(width);
    if (!dims) dimensions_.store(out.dimensions);
    return out;
  }

  int dimensions() const override { return dimensions_.load(); }

 private:
  Result<std::vector<float>> read_values(const nlohmann::json& embedding) const {
    const auto& ctx = config_.api->context();
    auto values = embedding.is_object() ? embedding.find("values") : embedding.end();
    if (values == embedding.end() || !values->is_array() || values->empty())
      return net::malformed_response(
          ctx, "embedding.values: a non-empty array of floats",
          embedding.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    std::vector<float> out;
    out.reserve(values->size());
    for (const auto& x : *values) {
      if (!x.is_number() || !std::isfinite(x.get<double>()))
        return net::malformed_response(ctx, "finite numbers in embedding.values", x.dump());
      out.push_back(static_cast<float>(x.get<double>()));
    }
    return out;
  }

  ModelConfig config_;
  std::atomic<int> dimensions_{0};
};

}  // namespace

std::shared_ptr<EmbeddingModel> make_embedding_model(ModelConfig config) {
  return std::make_shared<GeminiEmbedding>(std::move(config));
}

}  // namespace xervo::gemini
