// xervo_bench_rss: samples the resident memory of a process and all its descendants (llama-server's
// router runs one child process per model) until it gets SIGTERM or SIGINT or the process exits,
// then prints one JSON line: the tree's RSS at the first sample, its peak, and when the peak was.
//   xervo_bench_rss --pid PID [--interval-ms 50] > rss.json &   ...   kill -TERM $!
#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace {

volatile std::sig_atomic_t stop_requested = 0;
void on_signal(int) { stop_requested = 1; }

// Parent of every process now alive, from /proc/PID/stat (the command name may hold spaces and
// parentheses, so the fields after it are found from the last ')').
std::map<int, int> parents() {
  std::map<int, int> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "stat");
    std::string stat;
    if (!std::getline(in, stat)) continue;  // it exited meanwhile
    const auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    char state = 0;
    int ppid = 0;
    if (std::sscanf(stat.c_str() + close + 1, " %c %d", &state, &ppid) == 2) out[std::stoi(name)] = ppid;
  }
  return out;
}

int64_t rss_kb(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with("VmRSS:")) return std::stoll(line.substr(6));
  return 0;  // gone, or a zombie
}

// VmRSS of `root` and every descendant, summed (each process's mapped file pages count in it).
int64_t tree_rss_kb(int root, int& processes) {
  const auto parent_of = parents();
  std::vector<int> tree = {root};
  for (size_t i = 0; i < tree.size(); ++i)
    for (const auto& [pid, ppid] : parent_of)
      if (ppid == tree[i]) tree.push_back(pid);
  processes = static_cast<int>(tree.size());
  int64_t sum = 0;
  for (int pid : tree) sum += rss_kb(pid);
  return sum;
}

}  // namespace

int main(int argc, char** argv) {
  int pid = 0, interval_ms = 50;
  CLI::App app{"Peak RSS of a process tree"};
  app.add_option("--pid", pid, "root process")->required();
  app.add_option("--interval-ms", interval_ms)->check(CLI::Range(1, 10000));
  CLI11_PARSE(app, argc, argv);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);

  const auto begin = std::chrono::steady_clock::now();
  int64_t start_kb = -1, peak_kb = 0, samples = 0;
  int peak_processes = 0, most_processes = 0;
  double peak_at_s = 0;
  while (!stop_requested && std::filesystem::exists("/proc/" + std::to_string(pid))) {
    int processes = 0;
    const int64_t kb = tree_rss_kb(pid, processes);
    if (start_kb < 0) start_kb = kb;
    if (kb > peak_kb) {
      peak_kb = kb;
      peak_processes = processes;
      peak_at_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
    }
    most_processes = std::max(most_processes, processes);
    ++samples;
    std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
  }
  nlohmann::json out = {{"pid", pid},
                        {"samples", samples},
                        {"start_kb", start_kb},
                        {"peak_kb", peak_kb},
                        {"peak_at_s", peak_at_s},
                        {"processes_at_peak", peak_processes},
                        {"most_processes", most_processes}};
  std::printf("%s\n", out.dump().c_str());
  return samples > 0 ? 0 : 1;
}
