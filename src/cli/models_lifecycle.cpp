// `xervo models pin|unpin|swap|rollback`: lifecycle changes on a running `xervo serve` (the
// management API, admin scope): pin a model so it is never evicted nor expired, re-point an alias at
// another model while traffic flows, or return it to its previous target. --url or $XERVO_URL, else
// the default address of `xervo serve`; the key from $XERVO_API_KEY.
#include <cstdio>

#include "cli/command.h"
#include "cli/server_client.h"

namespace xervo::cli {
namespace {

using nlohmann::json;

constexpr std::string_view kDefaultUrl = "http://127.0.0.1:8080";

struct LifecycleFlags {
  ServerFlags server;
  std::string name;  // alias (or model key for pin/unpin)
  std::string model, provider, revision, options;
  bool json = false;
};

json post(const LifecycleFlags& flags, const std::string& path, const json& body) {
  return call_server(flags.server, server_url(flags.server, kDefaultUrl), path, body);
}

void print_swap(const json& r, const char* verb) {
  std::printf("%s %s: %s -> %s%s\n", verb, r.value("alias", "").c_str(), r.value("from", "").c_str(),
              r.value("to", "").c_str(),
              r.value("drained", false) ? " (no room for both: the old model drained first)" : "");
}

CLI::App* add_command(CLI::App* models, const char* name, const char* what,
                      std::shared_ptr<LifecycleFlags> flags) {
  auto* cmd = models->add_subcommand(name, what);
  add_server_flags(cmd, flags->server, kDefaultUrl);
  cmd->add_flag("--json", flags->json, "print the server's answer as JSON");
  return cmd;
}

void add_pin(CLI::App* models, bool pinned) {
  auto flags = std::make_shared<LifecycleFlags>();
  auto* cmd = add_command(models, pinned ? "pin" : "unpin",
                          pinned ? "Pin a model on a running server: never evicted nor expired"
                                 : "Unpin a model on a running server: evicted and expired like the others",
                          flags);
  cmd->add_option("model", flags->name, "alias, or a loaded model's key (xervo ps --json)")->required();
  cmd->callback([flags, pinned] {
    auto r = post(*flags, pinned ? "/v1/runtime/models/pin" : "/v1/runtime/models/unpin",
                  {{"model", flags->name}});
    if (flags->json)
      std::printf("%s\n", r.dump().c_str());
    else
      std::printf("%s %s\n", pinned ? "pinned" : "unpinned", r.value("model", flags->name).c_str());
  });
}

void add_swap(CLI::App* models) {
  auto flags = std::make_shared<LifecycleFlags>();
  auto* cmd = add_command(models, "swap",
                          "Re-point an alias of a running server at another model, without downtime", flags);
  cmd->add_option("alias", flags->name, "the alias to re-point")->required();
  cmd->add_option("model", flags->model, "the new model id (a path, library:ID, hf:ORG/REPO, a remote name)")
      ->required();
  cmd->add_option("--provider", flags->provider, "its provider (default: the alias's)");
  cmd->add_option("--revision", flags->revision, "its revision");
  cmd->add_option("--options", flags->options, "provider options as a JSON object (default: the alias's)");
  cmd->callback([flags] {
    json body = {{"alias", flags->name}, {"model", flags->model}};
    if (!flags->provider.empty()) body["provider"] = flags->provider;
    if (!flags->revision.empty()) body["revision"] = flags->revision;
    if (!flags->options.empty()) {
      body["options"] = json::parse(flags->options, nullptr, false);
      if (!body["options"].is_object())
        throw Exception(Error(ErrorCode::invalid_input,
                              "--options must be a JSON object, like '{\"context_size\": 4096}'"));
    }
    auto r = post(*flags, "/v1/runtime/models/swap", body);
    if (flags->json)
      std::printf("%s\n", r.dump().c_str());
    else
      print_swap(r, "swapped");
  });
}

void add_rollback(CLI::App* models) {
  auto flags = std::make_shared<LifecycleFlags>();
  auto* cmd =
      add_command(models, "rollback", "Return an alias of a running server to its previous model", flags);
  cmd->add_option("alias", flags->name, "the alias")->required();
  cmd->callback([flags] {
    auto r = post(*flags, "/v1/runtime/models/rollback", {{"alias", flags->name}});
    if (flags->json)
      std::printf("%s\n", r.dump().c_str());
    else
      print_swap(r, "rolled back");
  });
}

// `models` is the library's command group; a build without the library still gets these.
CLI::App* models_group(CLI::App& app) {
  for (auto* sub : app.get_subcommands([](CLI::App*) { return true; }))
    if (sub->get_name() == "models") return sub;
  auto* models = app.add_subcommand("models", "Manage models");
  models->require_subcommand(1);
  return models;
}

void setup_models_lifecycle(CLI::App& app, GlobalOptions&) {
  auto* models = models_group(app);
  add_pin(models, true);
  add_pin(models, false);
  add_swap(models);
  add_rollback(models);
}

}  // namespace

XERVO_CLI_COMMAND(45, setup_models_lifecycle);

}  // namespace xervo::cli
