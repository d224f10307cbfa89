// `xervo models convert DIR -o FILE [--type f16]`: a Hugging Face BERT-family checkpoint folder
// (embedder or cross-encoder reranker, safetensors weights) to a GGUF llama.cpp loads.
#if XERVO_HAVE_LIBRARY && XERVO_HAVE_HFCONVERT

#include <cstdio>

#include "cli/models_common.h"
#include "hf_convert.h"

namespace xervo::cli {
namespace {

struct ConvertCommandOptions {
  std::string input, output, type = "f16";
  bool json = false;
};

nlohmann::json report_json(const hfconvert::ConvertReport& r, const std::string& output) {
  const auto& c = r.checkpoint;
  nlohmann::json sources = nlohmann::json::array();
  for (const auto& s : c.source_files) sources.push_back(s.string());
  return {{"output", output},
          {"architecture", c.config.architecture},
          {"task", c.config.classifier ? "rerank" : "embed"},
          {"pooling", hfconvert::to_string(c.pooling)},
          {"pooling_declared", c.pooling_declared},
          {"normalize", c.normalize},
          {"layers", c.config.num_layers},
          {"embedding_length", c.config.hidden_size},
          {"vocab_size", c.config.vocab_size},
          {"tensors", r.tensors},
          {"parameters", r.parameters},
          {"bytes", r.output_bytes},
          {"sources", sources}};
}

void add_convert(CLI::App* models) {
  auto o = std::make_shared<ConvertCommandOptions>();
  auto* cmd = models->add_subcommand(
      "convert", "Convert a Hugging Face BERT-family checkpoint folder (safetensors) to a GGUF");
  cmd->add_option("dir", o->input,
                  "checkpoint folder: config.json, model.safetensors, vocab.txt or tokenizer.json")
      ->required();
  cmd->add_option("-o,--output", o->output, "the .gguf to write")->required();
  cmd->add_option("--type", o->type, "type of the weight matrices: f32 | f16 (default) | q8_0");
  cmd->add_flag("--json", o->json, "JSON output");
  cmd->callback([o] {
    hfconvert::ConvertOptions options;
    options.input = o->input;
    options.output = o->output;
    options.type = hfconvert::parse_output_type(o->type).value_or_throw();
    auto report = hfconvert::convert_checkpoint(options).value_or_throw();
    if (o->json) {
      print_json(report_json(report, o->output));
      return;
    }
    const auto& c = report.checkpoint;
    std::printf("converted %s -> %s (%s, %s pooling%s%s, %d tensors, %s)\n", o->input.c_str(),
                o->output.c_str(), c.config.classifier ? "reranker" : "embedder",
                hfconvert::to_string(c.pooling), c.pooling_declared ? "" : " assumed",
                c.normalize ? ", normalized" : "", report.tensors, human_size(report.output_bytes).c_str());
  });
}

void setup_models_convert(CLI::App& app, GlobalOptions&) { add_convert(app.get_subcommand("models")); }

}  // namespace

XERVO_CLI_COMMAND(45, setup_models_convert);

}  // namespace xervo::cli

#endif
