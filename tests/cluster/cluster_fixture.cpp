#include "cluster_fixture.h"

#include "test_models.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace xervo::testing::cluster {
namespace {

using namespace std::chrono_literals;

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p);
  out << text;
}

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return done();
}

httplib::Client client(int port) {
  httplib::Client c("127.0.0.1", port);
  c.set_tcp_nodelay(true);
  c.set_connection_timeout(5, 0);
  c.set_read_timeout(60, 0);
  c.set_write_timeout(10, 0);
  return c;
}

Answer answer_of(const httplib::Result& r) {
  Answer a;
  if (!r) return a;
  a.status = r->status;
  a.body = r->body;
  a.headers = r->headers;
  return a;
}

}  // namespace

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::runtime_error("no free port");
  int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

// --- Redis -------------------------------------------------------------------------------------------
RedisProcess::RedisProcess(std::filesystem::path dir) : dir_(std::move(dir)), socket_(dir_ / "redis.sock") {
  start();
}
RedisProcess::~RedisProcess() { stop(); }

void RedisProcess::start() {
  std::filesystem::remove(socket_);
  // No TCP port, no persistence: a throwaway instance on a socket only this test knows.
  process_ = std::make_unique<ChildProcess>(std::vector<std::string>{
      "redis-server", "--port", "0", "--unixsocket", socket_.string(), "--unixsocketperm", "700", "--save",
      "", "--appendonly", "no", "--dir", dir_.string(), "--daemonize", "no"});
  if (!wait_until(
          [&] { return std::filesystem::exists(socket_) && cli({"PING"}).find("PONG") != std::string::npos; },
          10s))
    throw std::runtime_error("redis-server did not start:\n" + process_->log());
}

void RedisProcess::stop() {
  if (process_) process_->stop();
  process_.reset();
}

std::string RedisProcess::cli(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {"redis-cli", "-s", socket_.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run_command(argv, std::chrono::seconds(10));
  return r.out;
}

// --- the stand-in upstream ---------------------------------------------------------------------------
StandInUpstream::StandInUpstream() {
  server_.Post("/v1/embeddings", [this](const httplib::Request& req, httplib::Response& res) {
    auto body = nlohmann::json::parse(req.body, nullptr, false);
    nlohmann::json inputs = body.is_object() ? body.value("input", nlohmann::json()) : nlohmann::json();
    if (inputs.is_string()) inputs = nlohmann::json::array({inputs});
    if (!inputs.is_array()) {
      res.status = 400;
      return;
    }
    calls_++;
    {
      std::lock_guard lock(mu_);
      for (const auto& in : inputs) per_input_[in.is_string() ? in.get<std::string>() : in.dump()]++;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms.load()));
    nlohmann::json data = nlohmann::json::array();
    for (size_t i = 0; i < inputs.size(); ++i) {
      double n = inputs[i].is_string() ? static_cast<double>(inputs[i].get<std::string>().size()) : 1.0;
      data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", {n, 1.0, 0.5}}});
    }
    res.set_content(
        nlohmann::json{{"object", "list"},
                       {"data", data},
                       {"model", "stand-in"},
                       {"usage", {{"prompt_tokens", inputs.size()}, {"total_tokens", inputs.size()}}}}
            .dump(),
        "application/json");
  });
  server_.Get("/v1/models", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"object":"list","data":[{"id":"stand-in","object":"model"}]})", "application/json");
  });
  server_.new_task_queue = [] { return new httplib::ThreadPool(64); };
  port_ = server_.bind_to_any_port("127.0.0.1");
  thread_ = std::thread([this] { server_.listen_after_bind(); });
  wait_until([&] { return server_.is_running(); }, 5s);
}

StandInUpstream::~StandInUpstream() {
  server_.stop();
  if (thread_.joinable()) thread_.join();
}

int StandInUpstream::calls_for(const std::string& input) {
  std::lock_guard lock(mu_);
  auto it = per_input_.find(input);
  return it == per_input_.end() ? 0 : it->second;
}

