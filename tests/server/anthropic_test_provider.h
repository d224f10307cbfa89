// A test double for the Anthropic route tests: provider "scripted", whose generators answer with a
// fixed script chosen by the model id, through generate_deltas with thinking, text and tool-call
// pieces, and record the last request they were given (so a test can check how the route mapped
// an Anthropic body onto a GenerateRequest). Tests only.
//   tools       with tools (and tool_choice not none): thinking, text, then a call of the first
//               tool (or the named one) with {"city": "Paris"} in two pieces; else text "no tools"
//   think       thinking "step one. " and text "answer" (one text "<think>step one. </think>answer"
//               when separate_reasoning is off)
//   stop        text "before", ended by the request's first stop string (else "<|im_end|>")
//   bad-args    a call whose arguments are not JSON
//   final-only  streams text only; the call and the thinking come in the result alone
// count_prompt_tokens: the bytes of every message and tool name ("final-only": the default, as a
// remote provider).
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "xervo/provider.h"

namespace xervo::testing {

struct ScriptLog {
  std::mutex mu;
  GenerateRequest last;  // GUARDED_BY(mu)
  int calls = 0;         // GUARDED_BY(mu)

  GenerateRequest get() {
    std::lock_guard lock(mu);
    return last;
  }
};

class ScriptedGenerator : public GeneratorModel {
 public:
  ScriptedGenerator(std::shared_ptr<ScriptLog> log, std::string mode)
      : log_(std::move(log)), mode_(std::move(mode)) {}

  using GeneratorModel::generate;
  Result<GenerateResult> generate(const GenerateRequest& req, const TokenCallback& on_piece) override {
    return generate_deltas(req, [&](const GenerateDelta& d) { return !on_piece || on_piece(d.content); });
  }

  Result<GenerateResult> generate_deltas(const GenerateRequest& req, const DeltaCallback& on_delta) override {
    {
      std::lock_guard lock(log_->mu);
      log_->last = req;
      log_->calls++;
    }
    GenerateResult r;
    r.usage.prompt_tokens = count(req);
    auto emit = [&](GenerateDelta d) {
      r.usage.completion_tokens++;
      r.text += d.content;
      r.reasoning += d.reasoning;
      return !on_delta || on_delta(d);
    };
    if (mode_ == "final-only") {
      GenerateDelta d;
      d.content = "calling";
      if (!emit(d)) return cancelled(r);
      r.reasoning = "hidden plan";
      r.tool_calls.push_back({"call_final", tool_name(req), R"({"city": "Rome"})"});
      r.finish_reason = FinishReason::tool_calls;
      return r;
    }
    const bool calls = !req.tools.empty() && req.tool_choice.mode != ToolChoice::Mode::none;
    if (mode_ == "think" || (mode_ == "tools" && calls)) {
      GenerateDelta d;
      if (req.options.separate_reasoning)
        d.reasoning = "step one. ";
      else
        d.content = "<think>step one. </think>";
      if (!emit(d)) return cancelled(r);
    }
    if (mode_ == "think") {
      GenerateDelta d;
      d.content = "answer";
      if (!emit(d)) return cancelled(r);
      return r;
    }
    if (mode_ == "stop") {
      GenerateDelta d;
      d.content = "before";
      if (!emit(d)) return cancelled(r);
      r.stop_sequence = req.options.stop.empty() ? "<|im_end|>" : req.options.stop[0];
      return r;
    }
    if (mode_ == "bad-args") {
      r.tool_calls.push_back({"call_bad", tool_name(req), "{not json"});
      r.finish_reason = FinishReason::tool_calls;
      GenerateDelta d;
      d.tool_calls.push_back({0, "call_bad", tool_name(req), "{not json"});
      if (!emit(d)) return cancelled(r);
      return r;
    }
    if (!calls) {
      GenerateDelta d;
      d.content = "no tools";
      if (!emit(d)) return cancelled(r);
      return r;
    }
    GenerateDelta text;
    text.content = "Let me check.";
    if (!emit(text)) return cancelled(r);
    const std::string name = tool_name(req);
    GenerateDelta first, second;
    first.tool_calls.push_back({0, "call_1", name, R"({"city":)"});
    second.tool_calls.push_back({0, "", "", R"( "Paris"})"});
    if (!emit(first) || !emit(second)) return cancelled(r);
    r.tool_calls.push_back({"call_1", name, R"({"city": "Paris"})"});
    r.finish_reason = FinishReason::tool_calls;
    return r;
  }

  Result<int64_t> count_prompt_tokens(const GenerateRequest& req) override {
    if (mode_ == "final-only") return GeneratorModel::count_prompt_tokens(req);
    return count(req);
  }

 private:
  static int64_t count(const GenerateRequest& req) {
    int64_t n = 0;
    for (const auto& m : req.messages) n += static_cast<int64_t>(m.content.size());
    for (const auto& t : req.tools) n += static_cast<int64_t>(t.name.size());
    return n;
  }
  static std::string tool_name(const GenerateRequest& req) {
    if (req.tool_choice.mode == ToolChoice::Mode::function) return req.tool_choice.name;
    return req.tools.empty() ? "none" : req.tools[0].name;
  }
  static GenerateResult cancelled(GenerateResult r) {
    r.finish_reason = FinishReason::cancelled;
    return r;
  }

  std::shared_ptr<ScriptLog> log_;
  std::string mode_;
};

class ScriptedProvider : public ModelProvider {
 public:
  explicit ScriptedProvider(std::shared_ptr<ScriptLog> log) : log_(std::move(log)) {}
  std::string id() const override { return "scripted"; }
  ProviderCapabilities capabilities() const override { return {{ModelTask::generate}, true, true}; }
  using ModelProvider::load;
  Result<LoadedModel> load(const ModelSpec& spec, const ProgressCallback&) override {
    LoadedModel m;
    m.memory.weights = 1000;
    m.memory_bytes = m.memory.total();
    m.generator = std::make_shared<ScriptedGenerator>(log_, spec.model);
    return m;
  }
  Result<MemoryEstimate> estimate(const ModelSpec&, const LoadControl&) override {
    MemoryEstimate e;
    e.weights = 1000;
    return e;
  }

 private:
  std::shared_ptr<ScriptLog> log_;
};

}  // namespace xervo::testing
