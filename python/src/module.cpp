// xervo._xervo: the Python extension over libxervo (nanobind). Every call that runs a model, loads
// one or touches the library releases the GIL, so Python threads run in parallel and an asyncio loop
// stays free while an executor thread waits. Errors arrive as xervo.XervoError carrying xervo's code.
// The Python package (python/xervo/__init__.py) wraps this module with the documented API.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/function.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/unique_ptr.h>
#include <nanobind/stl/vector.h>

#include <condition_variable>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <stop_token>
#include <thread>

#include "xervo/library.h"
#include "xervo/providers.h"
#include "xervo/runtime.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace {

PyObject* g_error_type = nullptr;  // xervo._xervo.XervoError

// Carries an Error out of a call; the translator below turns it into XervoError.
struct ErrorException {
  xervo::Error error;
};

template <typename T>
T take(xervo::Result<T>&& r) {
  if (!r.ok()) throw ErrorException{r.error()};
  return std::move(r).value_or_throw();
}
void take(xervo::Result<void>&& r) {
  if (!r.ok()) throw ErrorException{r.error()};
}

void raise_error(const xervo::Error& e) {
  PyObject* value = PyObject_CallFunction(g_error_type, "s", e.to_string().c_str());
  if (!value) return;  // the call's own exception stands
  nb::handle h(value);
  h.attr("code") = nb::str(std::string(xervo::to_string(e.code())).c_str());
  h.attr("message") = nb::str(e.message().c_str());
  h.attr("http_status") = nb::int_(xervo::http_status(e.code()));
  PyErr_SetObject(g_error_type, value);
  Py_DECREF(value);
}

// A stop_source Python can hold and trigger from any thread (asyncio cancels through it).
struct CancelToken {
  std::stop_source source;
  void cancel() { source.request_stop(); }
  bool cancelled() const { return source.stop_requested(); }
};

std::stop_token token_of(const CancelToken* c) { return c ? c->source.get_token() : std::stop_token{}; }

struct Embedding {
  std::shared_ptr<xervo::EmbeddingModel> model;

  // One contiguous float32 [n, dim] buffer owned by the array: rows are copied once from the engine's
  // result with memcpy, never element by element through Python objects.
  nb::ndarray<nb::numpy, float, nb::ndim<2>> embed(const std::vector<std::string>& texts,
                                                   std::optional<int> dimensions, bool truncate,
                                                   const CancelToken* cancel) {
    xervo::Result<xervo::Embeddings> result = xervo::Error(xervo::ErrorCode::internal, "not run");
    {
      nb::gil_scoped_release release;
      xervo::EmbedOptions options;
      options.dimensions = dimensions;
      options.truncate = truncate;
      options.cancel = token_of(cancel);
      result = model->embed(texts, options);
    }
    auto out = take(std::move(result));
    const size_t n = out.vectors.size();
    const size_t dim = n ? out.vectors[0].size() : static_cast<size_t>(std::max(0, out.dimensions));
    auto data = std::make_unique<float[]>(std::max<size_t>(1, n * dim));
    for (size_t i = 0; i < n; ++i)
      std::memcpy(data.get() + i * dim, out.vectors[i].data(), dim * sizeof(float));
    float* raw = data.release();
    nb::capsule owner(raw, [](void* p) noexcept { delete[] static_cast<float*>(p); });
    return nb::ndarray<nb::numpy, float, nb::ndim<2>>(raw, {n, dim}, owner);
  }
  int dimensions() const { return model->dimensions(); }
};

struct RerankHit {
  size_t index = 0;
  double score = 0;
};

struct Reranker {
  std::shared_ptr<xervo::RerankerModel> model;

  std::vector<RerankHit> rerank(const std::string& query, const std::vector<std::string>& documents,
                                std::optional<size_t> top_n, const CancelToken* cancel) {
    xervo::Result<xervo::Reranking> result = xervo::Error(xervo::ErrorCode::internal, "not run");
    {
      nb::gil_scoped_release release;
      result = model->rerank(query, documents, top_n, token_of(cancel));
    }
    std::vector<RerankHit> out;
    for (const auto& r : take(std::move(result)).results) out.push_back({r.index, r.score});
    return out;
  }
};

struct GenerateOutcome {
  std::string text;
  std::string reasoning;
  std::string finish_reason;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  std::string served_by;
};

