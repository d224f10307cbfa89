// `xervo models import|rm|verify|reindex`: what changes which files the library holds.
#if XERVO_HAVE_LIBRARY

#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <map>

#include "cli/models_common.h"
#if XERVO_HAVE_HFCONVERT
#include "hf_convert.h"
#endif

namespace xervo::cli {
namespace {

struct ImportCommandOptions {
  std::vector<std::string> paths;
  bool move = false, copy = false, link = false, reference = false, json = false;
  std::string publisher;
  std::vector<std::string> tags;

  ImportOptions to_import_options() const {
    ImportOptions o;
    o.mode = move        ? ImportMode::move
             : copy      ? ImportMode::copy
             : reference ? ImportMode::reference
                         : ImportMode::link;
    o.publisher = publisher;
    o.tags = tags;
    return o;
  }
};

// One line per input (or a JSON array); returns how many failed.
int print_outcomes(const std::vector<ImportOutcome>& outcomes, bool json) {
  int failures = 0;
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& out : outcomes) {
    if (out.error) ++failures;
    if (json) {
      nlohmann::json j = {{"source", out.source.string()}, {"already_present", out.already_present}};
      if (out.model) j["model"] = to_json(*out.model);
      if (out.error) j["error"] = {{"code", to_string(out.error->code())}, {"message", out.error->message()}};
      arr.push_back(j);
    } else if (out.model) {
      std::printf("%s %s -> %s\n", out.already_present ? "present " : "imported", out.source.c_str(),
                  out.model->id.c_str());
    } else {
      std::fprintf(stderr, "failed   %s: %s\n", out.source.c_str(), out.error->to_string().c_str());
    }
  }
  if (json) print_json(arr);
  return failures;
}

#if XERVO_HAVE_HFCONVERT
// A Hugging Face checkpoint folder (config.json beside weights) is converted to an f16 GGUF in a
// private temporary folder first; that file, named after the checkpoint folder, is what the
// library imports (moved in). The GGUF carries each source file's sha256 (hf_convert.h); the
// library records them with the folder and the date of the conversion.
bool is_checkpoint(const std::filesystem::path& p) {
  std::error_code ec;
  if (!std::filesystem::is_directory(p, ec) || !std::filesystem::exists(p / "config.json", ec)) return false;
  for (const char* weights : {"model.safetensors", "model.safetensors.index.json", "pytorch_model.bin"})
    if (std::filesystem::exists(p / weights, ec)) return true;  // a pickle gets the converter's refusal
  return false;
}

struct Conversion {
  std::filesystem::path checkpoint;
  int64_t converted_at = 0;  // unix seconds
};

struct ConvertedPaths {
  std::vector<std::filesystem::path> paths;            // what to import
  std::map<std::filesystem::path, Conversion> origin;  // converted file -> where from, when
  std::vector<ImportOutcome> failed;                   // checkpoints that did not convert
  std::filesystem::path tmp;                           // removed by the caller
};

ConvertedPaths convert_checkpoints(const std::vector<std::filesystem::path>& paths) {
  ConvertedPaths out;
  for (const auto& p : paths) {
    if (!is_checkpoint(p)) {
      out.paths.push_back(p);
      continue;
    }
    if (out.tmp.empty()) {
      std::string tmpl = (std::filesystem::temp_directory_path() / "xervo-convert-XXXXXX").string();
      if (!::mkdtemp(tmpl.data()))
        throw Exception(Error(ErrorCode::io_error, "cannot create a temporary folder"));
      out.tmp = tmpl;
    }
    auto name = std::filesystem::absolute(p).lexically_normal().filename();
    if (name.empty()) name = std::filesystem::absolute(p).lexically_normal().parent_path().filename();
    const auto gguf = out.tmp / (name.string() + ".gguf");
    auto report = hfconvert::convert_checkpoint({p, gguf, hfconvert::OutputType::f16});
    if (!report) {
      out.failed.push_back({p, std::nullopt, report.error(), false});
      continue;
    }
    std::fprintf(stderr, "converted %s (%s pooling%s) for import\n", p.c_str(),
                 hfconvert::to_string(report->checkpoint.pooling),
                 report->checkpoint.normalize ? ", normalized" : "");
    out.paths.push_back(gguf);
    out.origin[gguf] = {p, static_cast<int64_t>(std::time(nullptr))};
  }
  return out;
}
#endif

void add_import(CLI::App* models, GlobalOptions& globals) {
  auto o = std::make_shared<ImportCommandOptions>();
  auto* cmd = models->add_subcommand("import",
                                     "Import GGUF or whisper.cpp files, folders, a Hugging Face cache, an "
                                     "Ollama models folder, or a Hugging Face "
                                     "BERT-family checkpoint folder (converted to GGUF)");
  cmd->add_option("paths", o->paths, "files or folders")->required();
  auto* move = cmd->add_flag("--move", o->move, "move the files into the library");
  auto* copy = cmd->add_flag("--copy", o->copy, "copy the files");
  auto* link = cmd->add_flag("--link", o->link, "hard link (default; copies across file systems)");
  auto* ref = cmd->add_flag("--reference", o->reference, "leave the files where they are");
  move->excludes(copy)->excludes(link)->excludes(ref);
  copy->excludes(link)->excludes(ref);
  link->excludes(ref);
  cmd->add_option("--publisher", o->publisher, "publisher of the imported models (default: local)");
  cmd->add_option("--tag", o->tags, "tag to add (repeatable)");
  cmd->add_flag("--json", o->json, "JSON output");
  cmd->callback([&globals, o] {
    std::vector<std::filesystem::path> paths(o->paths.begin(), o->paths.end());
    auto lib = open_library(globals);
#if XERVO_HAVE_HFCONVERT
    auto converted = convert_checkpoints(paths);
    auto options = o->to_import_options();
    std::vector<ImportOutcome> outcomes = converted.failed;
    std::vector<std::filesystem::path> plain, made;
    for (const auto& p : converted.paths) (p.parent_path() == converted.tmp ? made : plain).push_back(p);
    if (!plain.empty())
      for (auto& out : lib->import_paths(plain, options)) outcomes.push_back(std::move(out));
    options.mode = ImportMode::move;  // the converted file is ours; the checkpoint stays untouched
    for (const auto& file : made) {
      const Conversion& origin = converted.origin.at(file);
      options.converted_from = origin.checkpoint;
      options.converted_at = origin.converted_at;
      for (auto& out : lib->import_paths({file}, options)) {
        out.source = origin.checkpoint;
        outcomes.push_back(std::move(out));
      }
    }
    if (!converted.tmp.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(converted.tmp, ec);
    }
#else
    auto outcomes = lib->import_paths(paths, o->to_import_options());
#endif
    int failures = print_outcomes(outcomes, o->json);
    if (outcomes.empty()) std::fprintf(stderr, "no GGUF or whisper.cpp files found\n");
    if (failures) throw CLI::RuntimeError(1);
  });
}

void add_rm(CLI::App* models, GlobalOptions& globals) {
  auto ids = std::make_shared<std::vector<std::string>>();
  auto* cmd = models->add_subcommand("rm", "Remove models (index row and canonical files)");
  cmd->add_option("ids", *ids, "model ids")->required();
  cmd->callback([&globals, ids] {
    auto lib = open_library(globals);
    for (const auto& id : *ids) {
      std::string plain = id.starts_with("library:") ? id.substr(8) : id;
      lib->remove(plain).value_or_throw();
      std::printf("removed %s\n", plain.c_str());
    }
  });
}

struct VerifyOptions {
  std::string id;
  bool json = false;
};

void add_verify(CLI::App* models, GlobalOptions& globals) {
  auto o = std::make_shared<VerifyOptions>();
  auto* cmd = models->add_subcommand("verify", "Re-hash model files and report drift from the index");
  cmd->add_option("id", o->id, "one model (default: all)");
  cmd->add_flag("--json", o->json, "JSON output");
  cmd->callback([&globals, o] {
    auto results = open_library(globals)->verify(o->id).value_or_throw();
    int bad = 0;
    nlohmann::json arr = nlohmann::json::array();
    std::vector<std::vector<std::string>> rows = {{"ID", "RESULT"}};
    for (const auto& r : results) {
      if (!r.ok) ++bad;
      arr.push_back({{"id", r.id}, {"ok", r.ok}, {"detail", r.detail}});
      rows.push_back({r.id, r.detail});
    }
    if (o->json)
      print_json(arr);
    else
      print_table(rows);
    if (bad) throw CLI::RuntimeError(1);
  });
}

void add_reindex(CLI::App* models, GlobalOptions& globals) {
  auto json = std::make_shared<bool>(false);
  auto* cmd = models->add_subcommand(
      "reindex", "Rebuild models.db from the model folders (stop other xervo processes first)");
  cmd->add_flag("--json", *json, "JSON output");
  cmd->callback([&globals, json] {
    auto report = ModelLibrary::reindex(library_options(load_config(globals))).value_or_throw();
    if (*json) {
      nlohmann::json skipped = nlohmann::json::array();
      for (const auto& s : report.skipped)
        skipped.push_back({{"folder", s.folder.string()}, {"reason", s.reason}});
      print_json({{"indexed", report.indexed}, {"skipped", skipped}});
      return;
    }
    std::printf("reindexed %d model%s\n", report.indexed, report.indexed == 1 ? "" : "s");
    for (const auto& s : report.skipped) std::printf("skipped %s: %s\n", s.folder.c_str(), s.reason.c_str());
  });
}

void setup_models_files(CLI::App& app, GlobalOptions& globals) {
  auto* models = app.get_subcommand("models");
  add_import(models, globals);
  add_rm(models, globals);
  add_verify(models, globals);
  add_reindex(models, globals);
}

}  // namespace

XERVO_CLI_COMMAND(41, setup_models_files);

}  // namespace xervo::cli

#endif
