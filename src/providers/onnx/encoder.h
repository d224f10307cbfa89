// Runs token sequences through a loaded graph: sorted by length and cut into batches of
// batch_size (each padded to its longest sequence), the graph's integer inputs built, the float
// output turned into one vector per sequence (pooled over the attention mask for a per-token
// output, as the folder's sentence-transformers Pooling module says). Calls wait their turn in a
// bounded queue, one batch at a time per model. Safe to call from any number of threads.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <vector>

#include "providers/onnx/options.h"
#include "providers/onnx/session.h"
#include "providers/onnx/vocabulary.h"
#include "xervo/error.h"

namespace xervo::onnx {

// What a graph reads and writes, decided at load (graph_plan.h).
struct GraphPlan {
  bool attention_mask = false;      // the graph takes attention_mask
  bool token_type_ids = false;      // the graph takes token_type_ids
  std::string output;               // the output read
  bool per_token = true;            // [batch, sequence, width] (pooled here) or [batch, width]
  Pooling pooling = Pooling::mean;  // mean or cls, for a per-token output
  int width = 0;                    // vector length (embed) or labels (rerank); 0 = read from the output
  int max_tokens = 512;             // tokens per sequence, [CLS] and [SEP] included
};

struct Sequence {
  TokenIds ids;
  TokenIds types;  // token_type_ids: 0 for the query / text, 1 for a cross-encoder's document
};

class Encoder {
 public:
  Encoder(std::unique_ptr<Session> session, GraphPlan plan, Options options, std::string name);

  // One vector per sequence, in order. unavailable when queue_limit calls are already waiting,
  // cancelled when `cancel` is requested, inference_failed when the graph fails or its output has
  // an unexpected shape.
  Result<std::vector<std::vector<float>>> run(const std::vector<Sequence>& sequences, std::stop_token cancel);

  const GraphPlan& plan() const { return plan_; }
  const Options& options() const { return options_; }
  const std::string& name() const { return name_; }
  const Session& session() const { return *session_; }

 private:
  // Waits for this model's turn (one batch runs at a time).
  Result<void> enter(std::stop_token cancel);
  void leave();
  Result<void> run_batch(const std::vector<Sequence>& sequences, const std::vector<size_t>& order,
                         size_t first, size_t count, std::vector<std::vector<float>>& out,
                         std::stop_token cancel);

  std::unique_ptr<Session> session_;
  GraphPlan plan_;
  Options options_;
  std::string name_;
  std::mutex mutex_;
  std::condition_variable_any turn_;
  bool busy_ = false;  // GUARDED_BY(mutex_)
  int waiting_ = 0;    // GUARDED_BY(mutex_)
};

}  // namespace xervo::onnx
