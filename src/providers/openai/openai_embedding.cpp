#include <atomic>
#include <cmath>

#include "providers/openai/openai_models.h"

namespace xervo::openai {

Usage read_usage(const nlohmann::json& body) {
  Usage u;
  auto it = body.find("usage");
  if (it == body.end() || !it->is_object()) return u;
  auto number = [&](const char* key) -> int64_t {
    auto v = it->find(key);
    return v != it->end() && v->is_number_integer() ? std::max<int64_t>(0, v->get<int64_t>()) : 0;
  };
  u.prompt_tokens = number("prompt_tokens");
  u.completion_tokens = number("completion_tokens");
  // Some servers (rerank, older embeddings) report only a total.
  if (u.prompt_tokens == 0 && u.completion_tokens == 0) u.prompt_tokens = number("total_tokens");
  return u;
}

void merge_extra_body(nlohmann::json& body, const nlohmann::json& extra) {
  if (!extra.is_object()) return;
  for (const auto& [key, value] : extra.items()) body[key] = value;
}

namespace {

class OpenAiEmbedding final : public EmbeddingModel {
 public:
  explicit OpenAiEmbedding(ModelConfig config) : config_(std::move(config)) {
    if (config_.dimensions) dimensions_ = *config_.dimensions;
  }

  Result<Embeddings> embed(std::span<const std::string> inputs, const EmbedOptions& options) override {
    Embeddings out;
    out.dimensions = dimensions_.load();
    if (inputs.empty()) return out;
    std::optional<int> dims = options.dimensions ? options.dimensions : config_.dimensions;
    if (dims && *dims <= 0) return Error(ErrorCode::invalid_input, "dimensions must be positive");
    out.vectors.resize(inputs.size());
    const auto& ctx = config_.api->context();
    for (size_t start = 0; start < inputs.size(); start += config_.max_batch_inputs) {
      const size_t count = std::min(config_.max_batch_inputs, inputs.size() - start);
      nlohmann::json body = {{"model", config_.model}, {"encoding_format", "float"}};
      nlohmann::json input = nlohmann::json::array();
      for (size_t i = 0; i < count; ++i) input.push_back(inputs[start + i]);
      body["input"] = std::move(input);
      if (dims) body["dimensions"] = *dims;
      merge_extra_body(body, config_.extra_body);
      auto reply = config_.api->post_json("/embeddings", body, options.cancel);
      if (!reply) return reply.error();
      if (auto err = read_batch(*reply, start, count, out)) return *err;
      const Usage u = read_usage(*reply);
      out.usage.prompt_tokens += u.prompt_tokens;
      out.usage.completion_tokens += u.completion_tokens;
    }
    const size_t width = out.vectors.front().size();
    for (const auto& v : out.vectors)
      if (v.size() != width || width == 0)
        return net::malformed_response(
            ctx, "vectors of one non-zero length",
            "lengths " + std::to_string(width) + " and " + std::to_string(v.size()));
    out.dimensions = static_cast<int>(width);
    if (!dims) dimensions_.store(out.dimensions);  // the model's own width, learned on first use
    return out;
  }

  int dimensions() const override { return dimensions_.load(); }

 private:
  // Places data[i].embedding at its `index` (servers may answer out of order); nullopt when well-formed.
  std::optional<Error> read_batch(const nlohmann::json& reply, size_t start, size_t count,
                                  Embeddings& out) const {
    const auto& ctx = config_.api->context();
    const std::string shown = reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    auto data = reply.find("data");
    if (!reply.is_object() || data == reply.end() || !data->is_array())
      return net::malformed_response(ctx, "{data: [{index, embedding}]}", shown);
    if (data->size() != count)
      return net::malformed_response(ctx, std::to_string(count) + " embeddings",
                                     std::to_string(data->size()) + " came back: " + shown);
    std::vector<bool> seen(count, false);
    for (size_t pos = 0; pos < data->size(); ++pos) {
      const auto& item = (*data)[pos];
      if (!item.is_object()) return net::malformed_response(ctx, "embedding objects", shown);
      size_t index = pos;
      if (auto idx = item.find("index"); idx != item.end()) {
        if (!idx->is_number_integer() || idx->get<int64_t>() < 0 || idx->get<uint64_t>() >= count)
          return net::malformed_response(ctx, "index in [0, " + std::to_string(count) + ")", shown);
        index = idx->get<size_t>();
      }
      if (seen[index]) return net::malformed_response(ctx, "each index once", shown);
      seen[index] = true;
      auto emb = item.find("embedding");
      if (emb == item.end() || !emb->is_array())
        return net::malformed_response(ctx, "an embedding array of floats (encoding_format float)", shown);
      std::vector<float>& vec = out.vectors[start + index];
      vec.reserve(emb->size());
      for (const auto& x : *emb) {
        if (!x.is_number()) return net::malformed_response(ctx, "numbers in the embedding", shown);
        const double d = x.get<double>();
        if (!std::isfinite(d)) return net::malformed_response(ctx, "finite numbers in the embedding", shown);
        vec.push_back(static_cast<float>(d));
      }
    }
    return std::nullopt;
  }

  ModelConfig config_;
  std::atomic<int> dimensions_{0};
};

}  // namespace

std::shared_ptr<EmbeddingModel> make_embedding_model(ModelConfig config) {
  return std::make_shared<OpenAiEmbedding>(std::move(config));
}

}  // namespace xervo::openai
