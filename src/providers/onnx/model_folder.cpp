#include "providers/onnx/model_folder.h"

namespace xervo::onnx {
namespace {

namespace fs = std::filesystem;

// ONNX Runtime reads graphs of up to 2 GB (protobuf's limit); larger ones keep their weights in
// external data files, which this provider does not load.
constexpr uint64_t kMaxGraphBytes = 2ull << 30;

}  // namespace

Result<ModelFolder> find_model_folder(const std::string& model) {
  if (model.empty())
    return Error(ErrorCode::invalid_input, "no model given: set model to a folder holding model.onnx");
  std::error_code ec;
  const fs::path path(model);
  ModelFolder f;
  if (fs::is_directory(path, ec)) {
    f.dir = path;
    f.graph = fs::exists(path / "model.onnx", ec) ? path / "model.onnx" : path / "onnx" / "model.onnx";
  } else if (fs::exists(path, ec)) {
    f.graph = path;
    f.dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
    if (!fs::exists(f.dir / "config.json", ec) && f.dir.filename() == "onnx") f.dir = f.dir.parent_path();
  } else {
    return Error(ErrorCode::model_not_found, "no ONNX model at " + model + " (no such file or folder)");
  }
  if (!fs::is_regular_file(f.graph, ec))
    return Error(ErrorCode::model_not_found,
                 "no ONNX graph in " + f.dir.string() + " (looked for model.onnx and onnx/model.onnx)");
  f.graph_bytes = fs::file_size(f.graph, ec);
  if (ec) return Error(ErrorCode::model_not_found, "cannot read " + f.graph.string() + ": " + ec.message());
  if (f.graph_bytes == 0)
    return Error(ErrorCode::invalid_input, f.graph.string() + " is empty (not an ONNX graph)");
  if (f.graph_bytes > kMaxGraphBytes)
    return Error(ErrorCode::invalid_input, f.graph.string() +
                                               " is larger than 2 GB: graphs with external weight files are "
                                               "not supported");
  auto checkpoint = hfconvert::read_checkpoint_metadata(f.dir);
  if (!checkpoint) {
    if (checkpoint.error().code() != ErrorCode::model_not_found) return checkpoint.error();
    return Error(
        ErrorCode::model_not_found,
        checkpoint.error().message() +
            ": the onnx provider reads the tokenizer and config from the graph's folder (config.json, "
            "vocab.txt or tokenizer.json, modules.json)");
  }
  f.checkpoint = std::move(*checkpoint);
  return f;
}

}  // namespace xervo::onnx
