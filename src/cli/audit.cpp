// `xervo audit verify [FILE...]`: checks the audit log's hash chain. Without files: the log of the
// config ([server.audit] path, else XERVO_HOME/audit.log), its rotated files first, and its head
// (PATH.head), so a changed byte, a removed record and a cut-off end are all found. Exit status 1
// when anything is wrong, with each problem on its own line.
#if XERVO_HAVE_SERVER
#include <cstdio>

#include "cli/access_paths.h"
#include "cli/command.h"
#include "server/audit_log.h"
#include "xervo/server.h"

namespace xervo::cli {
namespace {

struct AuditFlags {
  std::vector<std::string> files;
  std::string head;
  bool allow_cut_start = false;
};

void verify(const GlobalOptions& globals, const AuditFlags& flags) {
  std::vector<std::filesystem::path> files(flags.files.begin(), flags.files.end());
  std::filesystem::path head = flags.head;
  if (files.empty()) {
    Config config = load_config_file_of(globals);
    ServerOptions options = parse_server_options(config.server).value_or_throw();
    fill_access_defaults(options);
    if (options.audit.path.empty())
      throw Exception(Error(ErrorCode::config_invalid,
                            "no audit log: name files, set [server.audit] path or XERVO_HOME"));
    files = server::audit_files(options.audit.path);
    if (files.empty())
      throw Exception(Error(ErrorCode::invalid_input, "no audit log at " + options.audit.path.string()));
    if (head.empty()) head = options.audit.path.string() + ".head";
  } else if (head.empty()) {
    // The live file is the last one named; its head lies beside it when it exists.
    std::filesystem::path beside = files.back().string() + ".head";
    std::error_code ec;
    if (std::filesystem::exists(beside, ec)) head = beside;
  }
  auto report = server::verify_audit_files(files, head, flags.allow_cut_start);
  for (const auto& p : report.problems) std::printf("%s\n", p.c_str());
  if (!report.ok)
    throw Exception(
        Error(ErrorCode::invalid_input,
              "the audit log does not verify (" + std::to_string(report.problems.size()) + " problem(s))"));
  std::printf("ok: %lld record(s) in %zu file(s), chain intact%s\n", static_cast<long long>(report.records),
              files.size(), head.empty() ? " (no head file: a cut-off end cannot be checked)" : "");
}

void setup_audit(CLI::App& app, GlobalOptions& globals) {
  auto* cmd = app.add_subcommand("audit", "The server's tamper-evident audit log");
  cmd->require_subcommand(1);
  auto flags = std::make_shared<AuditFlags>();
  auto* v = cmd->add_subcommand("verify", "Check the hash chain of the audit log (exit 1 when broken)");
  v->add_option("files", flags->files,
                "log files, oldest first (default: the configured log and its rotations)");
  v->add_option("--head", flags->head, "the head file to compare the end with (default: LAST_FILE.head)");
  v->add_flag("--allow-cut-start", flags->allow_cut_start,
              "the oldest rotated files were deleted: the first record need not start the chain");
  v->callback([&globals, flags] { verify(globals, *flags); });
}

}  // namespace

XERVO_CLI_COMMAND(54, setup_audit);

}  // namespace xervo::cli
#endif
