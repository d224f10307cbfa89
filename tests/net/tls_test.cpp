// TLS verification stays on: a server with a certificate the client does not trust is refused, and
// the same server is accepted once its certificate is given as the CA file.
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

#include "net/http_client.h"

namespace xervo::net {
namespace {

namespace fs = std::filesystem;

class TlsServer {
 public:
  explicit TlsServer(const fs::path& dir) : server_((dir / "cert.pem").c_str(), (dir / "key.pem").c_str()) {
    server_.Get("/x", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("secure", "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~TlsServer() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_) + "/x"; }
  bool valid() { return server_.is_valid(); }

 private:
  httplib::SSLServer server_;
  std::thread thread_;
  int port_ = 0;
};

TEST(Tls, UntrustedCertificateIsRefusedAndTrustedOneAccepted) {
  const fs::path dir = fs::temp_directory_path() / ("xervo-tls-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string cmd =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
      "-addext subjectAltName=IP:127.0.0.1 -keyout '" +
      (dir / "key.pem").string() + "' -out '" + (dir / "cert.pem").string() + "' >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "openssl could not make a test certificate";
  {
    TlsServer server(dir);
    ASSERT_TRUE(server.valid());
    HttpRequest req;
    req.url = server.url();

    HttpClient strict;
    auto refused = strict.perform(req);
    EXPECT_EQ(refused.error, TransportError::tls) << refused.message;
    EXPECT_EQ(error_code_for(refused.error), ErrorCode::unavailable);

    HttpClientOptions options;
    options.ca_file = (dir / "cert.pem").string();
    HttpClient trusting(options);
    auto ok = trusting.send(req);
    ASSERT_TRUE(ok.ok()) << ok.error().to_string();
    EXPECT_EQ(ok->status, 200);
    EXPECT_EQ(ok->body, "secure");
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace xervo::net
