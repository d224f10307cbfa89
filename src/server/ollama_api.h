// Ollama's API (/api/...) over the same runtime as the OpenAI routes: what the ollama_*.cpp route
// files share. Each file is one role: names (ollama_names.cpp), request fields (ollama_request.cpp),
// model facts for tags and show (ollama_facts.cpp), chat and generate (ollama_generate.cpp), model
// listing (ollama_models.cpp), pull and delete (ollama_library.cpp), embeddings and registration
// (ollama_routes.cpp). docs/server/ollama.md is the user's view. Stateless functions; safe from any
// thread (the facts cache locks itself).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/server_state.h"
#include "xervo/generator.h"
#include "xervo/model_spec.h"

#if XERVO_HAVE_LIBRARY
#include "xervo/library.h"
#endif

namespace xervo::server::ollama {

// ---- names (ollama_names.cpp) ----------------------------------------------------------------------

// The name the runtime gets for a model an Ollama client named, by the first rule that applies:
//  1. a configured alias, exactly;
//  2. ALIAS:latest (Ollama's default tag) -> ALIAS;
//  3. an id with a scheme the runtime knows (library:, hf:, a registered PROVIDER:) or a path -> as is;
//  4. a library id ("publisher/name", with or without ":latest") the library holds -> library:ID;
//  5. an Ollama name imported from an Ollama folder ("llama3.2:1b" -> library id "ollama/llama3.2-1b",
//     "ns/model:tag" -> "ns/model-tag"; no tag means "latest") the library holds -> library:ID;
//  6. anything else as is: the model-id policy then refuses it (404) unless [server] allow_model_ids
//     allows it.
std::string runtime_name(const ServerState& state, std::string_view name);

// The library id (no "library:") an Ollama name means by rules 3 to 5, or nullopt; aliases never.
std::optional<std::string> library_id(const ServerState& state, std::string_view name);

// The name a model field of a request holds: `model`, else the older `name`; 400 when neither.
std::string requested_model(const nlohmann::json& body);

// ---- time -------------------------------------------------------------------------------------------

// "2024-06-04T14:38:31.837530123Z": Ollama's timestamps (RFC 3339, UTC, nanoseconds).
std::string rfc3339(std::chrono::system_clock::time_point t);
inline std::string now_rfc3339() { return rfc3339(std::chrono::system_clock::now()); }
// Ollama's durations are nanoseconds.
inline int64_t nanos(std::chrono::steady_clock::duration d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

// ---- request fields (ollama_request.cpp) -------------------------------------------------------------

// `options`, `format`, `think`, `logprobs` and `top_logprobs` of a chat or generate body, onto
// GenerateOptions (see docs/server/ollama.md for what each option becomes and which are refused).
// `spec` is the model's spec: options.num_ctx is accepted only when it equals its context_size.
GenerateOptions generation_options(const nlohmann::json& body, const ServerOptions& limits,
                                   const ModelSpec& spec);
// Checks the `options` of an embedding request: no sampling option changes an embedding (they are
// accepted and have no effect, as in Ollama); model-load options are refused as for generation.
void check_embedding_options(const nlohmann::json& body, const ModelSpec& spec);

// `messages` of /api/chat (empty when absent, null or []), `tools` of chat and generate.
std::vector<ChatMessage> chat_messages(const nlohmann::json& body);
std::vector<ToolDefinition> tool_definitions(const nlohmann::json& body);
// Refuses a non-empty `images` field of `object` (`where` names it in the message).
void refuse_images(const nlohmann::json& object, const std::string& where);

// ---- answers ----------------------------------------------------------------------------------------

// A tool call in Ollama's shape: {"id", "function": {"index", "name", "arguments": OBJECT}}. Arguments
// that are not a JSON object stay as the model wrote them, as a string.
nlohmann::json tool_call_json(const ToolCall& call, size_t index);
// Ollama's logprobs: [{"token", "logprob", "bytes", "top_logprobs": [{"token", "logprob", "bytes"}]}].
nlohmann::json logprobs_json(const std::vector<TokenLogprob>& logprobs);
// Ollama's done_reason for a finished generation: "stop" (also for tool calls) or "length".
std::string_view done_reason(FinishReason reason);
// One NDJSON line (with the newline), invalid UTF-8 replaced.
std::string ndjson(const nlohmann::json& line);
// Ollama's error body: {"error": MESSAGE}.
nlohmann::json error_json(const Error& error);

// ---- lifecycle (ollama_routes.cpp) ------------------------------------------------------------------

// A request without input (empty messages, prompt or input): loads `admitted`'s model through the
// runtime with the request's keep_alive ("load"), or with keep_alive 0 lets a loaded model go as
// soon as nothing else holds it ("unload"; one that is not loaded stays so, a pinned one stays).
std::string_view load_or_unload(ServerState& state, const std::string& name, const AdmittedModel& admitted,
                                std::optional<std::chrono::milliseconds> keep_alive,
                                const CancellationTracker::Handle& cancel);

// ---- model facts (ollama_facts.cpp) ------------------------------------------------------------------

// What /api/tags, /api/ps and /api/show say about one model.
struct ModelFacts {
  std::string name;  // as listed: the alias, or the library id
  ModelTask task = ModelTask::generate;
  std::string provider;
  uint64_t size = 0;   // bytes of the file (local), 0 for remote models
  std::string digest;  // hex sha256: the file's for library models, else of the model's identity
  std::chrono::system_clock::time_point modified_at{};
  std::string format;  // "gguf", or "remote"
  std::string family;  // architecture, or the provider of a remote model
  std::string parameter_size;
  std::string quantization_level;
  std::string chat_template;
  nlohmann::json model_info = nlohmann::json::object();  // GGUF keys of what the file says
};
ModelFacts alias_facts(const ServerState& state, const ModelSpec& spec);
#if XERVO_HAVE_LIBRARY
// A library model's facts from its record (no file read: tags lists many); chat_template_of() reads
// the template from the file's header when a caller needs it (show).
ModelFacts library_facts(const LibraryModel& model);
std::string chat_template_of(const std::filesystem::path& file);
#endif
// The "details" object of tags, ps and show.
nlohmann::json details_json(const ModelFacts& facts);
// "8.0B", "137M", "12K": Ollama's parameter_size.
std::string parameter_size(uint64_t parameters);

// ---- route groups ------------------------------------------------------------------------------------

void add_generate_routes(Router& router, ServerState& state);
void add_model_routes(Router& router, ServerState& state);
void add_library_routes(Router& router, ServerState& state);
void add_embed_routes(Router& router, ServerState& state);

}  // namespace xervo::server::ollama
