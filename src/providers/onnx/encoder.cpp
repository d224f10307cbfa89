#include "providers/onnx/encoder.h"

#include <algorithm>
#include <numeric>

namespace xervo::onnx {

Encoder::Encoder(std::unique_ptr<Session> session, GraphPlan plan, Options options, std::string name)
    : session_(std::move(session)),
      plan_(std::move(plan)),
      options_(std::move(options)),
      name_(std::move(name)) {}

Result<void> Encoder::enter(std::stop_token cancel) {
  std::unique_lock lock(mutex_);
  if (busy_ && waiting_ >= options_.queue_limit)
    return Error(ErrorCode::unavailable,
                 name_ + " has " + std::to_string(waiting_) + " calls waiting (queue_limit); retry later");
  ++waiting_;
  const bool turn = turn_.wait(lock, cancel, [&] { return !busy_; });
  --waiting_;
  if (!turn) return Error(ErrorCode::cancelled, "cancelled while waiting for " + name_);
  busy_ = true;
  return {};
}

void Encoder::leave() {
  {
    std::lock_guard lock(mutex_);
    busy_ = false;
  }
  turn_.notify_one();
}

Result<std::vector<std::vector<float>>> Encoder::run(const std::vector<Sequence>& sequences,
                                                     std::stop_token cancel) {
  std::vector<std::vector<float>> out(sequences.size());
  // Longest first, so each batch pads to nearly its own length (and a too-large batch fails early).
  std::vector<size_t> order(sequences.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return sequences[a].ids.size() > sequences[b].ids.size(); });
  const size_t step = static_cast<size_t>(options_.batch_size);
  for (size_t first = 0; first < order.size(); first += step) {
    if (auto ok = enter(cancel); !ok) return ok.error();
    auto ran = run_batch(sequences, order, first, std::min(step, order.size() - first), out, cancel);
    leave();
    if (!ran) return ran.error();
  }
  return out;
}

Result<void> Encoder::run_batch(const std::vector<Sequence>& sequences, const std::vector<size_t>& order,
                                size_t first, size_t count, std::vector<std::vector<float>>& out,
                                std::stop_token cancel) {
  const size_t width = sequences[order[first]].ids.size();  // the longest of the batch
  const auto B = static_cast<int64_t>(count), S = static_cast<int64_t>(width);
  std::vector<IdsInput> inputs;
  inputs.push_back({"input_ids", std::vector<int64_t>(count * width, 0)});
  std::vector<int64_t> mask(count * width, 0), types(count * width, 0);
  for (size_t b = 0; b < count; ++b) {
    const Sequence& s = sequences[order[first + b]];
    for (size_t t = 0; t < width; ++t) {
      const bool real = t < s.ids.size();
      inputs[0].values[b * width + t] = real ? s.ids[t] : 0;
      mask[b * width + t] = real ? 1 : 0;
      types[b * width + t] = real && t < s.types.size() ? s.types[t] : 0;
    }
  }
  if (plan_.attention_mask) inputs.push_back({"attention_mask", mask});
  if (plan_.token_type_ids) inputs.push_back({"token_type_ids", std::move(types)});
  auto result = session_->run(inputs, B, S, plan_.output, cancel);
  if (!result) return result.error();
  const FloatTensor& t = *result;
  const auto bad_shape = [&] {
    std::string shape;
    for (auto d : t.shape) shape += (shape.empty() ? "" : ", ") + std::to_string(d);
    return Error(ErrorCode::inference_failed, name_ + ": output " + plan_.output + " has shape [" + shape +
                                                  "] for a batch of " + std::to_string(B) + " x " +
                                                  std::to_string(S) + " tokens");
  };
  const size_t rank = plan_.per_token ? 3 : 2;
  if (t.shape.size() != rank || t.shape[0] != B || (plan_.per_token && t.shape[1] != S) ||
      t.shape.back() < 1 || (plan_.width > 0 && t.shape.back() != plan_.width))
    return bad_shape();
  const auto H = static_cast<size_t>(t.shape.back());
  for (size_t b = 0; b < count; ++b) {
    std::vector<float> v(H, 0.0f);
    if (!plan_.per_token) {
      std::copy_n(t.data.begin() + static_cast<std::ptrdiff_t>(b * H), H, v.begin());
    } else if (plan_.pooling == Pooling::cls) {
      std::copy_n(t.data.begin() + static_cast<std::ptrdiff_t>(b * width * H), H, v.begin());
    } else {  // mean over the real tokens, as sentence-transformers' Pooling (mask-weighted)
      const size_t n = sequences[order[first + b]].ids.size();
      std::vector<double> sum(H, 0.0);
      for (size_t tok = 0; tok < n; ++tok) {
        const float* row = t.data.data() + (b * width + tok) * H;
        for (size_t h = 0; h < H; ++h) sum[h] += row[h];
      }
      for (size_t h = 0; h < H; ++h) v[h] = static_cast<float>(sum[h] / static_cast<double>(n));
    }
    out[order[first + b]] = std::move(v);
  }
  return {};
}

}  // namespace xervo::onnx
