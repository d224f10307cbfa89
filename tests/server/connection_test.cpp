// The connection layer under hostile clients: bounded headers, the body limit judged on the
// declared length, deadlines for slow senders, per-address connection caps, idle keep-alive
// connections that hold no worker, pipelining, and cancellation when a client leaves. Raw
// sockets, so the tests send exactly the bytes an attacker would.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/http_listener.h"
#include "server_fixture.h"

namespace xervo::testing {
namespace {

// One TCP connection to the server; reads wait at most `limit` (a bound for a broken server,
// never a measurement).
class RawClient {
 public:
  // `from`: the client's own address (any 127.x.y.z is this machine), so that one test can be
  // several clients for the per-address cap.
  explicit RawClient(int port, const char* from = nullptr) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (from) {
      sockaddr_in local{};
      local.sin_family = AF_INET;
      ::inet_pton(AF_INET, from, &local.sin_addr);
      if (::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) return;
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~RawClient() { close(); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const { return connected_; }
  int local_port() const {
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return -1;
    return ntohs(addr.sin_port);
  }
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  // Reads until `stop` is found in what arrived, the peer closes, or `limit` passes.
  // `from`: where in what arrived so far to look for `stop` (skips earlier responses).
  std::string read_until(std::string_view stop, std::chrono::milliseconds limit = std::chrono::seconds(20),
                         size_t from = 0) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (received_.find(stop, from) == std::string::npos && !closed_by_peer_) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buf[65536];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        closed_by_peer_ = true;
        break;
      }
      received_.append(buf, static_cast<size_t>(n));
    }
    return received_;
  }
  // Reads until the peer closes (or `limit` passes); true when it closed.
  bool wait_closed(std::chrono::milliseconds limit = std::chrono::seconds(20)) {
    read_until("\x01\x02never\x03", limit);
    return closed_by_peer_;
  }
  const std::string& received() const { return received_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool closed_by_peer_ = false;
  std::string received_;
};

int status_of(const std::string& response) {
  if (!response.starts_with("HTTP/1.1 ") || response.size() < 12) return 0;
  return std::stoi(response.substr(9, 3));
}

std::string embed_request(std::string_view extra_headers = "") {
  std::string body = R"({"model":"embed/test","input":"hello"})";
  return "POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
         std::string(extra_headers) + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

class ConnectionTest : public ServerTest {};

TEST_F(ConnectionTest, HeadersLargerThanTheLimitAre431AndTheConnectionCloses) {
  start();
  RawClient c(server->port());
  ASSERT_TRUE(c.connected());
  // A request line that never ends: the server must stop at its limit, not buffer it all.
  std::string line = "GET /" + std::string(200 * 1024, 'a');
  c.send(line);
  EXPECT_EQ(status_of(c.read_until("\r\n\r\n")), 431);
  EXPECT_TRUE(c.wait_closed());
}

TEST_F(ConnectionTest, TooManyHeaderFieldsAre431) {
  options.max_header_bytes = 1 << 20;
  start();
  RawClient c(server->port());
  std::string headers;
  for (int i = 0; i < 500; ++i) headers += "X-H" + std::to_string(i) + ": v\r\n";
  c.send("GET /health HTTP/1.1\r\nHost: x\r\n" + headers + "\r\n");
  std::string r = c.read_until("}");
  EXPECT_EQ(status_of(r), 431) << r;
  EXPECT_NE(r.find("max_headers"), std::string::npos);
}

TEST_F(ConnectionTest, DeclaredBodyOverTheLimitIs413BeforeAnyBodyByte) {
  start();
  for (std::string length : {"10737418240", "18446744073709551615"}) {
    RawClient c(server->port());
    c.send("POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + "\r\n\r\n");
    // No body byte is ever sent: the answer can only come from the declared length.
    std::string r = c.read_until("\r\n\r\n");
    EXPECT_EQ(status_of(r), 413) << length << ": " << r;
    EXPECT_TRUE(c.wait_closed());
  }
  RawClient overflow(server->port());
  overflow.send("POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n");
  int status = status_of(overflow.read_until("\r\n\r\n"));
  EXPECT_TRUE(status == 400 || status == 413) << status;
}

TEST_F(ConnectionTest, PostWithoutBodyOrLengthIsAnsweredAtOnceAs400) {
  start();
  RawClient c(server->port());
  c.send("POST /v1/embeddings HTTP/1.1\r\nHost: x\r\n\r\n");
  // Answered without waiting out read_timeout (30 s): the read limit here is below it.
  std::string r = c.read_until("}", std::chrono::seconds(10));
  EXPECT_EQ(status_of(r), 400) << r;
  EXPECT_NE(r.find("body is empty"), std::string::npos) << r;
}

TEST_F(ConnectionTest, SlowHeadersAreCutAtTheHeaderDeadlineAndHoldNoWorker) {
  options.header_timeout = std::chrono::seconds(1);
  options.threads = 2;
  start();
  // More slow clients than workers: each sends a few header bytes and then nothing more.
  std::vector<std::unique_ptr<RawClient>> slow;
  for (int i = 0; i < 40; ++i) {
    slow.push_back(std::make_unique<RawClient>(server->port()));
    slow.back()->send("POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nX-Slow: ");
  }
  // A normal client is served while they hang.
  auto r = post("/v1/embeddings", {{"model", "embed/test"}, {"input", "hi"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  // And each slow one is cut off at the header deadline.
  for (auto& c : slow) EXPECT_TRUE(c->wait_closed());
  auto metrics = get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("reason=\"header_timeout\"} 40"), std::string::npos) << metrics->body;
}

TEST_F(ConnectionTest, IdleKeepAliveConnectionsHoldNoWorker) {
  options.threads = 2;
  options.keep_alive_timeout = std::chrono::seconds(60);
  start();
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 30; ++i) {
    idle.push_back(std::make_unique<RawClient>(server->port()));
    idle.back()->send(embed_request());
    EXPECT_EQ(status_of(idle.back()->read_until("}]")), 200);
  }
  // 30 kept-alive connections, 2 workers: a new client is still served, and so is an old one.
  auto r = post("/v1/embeddings", {{"model", "embed/test"}, {"input", "hi"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  RawClient& old = *idle.front();
  size_t before = old.received().size();
  old.send(embed_request());
  EXPECT_EQ(status_of(old.read_until("}}", std::chrono::seconds(20), before).substr(before)), 200);
}

// True when the kernel holds the server's side of `client_port`'s connection to `server_port` as
// established (in the listener's accept queue or accepted): a client's connect() can return before
// the kernel has queued it for the listener. Reads /proc/net/tcp (127.0.0.1 is IPv4).
bool server_side_established(int server_port, int client_port) {
  std::FILE* f = std::fopen("/proc/net/tcp", "r");
  if (!f) return false;
  char line[512];
  bool found = false;
  while (!found && std::fgets(line, sizeof line, f)) {
    unsigned local = 0, remote = 0, state = 0;
    if (std::sscanf(line, " %*u: %*8X:%4X %*8X:%4X %2X", &local, &remote, &state) == 3)
      found = static_cast<int>(local) == server_port && static_cast<int>(remote) == client_port &&
              state == 0x01;  // TCP_ESTABLISHED
  }
  std::fclose(f);
  return found;
}

// A stop must not reset a connection whose request is on its way: a proxy (nginx) sends its request
// right after connecting and cannot safely send a POST that met a reset to another replica. A
// connection opened before the stop gets its answer; one that already had its answer is closed.
// Deadlines and the grace are far above anything this test waits for: only a broken stop meets them.
TEST_F(ConnectionTest, AStopAnswersAConnectionOpenedBeforeItAndClosesIdleOnes) {
  options.shutdown_grace = std::chrono::seconds(60);
  options.header_timeout = std::chrono::seconds(60);
  options.keep_alive_timeout = std::chrono::seconds(60);
  start();
  const int port = server->port();
  RawClient served(port);
  served.send(embed_request());
  ASSERT_EQ(status_of(served.read_until("}]")), 200);
  RawClient opened(port);  // no request yet; accepted, or still in the kernel's queue
  ASSERT_TRUE(opened.connected());
  ASSERT_TRUE(Probe::eventually([&] { return server_side_established(port, opened.local_port()); }));
  std::thread stopper([&] { server->stop(); });
  struct Join {
    std::thread& t;
    ~Join() { t.join(); }
  } join{stopper};
  // Once new connections are refused the stop has begun (the listening socket is closed).
  ASSERT_TRUE(Probe::eventually([&] { return !RawClient(port).connected(); }, std::chrono::seconds(30)));
  EXPECT_TRUE(served.wait_closed(std::chrono::seconds(30)));
  opened.send(embed_request());
  const std::string answer = opened.read_until("}]", std::chrono::seconds(30));
  EXPECT_EQ(status_of(answer), 200) << answer;
  EXPECT_NE(answer.find("Connection: close"), std::string::npos) << answer;
  EXPECT_TRUE(opened.wait_closed(std::chrono::seconds(30)));  // and then it closes
}

// The same at the listener, with the connections certainly in the kernel's queue when the stop
// begins: the one I/O thread is held in the reject hook (a 503 for the per-address cap), so nothing
// is accepted until the test lets it go. A stop that forgot them looked idle at once, and the server
// then closed with their requests unanswered (and, accepted after close(), their sockets open).
TEST(ListenerDrain, ConnectionsInTheKernelQueueAtAStopAreAnsweredBeforeItIsIdle) {
  std::mutex mu;
  std::condition_variable cv;
  bool held = false, released = false;
  server::ListenerOptions o;
  o.io_threads = 1;
  o.worker_threads = 2;
  o.max_connections_per_client = 1;
  o.header_timeout = std::chrono::seconds(60);
  o.keep_alive_timeout = std::chrono::seconds(60);
  auto ok = [](server::HttpRequest&, server::HttpResponse& res) {
    res.set_content("{\"ok\":1}", "application/json");
  };
  auto started = server::HttpListener::start(
      o, ok,
      [&](const server::TransportRejection& r) {
        if (r.reason != "connection_limit") return;
        std::unique_lock lock(mu);
        held = true;
        cv.notify_all();
        cv.wait(lock, [&] { return released; });
      });
  ASSERT_TRUE(started.ok()) << started.error().to_string();
  auto& listener = **started;
  auto release = [&] {
    std::lock_guard lock(mu);
    released = true;
    cv.notify_all();
  };
  struct Release {
    std::function<void()> f;
    ~Release() { f(); }
  } release_at_end{release};
  const int port = listener.port();
  const std::string request = "GET /x HTTP/1.1\r\nHost: x\r\n\r\n";

  RawClient idle(port, "127.0.0.2");  // served, then idle: a stop closes it
  idle.send(request);
  ASSERT_EQ(status_of(idle.read_until("}")), 200);
  RawClient over(port, "127.0.0.2");  // over the cap: its 503 holds the I/O thread
  ASSERT_TRUE(over.connected());
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return held; }));
  }
  std::vector<std::unique_ptr<RawClient>> queued;  // completed by the kernel, not accepted
  for (const char* from : {"127.0.0.3", "127.0.0.4", "127.0.0.5"}) {
    queued.push_back(std::make_unique<RawClient>(port, from));
    ASSERT_TRUE(queued.back()->connected());
    const int client_port = queued.back()->local_port();
    ASSERT_TRUE(Probe::eventually([&] { return server_side_established(port, client_port); }));
  }

  listener.stop_accepting();
  EXPECT_FALSE(listener.wait_idle(std::chrono::steady_clock::now()));  // their requests are on the way
  release();
  for (auto& c : queued) c->send(request);
  for (auto& c : queued) {
    const std::string answer = c->read_until("}", std::chrono::seconds(30));
    EXPECT_EQ(status_of(answer), 200) << answer;
    EXPECT_NE(answer.find("Connection: close"), std::string::npos) << answer;
    EXPECT_TRUE(c->wait_closed(std::chrono::seconds(30)));
  }
  EXPECT_TRUE(idle.wait_closed(std::chrono::seconds(30)));
  EXPECT_EQ(status_of(over.read_until("}", std::chrono::seconds(30))), 503);
  EXPECT_TRUE(listener.wait_idle(std::chrono::steady_clock::now() + std::chrono::seconds(30)));
  listener.close();
}

TEST_F(ConnectionTest, ConnectionsPerClientAddressAreCapped) {
  options.max_connections_per_client = 4;
  start();
  std::vector<std::unique_ptr<RawClient>> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(std::make_unique<RawClient>(server->port()));
    held.back()->send(embed_request());
    ASSERT_EQ(status_of(held.back()->read_until("}]")), 200);
  }
  RawClient fifth(server->port());
  fifth.send(embed_request());
  std::string r = fifth.read_until("}");
  EXPECT_EQ(status_of(r), 503) << r;
  EXPECT_NE(r.find("max_connections_per_client"), std::string::npos);
  // A place frees when one closes.
  held.front()->close();
  EXPECT_TRUE(Probe::eventually([&] {
    RawClient again(server->port());
    again.send(embed_request());
    return status_of(again.read_until("}]")) == 200;
  }));
}

TEST_F(ConnectionTest, PipelinedRequestsAreAnsweredInOrder) {
  start();
  RawClient c(server->port());
  c.send(embed_request() + "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string r = c.read_until("\"ok\"}");
  size_t first = r.find("HTTP/1.1 200");
  size_t second = r.find("HTTP/1.1 200", first + 1);
  ASSERT_NE(second, std::string::npos) << r;
  EXPECT_NE(r.find("embedding", first), std::string::npos);
  EXPECT_LT(r.find("embedding"), second);
  EXPECT_NE(r.find("\"status\":\"ok\"", second), std::string::npos);
}

TEST_F(ConnectionTest, ExpectContinueAndChunkedBodiesWork) {
  start();
  RawClient c(server->port());
  std::string body = R"({"model":"embed/test","input":"hello"})";
  c.send("POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n");
  EXPECT_NE(c.read_until("\r\n\r\n").find("100 Continue"), std::string::npos);
  c.send(body);
  EXPECT_NE(c.read_until("}]").find("HTTP/1.1 200"), std::string::npos);

  RawClient chunked(server->port());
  chunked.send("POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n" +
               body.substr(0, 5) + "\r\n" +
               [&] {
                 char size[16];
                 std::snprintf(size, sizeof size, "%zx", body.size() - 5);
                 return std::string(size);
               }() +
               "\r\n" + body.substr(5) + "\r\n0\r\n\r\n");
  EXPECT_EQ(status_of(chunked.read_until("}]")), 200);
}

TEST_F(ConnectionTest, WrongMethodIs405WithAllow) {
  start();
  auto r = get("/v1/embeddings");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->get_header_value("Allow"), "POST");
}

TEST_F(ConnectionTest, ClientLeavingAWholeResponseCancelsTheGeneration) {
  start();
  RawClient c(server->port());
  std::string body = R"({"model":"chat/endless","messages":[{"role":"user","content":"hi"}]})";
  c.send(
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body);
  ASSERT_TRUE(Probe::eventually([&] { return probe->started.load() == 1; }));
  c.close();
  EXPECT_TRUE(Probe::eventually([&] { return probe->cancelled.load() == 1; }));
}

TEST_F(ConnectionTest, ClientLeavingAnEmbeddingCancelsIt) {
  start({test_spec("embed/endless", ModelTask::embed, "endless")});
  RawClient c(server->port());
  std::string body = R"({"model":"embed/endless","input":"hi"})";
  c.send("POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body);
  // The endless embedding counts itself cancelled only when its stop token fires.
  ASSERT_TRUE(Probe::eventually([&] { return probe->started.load() >= 1; }));
  c.close();
  EXPECT_TRUE(Probe::eventually([&] { return probe->cancelled.load() == 1; }));
}

TEST_F(ConnectionTest, ASecondServerOnAPortInUseFailsClearly) {
  start();
  ServerOptions again = options;
  again.port = server->port();
  auto second = Server::start(runtime, again);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code(), ErrorCode::unavailable);
  EXPECT_NE(second.error().message().find("in use"), std::string::npos) << second.error().message();
  EXPECT_NE(second.error().message().find("reuse_port"), std::string::npos);
}

}  // namespace
}  // namespace xervo::testing
