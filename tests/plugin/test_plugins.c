/* Plugins for the plugin loader's tests, one per -DVARIANT_*: a streaming echo generator (not
 * thread-safe, and it checks that xervo never runs two of its calls at once) and hostile ones that
 * break each rule of include/xervo/plugin.h. Test doubles: they live here, never in the product. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xervo/plugin.h"

struct xervo_plugin_model {
  uint32_t dimensions;
  int slow; /* echo: sleep 20 ms per piece */
};

static void set_error(xervo_plugin_error* error, const char* message) {
  snprintf(error->message, sizeof error->message, "%s", message);
}

static xervo_plugin_status t_load(const char* model, uint32_t task, const char* settings_json,
                                  const char* options_json, xervo_plugin_model** out,
                                  xervo_plugin_model_info* info, xervo_plugin_error* error) {
  (void)task;
  (void)settings_json;
  if (strcmp(model, "missing") == 0) {
    set_error(error, "no model called missing here");
    return XERVO_PLUGIN_MODEL_NOT_FOUND;
  }
  struct xervo_plugin_model* m = calloc(1, sizeof *m);
  m->dimensions = strstr(options_json, "\"zero_dimensions\":true") ? 0 : 8;
  m->slow = strstr(options_json, "\"slow\":true") != NULL;
  *out = m;
  info->dimensions = m->dimensions;
  return XERVO_PLUGIN_OK;
}

static void t_unload(xervo_plugin_model* model) { free(model); }

#if !defined(VARIANT_ECHO)
static xervo_plugin_status t_embed(xervo_plugin_model* model, const xervo_plugin_text* inputs, size_t count,
                                   float* vectors, size_t capacity, uint32_t* dimensions, int64_t* prompt_tokens,
                                   const xervo_plugin_cancel* cancel, xervo_plugin_error* error) {
  (void)cancel;
  (void)capacity;
  (void)prompt_tokens;
#if defined(VARIANT_FAILING)
  (void)model;
  (void)vectors;
  (void)dimensions;
  for (size_t i = 0; i < count; ++i)
    if (inputs[i].size > 10) {
      set_error(error, "input too long for the failing plugin (10 bytes at most)");
      return XERVO_PLUGIN_CONTEXT_OVERFLOW;
    }
  return 42; /* not a status: read as internal */
#else
  (void)inputs;
  (void)error;
  for (size_t i = 0; i < count * model->dimensions; ++i) vectors[i] = 0.5f;
#if defined(VARIANT_BAD_DIMS)
  *dimensions = model->dimensions / 2; /* says it wrote shorter vectors than load() declared */
#else
  *dimensions = model->dimensions;
#endif
  return XERVO_PLUGIN_OK;
#endif
}
#endif

#if defined(VARIANT_ECHO)
static atomic_int in_flight;

static void sleep_ms(long ms) {
  struct timespec ts = {0, ms * 1000000L};
  nanosleep(&ts, NULL);
}

/* Streams the prompt's last line back word by word ("word "), at most max_tokens words. */
static xervo_plugin_status t_generate(xervo_plugin_model* model, xervo_plugin_text prompt,
                                      const xervo_plugin_generate_params* params, xervo_plugin_piece_fn on_piece,
                                      void* piece_user, xervo_plugin_generate_result* result,
                                      const xervo_plugin_cancel* cancel, xervo_plugin_error* error) {
  if (atomic_fetch_add(&in_flight, 1) != 0) {
    atomic_fetch_sub(&in_flight, 1);
    set_error(error, "two calls at once on a plugin that is not thread-safe");
    return XERVO_PLUGIN_INTERNAL;
  }
  size_t start = 0;
  for (size_t i = 0; i + 1 < prompt.size; ++i)
    if (prompt.data[i] == '\n') start = i + 1;
  int32_t words = 0;
  size_t i = start;
  xervo_plugin_status status = XERVO_PLUGIN_OK;
  result->finish = XERVO_PLUGIN_FINISH_STOP;
  while (i < prompt.size) {
    while (i < prompt.size && prompt.data[i] == ' ') ++i;
    size_t j = i;
    while (j < prompt.size && prompt.data[j] != ' ' && prompt.data[j] != '\n') ++j;
    if (j == i) break;
    if (words == params->max_tokens) {
      result->finish = XERVO_PLUGIN_FINISH_LENGTH;
      break;
    }
    if (cancel->is_cancelled(cancel->user)) {
      status = XERVO_PLUGIN_CANCELLED;
      break;
    }
    char piece[256];
    int n = snprintf(piece, sizeof piece, "%.*s ", (int)(j - i), prompt.data + i);
    if (model->slow) sleep_ms(20);
    else sleep_ms(1);
    ++words;
    if (!on_piece(piece_user, piece, (size_t)(n < (int)sizeof piece ? n : (int)sizeof piece - 1))) {
      status = XERVO_PLUGIN_CANCELLED;
      break;
    }
    i = j;
  }
  result->prompt_tokens = (int64_t)prompt.size;
  result->completion_tokens = words;
  atomic_fetch_sub(&in_flight, 1);
  return status;
}
#endif

#if defined(VARIANT_ECHO)
#define ID "echo"
#define TASKS XERVO_PLUGIN_TASK_GENERATE
#define GENERATE t_generate
#define EMBED NULL
#elif defined(VARIANT_FAILING)
#define ID "failing"
#elif defined(VARIANT_BAD_DIMS)
#define ID "baddims"
#elif defined(VARIANT_BAD_ABI)
#define ID "badabi"
#elif defined(VARIANT_NO_GET_API)
#define ID "nogetapi"
#elif defined(VARIANT_NO_RERANK)
#define ID "norerank"
#define TASKS (XERVO_PLUGIN_TASK_EMBED | XERVO_PLUGIN_TASK_RERANK) /* declares rerank, gives no function */
#elif defined(VARIANT_TAKEN_ID)
#define ID "openai"
#endif
#ifndef TASKS
#define TASKS XERVO_PLUGIN_TASK_EMBED
#endif
#ifndef EMBED
#define EMBED t_embed
#endif
#ifndef GENERATE
#define GENERATE NULL
#endif

static const xervo_plugin_api api = {
    XERVO_PLUGIN_ABI_VERSION, sizeof(xervo_plugin_api), ID, "0.0.1", TASKS, 0, t_load, t_unload, EMBED, NULL,
    GENERATE,
};

#if defined(VARIANT_BAD_ABI)
XERVO_PLUGIN_EXPORT uint32_t xervo_plugin_abi_version(void) { return 999; }
#else
XERVO_PLUGIN_EXPORT uint32_t xervo_plugin_abi_version(void) { return XERVO_PLUGIN_ABI_VERSION; }
#endif
#if !defined(VARIANT_NO_GET_API)
XERVO_PLUGIN_EXPORT const xervo_plugin_api* xervo_plugin_get_api(void) { return &api; }
#else
/* Keeps the table referenced, so only the missing symbol differs. */
const xervo_plugin_api* nogetapi_table(void) { return &api; }
#endif
