/* The provider plugin ABI: a shared library that adds an engine to xervo without recompiling it.
 * Plain C (C99): no C++ types, exceptions or STL cross this boundary, so a plugin may be written in C,
 * C++, Rust or anything that exports C symbols. docs/providers/plugins.md is the manual.
 *
 * A plugin exports two functions:
 *   uint32_t xervo_plugin_abi_version(void);         returns XERVO_PLUGIN_ABI_VERSION it was built with
 *   const xervo_plugin_api* xervo_plugin_get_api(void);  its function table (static storage)
 * xervo calls xervo_plugin_abi_version() first and refuses a plugin whose version differs from its
 * own, before it reads anything else. Each loaded plugin becomes one provider, with the table's id.
 *
 * Ownership, for every buffer:
 *   - Everything xervo passes in (strings, input arrays, output buffers, the error struct) belongs to
 *     xervo and is valid only during the call: copy what you keep.
 *   - Output goes into buffers xervo allocated (vectors, scores, the error message); text generated is
 *     handed back piece by piece through a callback and copied by xervo before the callback returns.
 *   - A model handle (xervo_plugin_model) belongs to the plugin: xervo never looks inside it and hands
 *     it back to unload() exactly once, after the last call on it has returned.
 *   - The table and its strings stay valid until the process ends (xervo never dlcloses a plugin).
 *
 * Threads: unless the table sets XERVO_PLUGIN_THREAD_SAFE, xervo calls a model's functions one at a
 * time (never two at once on one model; different models may run at once). load() may run on any
 * thread, concurrently for different models. No function may throw across the boundary or call
 * exit(); a crash in a plugin is a crash of the process that loaded it.
 */
#ifndef XERVO_PLUGIN_H
#define XERVO_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on every incompatible change of this header; xervo loads only plugins built with its own. */
#define XERVO_PLUGIN_ABI_VERSION 1u

/* Tasks a plugin serves (xervo_plugin_api.tasks, a bit set). */
#define XERVO_PLUGIN_TASK_EMBED 1u
#define XERVO_PLUGIN_TASK_RERANK 2u
#define XERVO_PLUGIN_TASK_GENERATE 4u

/* xervo_plugin_api.flags. */
#define XERVO_PLUGIN_THREAD_SAFE 1u /* a model's functions may run on several threads at once */

/* Longest error message kept (bytes, the terminating NUL included); longer ones are cut. */
#define XERVO_PLUGIN_MESSAGE_MAX 512

/* Status of every call. Each maps to one xervo ErrorCode of the same name (docs/providers/plugins.md);
 * any other value is read as XERVO_PLUGIN_INTERNAL. */
typedef enum xervo_plugin_status {
  XERVO_PLUGIN_OK = 0,
  XERVO_PLUGIN_INVALID_INPUT = 1,      /* the request is malformed (400) */
  XERVO_PLUGIN_CONFIG_INVALID = 2,     /* settings or options are wrong (400) */
  XERVO_PLUGIN_MODEL_NOT_FOUND = 3,    /* no such model (404) */
  XERVO_PLUGIN_MODEL_LOAD_FAILED = 4,  /* the model exists but cannot be loaded (500) */
  XERVO_PLUGIN_CONTEXT_OVERFLOW = 5,   /* an input is longer than the model takes (400) */
  XERVO_PLUGIN_INFERENCE_FAILED = 6,   /* the engine failed while running (500) */
  XERVO_PLUGIN_CANCELLED = 7,          /* the call saw xervo_plugin_cancel say stop (499) */
  XERVO_PLUGIN_UNAVAILABLE = 8,        /* busy or down; retry later (503) */
  XERVO_PLUGIN_INTERNAL = 9            /* a bug in the plugin (500) */
} xervo_plugin_status;

/* Filled by the plugin when it returns anything but XERVO_PLUGIN_OK: a NUL-terminated message that
 * says what went wrong and what to do. Owned by xervo; zeroed before each call. */
typedef struct xervo_plugin_error {
  char message[XERVO_PLUGIN_MESSAGE_MAX];
} xervo_plugin_error;

/* A string that is not NUL-terminated (UTF-8, as the client sent it). Owned by xervo. */
typedef struct xervo_plugin_text {
  const char* data;
  size_t size;
} xervo_plugin_text;

/* Lets a long call stop early: returns non-zero once the caller gave up (a client disconnected, a
 * deadline passed). Poll it between steps; calling it is cheap and thread-safe. */
typedef struct xervo_plugin_cancel {
  int (*is_cancelled)(void* user);
  void* user;
} xervo_plugin_cancel;

/* What load() says about a model it loaded. Owned by xervo, zeroed before the call. */
typedef struct xervo_plugin_model_info {
  uint32_t dimensions;   /* embed: the vector length (1 .. 65536); 0 for other tasks */
  uint64_t memory_bytes; /* memory the model holds, for xervo's budget; 0 when unknown */
  /* What decides the model's answers besides the request (file path and size, version): the
   * response cache keys answers by it. NUL-terminated; empty: answers are never cached. */
  char fingerprint[256];
} xervo_plugin_model_info;

