// A scripted Engine for the schedulers' tests: no model, exact and predictable answers.
// - Generation: the token after t is t + 1 (a prompt ending in 100 generates 101, 102, ...); token
//   kEndOfGeneration ends a generation; the text of token t is "t ".
// - Pooled: the output of a sequence is {sum of its tokens, number of tokens}.
// Each decode is recorded; `on_decode` runs inside decode() on the compute lane's thread, where a
// test acts at an exact point of the schedule (cancel, block, fail the decode).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "providers/llamacpp/engine.h"

namespace xervo::llamacpp::testing {

inline constexpr Token kEndOfGeneration = 1000000;

struct BatchEntry {
  Token token;
  Pos pos;
  SeqId seq;
  bool output;
};

// What the test and the engine share; every member under mu.
struct EngineLog {
  std::mutex mu;
  std::vector<std::vector<BatchEntry>> decodes;  // the batch of every decode, in order
  std::vector<std::pair<SeqId, Pos>> trims;      // memory_trim calls
  std::vector<std::pair<SeqId, SeqId>> copies;   // memory_copy calls (from, to)
  // Called (without mu held) with the batch; a non-zero return fails that decode with the code.
  std::function<int32_t(const std::vector<BatchEntry>&)> on_decode;

  size_t decode_count() {
    std::lock_guard lk(mu);
    return decodes.size();
  }
};

class FakeEngine final : public Engine {
 public:
  FakeEngine(std::shared_ptr<EngineLog> log, int32_t capacity) : log_(std::move(log)), capacity_(capacity) {}

  void batch_clear() override { batch_.clear(); }
  int32_t batch_add(Token token, Pos pos, SeqId seq, bool output) override {
    if (static_cast<int32_t>(batch_.size()) >= capacity_) throw std::logic_error("batch overflow");
    batch_.push_back({token, pos, seq, output});
    return static_cast<int32_t>(batch_.size()) - 1;
  }
  int32_t batch_size() const override { return static_cast<int32_t>(batch_.size()); }
  int32_t batch_room() const override { return capacity_ - static_cast<int32_t>(batch_.size()); }

  int32_t decode() override {
    std::function<int32_t(const std::vector<BatchEntry>&)> hook;
    {
      std::lock_guard lk(log_->mu);
      log_->decodes.push_back(batch_);
      hook = log_->on_decode;
    }
    if (hook)
      if (const int32_t rc = hook(batch_); rc != 0) return rc;
    pooled_.clear();
    for (const auto& e : batch_) {
      auto& out = pooled_[e.seq];
      out.resize(2);
      out[0] += static_cast<float>(e.token);
      out[1] += 1;
    }
    logits_ = batch_;
    return 0;
  }
  void memory_clear() override {}
  const float* pooled_output(SeqId seq) override {
    auto it = pooled_.find(seq);
    return it == pooled_.end() ? nullptr : it->second.data();
  }
  bool memory_trim(SeqId seq, Pos from) override {
    std::lock_guard lk(log_->mu);
    log_->trims.emplace_back(seq, from);
    return true;
  }
  void memory_copy(SeqId from, SeqId to) override {
    std::lock_guard lk(log_->mu);
    log_->copies.emplace_back(from, to);
  }
  bool is_end_of_generation(Token token) const override { return token == kEndOfGeneration; }
  std::string token_text(Token token) const override { return std::to_string(token) + " "; }

  // The "model": the token after the one at `batch_index` of the last decode.
  Token next_after(int32_t batch_index) const {
    return logits_.at(static_cast<size_t>(batch_index)).token + 1;
  }

 private:
  std::shared_ptr<EngineLog> log_;
  int32_t capacity_;
  std::vector<BatchEntry> batch_;
  std::vector<BatchEntry> logits_;  // the batch of the last successful decode
  std::map<SeqId, std::vector<float>> pooled_;
};

// Draws the engine's next token, plus `offset` (sequences of one request that differ); with
// `logprobs`, reports each token t with logprob -t / 1000.
class FakeSampler final : public TokenSampler {
 public:
  explicit FakeSampler(const FakeEngine* engine, Token offset = 0, bool logprobs = false)
      : engine_(engine), offset_(offset), logprobs_(logprobs) {}
  SampledToken next(int32_t batch_index) override {
    SampledToken out{engine_->next_after(batch_index) + offset_, std::nullopt};
    if (out.token == kEndOfGeneration + offset_) out.token = kEndOfGeneration;
    if (logprobs_) {
      TokenLogprob lp;
      lp.id = out.token;
      lp.token = std::to_string(out.token) + " ";
      lp.logprob = -out.token / 1000.0;
      out.logprob = std::move(lp);
    }
    return out;
  }

 private:
  const FakeEngine* engine_;
  Token offset_;
  bool logprobs_;
};

}  // namespace xervo::llamacpp::testing