GenerateOutcome outcome_of(const xervo::GenerateResult& r) {
  return {r.text,
          r.reasoning,
          std::string(xervo::to_string(r.finish_reason)),
          r.usage.prompt_tokens,
          r.usage.completion_tokens,
          r.served_by};
}

xervo::GenerateRequest make_request(std::optional<std::string> prompt,
                                    std::optional<std::vector<std::pair<std::string, std::string>>> messages,
                                    int max_tokens, float temperature, float top_p, int top_k,
                                    std::optional<uint64_t> seed, std::vector<std::string> stop,
                                    std::optional<std::string> json_schema) {
  xervo::GenerateRequest request;
  if (messages)
    for (auto& [role, content] : *messages) request.messages.emplace_back(role, content);
  if (prompt) request.prompt = *prompt;
  if (request.messages.empty() && request.prompt.empty())
    throw ErrorException{xervo::Error(xervo::ErrorCode::invalid_input, "give a prompt or messages")};
  auto& o = request.options;
  o.max_tokens = max_tokens;
  o.temperature = temperature;
  o.top_p = top_p;
  o.top_k = top_k;
  o.seed = seed;
  o.stop = std::move(stop);
  if (json_schema) o.json_schema = *json_schema;
  return request;
}

// A generation running on its own thread, handing pieces to the Python iterator. Ends when the
// model finishes, or when cancel() (or the iterator being dropped: the destructor) stops it.
class Stream {
 public:
  Stream(std::shared_ptr<xervo::GeneratorModel> model, xervo::GenerateRequest request)
      : model_(std::move(model)) {
    request.cancel = stop_.get_token();
    thread_ = std::thread([this, request = std::move(request)] {
      auto result = model_->generate(request, [this](std::string_view piece) {
        std::lock_guard lock(mutex_);
        pieces_.emplace_back(piece);
        ready_.notify_one();
        return !stop_.stop_requested();
      });
      std::lock_guard lock(mutex_);
      result_.emplace(std::move(result));
      ready_.notify_one();
    });
  }
  ~Stream() {
    stop_.request_stop();
    if (thread_.joinable()) {
      nb::gil_scoped_release release;
      thread_.join();
    }
  }

  // The next piece; nullopt at the end. Raises the generation's error, if it failed.
  std::optional<std::string> next() {
    std::optional<std::string> piece;
    std::optional<xervo::Error> error;
    {
      // The GIL is dropped before the lock is taken: a thread holding the lock never waits for the GIL.
      nb::gil_scoped_release release;
      std::unique_lock lock(mutex_);
      ready_.wait(lock, [&] { return !pieces_.empty() || result_.has_value(); });
      if (!pieces_.empty()) {
        piece = std::move(pieces_.front());
        pieces_.pop_front();
      } else if (!result_->ok()) {
        error = result_->error();
      }
    }
    if (error) throw ErrorException{*error};
    return piece;
  }
  void cancel() { stop_.request_stop(); }
  // The whole result once the iteration ended (None before).
  std::optional<GenerateOutcome> result() {
    std::lock_guard lock(mutex_);
    if (!result_ || !result_->ok() || !pieces_.empty()) return std::nullopt;
    return outcome_of(result_->value());
  }

 private:
  std::shared_ptr<xervo::GeneratorModel> model_;
  std::stop_source stop_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::string> pieces_;
  std::optional<xervo::Result<xervo::GenerateResult>> result_;
  std::thread thread_;
};

struct Generator {
  std::shared_ptr<xervo::GeneratorModel> model;

  GenerateOutcome generate(xervo::GenerateRequest request, const CancelToken* cancel) {
    request.cancel = token_of(cancel);
    xervo::Result<xervo::GenerateResult> result = xervo::Error(xervo::ErrorCode::internal, "not run");
    {
      nb::gil_scoped_release release;
      result = model->generate(request);
    }
    return outcome_of(take(std::move(result)));
  }
  std::unique_ptr<Stream> stream(xervo::GenerateRequest request) {
    return std::make_unique<Stream>(model, std::move(request));
  }
};

