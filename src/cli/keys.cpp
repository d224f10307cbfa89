// `xervo keys create|list|revoke`: API keys in the keys file a running `xervo serve` re-reads when it
// changes (no restart). Only the key's sha256 is stored; `create` prints the key once. Each change is
// an audit record. The file: --file, else [server.auth] keys_file, else XERVO_HOME/keys.json.
#if XERVO_HAVE_SERVER
#include <algorithm>
#include <cstdio>
#include <ctime>

#include "cli/access_paths.h"
#include "cli/command.h"
#include "server/access_policy.h"
#include "server/audit_log.h"
#include "server/auth.h"
#include "server/key_file.h"
#include "xervo/server.h"

namespace xervo::cli {
namespace {

struct KeysFlags {
  std::string file;
  std::string name;
  std::vector<std::string> roles;
  std::vector<std::string> scopes;
  std::vector<std::string> allow_ips;
  int64_t requests_per_minute = -1;
  int64_t tokens_per_minute = -1;
  bool json = false;
};

struct Access {
  ServerOptions options;
  std::filesystem::path file;
};

Access access_of(const GlobalOptions& globals, const KeysFlags& flags) {
  Config config = load_config_file_of(globals);
  Access a;
  a.options = parse_server_options(config.server).value_or_throw();
  fill_access_defaults(a.options);
  a.file = flags.file.empty() ? a.options.keys_file : std::filesystem::path(flags.file);
  if (a.file.empty())
    throw Exception(Error(ErrorCode::config_invalid,
                          "no keys file: pass --file, set [server.auth] keys_file, or set XERVO_HOME"));
  return a;
}

std::string now_iso() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out.empty() ? "-" : out;
}

void create(const GlobalOptions& globals, const KeysFlags& flags) {
  Access a = access_of(globals, flags);
  server::StoredKey stored;
  const std::string secret = server::generate_api_key();
  if (secret.empty()) throw Exception(Error(ErrorCode::internal, "the system's random source failed"));
  stored.key.name = flags.name;
  stored.key.sha256 = sha256_hex(secret);
  stored.key.roles = flags.roles;
  stored.key.scopes = flags.scopes;
  stored.key.allow_ips = flags.allow_ips;
  stored.key.requests_per_minute = flags.requests_per_minute;
  stored.key.tokens_per_minute = flags.tokens_per_minute;
  stored.created = now_iso();
  auto roles = server::compile_roles(a.options.roles).value_or_throw();
  server::validate_key(stored.key, roles, "xervo keys create").value_or_throw();
  for (const auto& k : a.options.keys)
    if (k.name == flags.name)
      throw Exception(
          Error(ErrorCode::invalid_input, "a key named '" + flags.name + "' is in [server.auth] keys"));
  server::update_keys_file(a.file, [&](std::vector<server::StoredKey>& keys) -> Result<void> {
    for (const auto& k : keys)
      if (k.key.name == flags.name)
        return Error(ErrorCode::invalid_input, "a key named '" + flags.name + "' exists; revoke it first");
    keys.push_back(stored);
    return {};
  }).value_or_throw();
  (void)server::AuditLog(a.options.audit)
      .record("key_created", {{"actor", "cli"},
                              {"key", flags.name},
                              {"roles", flags.roles},
                              {"scopes", flags.scopes},
                              {"file", a.file.string()}});
  std::printf("%s\n", secret.c_str());
  std::fprintf(
      stderr,
      "key '%s' created in %s; the key above is shown only now (only its sha256 is stored). A running "
      "xervo serve that reads this file applies it on its next request.\n",
      flags.name.c_str(), a.file.string().c_str());
}

void list(const GlobalOptions& globals, const KeysFlags& flags) {
  Access a = access_of(globals, flags);
  auto keys = server::read_keys_file(a.file).value_or_throw().value_or(std::vector<server::StoredKey>{});
  if (flags.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& k : keys) {
      auto j = server::api_key_json(k);
      j["sha256"] = k.key.sha256.substr(0, 12);  // a prefix is enough to tell keys apart
      out.push_back(j);
    }
    std::printf("%s\n", out.dump(2).c_str());
    return;
  }
  if (keys.empty()) {
    std::printf("no keys in %s (create one with `xervo keys create NAME --role ROLE`)\n",
                a.file.string().c_str());
    return;
  }
  std::printf("%-24s %-24s %-20s %-14s %s\n", "NAME", "ROLES", "SCOPES", "SHA256", "CREATED");
  for (const auto& k : keys)
    std::printf("%-24s %-24s %-20s %-14s %s\n", k.key.name.c_str(), joined(k.key.roles).c_str(),
                joined(k.key.scopes).c_str(), k.key.sha256.substr(0, 12).c_str(), k.created.c_str());
}

void revoke(const GlobalOptions& globals, const KeysFlags& flags) {
  Access a = access_of(globals, flags);
  server::update_keys_file(a.file, [&](std::vector<server::StoredKey>& keys) -> Result<void> {
    auto it = std::find_if(keys.begin(), keys.end(), [&](const auto& k) { return k.key.name == flags.name; });
    if (it == keys.end())
      return Error(ErrorCode::invalid_input, "no key named '" + flags.name + "' in " + a.file.string());
    keys.erase(it);
    return {};
  }).value_or_throw();
  (void)server::AuditLog(a.options.audit)
      .record("key_revoked", {{"actor", "cli"}, {"key", flags.name}, {"file", a.file.string()}});
  std::printf("key '%s' revoked\n", flags.name.c_str());
}

void setup_keys(CLI::App& app, GlobalOptions& globals) {
  auto* cmd = app.add_subcommand("keys", "API keys of the keys file a running server re-reads");
  cmd->require_subcommand(1);
  auto flags = std::make_shared<KeysFlags>();
  auto file_flag = [&](CLI::App* sub) {
    sub->add_option("--file", flags->file,
                    "keys file (default [server.auth] keys_file, else XERVO_HOME/keys.json)");
  };
  auto* c = cmd->add_subcommand("create", "Create a key, store its sha256 and print the key once");
  c->add_option("name", flags->name, "the key's name (logs, metrics, batch ownership)")->required();
  c->add_option("--role", flags->roles, "a role of [server.auth.roles] (repeatable)")
      ->allow_extra_args(false);
  c->add_option("--scope", flags->scopes, "a scope: inference, batch, metrics, library, admin (repeatable)")
      ->allow_extra_args(false);
  c->add_option("--allow-ip", flags->allow_ips, "a CIDR the key may be used from (repeatable)")
      ->allow_extra_args(false);
  c->add_option("--requests-per-minute", flags->requests_per_minute, "this key's request limit (0: none)")
      ->check(CLI::NonNegativeNumber);
  c->add_option("--tokens-per-minute", flags->tokens_per_minute, "this key's token limit (0: none)")
      ->check(CLI::NonNegativeNumber);
  file_flag(c);
  c->callback([&globals, flags] { create(globals, *flags); });
  auto* l = cmd->add_subcommand("list", "List the keys (names, roles, scopes, a prefix of the hash)");
  l->add_flag("--json", flags->json, "print JSON");
  file_flag(l);
  l->callback([&globals, flags] { list(globals, *flags); });
  auto* r = cmd->add_subcommand("revoke", "Remove a key; a running server refuses it from its next request");
  r->add_option("name", flags->name, "the key's name")->required();
  file_flag(r);
  r->callback([&globals, flags] { revoke(globals, *flags); });
}

}  // namespace

XERVO_CLI_COMMAND(53, setup_keys);

}  // namespace xervo::cli
#endif
