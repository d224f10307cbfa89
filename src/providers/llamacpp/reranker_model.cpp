#include <algorithm>

#include "providers/llamacpp/task_models.h"

namespace xervo::llamacpp {
namespace {

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
    s.replace(pos, from.size(), to);
}

void append(Tokens& out, const Tokens& more) { out.insert(out.end(), more.begin(), more.end()); }

size_t count(std::string_view s, std::string_view what) {
  size_t n = 0;
  for (size_t pos = s.find(what); pos != std::string_view::npos; pos = s.find(what, pos + what.size())) ++n;
  return n;
}

// The length of `tmpl` with its placeholders filled, known before building it (a file's template
// may repeat {query} many times).
size_t filled_size(std::string_view tmpl, std::string_view query, std::string_view document) {
  const size_t nq = count(tmpl, "{query}"), nd = count(tmpl, "{document}");
  return tmpl.size() - nq * 7 - nd * 10 + nq * query.size() + nd * document.size();
}

}  // namespace

LlamaReranker::LlamaReranker(ModelSetup setup, std::unique_ptr<PooledScheduler> scheduler)
    : setup_(std::move(setup)), scheduler_(std::move(scheduler)) {
  if (const char* t = llama_model_chat_template(setup_.model.get(), "rerank")) rerank_template_ = t;
}

// The input of one (query, document) pair, laid out as llama.cpp's server does for rank pooling:
// the file's "rerank" template when it has one, else [BOS] query [EOS] [SEP] document [EOS] with
// each special token only where the vocabulary asks for it. Over-long documents are cut when
// truncate is on (the query and the special tokens are kept).
Result<Tokens> LlamaReranker::pair_tokens(std::string_view query, const std::string& document,
                                          size_t index) const {
  const llama_vocab* vocab = llama_model_get_vocab(setup_.model.get());
  const size_t limit = static_cast<size_t>(setup_.max_tokens);
  auto overflow = [&] {
    return Error(ErrorCode::context_overflow,
                 "query + document " + std::to_string(index) + " exceed the " + std::to_string(limit) +
                     " tokens " + setup_.name +
                     " takes per pair (context_size); shorten them or set option truncate");
  };
  // Text that cannot fit is refused (the query) or cut (a document, when truncating) before it is
  // tokenized or copied into the template.
  const size_t max_bytes = setup_.max_text_bytes();
  if (query.size() > max_bytes) return overflow();
  std::string_view doc_text = document;
  if (doc_text.size() > max_bytes) {
    if (!setup_.options.truncate) return overflow();
    doc_text = utf8_prefix(doc_text, max_bytes);
  }
  Tokens head, doc, tail;
  if (!rerank_template_.empty()) {
    std::string whole = rerank_template_;
    if (filled_size(whole, query, "") > max_bytes) return overflow();
    replace_all(whole, "{query}", query);
    const size_t at = whole.find("{document}");
    if (filled_size(whole, "", doc_text) <= max_bytes) {
      std::string filled = whole;
      replace_all(filled, "{document}", doc_text);
      auto all = tokenize(vocab, filled, false, true);
      if (!all) return all.error();
      if (all->size() <= limit) return std::move(*all);
    }
    if (at == std::string::npos || !setup_.options.truncate) return overflow();
    auto h = tokenize(vocab, whole.substr(0, at), false, true);
    auto d = tokenize(vocab, doc_text, false, false);
    auto t = tokenize(vocab, whole.substr(at + 10), false, true);
    if (!h || !d || !t)
      return Error(ErrorCode::invalid_input, "document " + std::to_string(index) + " cannot be tokenized");
    head = std::move(*h), doc = std::move(*d), tail = std::move(*t);
  } else {
    auto q = tokenize(vocab, query, false, false);
    if (!q) return q.error();
    auto d = tokenize(vocab, doc_text, false, false);
    if (!d) return d.error();
    llama_token eos = llama_vocab_eos(vocab);
    if (eos == LLAMA_TOKEN_NULL) eos = llama_vocab_sep(vocab);
    if (llama_vocab_get_add_bos(vocab)) head.push_back(llama_vocab_bos(vocab));
    append(head, *q);
    if (llama_vocab_get_add_eos(vocab)) head.push_back(eos);
    if (llama_vocab_get_add_sep(vocab)) head.push_back(llama_vocab_sep(vocab));
    doc = std::move(*d);
    if (llama_vocab_get_add_eos(vocab)) tail.push_back(eos);
  }
  const size_t fixed = head.size() + tail.size();
  if (fixed + doc.size() > limit) {
    if (!setup_.options.truncate || fixed >= limit) return overflow();
    doc.resize(limit - fixed);
  }
  Tokens out = std::move(head);
  append(out, doc);
  append(out, tail);
  if (out.empty())
    return Error(ErrorCode::invalid_input, "query and document " + std::to_string(index) + " are empty");
  return out;
}

Result<Reranking> LlamaReranker::rerank(std::string_view query, std::span<const std::string> documents,
                                        std::optional<size_t> top_n, std::stop_token cancel) {
  Reranking result;
  if (top_n && *top_n == 0) return Error(ErrorCode::invalid_input, "top_n must be at least 1");
  if (documents.empty()) return result;
  std::vector<Tokens> pairs;
  pairs.reserve(documents.size());
  for (size_t i = 0; i < documents.size(); ++i) {
    auto t = pair_tokens(query, documents[i], i);
    if (!t) return t.error();
    result.usage.prompt_tokens += static_cast<int64_t>(t->size());
    pairs.push_back(std::move(*t));
  }
  auto scores = scheduler_->run(std::move(pairs), cancel, current_priority());
  if (!scores) return scores.error();
  result.results.reserve(documents.size());
  for (size_t i = 0; i < scores->size(); ++i) {
    const auto& s = (*scores)[i];
    result.results.push_back({i, s.empty() ? 0.0 : static_cast<double>(s[0])});
  }
  std::stable_sort(result.results.begin(), result.results.end(),
                   [](const RerankResult& a, const RerankResult& b) { return a.score > b.score; });
  if (top_n && *top_n < result.results.size()) result.results.resize(*top_n);
  return result;
}

}  // namespace xervo::llamacpp
