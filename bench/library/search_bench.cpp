// Search latency of the library index: fills a fresh home with N synthetic records (default
// 100,000), then runs a mix of full-text, filtered and sorted queries through ModelLibrary::search
// and prints p50 / p99 / max per query and overall. Usage: xervo_bench_library [N] [repeats]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "library/model_index.h"
#include "library/sqlite.h"
#include "xervo/library.h"

namespace fs = std::filesystem;
using namespace xervo;

namespace {

const std::vector<std::string> kFamilies = {"llama-3",
                                            "llama-3.1",
                                            "llama-3.2",
                                            "qwen2",
                                            "qwen2.5",
                                            "qwen3",
                                            "mistral",
                                            "mixtral",
                                            "gemma-2",
                                            "gemma-3",
                                            "phi-3",
                                            "phi-4",
                                            "deepseek-r1",
                                            "deepseek-coder",
                                            "starcoder2",
                                            "codellama",
                                            "falcon",
                                            "olmo",
                                            "granite",
                                            "smollm2",
                                            "tinyllama",
                                            "stablelm",
                                            "yi",
                                            "internlm2",
                                            "command-r",
                                            "bge-small",
                                            "bge-base",
                                            "bge-m3",
                                            "e5-large",
                                            "nomic-embed",
                                            "gte-base",
                                            "jina-embeddings",
                                            "mxbai-embed",
                                            "bge-reranker",
                                            "jina-reranker",
                                            "minicpm",
                                            "hermes-3",
                                            "openchat",
                                            "zephyr",
                                            "vicuna",
                                            "orca-2",
                                            "solar",
                                            "nous-capybara",
                                            "dolphin",
                                            "wizardlm",
                                            "neural-chat",
                                            "aya-23",
                                            "exaone",
                                            "glm-4",
                                            "baichuan2"};
const std::vector<std::string> kSizes = {"135m", "0.5b", "1b",  "1.5b", "3b", "7b",
                                         "8b",   "13b",  "14b", "32b",  "70b"};
const std::vector<std::string> kVariants = {"instruct", "chat", "base", "coder",
                                            "vision",   "math", "it",   "uncensored"};
const std::vector<std::string> kQuants = {"Q4_K_M", "Q5_K_M", "Q8_0",   "Q4_0",
                                          "F16",    "Q6_K",   "IQ4_XS", "Q3_K_M"};
const std::vector<std::string> kArchs = {"llama", "qwen2",   "qwen3",      "gemma2",  "gemma3",
                                         "phi3",  "bert",    "nomic-bert", "mistral", "falcon",
                                         "olmo",  "granite", "starcoder2", "t5"};
const std::vector<std::string> kTags = {"chat",  "code",     "retrieval", "multilingual",
                                        "small", "fast",     "vision",    "reasoning",
                                        "math",  "roleplay", "work",      "experimental"};
const std::vector<std::string> kWords = {
    "a",       "compact",  "model",      "for",       "english",      "text",   "trained", "on",
    "curated", "web",      "data",       "distilled", "from",         "larger", "teacher", "quantized",
    "with",    "imatrix",  "fine",       "tuned",     "instructions", "long",   "context", "tool",
    "use",     "sentence", "embeddings", "search",    "ranking"};

struct Query {
  std::string label;
  LibraryQuery q;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 100000;
  int repeats = argc > 2 ? std::atoi(argv[2]) : 200;
  fs::path home = fs::temp_directory_path() / ("xervo-bench-library-" + std::to_string(::getpid()));
  fs::remove_all(home);

  LibraryOptions options;
  options.home = home;
  auto opened = ModelLibrary::open(options);
  if (!opened) {
    std::fprintf(stderr, "%s\n", opened.error().to_string().c_str());
    return 1;
  }
  auto library = *opened;

