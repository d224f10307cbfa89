/* A xervo provider plugin in plain C: a deterministic hashing embedder ("feature hashing"). Each word
 * (a run of letters and digits, ASCII lowercased; other UTF-8 bytes count as letters) is hashed with
 * 64-bit FNV-1a into one of `dimensions` buckets with a sign from the hash, and the vector is scaled to
 * unit length. Texts that share words get similar vectors, the same text always the same vector, on
 * every machine: useful as a real, dependency-free engine in tests and as a template for plugins.
 * Reranking scores each document by the cosine of its vector with the query's.
 *
 *   [plugins]
 *   paths = ["/usr/local/lib/xervo/plugins"]
 *   [models."embed/hash"]
 *   task = "embed"
 *   provider = "hashembed"
 *   model = "hash"
 *   options = { dimensions = 256 }   # 1 .. 4096, default 64 ([providers.hashembed] may set it too)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xervo/plugin.h"

#define DEFAULT_DIMENSIONS 64u
#define MAX_DIMENSIONS 4096u

struct xervo_plugin_model {
  uint32_t dimensions;
};

static void set_error(xervo_plugin_error* error, const char* message) {
  snprintf(error->message, sizeof error->message, "%s", message);
}

/* The integer value of "key" in a flat JSON object as xervo writes it ({"dimensions":64}); -1 when the
 * key is absent, -2 when its value is not a non-negative integer. */
static long json_integer(const char* json, const char* key) {
  char quoted[64];
  snprintf(quoted, sizeof quoted, "\"%s\":", key);
  const char* at = strstr(json, quoted);
  if (!at) return -1;
  at += strlen(quoted);
  if (*at < '0' || *at > '9') return -2;
  char* end = NULL;
  long value = strtol(at, &end, 10);
  if (*end != ',' && *end != '}') return -2;
  return value;
}

static xervo_plugin_status hash_load(const char* model, uint32_t task, const char* settings_json,
                                     const char* options_json, xervo_plugin_model** out,
                                     xervo_plugin_model_info* info, xervo_plugin_error* error) {
  (void)task;
  if (strcmp(model, "hash") != 0) {
    set_error(error, "the hashing embedder has one model, \"hash\"");
    return XERVO_PLUGIN_MODEL_NOT_FOUND;
  }
  long dimensions = json_integer(options_json, "dimensions");
  if (dimensions == -1) dimensions = json_integer(settings_json, "dimensions");
  if (dimensions == -1) dimensions = DEFAULT_DIMENSIONS;
  if (dimensions < 1 || dimensions > (long)MAX_DIMENSIONS) {
    set_error(error, "dimensions must be an integer from 1 to 4096");
    return XERVO_PLUGIN_CONFIG_INVALID;
  }
  struct xervo_plugin_model* m = malloc(sizeof *m);
  if (!m) {
    set_error(error, "out of memory");
    return XERVO_PLUGIN_MODEL_LOAD_FAILED;
  }
  m->dimensions = (uint32_t)dimensions;
  *out = m;
  info->dimensions = m->dimensions;
  info->memory_bytes = sizeof *m;
  snprintf(info->fingerprint, sizeof info->fingerprint, "fnv1a-words-v1 dimensions=%ld", dimensions);
  return XERVO_PLUGIN_OK;
}

static void hash_unload(xervo_plugin_model* model) { free(model); }

static int is_word_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

/* Writes the unit vector of `text` into out[0 .. dimensions-1]; returns the number of words. */
static int64_t hash_text(xervo_plugin_text text, uint32_t dimensions, float* out) {
  memset(out, 0, sizeof(float) * dimensions);
  int64_t words = 0;
  size_t i = 0;
  while (i < text.size) {
    while (i < text.size && !is_word_byte((unsigned char)text.data[i])) ++i;
    if (i == text.size) break;
    uint64_t h = 1469598103934665603ull;
    while (i < text.size && is_word_byte((unsigned char)text.data[i])) {
      unsigned char c = (unsigned char)text.data[i++];
      if (c >= 'A' && c <= 'Z') c = (unsigned char)(c - 'A' + 'a');
      h = (h ^ c) * 1099511628211ull;
    }
    out[h % dimensions] += (h >> 63) ? -1.0f : 1.0f;
    ++words;
  }
  double norm = 0;
  for (uint32_t d = 0; d < dimensions; ++d) norm += (double)out[d] * out[d];
  if (norm > 0)
    for (uint32_t d = 0; d < dimensions; ++d) out[d] = (float)(out[d] / sqrt(norm));
  return words;
}

static xervo_plugin_status hash_embed(xervo_plugin_model* model, const xervo_plugin_text* inputs, size_t count,
                                      float* vectors, size_t capacity, uint32_t* dimensions,
                                      int64_t* prompt_tokens, const xervo_plugin_cancel* cancel,
                                      xervo_plugin_error* error) {
  if (capacity < count * model->dimensions) {
    set_error(error, "output buffer too small");
    return XERVO_PLUGIN_INTERNAL;
  }
  for (size_t i = 0; i < count; ++i) {
    if (cancel->is_cancelled(cancel->user)) {
      set_error(error, "cancelled");
      return XERVO_PLUGIN_CANCELLED;
    }
    *prompt_tokens += hash_text(inputs[i], model->dimensions, vectors + i * model->dimensions);
  }
  *dimensions = model->dimensions;
  return XERVO_PLUGIN_OK;
}

static xervo_plugin_status hash_rerank(xervo_plugin_model* model, xervo_plugin_text query,
                                       const xervo_plugin_text* documents, size_t count, double* scores,
                                       int64_t* prompt_tokens, const xervo_plugin_cancel* cancel,
                                       xervo_plugin_error* error) {
  float* q = malloc(sizeof(float) * model->dimensions * 2);
  if (!q) {
    set_error(error, "out of memory");
    return XERVO_PLUGIN_UNAVAILABLE;
  }
  float* d = q + model->dimensions;
  *prompt_tokens += hash_text(query, model->dimensions, q);
  for (size_t i = 0; i < count; ++i) {
    if (cancel->is_cancelled(cancel->user)) {
      free(q);
      set_error(error, "cancelled");
      return XERVO_PLUGIN_CANCELLED;
    }
    *prompt_tokens += hash_text(documents[i], model->dimensions, d);
    double dot = 0;
    for (uint32_t k = 0; k < model->dimensions; ++k) dot += (double)q[k] * d[k];
    scores[i] = dot;
  }
  free(q);
  return XERVO_PLUGIN_OK;
}

static const xervo_plugin_api api = {
    XERVO_PLUGIN_ABI_VERSION,
    sizeof(xervo_plugin_api),
    "hashembed",
    "1.0.0",
    XERVO_PLUGIN_TASK_EMBED | XERVO_PLUGIN_TASK_RERANK,
    XERVO_PLUGIN_THREAD_SAFE, /* no shared state: every call works on its own buffers */
    hash_load,
    hash_unload,
    hash_embed,
    hash_rerank,
    NULL,
};

XERVO_PLUGIN_EXPORT uint32_t xervo_plugin_abi_version(void) { return XERVO_PLUGIN_ABI_VERSION; }
XERVO_PLUGIN_EXPORT const xervo_plugin_api* xervo_plugin_get_api(void) { return &api; }