xervo::ModelSpec spec_of(const nlohmann::json& j) {
  xervo::ModelSpec spec;
  auto text = [&](const char* key) {
    return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
  };
  spec.alias = text("alias");
  auto task = xervo::parse_model_task(text("task"));
  if (!task)
    throw ErrorException{xervo::Error(
        xervo::ErrorCode::config_invalid,
        "alias '" + spec.alias + "': task '" + text("task") + "' is not embed, rerank or generate")};
  spec.task = *task;
  spec.provider = text("provider").empty() ? "llamacpp" : text("provider");
  spec.model = text("model");
  spec.revision = text("revision");
  if (j.contains("options") && j["options"].is_object()) spec.options = j["options"];
  if (auto w = xervo::parse_warmup_policy(text("warmup").empty() ? "lazy" : text("warmup")))
    spec.warmup = *w;
  else
    throw ErrorException{xervo::Error(xervo::ErrorCode::config_invalid,
                                      "alias '" + spec.alias + "': warmup is lazy, eager or background")};
  if (j.contains("fallbacks") && j["fallbacks"].is_array())
    for (const auto& f : j["fallbacks"])
      if (f.is_string()) spec.fallbacks.push_back(f.get<std::string>());
  return spec;
}

struct Runtime {
  std::shared_ptr<xervo::ModelRuntime> runtime;

  static Runtime build(const xervo::Config& config) {
    xervo::Result<std::shared_ptr<xervo::ModelRuntime>> built =
        xervo::Error(xervo::ErrorCode::internal, "not run");
    {
      nb::gil_scoped_release release;
      xervo::RuntimeBuilder builder;
      builder.add_config(config);
      // `model = "auto"` weighs the memory budget (devices: the CPU alone here; docs/auto-model.md).
      xervo::AutoModelContext auto_context;
      if (auto limits = xervo::parse_runtime_limits(config); limits.ok()) auto_context.memory_budget = limits->memory_budget;
      auto resolver = xervo::make_library_resolver(config.library, config.path, std::move(auto_context));
      xervo::add_builtin_providers(builder, resolver);
      built = builder.build();
    }
    return Runtime{take(std::move(built))};
  }
  static Runtime from_config(const std::string& path) { return build(take(xervo::load_config_file(path))); }
  static Runtime from_toml(const std::string& text) {
    return build(take(xervo::parse_config(text, "<toml>")));
  }
  // {"models": [{alias, task, provider, model, options, ...}], "providers": {ID: {...}},
  //  "plugins": {"paths": [...]}, "library": {...}}: what RuntimeBuilder (Python) collected.
  static Runtime from_parts(const std::string& parts_json) {
    auto parts = nlohmann::json::parse(parts_json, nullptr, false);
    if (!parts.is_object())
      throw ErrorException{xervo::Error(xervo::ErrorCode::invalid_input, "bad builder state")};
    xervo::Config config;
    if (parts.contains("models"))
      for (const auto& m : parts["models"]) config.models.push_back(spec_of(m));
    if (parts.contains("providers") && parts["providers"].is_object()) config.providers = parts["providers"];
    if (parts.contains("plugins") && parts["plugins"].is_object())
      config.providers["plugins"] = parts["plugins"];
    if (parts.contains("library") && parts["library"].is_object()) config.library = parts["library"];
    return build(config);
  }

  template <typename Handle, typename Get>
  Handle acquire(Get get) {
    decltype(get()) r = xervo::Error(xervo::ErrorCode::internal, "not run");
    {
      nb::gil_scoped_release release;
      r = get();
    }
    return Handle{take(std::move(r))};
  }
  Embedding embedding(const std::string& name) {
    return acquire<Embedding>([&] { return runtime->embedding(name); });
  }
  Reranker reranker(const std::string& name) {
    return acquire<Reranker>([&] { return runtime->reranker(name); });
  }
  Generator generator(const std::string& name) {
    return acquire<Generator>([&] { return runtime->generator(name); });
  }
  std::vector<std::string> aliases() const {
    std::vector<std::string> out;
    for (const auto& s : runtime->specs()) out.push_back(s.alias);
    return out;
  }
  void unload(const std::string& alias) {
    xervo::Result<void> r;
    {
      nb::gil_scoped_release release;
      r = runtime->unload(alias);
    }
    take(std::move(r));
  }
};

struct Library {
  std::shared_ptr<xervo::ModelLibrary> library;

