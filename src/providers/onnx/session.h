// One ONNX Runtime session over a BERT-family graph: created from the file with the thread count
// asked for, its inputs and outputs described, and one run over [batch, sequence] integer inputs
// returning one float output. Session::run may be called from any thread (ONNX Runtime allows
// concurrent runs of one session); the encoder above serializes them to bound memory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <stop_token>
#include <string>
#include <vector>

#include "providers/onnx/ort_library.h"
#include "xervo/error.h"

namespace xervo::onnx {

struct GraphValue {
  std::string name;
  ONNXTensorElementDataType type = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
  std::vector<int64_t> dims;  // -1 for a dynamic dimension
};

// A [batch, sequence] integer input, row-major.
struct IdsInput {
  std::string name;
  std::vector<int64_t> values;
};

struct FloatTensor {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

class Session {
 public:
  // model_load_failed with ONNX Runtime's reason for a graph it cannot read (truncated, not ONNX,
  // unknown operators). `name` names the model in messages.
  static Result<std::unique_ptr<Session>> create(std::shared_ptr<OrtLibrary> library,
                                                 const std::filesystem::path& graph, int threads,
                                                 const std::string& name);

  const std::vector<GraphValue>& inputs() const { return inputs_; }
  const std::vector<GraphValue>& outputs() const { return outputs_; }
  const GraphValue* input(const std::string& name) const;
  const GraphValue* output(const std::string& name) const;
  const OrtLibrary& library() const { return *library_; }

  // Runs the graph on `inputs` (each batch x sequence values, cast to the input's integer type) and
  // returns `output`. cancelled when `cancel` is requested midway; inference_failed with ONNX
  // Runtime's message otherwise.
  Result<FloatTensor> run(const std::vector<IdsInput>& inputs, int64_t batch, int64_t sequence,
                          const std::string& output, std::stop_token cancel) const;

 private:
  Session() = default;
  Result<void> describe();

  std::shared_ptr<OrtLibrary> library_;
  SessionPtr session_;
  MemoryInfoPtr cpu_;
  std::vector<GraphValue> inputs_, outputs_;
  std::string name_;
};

}  // namespace xervo::onnx
