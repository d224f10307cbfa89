// `xervo serve --port 0` binds a free port itself and prints it: the race-free way for tests (and
// scripts) to start a server, read back with ChildProcess::wait_for_listening_port().
#include <gtest/gtest.h>
#include <httplib.h>

#include <csignal>

#include "cli_runner.h"
#include "process.h"

namespace xervo::cli_test {
namespace {

TEST(CliServe, PortZeroBindsAFreePortAndPrintsIt) {
  TempHome home("serve-port");
  TempConfig config("# no aliases\n");
  testing::ChildProcess server({"env", "XERVO_HOME=" + home.path.string(), XERVO_BIN, "--config",
                                config.path.string(), "serve", "--port", "0"});
  auto port = server.wait_for_listening_port();
  ASSERT_TRUE(port.has_value()) << server.log();
  EXPECT_GT(*port, 0);
  httplib::Client client("127.0.0.1", *port);
  client.set_read_timeout(30, 0);
  auto health = client.Get("/health");
  ASSERT_TRUE(health) << server.log();
  EXPECT_EQ(health->status, 200) << health->body;
  server.signal(SIGTERM);
  auto code = server.wait(std::chrono::seconds(30));
  ASSERT_TRUE(code.has_value()) << server.log();
  EXPECT_EQ(*code, 0) << server.log();
}

}  // namespace
}  // namespace xervo::cli_test
