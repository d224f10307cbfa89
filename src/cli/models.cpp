// `xervo models`: list, search, show, import, rm and verify over the model library. The Hub
// (pull, search --hub), mappings and requirements live in models_hub.cpp and models_map.cpp.
#if XERVO_HAVE_LIBRARY

#include <unistd.h>

#include <cmath>
#include <cstdio>

#include "cli/models_common.h"

namespace xervo::cli {

std::shared_ptr<ModelLibrary> open_library(const GlobalOptions& globals) {
  Config config = load_config(globals);
  auto options = library_options_from_json(config.library).value_or_throw();
  return ModelLibrary::open(options).value_or_throw();
}

std::string human_size(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

uint64_t parse_size(const std::string& text) {
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  std::string unit = end ? std::string(end) : "";
  double mult = 1;
  if (unit == "K" || unit == "k" || unit == "KB" || unit == "KiB")
    mult = 1024.0;
  else if (unit == "M" || unit == "MB" || unit == "MiB")
    mult = 1024.0 * 1024;
  else if (unit == "G" || unit == "GB" || unit == "GiB")
    mult = 1024.0 * 1024 * 1024;
  else if (!unit.empty() || end == text.c_str())
    throw Exception(Error(ErrorCode::invalid_input, "bad size '" + text + "': use a number with K, M or G"));
  if (v < 0 || !std::isfinite(v)) throw Exception(Error(ErrorCode::invalid_input, "bad size '" + text + "'"));
  return static_cast<uint64_t>(v * mult);
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], r[i].size());
    }
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    std::printf("%s\n", line.c_str());
  }
}

bool stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1; }

void print_json(const nlohmann::json& j) { std::printf("%s\n", j.dump(2).c_str()); }

namespace {

struct ListFlags {
  std::string text, task, architecture, quantization, state, tag, sort = "name", min_size, max_size;
  int limit = 50;
  bool json = false;
};

void add_filter_flags(CLI::App* cmd, ListFlags& f) {
  cmd->add_option("--task", f.task, "embed | rerank | generate");
  cmd->add_option("--arch", f.architecture, "architecture, e.g. llama, bert");
  cmd->add_option("--quant", f.quantization, "quantization, e.g. Q4_K_M");
  cmd->add_option("--state", f.state, "downloading | ready | failed");
  cmd->add_option("--tag", f.tag, "only models with this tag");
  cmd->add_option("--min-size", f.min_size, "smallest file size (e.g. 100M)");
  cmd->add_option("--max-size", f.max_size, "largest file size (e.g. 4G)");
  cmd->add_option("--sort", f.sort, "name | size | recent | relevance");
  cmd->add_option("--limit", f.limit, "rows to show (default 50)");
  cmd->add_flag("--json", f.json, "JSON output");
}

LibraryQuery to_query(const ListFlags& f) {
  LibraryQuery q;
  q.text = f.text;
  if (!f.task.empty()) {
    q.task = parse_model_task(f.task);
    if (!q.task) throw Exception(Error(ErrorCode::invalid_input, "--task must be embed, rerank or generate"));
  }
  q.architecture = f.architecture;
  q.quantization = f.quantization;
  q.tag = f.tag;
  if (!f.state.empty()) {
    q.state = parse_library_model_state(f.state);
    if (!q.state)
      throw Exception(Error(ErrorCode::invalid_input, "--state must be downloading, ready or failed"));
  }
  if (!f.min_size.empty()) q.min_size = parse_size(f.min_size);
  if (!f.max_size.empty()) q.max_size = parse_size(f.max_size);
  if (f.sort == "name")
    q.sort = LibrarySort::name;
  else if (f.sort == "size")
    q.sort = LibrarySort::size;
  else if (f.sort == "recent")
    q.sort = LibrarySort::recent;
  else if (f.sort == "relevance")
    q.sort = LibrarySort::relevance;
  else
    throw Exception(Error(ErrorCode::invalid_input, "--sort must be name, size, recent or relevance"));
  q.limit = f.limit;
  return q;
}

void print_models(const std::vector<LibraryModel>& models, bool json) {
  if (json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& m : models) arr.push_back(to_json(m));
    print_json(arr);
    return;
  }
  if (models.empty()) {
    std::printf("no models (add some with `xervo models import PATH` or `xervo models pull hf:ORG/REPO`)\n");
    return;
  }
  std::vector<std::vector<std::string>> rows = {{"ID", "TASK", "ARCH", "QUANT", "SIZE", "STATE"}};
  for (const auto& m : models) {
    std::string state(to_string(m.state));
    if (m.state == LibraryModelState::downloading && m.size_bytes)
      state += " " + std::to_string(m.downloaded_bytes * 100 / m.size_bytes) + "%";
    rows.push_back({m.id, m.task ? std::string(to_string(*m.task)) : "?", m.architecture,
                    m.quantization.empty() ? "-" : m.quantization, human_size(m.size_bytes), state});
  }
  print_table(rows);
}

