// `xervo models pull hf:ORG/REPO[:QUANT|/FILE.gguf][@REV]`: downloads into the library. Progress
// goes to stderr: a bar redrawn in place on a terminal, plain lines otherwise (logs, CI, pipes).
// Ctrl-C stops and keeps the partial file for the next pull to resume.
#if XERVO_HAVE_LIBRARY

#include <chrono>
#include <cstdio>
#include <stop_token>

#include "cli/models_common.h"
#include "cli/task_interrupt.h"

namespace xervo::cli {
namespace {

using Clock = std::chrono::steady_clock;

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

int percent_of(const PullProgress& p) {
  return p.bytes_total ? static_cast<int>(p.bytes_done * 100 / p.bytes_total) : 0;
}

// A bar redrawn in place at most every 200 ms on a terminal; elsewhere one line each time another
// 5% is done or 2 s have passed, and one at 100%.
class ProgressPrinter {
 public:
  explicit ProgressPrinter(bool terminal) : terminal_(terminal) {}

  void update(const PullProgress& p) {
    auto now = Clock::now();
    const bool done = p.bytes_total > 0 && p.bytes_done >= p.bytes_total;
    if (terminal_) {
      if (drew_ && !done && now - last_ < std::chrono::milliseconds(200)) return;
      draw_bar(p);
    } else {
      int step = percent_of(p) / 5;
      if (done ? printed_done_ : (step <= last_step_ && now - last_ < std::chrono::seconds(2))) return;
      last_step_ = step;
      printed_done_ = done;
      std::fprintf(stderr, "pull %s: %d%% (%s of %s, %s/s, ETA %s)\n", p.file.c_str(), percent_of(p),
                   human_size(p.bytes_done).c_str(), human_size(p.bytes_total).c_str(),
                   human_size(static_cast<uint64_t>(p.bytes_per_second)).c_str(),
                   format_eta(p.eta_seconds).c_str());
      std::fflush(stderr);
    }
    last_ = now;
    drew_ = true;
  }
  // Ends the bar's line.
  void finish() {
    if (terminal_ && drew_) std::fprintf(stderr, "\n");
  }

 private:
  void draw_bar(const PullProgress& p) {
    const int width = 30;
    int filled = percent_of(p) * width / 100;
    std::string bar(static_cast<size_t>(filled), '#');
    bar += std::string(static_cast<size_t>(width - filled), '-');
    std::fprintf(stderr, "\r%s [%s] %3d%% %s/%s %s/s ETA %s ", p.file.c_str(), bar.c_str(), percent_of(p),
                 human_size(p.bytes_done).c_str(), human_size(p.bytes_total).c_str(),
                 human_size(static_cast<uint64_t>(p.bytes_per_second)).c_str(),
                 format_eta(p.eta_seconds).c_str());
    std::fflush(stderr);
  }

  bool terminal_;
  bool drew_ = false;
  bool printed_done_ = false;
  int last_step_ = -1;
  Clock::time_point last_{};
};

struct PullOptions {
  std::string ref;
  bool json = false;
};

void setup_models_pull(CLI::App& app, GlobalOptions& globals) {
  auto* models = app.get_subcommand("models");
  auto o = std::make_shared<PullOptions>();
  auto* pull = models->add_subcommand(
      "pull", "Download a GGUF or whisper.cpp model from the Hugging Face Hub into the library");
  pull->add_option("ref", o->ref,
                   "hf:ORG/REPO[:QUANT|:MODEL|/FILE][@REVISION] (QUANT defaults to Q4_K_M; MODEL picks "
                   "whisper.cpp's ggml-MODEL.bin)")
      ->required();
  pull->add_flag("--json", o->json, "print the model as JSON when done");
  pull->callback([&globals, o] {
    auto lib = open_library(globals);
    InterruptScope interrupt;
    ProgressPrinter printer(stderr_is_terminal());
    auto model = lib->pull(
        o->ref, [&](const PullProgress& p) { printer.update(p); }, interrupt.token());
    printer.finish();
    auto m = std::move(model).value_or_throw();
    if (o->json)
      print_json(to_json(m));
    else
      std::printf("%s ready: %s (%s, %s)\n", m.id.c_str(), m.file.c_str(), human_size(m.size_bytes).c_str(),
                  m.quantization.c_str());
  });
}

}  // namespace

XERVO_CLI_COMMAND(42, setup_models_pull);

}  // namespace xervo::cli

#endif
