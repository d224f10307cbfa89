// GET /v1/runtime/devices lists what the built-in local engines see (ggml's devices), each once.
#include <gtest/gtest.h>
#include <httplib.h>

#include <set>

#include "xervo/providers.h"
#include "xervo/runtime.h"
#include "xervo/server.h"

namespace xervo::testing {
namespace {

TEST(DeviceRoutes, ListsEveryDeviceOfTheLocalEngines) {
  RuntimeBuilder builder;
  add_builtin_providers(builder);
  auto runtime = builder.build();
  ASSERT_TRUE(runtime.ok()) << runtime.error().to_string();
  size_t expected = 0;
  std::set<std::string> names;
  for (const auto& p : (*runtime)->providers())
    for (const auto& d : p->devices()) expected += names.insert(d.name).second;
  ServerOptions o;
  o.port = 0;
  auto server = Server::start(*runtime, o);
  ASSERT_TRUE(server.ok()) << server.error().to_string();
  httplib::Client c("127.0.0.1", (*server)->port());
  auto r = c.Get("/v1/runtime/devices");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = nlohmann::json::parse(r->body);
  ASSERT_EQ(j["data"].size(), expected);
  for (const auto& d : j["data"]) {
    EXPECT_TRUE(names.count(d["name"].get<std::string>()));
    for (const char* field : {"backend", "type", "description", "provider"})
      EXPECT_TRUE(d[field].is_string()) << field;
    EXPECT_GE(d["memory_total"].get<uint64_t>(), d["memory_free"].get<uint64_t>());
  }
}

}  // namespace
}  // namespace xervo::testing