void setup_models(CLI::App& app, GlobalOptions& globals) {
  auto* models = app.add_subcommand("models", "Manage the local model library");
  models->require_subcommand(1);

  static ListFlags list_flags;
  auto* list = models->add_subcommand("list", "List library models");
  add_filter_flags(list, list_flags);
  list->callback([&globals] {
    auto lib = open_library(globals);
    print_models(lib->search(to_query(list_flags)).value_or_throw(), list_flags.json);
  });

  static ListFlags search_flags;
  static bool search_hub = false;
  auto* search = models->add_subcommand("search", "Full-text search of the library (or the Hub with --hub)");
  search->add_option("text", search_flags.text, "words to find (prefixes match)")->required();
  add_filter_flags(search, search_flags);
  search->add_flag("--hub", search_hub, "search GGUF models on the Hugging Face Hub instead");
  search_flags.sort = "relevance";
  search->callback([&globals] {
    auto lib = open_library(globals);
    if (!search_hub) {
      print_models(lib->search(to_query(search_flags)).value_or_throw(), search_flags.json);
      return;
    }
    auto hits = lib->hub_search(search_flags.text, search_flags.limit).value_or_throw();
    if (search_flags.json) {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& h : hits)
        arr.push_back({{"repo", h.repo},
                       {"downloads", h.downloads},
                       {"likes", h.likes},
                       {"tags", h.tags},
                       {"last_modified", h.last_modified}});
      print_json(arr);
      return;
    }
    std::vector<std::vector<std::string>> rows = {{"REPO", "DOWNLOADS", "LIKES", "UPDATED"}};
    for (const auto& h : hits)
      rows.push_back({"hf:" + h.repo, std::to_string(h.downloads), std::to_string(h.likes),
                      h.last_modified.substr(0, 10)});
    print_table(rows);
  });

  static std::string show_id;
  static bool show_json = false;
  auto* show = models->add_subcommand("show", "Show one model");
  show->add_option("id", show_id, "model id (publisher/name), library:ID or hf:ORG/REPO[:QUANT]")->required();
  show->add_flag("--json", show_json, "JSON output");
  show->callback([&globals] {
    auto lib = open_library(globals);
    auto m = lib->find(show_id).value_or_throw();
    auto j = to_json(m);
    if (show_json) {
      print_json(j);
      return;
    }
    for (auto& [key, value] : j.items()) {
      if (value.is_object()) {
        for (auto& [k2, v2] : value.items())
          if (!(v2.is_string() && v2.get<std::string>().empty()))
            std::printf("%-18s %s\n", (key + "." + k2).c_str(),
                        v2.is_string() ? v2.get<std::string>().c_str() : v2.dump().c_str());
      } else if (!(value.is_string() && value.get<std::string>().empty())) {
        std::printf("%-18s %s\n", key.c_str(),
                    value.is_string() ? value.get<std::string>().c_str() : value.dump().c_str());
      }
    }
  });

  static std::vector<std::string> import_paths;
  static bool import_move = false, import_copy = false, import_link = false, import_ref = false,
              import_json = false;
  static std::string import_publisher;
  static std::vector<std::string> import_tags;
  auto* imp = models->add_subcommand(
      "import", "Import GGUF files, folders, a Hugging Face cache or an Ollama models folder");
  imp->add_option("paths", import_paths, "files or folders")->required();
  auto* move = imp->add_flag("--move", import_move, "move the files into the library");
  auto* copy = imp->add_flag("--copy", import_copy, "copy the files");
  auto* link = imp->add_flag("--link", import_link, "hard link (default; copies across file systems)");
  auto* ref = imp->add_flag("--reference", import_ref, "leave the files where they are");
  move->excludes(copy)->excludes(link)->excludes(ref);
  copy->excludes(link)->excludes(ref);
  link->excludes(ref);
  imp->add_option("--publisher", import_publisher, "publisher of the imported models (default: local)");
  imp->add_option("--tag", import_tags, "tag to add (repeatable)");
  imp->add_flag("--json", import_json, "JSON output");
  imp->callback([&globals] {
    auto lib = open_library(globals);
    ImportOptions o;
    o.mode = import_move   ? ImportMode::move
             : import_copy ? ImportMode::copy
             : import_ref  ? ImportMode::reference
                           : ImportMode::link;
    o.publisher = import_publisher;
    o.tags = import_tags;
    std::vector<std::filesystem::path> paths(import_paths.begin(), import_paths.end());
    auto outcomes = lib->import_paths(paths, o);
    int failures = 0;
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& out : outcomes) {
      if (out.error) ++failures;
      if (import_json) {
        nlohmann::json j = {{"source", out.source.string()}, {"already_present", out.already_present}};
        if (out.model) j["model"] = to_json(*out.model);
        if (out.error)
          j["error"] = {{"code", to_string(out.error->code())}, {"message", out.error->message()}};
        arr.push_back(j);
      } else if (out.model) {
        std::printf("%s %s -> %s\n", out.already_present ? "present " : "imported", out.source.c_str(),
                    out.model->id.c_str());
      } else {
        std::fprintf(stderr, "failed   %s: %s\n", out.source.c_str(), out.error->to_string().c_str());
      }
    }
    if (import_json) print_json(arr);
    if (outcomes.empty()) std::fprintf(stderr, "no GGUF files found\n");
    if (failures) throw CLI::RuntimeError(1);
  });

  static std::vector<std::string> rm_ids;
  auto* rm = models->add_subcommand("rm", "Remove models (index row and canonical files)");
  rm->add_option("ids", rm_ids, "model ids")->required();
  rm->callback([&globals] {
    auto lib = open_library(globals);
    for (const auto& id : rm_ids) {
      std::string plain = id.starts_with("library:") ? id.substr(8) : id;
      lib->remove(plain).value_or_throw();
      std::printf("removed %s\n", plain.c_str());
    }
  });

  static std::string verify_id;
  static bool verify_json = false;
  auto* verify = models->add_subcommand("verify", "Re-hash model files and report drift from the index");
  verify->add_option("id", verify_id, "one model (default: all)");
  verify->add_flag("--json", verify_json, "JSON output");
  verify->callback([&globals] {
    auto lib = open_library(globals);
    auto results = lib->verify(verify_id).value_or_throw();
    int bad = 0;
    nlohmann::json arr = nlohmann::json::array();
    std::vector<std::vector<std::string>> rows = {{"ID", "RESULT"}};
    for (const auto& r : results) {
      if (!r.ok) ++bad;
      arr.push_back({{"id", r.id}, {"ok", r.ok}, {"detail", r.detail}});
      rows.push_back({r.id, r.detail});
    }
    if (verify_json)
      print_json(arr);
    else
      print_table(rows);
    if (bad) throw CLI::RuntimeError(1);
  });
}

}  // namespace

XERVO_CLI_COMMAND(40, setup_models);

}  // namespace xervo::cli

#endif
