// `xervo models import|rm|verify|reindex`: what changes which files the library holds.
#if XERVO_HAVE_LIBRARY

#include <cstdio>

#include "cli/models_common.h"

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

void add_import(CLI::App* models, GlobalOptions& globals) {
  auto o = std::make_shared<ImportCommandOptions>();
  auto* cmd = models->add_subcommand(
      "import", "Import GGUF files, folders, a Hugging Face cache or an Ollama models folder");
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
    auto outcomes = open_library(globals)->import_paths(paths, o->to_import_options());
    int failures = print_outcomes(outcomes, o->json);
    if (outcomes.empty()) std::fprintf(stderr, "no GGUF files found\n");
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