// --- a replica ---------------------------------------------------------------------------------------
void Replica::start() {
  std::filesystem::create_directories(home_);
  process_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{"env", "XERVO_HOME=" + home_.string(), XERVO_BINARY, "--config",
                               config_.string(), "serve", "--port", std::to_string(port_)});
  auto bound = process_->wait_for_listening_port(std::chrono::seconds(60));
  if (!bound) throw std::runtime_error("xervo serve did not come up:\n" + process_->log());
  port_ = *bound;
  if (!wait_healthy(*process_, port_, std::chrono::steady_clock::now() + 30s))
    throw std::runtime_error("xervo serve is not healthy:\n" + process_->log());
}

void Replica::kill() {
  if (!process_) return;
  process_->signal(SIGKILL);
  process_->wait(10s);
}

bool Replica::terminate_and_wait() {
  if (!process_) return true;
  process_->signal(SIGTERM);
  return process_->wait(30s).has_value();
}

// --- nginx -------------------------------------------------------------------------------------------
NginxProcess::NginxProcess(std::filesystem::path dir, const std::vector<int>& replica_ports)
    : dir_(std::move(dir)) {
  std::filesystem::create_directories(dir_ / "temp");
  // The upstreams of deploy/nginx/upstreams.conf with this test's replicas; fail_timeout short so a
  // restarted replica is back in rotation within a second.
  std::string servers;
  for (int p : replica_ports)
    servers += "  server 127.0.0.1:" + std::to_string(p) + " max_fails=1 fail_timeout=1s;\n";
  write_text(dir_ / "upstreams.conf", "upstream xervo_affinity {\n  hash $xervo_affinity consistent;\n" +
                                          servers + "}\nupstream xervo_any {\n  least_conn;\n" + servers +
                                          "}\n");
  for (int attempt = 0; attempt < 3; ++attempt) {
    port_ = free_port();
    std::string site = read_text(XERVO_NGINX_CONF);
    site = std::regex_replace(site, std::regex("listen 8080;"),
                              "listen 127.0.0.1:" + std::to_string(port_) + ";");
    write_text(dir_ / "xervo.conf", site);
    const std::string t = (dir_ / "temp").string();
    std::string main = std::string(::geteuid() == 0 ? "user root;\n" : "") +
                       "daemon off;\nmaster_process on;\nworker_processes 2;\n"
                       "pid " +
                       (dir_ / "nginx.pid").string() + ";\nerror_log " + (dir_ / "error.log").string() +
                       " warn;\nevents { worker_connections 1024; }\nhttp {\n  access_log off;\n"
                       "  client_body_temp_path " +
                       t + "/body;\n  proxy_temp_path " + t +
                       "/proxy;\n"
                       "  fastcgi_temp_path " +
                       t + "/fastcgi;\n  uwsgi_temp_path " + t +
                       "/uwsgi;\n"
                       "  scgi_temp_path " +
                       t + "/scgi;\n  include " + (dir_ / "upstreams.conf").string() + ";\n  include " +
                       (dir_ / "xervo.conf").string() + ";\n}\n";
    write_text(dir_ / "nginx.conf", main);
    process_ = std::make_unique<ChildProcess>(std::vector<std::string>{XERVO_NGINX, "-p", dir_.string(), "-e",
                                                                       (dir_ / "error.log").string(), "-c",
                                                                       (dir_ / "nginx.conf").string()});
    if (wait_until(
            [&] { return answer_of(client(port_).Get("/health")).status == 200 || !process_->running(); },
            10s) &&
        process_->running())
      return;
    process_->stop();
  }
  throw std::runtime_error("nginx did not start:\n" + error_log() + process_->log());
}

NginxProcess::~NginxProcess() {
  if (process_) process_->stop();
}

std::string NginxProcess::error_log() const { return read_text(dir_ / "error.log"); }

// --- HTTP --------------------------------------------------------------------------------------------
Answer http_get(int port, const std::string& path, const std::string& key) {
  auto c = client(port);
  httplib::Headers h;
  if (!key.empty()) h.emplace("Authorization", "Bearer " + key);
  return answer_of(c.Get(path.c_str(), h));
}

Answer http_post(int port, const std::string& path, const nlohmann::json& body, const std::string& key,
                 const httplib::Headers& extra) {
  auto c = client(port);
  httplib::Headers h = extra;
  if (!key.empty()) h.emplace("Authorization", "Bearer " + key);
  return answer_of(c.Post(path.c_str(), h, body.dump(), "application/json"));
}

}  // namespace xervo::testing::cluster
