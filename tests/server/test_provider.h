// A test double for the server tests: provider "test" whose behaviour is chosen by the model id
// (echo, gated, stream, endless, fail, slow-load, fail-load); its loads report progress ("reading" at
// 0, "ready" at 1). A model declares its size with the
// option `test_bytes` (its estimate and what it reports after the load; 1234 without it). A shared
// Probe lets a test hold calls at a gate and see what the server did to them (started, cancelled,
// finished). Tests only.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "xervo/provider.h"

namespace xervo::testing {

// Blocks callers until opened (or until a safety timeout, so a failing test never hangs).
class Gate {
 public:
  void open() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  bool wait(std::chrono::seconds limit = std::chrono::seconds(30)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

struct Probe {
  Gate gate;  // "gated" models and "slow-load" loads wait here
  std::atomic<int> started{0};
  std::atomic<int> finished{0};
  std::atomic<int> cancelled{0};  // generations that saw the stop token or a false from the callback
  std::atomic<int> loads{0};
  std::string last_schema;       // json_schema of the last generation (set before `started` increments)
  GenerateOptions last_options;  // the options of the last generation (likewise)
  std::vector<ToolDefinition> last_tools;  // tools, tool choice and messages of the last generation
  ToolChoice last_choice;
  bool last_parallel = true;
  bool last_separate_reasoning = true;
  std::vector<ChatMessage> last_messages;
  std::mutex mu;

  // Polls `cond` for up to `limit`; true when it became true.
  template <typename F>
  static bool eventually(F cond, std::chrono::milliseconds limit = std::chrono::milliseconds(10000)) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (cond()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return cond();
  }
};

// "endless" embed and rerank calls: run until their stop token is requested (with a safety cap).
inline Error until_cancelled(Probe& p, const std::stop_token& cancel) {
  for (int i = 0; i < 6000 && !cancel.stop_requested(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (!cancel.stop_requested())
    return Error(ErrorCode::internal, "the endless test call was never cancelled");
  p.cancelled++;
  return Error(ErrorCode::cancelled, "test call cancelled");
}

class TestEmbedding : public EmbeddingModel {
 public:
  TestEmbedding(std::shared_ptr<Probe> p, std::string mode) : p_(std::move(p)), mode_(std::move(mode)) {}
  Result<Embeddings> embed(std::span<const std::string> inputs, const EmbedOptions& options) override {
    p_->started++;
    if (mode_ == "gated") p_->gate.wait();
    if (mode_ == "fail") return Error(ErrorCode::inference_failed, "test embedding failure");
    if (mode_ == "endless") return until_cancelled(*p_, options.cancel);
    Embeddings e;
    e.dimensions = options.dimensions.value_or(4);
    for (const auto& in : inputs) {
      std::vector<float> v(static_cast<size_t>(e.dimensions), 0.5f);
      v[0] = static_cast<float>(in.size());
      if (e.dimensions > 1) v[1] = -1.25f;
      e.vectors.push_back(std::move(v));
      e.usage.prompt_tokens += static_cast<int64_t>(in.size());
    }
    p_->finished++;
    return e;
  }
  int dimensions() const override { return 4; }

 private:
  std::shared_ptr<Probe> p_;
  std::string mode_;
};

class TestReranker : public RerankerModel {
 public:
  TestReranker(std::shared_ptr<Probe> p, std::string mode) : p_(std::move(p)), mode_(std::move(mode)) {}
  // Score = number of query characters found in the document: deterministic and checkable.
  Result<Reranking> rerank(std::string_view query, std::span<const std::string> docs,
                           std::optional<size_t> top_n, std::stop_token cancel) override {
    if (mode_ == "endless") return until_cancelled(*p_, cancel);
    Reranking r;
    for (size_t i = 0; i < docs.size(); ++i) {
      double score = 0;
      for (char c : query) score += docs[i].find(c) != std::string::npos ? 1 : 0;
      r.results.push_back({i, score});
      r.usage.prompt_tokens += static_cast<int64_t>(docs[i].size() + query.size());
    }
    std::stable_sort(r.results.begin(), r.results.end(), [](auto& a, auto& b) { return a.score > b.score; });
    if (top_n && *top_n < r.results.size()) r.results.resize(*top_n);
    return r;
  }

 private:
  std::shared_ptr<Probe> p_;
  std::string mode_;
};

class TestGenerator : public GeneratorModel {
 public:
  TestGenerator(std::shared_ptr<Probe> p, std::string mode) : p_(std::move(p)), mode_(std::move(mode)) {}
  using GeneratorModel::generate;
  // With tools (and a choice other than none): thinks "hmm", then calls the named (or first) tool
  // with {"x": 1}, streamed as a header delta and two argument pieces.

  Result<GenerateResult> generate_tool_call(const GenerateRequest& req, const DeltaCallback& on_delta) {
    {
      std::lock_guard lock(p_->mu);
      p_->last_tools = req.tools;
      p_->last_choice = req.tool_choice;
      p_->last_messages = req.messages;
    }
    return call_tool(req, on_delta ? &on_delta : nullptr);
  }

  static Result<GenerateResult> call_tool(const GenerateRequest& req, const DeltaCallback* on_delta) {
    GenerateResult r;
    const std::string name =
        req.tool_choice.mode == ToolChoice::Mode::function ? req.tool_choice.name : req.tools[0].name;
    r.tool_calls.push_back({"call_test1", name, "{\"x\": 1}"});
    r.reasoning = "hmm";
    r.finish_reason = FinishReason::tool_calls;
    r.usage.completion_tokens = 5;
    if (on_delta) {
      GenerateDelta think;
      think.reasoning = "hmm";
      GenerateDelta head;
      head.tool_calls.push_back({0, "call_test1", name, ""});
      GenerateDelta a1;
      a1.tool_calls.push_back({0, "", "", "{\"x\""});
      GenerateDelta a2;
      a2.tool_calls.push_back({0, "", "", ": 1}"});
      for (const auto* d : {&think, &head, &a1, &a2})
        if (!(*on_delta)(*d)) {
          r.finish_reason = FinishReason::cancelled;
          return r;
        }
    }
    return r;
  }
  Result<GenerateResult> generate(const GenerateRequest& req, const TokenCallback& on_piece) override {
    {
      std::lock_guard lock(p_->mu);
      p_->last_schema = req.options.json_schema;
      p_->last_options = req.options;
      p_->last_tools = req.tools;
      p_->last_choice = req.tool_choice;
      p_->last_parallel = req.parallel_tool_calls;
      p_->last_separate_reasoning = req.options.separate_reasoning;
      p_->last_messages = req.messages;
    }
    p_->started++;
    if (!req.tools.empty() && req.tool_choice.mode != ToolChoice::Mode::none) return call_tool(req, nullptr);
    if (mode_ == "fail") return Error(ErrorCode::inference_failed, "test generation failure");
    if (mode_ == "gated") p_->gate.wait();
    GenerateResult r;
    r.usage.prompt_tokens = static_cast<int64_t>(req.prompt.size());
    for (const auto& m : req.messages) r.usage.prompt_tokens += static_cast<int64_t>(m.content.size());
    // "endless" runs until cancelled (with a safety cap); the others emit max_tokens pieces.
    const int limit = mode_ == "endless" ? 100000 : req.options.max_tokens;
    for (int i = 0; i < limit; ++i) {
      if (req.cancel.stop_requested()) {
        p_->cancelled++;
        r.finish_reason = FinishReason::cancelled;
        return r;
      }
      std::string piece = !req.options.json_schema.empty() ? (i == 0 ? "{\"ok\": true}" : "")
                                                           : "tok" + std::to_string(i) + " ";
      if (piece.empty()) break;
      r.text += piece;
      r.usage.completion_tokens++;
      if (on_piece && !on_piece(piece)) {
        p_->cancelled++;
        r.finish_reason = FinishReason::cancelled;
        return r;
      }
      if (mode_ == "endless" || mode_ == "stream") std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    r.finish_reason = !req.options.json_schema.empty() ? FinishReason::stop : FinishReason::length;
    add_choices_and_logprobs(req.options, r);
    p_->finished++;
    return r;
  }

  // Tools (with a choice other than none): the tool call above. n > 1 or logprobs: the whole
  // answer first, then its deltas, each choice's tokens in turn.
  Result<GenerateResult> generate_deltas(const GenerateRequest& req, const DeltaCallback& on_delta) override {
    if (!req.tools.empty() && req.tool_choice.mode != ToolChoice::Mode::none) return generate_tool_call(req, on_delta);
    if (req.options.n == 1 && !req.options.logprobs) return GeneratorModel::generate_deltas(req, on_delta);
    auto r = generate(req, TokenCallback{});
    if (!r || !on_delta) return r;
    for (size_t i = 0; i < r->choice_count(); ++i) {
      const GenerateChoice& c = r->choice(i);
      for (size_t t = 0; t < c.logprobs.size() || (c.logprobs.empty() && t == 0); ++t) {
        GenerateDelta d;
        d.choice = static_cast<int>(i);
        d.content = c.logprobs.empty() ? c.text : c.logprobs[t].token;
        if (!c.logprobs.empty()) d.logprobs.push_back(c.logprobs[t]);
        if (!on_delta(d)) {
          r->finish_reason = FinishReason::cancelled;
          return r;
        }
      }
    }
    return r;
  }

 private:
  // Choice i > 0 says "c<i>tok<j> "; with logprobs, token j of any choice has logprob -(j + 1) / 4
  // and alternatives "alt<k>" below it.
  static void add_choices_and_logprobs(const GenerateOptions& o, GenerateResult& r) {
    for (int i = 1; i < o.n; ++i) {
      GenerateChoice c;
      for (int j = 0; j < r.usage.completion_tokens; ++j)
        c.text += "c" + std::to_string(i) + "tok" + std::to_string(j) + " ";
      c.finish_reason = r.finish_reason;
      r.more.push_back(std::move(c));
    }
    r.usage.completion_tokens *= o.n;
    if (!o.logprobs) return;
    for (size_t i = 0; i < r.choice_count(); ++i) {
      GenerateChoice& c = i == 0 ? r : r.more[i - 1];
      for (size_t start = 0, j = 0; start < c.text.size(); ++j) {
        const size_t space = c.text.find(' ', start);
        const size_t end = space == std::string::npos ? c.text.size() : space + 1;
        TokenLogprob lp;
        lp.token = c.text.substr(start, end - start);
        lp.id = static_cast<int32_t>(j);
        lp.logprob = -(static_cast<double>(j) + 1) / 4;
        lp.top.push_back({lp.token, lp.id, lp.logprob});
        for (int k = 1; k < o.top_logprobs; ++k)
          lp.top.push_back({"alt" + std::to_string(k), 1000 + k, lp.logprob - k});
        if (o.top_logprobs == 0) lp.top.clear();
        c.logprobs.push_back(std::move(lp));
        start = end;
      }
    }
  }

  std::shared_ptr<Probe> p_;
  std::string mode_;
};

class TestProvider : public ModelProvider {
 public:
  explicit TestProvider(std::shared_ptr<Probe> p) : p_(std::move(p)) {}
  std::string id() const override { return "test"; }
  ProviderCapabilities capabilities() const override {
    return {{ModelTask::embed, ModelTask::rerank, ModelTask::generate}, true, true};
  }
  using ModelProvider::load;
  Result<LoadedModel> load(const ModelSpec& spec, const ProgressCallback& progress) override {
    p_->loads++;
    if (!progress(0.0f, "reading")) return Error(ErrorCode::cancelled, "test load stopped");
    if (spec.model == "slow-load") p_->gate.wait();
    if (spec.model == "fail-load") return Error(ErrorCode::model_load_failed, "test model cannot load");
    if (!progress(1.0f, "ready")) return Error(ErrorCode::cancelled, "test load stopped");
    LoadedModel m;
    m.fingerprint = "test:" + spec.model;  // the response cache keys answers by it
    m.memory = size_of(spec);
    m.memory_bytes = m.memory.total();
    switch (spec.task) {
      case ModelTask::embed:
        m.embedding = std::make_shared<TestEmbedding>(p_, spec.model);
        break;
      case ModelTask::rerank:
        m.reranker = std::make_shared<TestReranker>(p_, spec.model);
        break;
      case ModelTask::generate:
        m.generator = std::make_shared<TestGenerator>(p_, spec.model);
        break;
      case ModelTask::transcribe:  // not among capabilities(): the runtime never asks
        return Error(ErrorCode::capability_mismatch, "the test provider does not transcribe");
    }
    return m;
  }
  Result<MemoryEstimate> estimate(const ModelSpec& spec, const LoadControl&) override {
    return size_of(spec);
  }

  // `test_bytes` of the spec's options (all of it as weights), else 1234.
  static MemoryEstimate size_of(const ModelSpec& spec) {
    MemoryEstimate e;
    e.weights = 1234;
    if (spec.options.is_object() && spec.options.contains("test_bytes"))
      e.weights = spec.options["test_bytes"].get<uint64_t>();
    return e;
  }

 private:
  std::shared_ptr<Probe> p_;
};

}  // namespace xervo::testing
