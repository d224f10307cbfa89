#include "providers/onnx/session.h"

#include <mutex>

namespace xervo::onnx {
namespace {

// ONNX Runtime's status as a Result, with `code` and a prefix naming the model.
struct Checker {
  const OrtLibrary& lib;
  ErrorCode code;
  std::string what;
  Result<void> operator()(OrtStatus* status) const { return lib.check(status, code, what); }
};

}  // namespace

Result<std::unique_ptr<Session>> Session::create(std::shared_ptr<OrtLibrary> library,
                                                 const std::filesystem::path& graph, int threads,
                                                 const std::string& name) {
  const OrtApi& api = library->api();
  Checker check{*library, ErrorCode::model_load_failed, "cannot load " + name};
  std::unique_ptr<Session> s(new Session());
  s->name_ = name;
  OrtSessionOptions* raw_options = nullptr;
  if (auto ok = check(api.CreateSessionOptions(&raw_options)); !ok) return ok.error();
  SessionOptionsPtr options(raw_options, {&api});
  // One run at a time per model (the encoder's queue), so parallelism is inside an operator.
  if (auto ok = check(api.SetIntraOpNumThreads(options.get(), threads)); !ok) return ok.error();
  if (auto ok = check(api.SetInterOpNumThreads(options.get(), 1)); !ok) return ok.error();
  if (auto ok = check(api.SetSessionExecutionMode(options.get(), ORT_SEQUENTIAL)); !ok) return ok.error();
  if (auto ok = check(api.SetSessionGraphOptimizationLevel(options.get(), ORT_ENABLE_ALL)); !ok)
    return ok.error();
  // Idle intra-op threads sleep instead of spinning: a process that also runs llama.cpp models (or
  // a machine with fewer free cores than threads) collapses with spinning workers, as bootstrap's
  // note on llama.cpp's OpenMP barriers measured.
  if (auto ok = check(api.AddSessionConfigEntry(options.get(), "session.intra_op.allow_spinning", "0")); !ok)
    return ok.error();
  OrtSession* raw = nullptr;
  if (auto ok = check(api.CreateSession(library->env(), graph.c_str(), options.get(), &raw)); !ok)
    return ok.error();
  s->session_ = SessionPtr(raw, {&api});
  OrtMemoryInfo* cpu = nullptr;
  if (auto ok = check(api.CreateCpuMemoryInfo(OrtDeviceAllocator, OrtMemTypeDefault, &cpu)); !ok)
    return ok.error();
  s->cpu_ = MemoryInfoPtr(cpu, {&api});
  s->library_ = std::move(library);
  if (auto ok = s->describe(); !ok) return ok.error();
  return s;
}

Result<void> Session::describe() {
  const OrtApi& api = library_->api();
  Checker check{*library_, ErrorCode::model_load_failed, "cannot read the graph of " + name_};
  OrtAllocator* allocator = nullptr;
  if (auto ok = check(api.GetAllocatorWithDefaultOptions(&allocator)); !ok) return ok;
  for (int io = 0; io < 2; ++io) {
    size_t count = 0;
    if (auto ok = check(io ? api.SessionGetOutputCount(session_.get(), &count)
                           : api.SessionGetInputCount(session_.get(), &count));
        !ok)
      return ok;
    if (count > 64)
      return Error(ErrorCode::model_load_failed, name_ + ": more than 64 graph inputs or outputs");
    for (size_t i = 0; i < count; ++i) {
      GraphValue v;
      char* name = nullptr;
      if (auto ok = check(io ? api.SessionGetOutputName(session_.get(), i, allocator, &name)
                             : api.SessionGetInputName(session_.get(), i, allocator, &name));
          !ok)
        return ok;
      v.name = name;
      if (OrtStatus* freed = api.AllocatorFree(allocator, name)) api.ReleaseStatus(freed);
      OrtTypeInfo* raw_info = nullptr;
      if (auto ok = check(io ? api.SessionGetOutputTypeInfo(session_.get(), i, &raw_info)
                             : api.SessionGetInputTypeInfo(session_.get(), i, &raw_info));
          !ok)
        return ok;
      TypeInfoPtr info(raw_info, {&api});
      const OrtTensorTypeAndShapeInfo* tensor = nullptr;
      if (auto ok = check(api.CastTypeInfoToTensorInfo(info.get(), &tensor)); !ok) return ok;
      if (tensor) {  // null for a sequence or map value: left UNDEFINED, rejected by the caller
        size_t rank = 0;
        if (auto ok = check(api.GetTensorElementType(tensor, &v.type)); !ok) return ok;
        if (auto ok = check(api.GetDimensionsCount(tensor, &rank)); !ok) return ok;
        if (rank > 8) return Error(ErrorCode::model_load_failed, name_ + ": " + v.name + " has rank above 8");
        v.dims.resize(rank);
        if (auto ok = check(api.GetDimensions(tensor, v.dims.data(), rank)); !ok) return ok;
      }
      (io ? outputs_ : inputs_).push_back(std::move(v));
    }
  }
  return {};
}

const GraphValue* Session::input(const std::string& name) const {
  for (const auto& v : inputs_)
    if (v.name == name) return &v;
  return nullptr;
}

const GraphValue* Session::output(const std::string& name) const {
  for (const auto& v : outputs_)
    if (v.name == name) return &v;
  return nullptr;
}

Result<FloatTensor> Session::run(const std::vector<IdsInput>& inputs, int64_t batch, int64_t sequence,
                                 const std::string& output, std::stop_token cancel) const {
  const OrtApi& api = library_->api();
  Checker check{*library_, ErrorCode::inference_failed, name_};
  const int64_t shape[2] = {batch, sequence};
  std::vector<std::vector<int32_t>> narrowed;  // storage for int32 inputs, alive through the run
  narrowed.reserve(inputs.size());
  std::vector<ValuePtr> values;
  std::vector<const OrtValue*> value_ptrs;
  std::vector<const char*> names;
  for (const auto& in : inputs) {
    const GraphValue* g = input(in.name);
    OrtValue* value = nullptr;
    void* data = const_cast<int64_t*>(in.values.data());
    size_t bytes = in.values.size() * sizeof(int64_t);
    auto type = ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64;
    if (g && g->type == ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32) {
      narrowed.emplace_back(in.values.begin(), in.values.end());
      data = narrowed.back().data();
      bytes = narrowed.back().size() * sizeof(int32_t);
      type = ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32;
    }
    if (auto ok = check(api.CreateTensorWithDataAsOrtValue(cpu_.get(), data, bytes, shape, 2, type, &value));
        !ok)
      return ok.error();
    values.emplace_back(value, OrtRelease<OrtValue, &OrtApi::ReleaseValue>{&api});
    value_ptrs.push_back(value);
    names.push_back(in.name.c_str());
  }
  OrtRunOptions* raw_run = nullptr;
  if (auto ok = check(api.CreateRunOptions(&raw_run)); !ok) return ok.error();
  RunOptionsPtr run_options(raw_run, {&api});
  // A cancelled caller stops the run between operators (ONNX Runtime checks the flag as it goes).
  std::stop_callback on_cancel(cancel, [&] {
    if (OrtStatus* st = api.RunOptionsSetTerminate(run_options.get())) api.ReleaseStatus(st);
  });
  const char* output_name = output.c_str();
  OrtValue* out = nullptr;
  OrtStatus* status = api.Run(session_.get(), run_options.get(), names.data(), value_ptrs.data(),
                              value_ptrs.size(), &output_name, 1, &out);
  if (cancel.stop_requested()) {
    if (status) api.ReleaseStatus(status);
    if (out) api.ReleaseValue(out);
    return Error(ErrorCode::cancelled, "embedding cancelled");
  }
  if (auto ok = check(status); !ok) return ok.error();
  ValuePtr result(out, {&api});
  OrtTensorTypeAndShapeInfo* raw_shape = nullptr;
  if (auto ok = check(api.GetTensorTypeAndShape(result.get(), &raw_shape)); !ok) return ok.error();
  ShapeInfoPtr info(raw_shape, {&api});
  ONNXTensorElementDataType type{};
  size_t rank = 0, count = 0;
  if (auto ok = check(api.GetTensorElementType(info.get(), &type)); !ok) return ok.error();
  if (auto ok = check(api.GetDimensionsCount(info.get(), &rank)); !ok) return ok.error();
  if (auto ok = check(api.GetTensorShapeElementCount(info.get(), &count)); !ok) return ok.error();
  if (type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT || rank > 8)
    return Error(ErrorCode::inference_failed, name_ + ": output " + output + " is not a float tensor");
  FloatTensor t;
  t.shape.resize(rank);
  if (auto ok = check(api.GetDimensions(info.get(), t.shape.data(), rank)); !ok) return ok.error();
  float* data = nullptr;
  if (auto ok = check(api.GetTensorMutableData(result.get(), reinterpret_cast<void**>(&data))); !ok)
    return ok.error();
  t.data.assign(data, data + count);
  return t;
}

}  // namespace xervo::onnx
