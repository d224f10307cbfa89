// Writes tiny ONNX graphs for the onnx provider's tests, protobuf encoded here byte by byte (no ONNX
// library is installed), so tests can also write graphs with wrong inputs, outputs and types. The
// graphs are BERT-shaped in their interface only: a per-token output is a row of a table indexed by
// the token id (Gather), which lets a test compute the pooled vector it must get back.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace xervo::testing {

struct TinyGraph {
  int vocab = 40;
  int width = 8;                             // row length of the table
  std::vector<float> table;                  // vocab x width, row-major
  std::string ids_input = "input_ids";       // the token input's name
  bool attention_mask = true;                // an attention_mask input (unused by the graph)
  bool token_type_ids = false;               // a token_type_ids input (unused by the graph)
  std::string output = "last_hidden_state";  // output name
  bool pooled = false;                       // ReduceSum over the sequence: [batch, width] (a scorer)
  int32_t output_type = 1;                   // 1 float, 7 int64 (Cast at the end), for hostile graphs
};

// A table of N(0, 1)-ish values from `seed` with row 0 ([PAD]) zero.
std::vector<float> random_table(int vocab, int width, uint64_t seed);

// The ModelProto bytes of `g`, written to `path`.
void write_onnx(const TinyGraph& g, const std::filesystem::path& path);

}  // namespace xervo::testing
