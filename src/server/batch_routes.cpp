// The Batch API, as OpenAI's: files (POST/GET /v1/files, GET /v1/files/{id}[/content],
// DELETE /v1/files/{id}) and batches (POST/GET /v1/batches, GET /v1/batches/{id},
// POST /v1/batches/{id}/cancel). Files and batches belong to the API key that made them (everyone's
// without authentication); another key sees 404. The routes are thin: BatchStore keeps the state,
// BatchRunner does the work, through the same route handlers as HTTP requests.
#include <fstream>
#include <sstream>

#include "cluster/cluster.h"
#include "core/log.h"
#include "server/batch_runner.h"
#include "server/batch_store.h"
#include "server/json_fields.h"
#include "server/multipart.h"
#include "server/server_state.h"
#include "xervo/priority.h"

namespace xervo::server {

class BatchService {
 public:
  std::unique_ptr<BatchStore> store;
  std::unique_ptr<BatchRunner> runner;
  std::string off_reason;  // set: the Batch API is off, and why
};

namespace {

using nlohmann::json;

constexpr const char* kEndpoints[] = {"/v1/chat/completions", "/v1/completions", "/v1/embeddings"};

std::string owner_of_request() {
  const auto& who = current_request().principal;
  return who ? who->id() : std::string();
}

BatchService& service_of(ServerState& state) {
  if (!state.batch || !state.batch->off_reason.empty())
    throw Rejection(Error(ErrorCode::unavailable,
                          "the Batch API is off: " + (state.batch ? state.batch->off_reason : "not set up")));
  return *state.batch;
}

template <typename T>
T stored(Result<T> r) {
  if (!r.ok()) {
    spdlog::error("[{}] batch store: {}", current_request().request_id, r.error().to_string());
    throw Rejection(r.error());
  }
  return std::move(*r);
}

// No ErrorCode means "this object does not exist": the route answers OpenAI's 404 itself.
struct NotFound {
  std::string message;
};

[[noreturn]] void not_found(const std::string& what, const std::string& id) {
  throw NotFound{"No such " + what + ": '" + log_escape(id) + "'"};
}

json file_json(const FileRecord& f) {
  return {{"id", f.id},
          {"object", "file"},
          {"bytes", f.bytes},
          {"created_at", f.created_at},
          {"filename", f.filename},
          {"purpose", f.purpose},
          {"status", "processed"},
          {"status_details", nullptr},
          {"expires_at", nullptr}};
}

json optional_time(const std::optional<int64_t>& t) { return t ? json(*t) : json(nullptr); }

json batch_json(const BatchRecord& b) {
  auto id_or_null = [](const std::string& s) { return s.empty() ? json(nullptr) : json(s); };
  return {{"id", b.id},
          {"object", "batch"},
          {"endpoint", b.endpoint},
          {"errors", b.errors},
          {"input_file_id", b.input_file_id},
          {"completion_window", b.completion_window},
          {"status", b.status},
          {"output_file_id", id_or_null(b.output_file_id)},
          {"error_file_id", id_or_null(b.error_file_id)},
          {"created_at", b.created_at},
          {"in_progress_at", optional_time(b.in_progress_at)},
          {"expires_at", b.expires_at},
          {"finalizing_at", optional_time(b.finalizing_at)},
          {"completed_at", optional_time(b.completed_at)},
          {"failed_at", optional_time(b.failed_at)},
          {"expired_at", optional_time(b.expired_at)},
          {"cancelling_at", optional_time(b.cancelling_at)},
          {"cancelled_at", optional_time(b.cancelled_at)},
          {"request_counts",
           {{"total", b.counts.total}, {"completed", b.counts.completed}, {"failed", b.counts.failed}}},
          {"metadata", b.metadata}};
}

// ?limit= and ?after= of a list route.
PageQuery page_query(const HttpRequest& req, int64_t max_limit, int64_t default_limit) {
  PageQuery page;
  page.owner = owner_of_request();
  page.after = req.param("after");
  page.limit = default_limit;
  if (req.has_param("limit")) {
    std::string text = req.param("limit");
    char* end = nullptr;
    long long n = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end || n < 1 || n > max_limit)
      reject_input("'limit' must be an integer from 1 to " + std::to_string(max_limit));
    page.limit = n;
  }
  if (std::string order = req.param("order"); !order.empty() && order != "desc")
    reject_input("'order' may only be \"desc\" (newest first)");
  return page;
}

template <typename Record>
void send_page(HttpResponse& res, const std::vector<Record>& rows, bool has_more,
               json (*to_json)(const Record&)) {
  json data = json::array();
  for (const auto& r : rows) data.push_back(to_json(r));
  send_json(res, 200,
            {{"object", "list"},
             {"data", data},
             {"has_more", has_more},
             {"first_id", rows.empty() ? json(nullptr) : json(rows.front().id)},
             {"last_id", rows.empty() ? json(nullptr) : json(rows.back().id)}});
}

FileRecord owned_file(BatchService& service, const std::string& id) {
  auto f = stored(service.store->file(id));
  if (!f || f->owner != owner_of_request()) not_found("file", id);
  return *f;
}

BatchRecord owned_batch(BatchService& service, const std::string& id) {
  auto b = stored(service.store->batch(id));
  if (!b || b->owner != owner_of_request()) not_found("batch", id);
  return *b;
}

// ----------------------------------------------------------------------------------------- files

void upload_file(ServerState& state, const HttpRequest& req, HttpResponse& res) {
  auto& service = service_of(state);
  auto parts = parse_multipart(req.header("Content-Type"), req.body);
  if (!parts.ok()) throw Rejection(parts.error());
  std::optional<std::string> purpose;
  const MultipartPart* file = nullptr;
  for (const auto& part : *parts) {
    if (part.name == "purpose") purpose = std::string(part.data);
    if (part.name == "file") file = &part;
  }
  if (!purpose) reject_input("the form has no 'purpose' field; upload with purpose=batch");
  if (*purpose != "batch")
    reject_input("purpose '" + log_escape(purpose->substr(0, 64)) +
                 "' is not supported: xervo keeps files for the Batch API only (purpose=batch)");
  if (!file || !file->filename) reject_input("the form has no 'file' part with a filename");
  std::string filename = file->filename->empty() ? "upload.jsonl" : *file->filename;
  // Keep the last path component only, bounded: it is a label, never a path on this machine.
  if (auto slash = filename.find_last_of("/\\"); slash != std::string::npos)
    filename = filename.substr(slash + 1);
  if (filename.size() > 255) filename.resize(255);
  if (file->data.empty()) reject_input("the uploaded file is empty");
  auto record = stored(service.store->add_file(owner_of_request(), filename, *purpose, file->data));
  spdlog::info("[{}] file {} stored ({} bytes)", current_request().request_id, record.id, record.bytes);
  send_json(res, 200, file_json(record));
}

void list_files(ServerState& state, const HttpRequest& req, HttpResponse& res) {
  auto& service = service_of(state);
  bool has_more = false;
  auto rows = stored(service.store->files(page_query(req, 10000, 10000), req.param("purpose"), &has_more));
  send_page<FileRecord>(res, rows, has_more, &file_json);
}

void get_file(ServerState& state, const HttpRequest& req, HttpResponse& res) {
  auto& service = service_of(state);
  std::string id = req.path_params.at(0);
  bool content = id.ends_with("/content");
  if (content) id.resize(id.size() - std::string_view("/content").size());
  if (id.find('/') != std::string::npos) not_found("file", id);
  auto f = owned_file(service, id);
  if (!content) return send_json(res, 200, file_json(f));
  std::ifstream in(service.store->file_path(id), std::ios::binary);
  if (!in) throw Rejection(Error(ErrorCode::io_error, "the bytes of file " + id + " are missing on disk"));
  std::ostringstream bytes;
  bytes << in.rdbuf();
  res.set_header("Content-Disposition", "attachment; filename=\"" + f.filename + "\"");
  res.set_content(bytes.str(), "application/octet-stream");
}

void delete_file(ServerState& state, const HttpRequest& req, HttpResponse& res) {
  auto& service = service_of(state);
  const std::string& id = req.path_params.at(0);
  owned_file(service, id);
  for (const auto& b : stored(service.store->unfinished()))
    if (b.input_file_id == id)
      throw Rejection(Error(ErrorCode::not_ready, "file " + id + " is the input of batch " + b.id +
                                                      ", which is still running; cancel it first"));
  stored(service.store->delete_file(id));
  send_json(res, 200, {{"id", id}, {"object", "file"}, {"deleted", true}});
}

// --------------------------------------------------------------------------------------- batches

json checked_metadata(const json& body) {
  auto it = body.find("metadata");
  if (it == body.end() || it->is_null()) return nullptr;
  // OpenAI's bounds: 16 pairs, keys up to 64 characters, values up to 512.
  if (!it->is_object() || it->size() > 16)
    reject_input("'metadata' must be an object of at most 16 string values");
  for (const auto& [k, v] : it->items())
    if (k.size() > 64 || !v.is_string() || v.get<std::string>().size() > 512)
      reject_input("'metadata' keys may have 64 characters and values must be strings of at most 512");
  return *it;
}

void create_batch(ServerState& state, const HttpRequest& req, HttpResponse& res) {
  auto& service = service_of(state);
  auto body = parse_json_object(req.body);
  BatchRecord b;
  b.owner = owner_of_request();
  b.input_file_id = require_string(body, "input_file_id");
  b.endpoint = require_string(body, "endpoint");
  if (std::find(std::begin(kEndpoints), std::end(kEndpoints), b.endpoint) == std::end(kEndpoints))
    reject_input("'endpoint' must be /v1/chat/completions, /v1/completions or /v1/embeddings, not '" +
                 log_escape(b.endpoint) + "'");
  b.completion_window = optional_string(body, "completion_window").value_or("24h");
  if (b.completion_window != "24h") reject_input("'completion_window' must be \"24h\"");
  b.metadata = checked_metadata(body);
  auto f = stored(service.store->file(b.input_file_id));
  if (!f || f->owner != b.owner) not_found("file", b.input_file_id);
  if (f->purpose != "batch")
    reject_input("file " + f->id + " has purpose '" + f->purpose +
                 "'; a batch reads a file uploaded with purpose=batch");
  auto created = stored(service.store->add_batch(std::move(b)));
  service.runner->submit(created);
  spdlog::info("[{}] batch {} created on {} ({})", current_request().request_id, created.id, created.endpoint,
               created.input_file_id);
  send_json(res, 200, batch_json(created));
}

void list_batches(ServerState& state, const HttpRequest& req, HttpResponse& res) {
  auto& service = service_of(state);
  bool has_more = false;
  auto rows = stored(service.store->batches(page_query(req, 100, 20), &has_more));
  send_page<BatchRecord>(res, rows, has_more, &batch_json);
}

void get_batch(ServerState& state, const HttpRequest& req, HttpResponse& res) {
  auto& service = service_of(state);
  const std::string& id = req.path_params.at(0);
  if (id.find('/') != std::string::npos) not_found("batch", id);
  send_json(res, 200, batch_json(owned_batch(service, id)));
}

void cancel_batch(ServerState& state, const HttpRequest& req, HttpResponse& res) {
  auto& service = service_of(state);
  std::string id = req.path_params.at(0);
  if (!id.ends_with("/cancel")) not_found("batch route", req.path);
  id.resize(id.size() - std::string_view("/cancel").size());
  auto b = owned_batch(service, id);
  if (b.status != "validating" && b.status != "in_progress" && b.status != "cancelling")
    throw Rejection(Error(ErrorCode::not_ready, "batch " + id + " is " + b.status +
                                                    "; only a validating or "
                                                    "in_progress batch can be cancelled"));
  auto now = stored(service.runner->cancel(id));
  send_json(res, 200, batch_json(now ? *now : b));
}

// A batch line through the routes: the handler with the server's error handling, without what
// only HTTP clients go through (authentication was checked when the batch was made; the line
// runs with its creator's identity, so the same model ids are allowed, and without a rate limit).
void dispatch_line(ServerState& state, const Router& router, const std::string& owner, HttpRequest& req,
                   HttpResponse& res) {
  auto& ctx = current_request();
  ctx = RequestContext{};
  ctx.active = true;
  ctx.start = std::chrono::steady_clock::now();
  ctx.request_id = req.header("X-Request-Id");
  ctx.route = req.path;
  ctx.client = owner.empty() ? "batch" : owner;
  ctx.client_gone = req.client_gone;
  ctx.span = state.telemetry.start_request_span(req);  // a child of the batch's span (BatchRunner)
  trace::ScopedSpan scope(ctx.span);
  trace::take_queue_wait();
  // The model calls of the line run at batch priority: the schedulers let interactive requests first.
  const PriorityScope background(Priority::batch);
  ctx.body = req.body;
  const Router::Handler* handler = nullptr;
  std::string allowed;
  // The line runs as its creator, with the roles (and model allow-list) the creator holds now.
  Result<std::shared_ptr<const Principal>> who = std::shared_ptr<const Principal>();
  if (!owner.empty() && state.auth->enabled()) who = state.auth->owner_principal(owner);
  if (who.ok()) ctx.principal = *who;
  if (!who.ok())
    send_error(res, who.error());
  else if (router.find(req, &handler, &allowed) != Router::Match::found)
    send_error(res, Error(ErrorCode::invalid_input, "no route POST " + req.path));
  else
    guarded(res, [&] { (*handler)(req, res); });
  if (res.streamed()) send_error(res, Error(ErrorCode::invalid_input, "a batch line cannot be streamed"));
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - ctx.start).count();
  state.metrics.observe_request(ctx.route, ctx.model, res.status, seconds);
  if (auto wait = trace::take_queue_wait())
    state.metrics.observe_queue_wait(ctx.model, std::chrono::duration<double>(*wait).count());
  end_request_span(ctx.span, {req.method, ctx.route, ctx.model, ctx.request_id, res.status, ctx.tokens_in,
                              ctx.tokens_out});
  ctx.active = false;
}

}  // namespace

