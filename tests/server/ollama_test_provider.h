// A test double for the Ollama route tests: provider "scripted", whose generator records every
// request it gets and answers by its model id: "tools" calls the request's first tool, "think"
// streams thinking then text, "logprobs" reports a log probability per token, anything else answers
// "ok". What the server did with a request (options, messages, tools) is then checked on the
// recording. Tests only.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "xervo/provider.h"

namespace xervo::testing::ollama_doubles {

struct Recorder {
  std::mutex mu;
  std::optional<GenerateRequest> last;  // GUARDED_BY(mu)

  GenerateRequest request() {
    std::lock_guard lock(mu);
    return last.value_or(GenerateRequest{});
  }
};

class ScriptedGenerator : public GeneratorModel {
 public:
  ScriptedGenerator(std::shared_ptr<Recorder> r, std::string mode)
      : r_(std::move(r)), mode_(std::move(mode)) {}

  Result<GenerateResult> generate(const GenerateRequest& req, const TokenCallback& on_piece) override {
    return generate_deltas(req, [&](const GenerateDelta& d) { return !on_piece || on_piece(d.content); });
  }

  Result<GenerateResult> generate_deltas(const GenerateRequest& req, const DeltaCallback& on_delta) override {
    {
      std::lock_guard lock(r_->mu);
      r_->last = req;
    }
    GenerateResult r;
    r.usage.prompt_tokens = 5;
    auto emit = [&](GenerateDelta d) { return !on_delta || on_delta(d); };
    if (mode_ == "tools" && !req.tools.empty()) {
      ToolCall call{"call_1", req.tools.front().name, R"({"city":"Paris"})"};
      GenerateDelta d;
      d.tool_calls.push_back({0, call.id, call.name, call.arguments});
      if (!emit(d)) return cancelled(r);
      r.tool_calls.push_back(call);
      r.finish_reason = FinishReason::tool_calls;
      r.usage.completion_tokens = 7;
      return r;
    }
    if (mode_ == "think" && req.options.separate_reasoning) {
      GenerateDelta d;
      d.reasoning = "hmm";
      if (!emit(d)) return cancelled(r);
      r.reasoning = "hmm";
    }
    for (const char* piece : {"o", "k"}) {
      GenerateDelta d;
      d.content = piece;
      if (mode_ == "logprobs" && req.options.logprobs) {
        TokenLogprob lp{piece, 1, -0.5, {}};
        for (int i = 0; i < req.options.top_logprobs; ++i) lp.top.push_back({"alt", 2 + i, -1.0 - i});
        d.logprobs.push_back(lp);
        r.logprobs.push_back(lp);
      }
      if (!emit(d)) return cancelled(r);
      r.text += piece;
      r.usage.completion_tokens++;
    }
    return r;
  }

 private:
  static Result<GenerateResult> cancelled(GenerateResult r) {
    r.finish_reason = FinishReason::cancelled;
    return r;
  }
  std::shared_ptr<Recorder> r_;
  std::string mode_;
};

class ScriptedProvider : public ModelProvider {
 public:
  explicit ScriptedProvider(std::shared_ptr<Recorder> r) : r_(std::move(r)) {}
  std::string id() const override { return "scripted"; }
  ProviderCapabilities capabilities() const override { return {{ModelTask::generate}, true, true}; }
  using ModelProvider::load;
  Result<LoadedModel> load(const ModelSpec& spec, const ProgressCallback&) override {
    LoadedModel m;
    m.generator = std::make_shared<ScriptedGenerator>(r_, spec.model);
    m.memory_bytes = 4321;
    return m;
  }

 private:
  std::shared_ptr<Recorder> r_;
};

}  // namespace xervo::testing::ollama_doubles
