// Matches a loaded graph to a task: which of BERT's inputs it takes, which output holds the answer
// and whether it still needs pooling, checked against the folder's config.json. Pure function.
#pragma once

#include "providers/onnx/encoder.h"
#include "providers/onnx/model_folder.h"
#include "providers/onnx/options.h"
#include "providers/onnx/session.h"
#include "xervo/model_spec.h"

namespace xervo::onnx {

// model_load_failed for a graph that is not BERT-shaped (no input_ids, inputs it cannot feed, outputs
// that are not float tensors of the right rank); capability_mismatch when the graph has no output
// for the task (an embedder asked to rerank); config_invalid for an `output` option naming nothing.
Result<GraphPlan> plan_graph(ModelTask task, const Session& session, const ModelFolder& folder,
                             const Options& options);

}  // namespace xervo::onnx
