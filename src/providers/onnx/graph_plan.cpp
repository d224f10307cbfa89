#include "providers/onnx/graph_plan.h"

#include <algorithm>

namespace xervo::onnx {
namespace {

std::string names(const std::vector<GraphValue>& values) {
  std::string out;
  for (const auto& v : values) out += (out.empty() ? "" : ", ") + v.name;
  return out.empty() ? "none" : out;
}

bool integer(ONNXTensorElementDataType t) {
  return t == ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64 || t == ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32;
}

// The output a task reads when the options name none: a sentence-transformers export's pooled
// vector first, else the per-token states; a cross-encoder's logits.
const GraphValue* default_output(ModelTask task, const Session& s) {
  const std::vector<std::string> wanted =
      task == ModelTask::rerank
          ? std::vector<std::string>{"logits", "scores"}
          : std::vector<std::string>{"sentence_embedding", "last_hidden_state", "token_embeddings"};
  for (const auto& name : wanted)
    if (const GraphValue* v = s.output(name)) return v;
  return nullptr;
}

}  // namespace

Result<GraphPlan> plan_graph(ModelTask task, const Session& s, const ModelFolder& folder, const Options& o) {
  const std::string name = folder.graph.string();
  const auto& config = folder.checkpoint.config;
  GraphPlan plan;
  const auto not_bert = [&](const std::string& why) {
    return Error(ErrorCode::model_load_failed,
                 "cannot load " + name + ": " + why + " (graph inputs: " + names(s.inputs()) +
                     "; a BERT-family graph takes input_ids [batch, sequence], optionally attention_mask "
                     "and token_type_ids)");
  };
  for (const auto& in : s.inputs()) {
    if (in.name != "input_ids" && in.name != "attention_mask" && in.name != "token_type_ids")
      return not_bert("it takes input " + in.name + ", which the onnx provider cannot feed");
    if (!integer(in.type) || in.dims.size() != 2)
      return not_bert("input " + in.name + " is not an integer tensor of rank 2");
    plan.attention_mask = plan.attention_mask || in.name == "attention_mask";
    plan.token_type_ids = plan.token_type_ids || in.name == "token_type_ids";
  }
  if (!s.input("input_ids")) return not_bert("it has no input_ids");

  const GraphValue* out = nullptr;
  if (!o.output.empty()) {
    out = s.output(o.output);
    if (!out)
      return Error(ErrorCode::config_invalid, "option output: " + name + " has no output '" + o.output +
                                                  "' (outputs: " + names(s.outputs()) + ")");
  } else {
    out = default_output(task, s);
    if (!out)
      return Error(
          ErrorCode::capability_mismatch,
          name + " has no output for " + std::string(to_string(task)) + " (outputs: " + names(s.outputs()) +
              "; " +
              (task == ModelTask::rerank ? "a cross-encoder has logits"
                                         : "an embedder has last_hidden_state or sentence_embedding") +
              "): set option output to the one to read");
  }
  plan.output = out->name;
  if (out->type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT)
    return not_bert("output " + out->name + " is not a float32 tensor");
  if (out->dims.size() != 2 && out->dims.size() != 3)
    return not_bert("output " + out->name + " has rank " + std::to_string(out->dims.size()) +
                    " ([batch, width] or [batch, sequence, width] expected)");
  plan.per_token = out->dims.size() == 3;
  plan.width = static_cast<int>(std::max<int64_t>(0, out->dims.back()));
  if (task == ModelTask::rerank && plan.per_token)
    return Error(
        ErrorCode::capability_mismatch,
        name + ": output " + out->name + " is per token; a cross-encoder's scores are [batch, labels]");
  if (task == ModelTask::embed && plan.width > 0 && plan.per_token && plan.width != config.hidden_size)
    return not_bert("output " + out->name + " is " + std::to_string(plan.width) +
                    " wide, config.json says hidden_size " + std::to_string(config.hidden_size));
  plan.pooling = o.pooling;
  if (plan.pooling == Pooling::model) {
    switch (folder.checkpoint.pooling) {
      case hfconvert::CheckpointPooling::cls:
        plan.pooling = Pooling::cls;
        break;
      case hfconvert::CheckpointPooling::last:
        return Error(ErrorCode::model_load_failed,
                     "cannot load " + name + ": last-token pooling is not supported by the onnx provider");
      default:
        plan.pooling = Pooling::mean;
    }
  }
  plan.max_tokens = config.max_positions;
  if (o.context_size > 0) plan.max_tokens = std::min(o.context_size, config.max_positions);
  if (plan.max_tokens < 3)
    return Error(ErrorCode::config_invalid, "context_size must leave room for [CLS], [SEP] and a token");
  return plan;
}

}  // namespace xervo::onnx