/* Sampling of one generation. Owned by xervo. */
typedef struct xervo_plugin_generate_params {
  int32_t max_tokens;  /* upper bound on generated tokens (>= 1) */
  float temperature;   /* 0: greedy */
  float top_p;
  int32_t top_k;
  int32_t has_seed;    /* non-zero: use seed */
  uint64_t seed;
  const char* json_schema; /* NUL-terminated JSON Schema the output must follow, or NULL */
} xervo_plugin_generate_params;

/* Receives each generated piece of text (valid during the call only). Returns 0 when xervo wants no
 * more (the caller cancelled): stop and return XERVO_PLUGIN_CANCELLED. */
typedef int (*xervo_plugin_piece_fn)(void* user, const char* piece, size_t size);

/* Why a generation ended (xervo_plugin_generate_result.finish). */
#define XERVO_PLUGIN_FINISH_STOP 0   /* the model ended its answer */
#define XERVO_PLUGIN_FINISH_LENGTH 1 /* max_tokens reached */

typedef struct xervo_plugin_generate_result {
  int32_t finish;             /* XERVO_PLUGIN_FINISH_* */
  int64_t prompt_tokens;      /* tokens read; 0 when the plugin does not count */
  int64_t completion_tokens;  /* tokens generated */
} xervo_plugin_generate_result;

typedef struct xervo_plugin_model xervo_plugin_model; /* the plugin's own, opaque to xervo */

typedef struct xervo_plugin_api {
  uint32_t abi_version; /* XERVO_PLUGIN_ABI_VERSION */
  uint32_t struct_size; /* sizeof(xervo_plugin_api): later versions only append fields */
  const char* id;       /* provider id: 1..64 of [a-z0-9_-], unique among providers ("hashembed") */
  const char* version;  /* the plugin's own version, for logs and `xervo status` */
  uint32_t tasks;       /* XERVO_PLUGIN_TASK_* bits; at least one */
  uint32_t flags;       /* XERVO_PLUGIN_THREAD_SAFE or 0 */

  /* Loads `model` (a path or a name; NUL-terminated) for `task` (one XERVO_PLUGIN_TASK_* bit) with
   * `settings_json` ([providers.ID] of xervo.toml) and `options_json` (the alias's options), both
   * NUL-terminated JSON objects. On success sets *out (non-NULL) and fills *info. */
  xervo_plugin_status (*load)(const char* model, uint32_t task, const char* settings_json,
                              const char* options_json, xervo_plugin_model** out,
                              xervo_plugin_model_info* info, xervo_plugin_error* error);
  /* Releases a model; called once per successful load(), after its last call returned. */
  void (*unload)(xervo_plugin_model* model);

  /* embed (required with XERVO_PLUGIN_TASK_EMBED, else NULL): writes count vectors of `dimensions`
   * floats each, in input order, into `vectors` (room for `capacity` floats, count * the dimensions
   * load() reported), and sets *dimensions to the length it wrote. */
  xervo_plugin_status (*embed)(xervo_plugin_model* model, const xervo_plugin_text* inputs, size_t count,
                               float* vectors, size_t capacity, uint32_t* dimensions,
                               int64_t* prompt_tokens, const xervo_plugin_cancel* cancel,
                               xervo_plugin_error* error);

  /* rerank (required with XERVO_PLUGIN_TASK_RERANK, else NULL): writes one relevance score per
   * document (higher is better) into scores[0 .. count-1]; xervo sorts and cuts to top_n. */
  xervo_plugin_status (*rerank)(xervo_plugin_model* model, xervo_plugin_text query,
                                const xervo_plugin_text* documents, size_t count, double* scores,
                                int64_t* prompt_tokens, const xervo_plugin_cancel* cancel,
                                xervo_plugin_error* error);

  /* generate (required with XERVO_PLUGIN_TASK_GENERATE, else NULL): continues `prompt` (chat
   * messages arrive rendered as "role: content" lines ending in "assistant:"), handing each piece of
   * text to on_piece as it is produced; fills *result. */
  xervo_plugin_status (*generate)(xervo_plugin_model* model, xervo_plugin_text prompt,
                                  const xervo_plugin_generate_params* params, xervo_plugin_piece_fn on_piece,
                                  void* piece_user, xervo_plugin_generate_result* result,
                                  const xervo_plugin_cancel* cancel, xervo_plugin_error* error);
} xervo_plugin_api;

/* Marks the two exported functions in a plugin built with -fvisibility=hidden. */
#if defined(__GNUC__) || defined(__clang__)
#define XERVO_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define XERVO_PLUGIN_EXPORT
#endif

/* What the two exported symbols look like (for dlsym, and for the plugin's own declarations). */
typedef uint32_t (*xervo_plugin_abi_version_fn)(void);
typedef const xervo_plugin_api* (*xervo_plugin_get_api_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* XERVO_PLUGIN_H */
