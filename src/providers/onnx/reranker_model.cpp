#include <algorithm>

#include "providers/llamacpp/utf8.h"
#include "providers/onnx/task_models.h"

namespace xervo::onnx {

OnnxReranker::OnnxReranker(std::shared_ptr<const Vocabulary> vocab, std::unique_ptr<Encoder> encoder)
    : vocab_(std::move(vocab)), encoder_(std::move(encoder)) {}

// [CLS] query [SEP] document [SEP], token types 0 then 1: BERT's sentence-pair input, which
// cross-encoders are trained on. An over-long document is cut when truncate is on.
Result<Sequence> OnnxReranker::pair(const TokenIds& query, const std::string& document, size_t index) const {
  const size_t limit = static_cast<size_t>(encoder_->plan().max_tokens);
  const auto overflow = [&] {
    return Error(ErrorCode::context_overflow, "query + document " + std::to_string(index) + " exceed the " +
                                                  std::to_string(limit) + " tokens " + encoder_->name() +
                                                  " takes per pair (context_size); shorten them or set "
                                                  "option truncate");
  };
  std::string_view text = document;
  const size_t max_bytes = limit * kMaxBytesPerToken;
  const bool truncate = encoder_->options().truncate;
  if (text.size() > max_bytes) {
    if (!truncate) return overflow();
    text = llamacpp::utf8_prefix(text, max_bytes);
  }
  auto doc = vocab_->pieces(text);
  if (!doc) return doc.error();
  const size_t fixed = query.size() + 3;
  if (fixed + doc->size() > limit) {
    if (!truncate || fixed >= limit) return overflow();
    doc->resize(limit - fixed);
  }
  Sequence s;
  s.ids.push_back(vocab_->cls());
  s.ids.insert(s.ids.end(), query.begin(), query.end());
  s.ids.push_back(vocab_->sep());
  s.types.assign(s.ids.size(), 0);
  s.ids.insert(s.ids.end(), doc->begin(), doc->end());
  s.ids.push_back(vocab_->sep());
  s.types.resize(s.ids.size(), 1);
  return s;
}

Result<Reranking> OnnxReranker::rerank(std::string_view query, std::span<const std::string> documents,
                                       std::optional<size_t> top_n, std::stop_token cancel) {
  Reranking result;
  if (top_n && *top_n == 0) return Error(ErrorCode::invalid_input, "top_n must be at least 1");
  if (documents.empty()) return result;
  const auto& o = encoder_->options();
  if (documents.size() > static_cast<size_t>(o.max_inputs))
    return Error(ErrorCode::invalid_input, std::to_string(documents.size()) + " documents in one call, " +
                                               encoder_->name() + " takes at most " +
                                               std::to_string(o.max_inputs) + " (max_inputs)");
  const size_t limit = static_cast<size_t>(encoder_->plan().max_tokens);
  if (query.size() > limit * kMaxBytesPerToken)
    return Error(ErrorCode::context_overflow, "the query alone exceeds the " + std::to_string(limit) +
                                                  " tokens " + encoder_->name() + " takes per pair");
  auto q = vocab_->pieces(query);
  if (!q) return q.error();
  std::vector<Sequence> pairs;
  pairs.reserve(documents.size());
  for (size_t i = 0; i < documents.size(); ++i) {
    auto p = pair(*q, documents[i], i);
    if (!p) return p.error();
    result.usage.prompt_tokens += static_cast<int64_t>(p->ids.size());
    pairs.push_back(std::move(*p));
  }
  auto scores = encoder_->run(pairs, cancel);
  if (!scores) return scores.error();
  // One logit: the relevance. Several (a classifier's labels): the last, "relevant" by convention.
  for (size_t i = 0; i < scores->size(); ++i)
    result.results.push_back({i, (*scores)[i].empty() ? 0.0 : static_cast<double>((*scores)[i].back())});
  std::stable_sort(result.results.begin(), result.results.end(),
                   [](const RerankResult& a, const RerankResult& b) { return a.score > b.score; });
  if (top_n && *top_n < result.results.size()) result.results.resize(*top_n);
  return result;
}

}  // namespace xervo::onnx
