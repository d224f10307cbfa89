// Builds the llama.cpp sampler chain of one generation from GenerateOptions: optional JSON-schema
// grammar, repeat penalty, then greedy (temperature 0) or top-k / top-p / min-p / temperature /
// seeded draw. Stateless; safe from any thread (each call returns a new chain).
#pragma once

#include <string>

#include "providers/llamacpp/llama_handles.h"
#include "xervo/error.h"
#include "xervo/generator.h"

namespace xervo::llamacpp {

// invalid_input for out-of-range options or a JSON schema that cannot become a grammar.
Result<SamplerPtr> make_sampler(const llama_vocab* vocab, const GenerateOptions& options);

// The GBNF grammar for a JSON Schema document (invalid_input when it is not valid JSON or uses
// what the converter does not support).
Result<std::string> schema_to_grammar(const std::string& json_schema);

}  // namespace xervo::llamacpp