  static Library open(std::optional<std::string> home) {
    xervo::LibraryOptions options;
    if (home) options.home = *home;
    return Library{take(xervo::ModelLibrary::open(options))};
  }
  std::string search(const std::string& text, std::optional<std::string> task, int limit) {
    xervo::LibraryQuery query;
    query.text = text;
    if (task) {
      query.task = xervo::parse_model_task(*task);
      if (!query.task)
        throw ErrorException{
            xervo::Error(xervo::ErrorCode::invalid_input, "task is embed, rerank or generate")};
    }
    query.limit = limit;
    xervo::Result<std::vector<xervo::LibraryModel>> r = xervo::Error(xervo::ErrorCode::internal, "not run");
    {
      nb::gil_scoped_release release;
      r = library->search(query);
    }
    nlohmann::json out = nlohmann::json::array();
    for (const auto& m : take(std::move(r))) out.push_back(xervo::to_json(m));
    return out.dump();
  }
  std::string get(const std::string& id) { return xervo::to_json(take(library->get(id))).dump(); }
  // `progress(file, bytes_done, bytes_total)` runs on the calling thread, with the GIL taken for it.
  std::string pull(const std::string& ref, std::function<void(std::string, uint64_t, uint64_t)> progress) {
    xervo::Result<xervo::LibraryModel> r = xervo::Error(xervo::ErrorCode::internal, "not run");
    // An exception of the Python callback is kept (never thrown through the library's C++ code) and
    // raised once the pull returned; the callback is not called again after it.
    std::unique_ptr<nb::python_error> failure;
    {
      nb::gil_scoped_release release;
      xervo::PullProgressCallback cb;
      if (progress)
        cb = [&](const xervo::PullProgress& p) {
          nb::gil_scoped_acquire acquire;
          if (failure) return;
          try {
            progress(p.file, p.bytes_done, p.bytes_total);
          } catch (nb::python_error& e) {
            failure = std::make_unique<nb::python_error>(std::move(e));
          }
        };
      r = library->pull(ref, cb);
    }
    if (failure) throw std::move(*failure);
    return xervo::to_json(take(std::move(r))).dump();
  }
  std::string import_paths(const std::vector<std::string>& paths, const std::string& mode,
                           const std::vector<std::string>& tags) {
    xervo::ImportOptions options;
    options.mode = mode == "copy"        ? xervo::ImportMode::copy
                   : mode == "move"      ? xervo::ImportMode::move
                   : mode == "reference" ? xervo::ImportMode::reference
                   : mode == "link"
                       ? xervo::ImportMode::link
                       : throw ErrorException{xervo::Error(xervo::ErrorCode::invalid_input,
                                                           "mode is link, copy, move or reference")};
    options.tags = tags;
    std::vector<std::filesystem::path> files(paths.begin(), paths.end());
    std::vector<xervo::ImportOutcome> outcomes;
    {
      nb::gil_scoped_release release;
      outcomes = library->import_paths(files, options);
    }
    nlohmann::json out = nlohmann::json::array();
    for (const auto& o : outcomes) {
      nlohmann::json j = {{"source", o.source.string()}, {"already_present", o.already_present}};
      if (o.model) j["model"] = xervo::to_json(*o.model);
      if (o.error)
        j["error"] = {{"code", xervo::to_string(o.error->code())}, {"message", o.error->message()}};
      out.push_back(std::move(j));
    }
    return out.dump();
  }
};

}  // namespace

