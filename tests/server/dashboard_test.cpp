// The Grafana dashboard (deploy/grafana/xervo.json) graphs only what the server exports: every metric
// name its queries use is declared by a test server's /metrics (histograms as _bucket, _sum, _count).
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "server_fixture.h"
#include "xervo/cache.h"

namespace xervo::testing {
namespace {

// Every "expr" of every panel target, nested rows included.
void collect_exprs(const nlohmann::json& node, std::vector<std::string>& out) {
  if (node.is_object()) {
    for (const auto& [k, v] : node.items()) {
      if (k == "expr" && v.is_string()) out.push_back(v.get<std::string>());
      collect_exprs(v, out);
    }
  } else if (node.is_array()) {
    for (const auto& v : node) collect_exprs(v, out);
  }
}

// The series names /metrics declares with `# TYPE name kind`.
std::set<std::string> exported_names(const std::string& text) {
  std::set<std::string> names;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.starts_with("# TYPE ")) continue;
    std::istringstream words(line.substr(7));
    std::string name, kind;
    words >> name >> kind;
    if (kind == "histogram") {
      for (const char* suffix : {"_bucket", "_sum", "_count"}) names.insert(name + suffix);
    } else {
      names.insert(name);
    }
  }
  return names;
}

class DashboardTest : public ServerTest {};

TEST_F(DashboardTest, EveryMetricTheDashboardQueriesIsExported) {
  std::ifstream file(XERVO_DASHBOARD);
  ASSERT_TRUE(file) << XERVO_DASHBOARD;
  auto dashboard = nlohmann::json::parse(file);
  std::vector<std::string> exprs;
  collect_exprs(dashboard, exprs);
  ASSERT_GE(exprs.size(), 10u) << "the dashboard has fewer queries than panels it promises";

  start();  // the response cache off: its series are exported all the same
  auto metrics = get("/metrics");
  ASSERT_TRUE(metrics);
  ASSERT_EQ(metrics->status, 200);
  const auto exported = exported_names(metrics->body);

  std::set<std::string> used;
  const std::regex metric(R"(\bxervo_[a-z0-9_]+)");
  for (const auto& e : exprs)
    for (auto it = std::sregex_iterator(e.begin(), e.end(), metric); it != std::sregex_iterator(); ++it)
      used.insert(it->str());
  ASSERT_FALSE(used.empty());
  for (const auto& name : used) EXPECT_TRUE(exported.count(name)) << name << " is queried but not exported";
  // What the issue asks the dashboard to show is there.
  for (const char* wanted :
       {"xervo_http_requests_total", "xervo_http_request_duration_seconds_bucket",
        "xervo_time_to_first_token_seconds_bucket", "xervo_time_per_output_token_seconds_bucket",
        "xervo_tokens_total", "xervo_queue_depth", "xervo_queue_wait_seconds_bucket",
        "xervo_cache_hits_total", "xervo_cache_misses_total", "xervo_memory_used_bytes",
        "xervo_memory_budget_bytes", "xervo_model_load_duration_seconds_count", "xervo_model_evictions_total",
        "xervo_trace_spans_dropped_total"})
    EXPECT_TRUE(used.count(wanted)) << wanted << " is not on the dashboard";
}

}  // namespace
}  // namespace xervo::testing
