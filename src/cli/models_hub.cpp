// `xervo models pull hf:ORG/REPO[:QUANT|/FILE.gguf][@REV]`: downloads into the library with a
// progress bar on a terminal; Ctrl-C stops and keeps the partial file for the next pull to resume.
#if XERVO_HAVE_LIBRARY

#include <atomic>
#include <chrono>
#include <cstdio>
#include <stop_token>

#include "cli/models_common.h"
#include "cli/task_interrupt.h"

namespace xervo::cli {
namespace {

std::string format_eta(double seconds) {
  if (seconds < 0) return "--:--";
  int s = static_cast<int>(seconds);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%02d:%02d", s / 60, s % 60);
  return buf;
}

void draw_bar(const PullProgress& p) {
  const int width = 30;
  double frac = p.bytes_total ? static_cast<double>(p.bytes_done) / static_cast<double>(p.bytes_total) : 0;
  int filled = static_cast<int>(frac * width);
  std::string bar(static_cast<size_t>(filled), '#');
  bar += std::string(static_cast<size_t>(width - filled), '-');
  std::fprintf(
      stderr, "\r%s [%s] %3d%% %s/%s %s/s ETA %s ", p.file.c_str(), bar.c_str(), static_cast<int>(frac * 100),
      human_size(p.bytes_done).c_str(), human_size(p.bytes_total).c_str(),
      human_size(static_cast<uint64_t>(p.bytes_per_second)).c_str(), format_eta(p.eta_seconds).c_str());
  std::fflush(stderr);
}

void setup_models_pull(CLI::App& app, GlobalOptions& globals) {
  auto* models = app.get_subcommand("models");
  static std::string ref;
  static bool json = false;
  auto* pull =
      models->add_subcommand("pull", "Download a GGUF model from the Hugging Face Hub into the library");
  pull->add_option("ref", ref, "hf:ORG/REPO[:QUANT|/FILE.gguf][@REVISION] (QUANT defaults to Q4_K_M)")
      ->required();
  pull->add_flag("--json", json, "print the model as JSON when done");
  pull->callback([&globals] {
    auto lib = open_library(globals);
    InterruptScope interrupt;
    std::atomic<bool> cancel{false};
    std::stop_callback on_stop(interrupt.token(), [&] { cancel = true; });
    bool terminal = stderr_is_terminal();
    auto last_draw = std::chrono::steady_clock::time_point{};
    bool drew = false;
    auto progress = [&](const PullProgress& p) {
      if (!terminal) return;
      auto now = std::chrono::steady_clock::now();
      if (now - last_draw < std::chrono::milliseconds(200) && p.bytes_done < p.bytes_total) return;
      last_draw = now;
      drew = true;
      draw_bar(p);
    };
    auto model = lib->pull(ref, progress, &cancel);
    if (drew) std::fprintf(stderr, "\n");
    auto m = std::move(model).value_or_throw();
    if (json)
      print_json(to_json(m));
    else
      std::printf("%s ready: %s (%s, %s)\n", m.id.c_str(), m.file.c_str(), human_size(m.size_bytes).c_str(),
                  m.quantization.c_str());
  });
}

}  // namespace

XERVO_CLI_COMMAND(41, setup_models_pull);

}  // namespace xervo::cli

#endif