  // Fill through the index directly in one transaction: the benchmark is about search.
  auto t0 = std::chrono::steady_clock::now();
  {
    auto index = library::ModelIndex::open(home / "models.db", home, 10000);
    if (!index) return 1;
    std::mt19937_64 rng(42);
    auto pick = [&](const std::vector<std::string>& v) -> const std::string& { return v[rng() % v.size()]; };
    library::Transaction tx(index->db());
    (void)tx.begin();
    for (int i = 0; i < n; ++i) {
      LibraryModel m;
      m.publisher = "publisher" + std::to_string(rng() % 2000);
      std::string family = pick(kFamilies);
      std::string quant = pick(kQuants);
      m.name = family + "-" + pick(kSizes) + "-" + pick(kVariants) + "-" + std::to_string(i) + "-" + quant;
      for (auto& c : m.name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      m.id = m.publisher + "/" + m.name;
      m.architecture = pick(kArchs);
      m.task = static_cast<ModelTask>(rng() % 3);
      m.quantization = quant;
      m.size_bytes = 50'000'000 + rng() % 40'000'000'000ull;
      m.sha256 = std::string(64, "0123456789abcdef"[i % 16]);
      m.state = rng() % 50 == 0 ? LibraryModelState::failed : LibraryModelState::ready;
      m.tags = {pick(kTags), pick(kTags)};
      for (int w = 0; w < 8; ++w) m.description += pick(kWords) + " ";
      m.file = home / "models" / m.publisher / m.name / (m.name + ".gguf");
      m.created_at = m.updated_at = 1'700'000'000 + static_cast<int64_t>(rng() % 30'000'000);
      if (auto r = index->upsert(m); !r) {
        std::fprintf(stderr, "%s\n", r.error().to_string().c_str());
        return 1;
      }
    }
    (void)tx.commit();
    (void)index->db().exec("ANALYZE; INSERT INTO models_fts(models_fts) VALUES('optimize')");
  }
  double fill_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // Reopen, as a new process would: the connection reads the planner statistics at open.
  library.reset();
  library = *ModelLibrary::open(options);

  std::vector<Query> queries = {
      {"text rare (\"mixtral 70b\")", {.text = "mixtral 70b"}},
      {"text common (\"instruct\")", {.text = "instruct"}},
      {"text prefix (\"qw\")", {.text = "qw"}},
      {"text + task + quant", {.text = "llama", .task = ModelTask::generate, .quantization = "Q4_K_M"}},
      {"text, sort size", {.text = "coder", .sort = LibrarySort::size}},
      {"tag filter, sort recent", {.tag = "retrieval", .sort = LibrarySort::recent}},
      {"task filter, sort name", {.task = ModelTask::embed, .sort = LibrarySort::name}},
      {"size range + state",
       {.min_size = 1'000'000'000, .max_size = 2'000'000'000, .state = LibraryModelState::ready}},
      {"list all, sort name", {.sort = LibrarySort::name}},
      {"no match", {.text = "doesnotexistanywhere"}},
  };
  std::printf("library search benchmark: %d records (filled in %.1f s), %d runs per query, limit 50\n", n,
              fill_s, repeats);
  std::printf("%-28s %6s %9s %9s %9s %11s\n", "query", "rows", "p50 ms", "p99 ms", "max ms", "p90 ms");
  std::vector<double> all;
  for (auto& q : queries) {
    std::vector<double> times;
    size_t rows = 0;
    (void)library->search(q.q);  // warm the page cache and the statement
    for (int r = 0; r < repeats; ++r) {
      auto s = std::chrono::steady_clock::now();
      auto res = library->search(q.q);
      times.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s).count());
      if (!res) {
        std::fprintf(stderr, "%s: %s\n", q.label.c_str(), res.error().to_string().c_str());
        return 1;
      }
      rows = res->size();
    }
    all.insert(all.end(), times.begin(), times.end());
    std::printf("%-28s %6zu %9.3f %9.3f %9.3f %11.3f\n", q.label.c_str(), rows, percentile(times, 0.5),
                percentile(times, 0.99), percentile(times, 1.0), percentile(times, 0.9));
  }
  double p99 = percentile(all, 0.99);
  std::printf("%-28s %6s %9.3f %9.3f %9.3f %11.3f\n", "ALL", "", percentile(all, 0.5), p99,
              percentile(all, 1.0), percentile(all, 0.9));
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) > 0)
    std::printf("machine load average %.1f on %ld cores\n", load[0], sysconf(_SC_NPROCESSORS_ONLN));
  std::printf("target p99 < 5 ms: %s\n", p99 < 5.0 ? "met" : "NOT met");
  // On a shared machine, waiting for a core shows up as spikes of whole scheduler ticks (~4 ms).
  size_t over = static_cast<size_t>(std::count_if(all.begin(), all.end(), [](double t) { return t >= 5.0; }));
  std::printf("runs at or over 5 ms: %zu of %zu\n", over, all.size());
  library.reset();
  if (!std::getenv("XERVO_BENCH_KEEP"))
    fs::remove_all(home);
  else
    std::printf("kept %s\n", home.c_str());
  return p99 < 5.0 ? 0 : 2;
}