NB_MODULE(_xervo, m) {
  m.doc() = "xervo's runtime in-process (the extension under the xervo package)";
  g_error_type = PyErr_NewExceptionWithDoc(
      "xervo._xervo.XervoError",
      "An error of xervo: `code` is xervo's ErrorCode name (\"alias_not_found\", \"context_overflow\", ...), "
      "`http_status` the status the server maps it to, `message` what to do.",
      PyExc_RuntimeError, nullptr);
  m.attr("XervoError") = nb::handle(g_error_type);
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const ErrorException& e) {
      raise_error(e.error);
    } catch (const xervo::Exception& e) {
      raise_error(e.error());
    }
  });

  nb::class_<CancelToken>(m, "CancelToken", "Cancels the calls it is passed to, from any thread.")
      .def(nb::init<>())
      .def("cancel", &CancelToken::cancel)
      .def_prop_ro("cancelled", &CancelToken::cancelled);

  nb::class_<Embedding>(m, "Embedding")
      .def("embed", &Embedding::embed, "texts"_a, "dimensions"_a = nb::none(), "truncate"_a = false,
           "cancel"_a = nb::none())
      .def_prop_ro("dimensions", &Embedding::dimensions);

  nb::class_<RerankHit>(m, "RerankResult")
      .def_ro("index", &RerankHit::index)
      .def_ro("score", &RerankHit::score)
      .def("__repr__", [](const RerankHit& h) {
        return "RerankResult(index=" + std::to_string(h.index) + ", score=" + std::to_string(h.score) + ")";
      });
  nb::class_<Reranker>(m, "Reranker")
      .def("rerank", &Reranker::rerank, "query"_a, "documents"_a, "top_n"_a = nb::none(),
           "cancel"_a = nb::none());

  nb::class_<GenerateOutcome>(m, "GenerateResult")
      .def_ro("text", &GenerateOutcome::text)
      .def_ro("reasoning", &GenerateOutcome::reasoning)
      .def_ro("finish_reason", &GenerateOutcome::finish_reason)
      .def_ro("prompt_tokens", &GenerateOutcome::prompt_tokens)
      .def_ro("completion_tokens", &GenerateOutcome::completion_tokens)
      .def_ro("served_by", &GenerateOutcome::served_by);
  nb::class_<Stream>(m, "Stream")
      .def("next", &Stream::next)
      .def("cancel", &Stream::cancel)
      .def_prop_ro("result", &Stream::result);
  nb::class_<Generator>(m, "Generator")
      .def(
          "generate",
          [](Generator& g, std::optional<std::string> prompt,
             std::optional<std::vector<std::pair<std::string, std::string>>> messages, int max_tokens,
             float temperature, float top_p, int top_k, std::optional<uint64_t> seed,
             std::vector<std::string> stop, std::optional<std::string> json_schema,
             const CancelToken* cancel) {
            return g.generate(make_request(prompt, messages, max_tokens, temperature, top_p, top_k, seed,
                                           stop, json_schema),
                              cancel);
          },
          "prompt"_a = nb::none(), "messages"_a = nb::none(), "max_tokens"_a = 256, "temperature"_a = 0.8f,
          "top_p"_a = 0.95f, "top_k"_a = 40, "seed"_a = nb::none(), "stop"_a = std::vector<std::string>{},
          "json_schema"_a = nb::none(), "cancel"_a = nb::none())
      .def(
          "stream",
          [](Generator& g, std::optional<std::string> prompt,
             std::optional<std::vector<std::pair<std::string, std::string>>> messages, int max_tokens,
             float temperature, float top_p, int top_k, std::optional<uint64_t> seed,
             std::vector<std::string> stop, std::optional<std::string> json_schema) {
            return g.stream(make_request(prompt, messages, max_tokens, temperature, top_p, top_k, seed, stop,
                                         json_schema));
          },
          "prompt"_a = nb::none(), "messages"_a = nb::none(), "max_tokens"_a = 256, "temperature"_a = 0.8f,
          "top_p"_a = 0.95f, "top_k"_a = 40, "seed"_a = nb::none(), "stop"_a = std::vector<std::string>{},
          "json_schema"_a = nb::none());

  nb::class_<Runtime>(m, "Runtime")
      .def_static("from_config", &Runtime::from_config, "path"_a)
      .def_static("from_toml", &Runtime::from_toml, "text"_a)
      .def_static("from_parts", &Runtime::from_parts, "parts_json"_a)
      .def("embedding", &Runtime::embedding, "name"_a)
      .def("reranker", &Runtime::reranker, "name"_a)
      .def("generator", &Runtime::generator, "name"_a)
      .def("aliases", &Runtime::aliases)
      .def("unload", &Runtime::unload, "alias"_a);

  nb::class_<Library>(m, "Library")
      .def_static("open", &Library::open, "home"_a = nb::none())
      .def("search", &Library::search, "text"_a = "", "task"_a = nb::none(), "limit"_a = 50)
      .def("get", &Library::get, "id"_a)
      .def("pull", &Library::pull, "ref"_a, "progress"_a = nb::none())
      .def("import_paths", &Library::import_paths, "paths"_a, "mode"_a = "link",
           "tags"_a = std::vector<std::string>{});
}