void add_batch_routes(Router& router, ServerState& state) {
  state.batch = std::make_shared<BatchService>();
  auto& service = *state.batch;
  const ServerOptions& o = state.options;
  if (o.batch_dir.empty()) {
    service.off_reason = "no batch_dir is set ([server] batch_dir; xervo serve uses XERVO_HOME/batches)";
  } else if (auto store = BatchStore::open(o.batch_dir, o.max_files); !store.ok()) {
    service.off_reason = store.error().to_string();
    spdlog::error("the Batch API is off: {}", service.off_reason);
  } else {
    service.store = std::move(*store);
    BatchRunnerOptions ro;
    ro.concurrency = o.batch_concurrency;
    ro.max_attempts = o.batch_max_attempts;
    ro.backoff = o.batch_retry_backoff;
    ro.max_lines = o.max_batch_lines;
    ro.start_span = [&state](const BatchRecord&) {
      return state.telemetry.start_span_under(std::nullopt, "batch", trace::SpanKind::internal);
    };
    if (o.cluster) ro.leases = o.cluster->batch_leases();  // batch_dir shared by the replicas
    service.runner = std::make_unique<BatchRunner>(
        *service.store,
        [&state, &router](const std::string& owner, HttpRequest& req, HttpResponse& res) {
          dispatch_line(state, router, owner, req, res);
        },
        std::move(ro));
  }
  auto route = [&state](void (*fn)(ServerState&, const HttpRequest&, HttpResponse&)) {
    return [&state, fn](const HttpRequest& req, HttpResponse& res) {
      try {
        fn(state, req, res);
      } catch (const NotFound& e) {
        send_json(res, 404,
                  {{"error",
                    {{"message", e.message},
                     {"type", "invalid_request_error"},
                     {"code", "not_found"},
                     {"param", nullptr}}}});
      }
    };
  };
  router.post("/v1/files", route(upload_file));
  router.get("/v1/files", route(list_files));
  router.get("/v1/files/{id}", route(get_file));
  router.add("DELETE", "/v1/files/{id}", route(delete_file));
  router.post("/v1/batches", route(create_batch));
  router.get("/v1/batches", route(list_batches));
  router.get("/v1/batches/{id}", route(get_batch));
  router.post("/v1/batches/{id}", route(cancel_batch));
}

void start_batches(ServerState& state) {
  if (!state.batch || !state.batch->runner) return;
  if (auto r = state.batch->runner->start(); !r.ok())
    spdlog::error("batch runner: {}", r.error().to_string());
}

void stop_batches(ServerState& state) {
  if (state.batch && state.batch->runner) state.batch->runner->stop();
}

}  // namespace xervo::server
