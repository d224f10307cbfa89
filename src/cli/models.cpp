// `xervo models`: the command group, and list, search and show over the model library. Import,
// rm, verify and reindex live in models_import.cpp, pull in models_hub.cpp, mappings and
// requirements in models_map.cpp. Each subcommand keeps its flags in its own options struct.
#if XERVO_HAVE_LIBRARY

#include <cstdio>
#include <ctime>

#include "cli/models_common.h"

namespace xervo::cli {
namespace {

struct ListOptions {
  std::string text, task, architecture, quantization, state, tag, sort = "name", min_size, max_size;
  int limit = 50;
  bool json = false;
  bool hub = false;  // search only
};

void add_filter_flags(CLI::App* cmd, ListOptions& o) {
  cmd->add_option("--task", o.task, "embed | rerank | generate | transcribe");
  cmd->add_option("--arch", o.architecture, "architecture, e.g. llama, bert");
  cmd->add_option("--quant", o.quantization, "quantization, e.g. Q4_K_M");
  cmd->add_option("--state", o.state, "downloading | ready | failed");
  cmd->add_option("--tag", o.tag, "only models with this tag");
  cmd->add_option("--min-size", o.min_size, "smallest file size (e.g. 100M)");
  cmd->add_option("--max-size", o.max_size, "largest file size (e.g. 4G)");
  cmd->add_option("--sort", o.sort, "name | size | recent | relevance");
  cmd->add_option("--limit", o.limit, "rows to show (default 50)");
  cmd->add_flag("--json", o.json, "JSON output");
}

LibrarySort parse_sort(const std::string& sort) {
  if (sort == "name") return LibrarySort::name;
  if (sort == "size") return LibrarySort::size;
  if (sort == "recent") return LibrarySort::recent;
  if (sort == "relevance") return LibrarySort::relevance;
  throw Exception(Error(ErrorCode::invalid_input, "--sort must be name, size, recent or relevance"));
}

LibraryQuery to_query(const ListOptions& o) {
  LibraryQuery q;
  q.text = o.text;
  if (!o.task.empty()) {
    q.task = parse_model_task(o.task);
    if (!q.task) throw Exception(Error(ErrorCode::invalid_input, "--task must be embed, rerank or generate"));
  }
  q.architecture = o.architecture;
  q.quantization = o.quantization;
  q.tag = o.tag;
  if (!o.state.empty()) {
    q.state = parse_library_model_state(o.state);
    if (!q.state)
      throw Exception(Error(ErrorCode::invalid_input, "--state must be downloading, ready or failed"));
  }
  if (!o.min_size.empty()) q.min_size = parse_size(o.min_size);
  if (!o.max_size.empty()) q.max_size = parse_size(o.max_size);
  q.sort = parse_sort(o.sort);
  q.limit = o.limit;
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

void print_hub_hits(const std::vector<HubModelInfo>& hits, bool json) {
  if (json) {
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
}

void add_list(CLI::App* models, GlobalOptions& globals) {
  auto o = std::make_shared<ListOptions>();
  auto* cmd = models->add_subcommand("list", "List library models");
  add_filter_flags(cmd, *o);
  cmd->callback(
      [&globals, o] { print_models(open_library(globals)->search(to_query(*o)).value_or_throw(), o->json); });
}

void add_search(CLI::App* models, GlobalOptions& globals) {
  auto o = std::make_shared<ListOptions>();
  o->sort = "relevance";
  auto* cmd = models->add_subcommand("search", "Full-text search of the library (or the Hub with --hub)");
  cmd->add_option("text", o->text, "words to find (prefixes match)")->required();
  add_filter_flags(cmd, *o);
  cmd->add_flag("--hub", o->hub, "search GGUF models on the Hugging Face Hub instead");
  cmd->callback([&globals, o] {
    auto lib = open_library(globals);
    if (o->hub)
      print_hub_hits(lib->hub_search(o->text, o->limit).value_or_throw(), o->json);
    else
      print_models(lib->search(to_query(*o)).value_or_throw(), o->json);
  });
}

// "2026-12-01T15:02:28Z"; "unknown" for 0.
std::string utc_time(int64_t unix_seconds) {
  if (unix_seconds <= 0) return "unknown";
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  char buf[32];
  if (!::gmtime_r(&t, &tm) || std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    return "unknown";
  return buf;
}

struct ShowOptions {
  std::string id;
  bool json = false;
};

void add_show(CLI::App* models, GlobalOptions& globals) {
  auto o = std::make_shared<ShowOptions>();
  auto* cmd = models->add_subcommand("show", "Show one model");
  cmd->add_option("id", o->id, "model id (publisher/name), library:ID or hf:ORG/REPO[:QUANT]")->required();
  cmd->add_flag("--json", o->json, "JSON output");
  cmd->callback([&globals, o] {
    auto j = to_json(open_library(globals)->find(o->id).value_or_throw());
    if (o->json) {
      print_json(j);
      return;
    }
    auto print = [](const std::string& key, const nlohmann::json& value) {
      if (value.is_string() && value.get<std::string>().empty()) return;
      std::printf("%-18s %s\n", key.c_str(),
                  value.is_string() ? value.get<std::string>().c_str() : value.dump().c_str());
    };
    for (auto& [key, value] : j.items()) {
      if (!value.is_object()) {
        print(key, value);
        continue;
      }
      for (auto& [k2, v2] : value.items()) {
        if (key == "conversion" && k2 == "sources" && v2.is_array()) {
          for (const auto& s : v2)  // one line a source file, as sha256sum prints it
            print("conversion.source",
                  s.value("sha256", std::string("-")) + "  " + s.value("path", std::string()));
        } else if (key == "conversion" && k2 == "converted_at" && v2.is_number_integer()) {
          print("conversion.date", utc_time(v2.get<int64_t>()));
        } else {
          print(key + "." + k2, v2);
        }
      }
    }
  });
}

void setup_models(CLI::App& app, GlobalOptions& globals) {
  auto* models =
      app.add_subcommand("models", "Manage the local model library, and the models of a running server");
  models->require_subcommand(1);
  add_list(models, globals);
  add_search(models, globals);
  add_show(models, globals);
}

}  // namespace

XERVO_CLI_COMMAND(40, setup_models);

}  // namespace xervo::cli

#endif
