// POST /v1/audio/transcriptions in OpenAI's shape: a multipart form with the audio `file`, `model`,
// and optional `language`, `prompt`, `temperature`, `response_format` (json, text, srt, vtt,
// verbose_json), `timestamp_granularities[]` and `stream` (server-sent transcript.text.delta events,
// one per segment as it is decoded). The body is bounded by max_upload_bytes.
#include <charconv>

#include "core/audio_transcript.h"
#include "core/log.h"
#include "server/multipart.h"
#include "server/server_state.h"

namespace xervo::server {
namespace {

struct TranscriptionForm {
  std::string model;
  TranscribeRequest request;
  TranscriptFormat format = TranscriptFormat::json;
  bool stream = false;
};

std::string field_text(const MultipartPart& part, const std::string& name, size_t max_bytes) {
  if (part.data.size() > max_bytes)
    reject_input("'" + name + "' is longer than " + std::to_string(max_bytes) + " bytes");
  return std::string(part.data);
}

TranscriptionForm read_form(const HttpRequest& req) {
  const std::string type = req.header("Content-Type");
  if (!type.starts_with("multipart/form-data"))
    reject_input("send the audio as multipart/form-data with a 'file' part (Content-Type was '" +
                 log_escape(type.substr(0, 64)) + "')");
  MultipartLimits limits;
  limits.max_parts = 32;
  auto parts = parse_multipart(type, req.body, limits);
  if (!parts.ok()) throw Rejection(parts.error());
  TranscriptionForm form;
  const MultipartPart* file = nullptr;
  for (const auto& part : *parts) {
    const std::string& n = part.name;
    if (n == "file") {
      file = &part;
    } else if (n == "model") {
      form.model = field_text(part, n, 512);
    } else if (n == "language") {
      form.request.language = field_text(part, n, 16);
    } else if (n == "prompt") {
      form.request.prompt = field_text(part, n, 16384);
    } else if (n == "response_format") {
      std::string f = field_text(part, n, 32);
      auto parsed = parse_transcript_format(f);
      if (!parsed)
        reject_input("'response_format' must be json, text, srt, vtt or verbose_json, not '" + log_escape(f) +
                     "'");
      form.format = *parsed;
    } else if (n == "temperature") {
      std::string t = field_text(part, n, 32);
      float v = 0;
      auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
      if (ec != std::errc() || end != t.data() + t.size() || !(v >= 0.0f && v <= 1.0f))
        reject_input("'temperature' must be a number from 0 to 1");
      form.request.temperature = v;
    } else if (n == "timestamp_granularities[]" || n == "timestamp_granularities") {
      std::string g = field_text(part, n, 32);
      if (g == "word")
        reject_input(
            "timestamp_granularities 'word' is not supported; use 'segment' (verbose_json segments)");
      if (g != "segment")
        reject_input("timestamp_granularities must be 'segment' or 'word', not '" + log_escape(g) + "'");
    } else if (n == "stream") {
      std::string s = field_text(part, n, 8);
      if (s != "true" && s != "false") reject_input("'stream' must be true or false");
      form.stream = s == "true";
    } else if (n == "chunking_strategy" || n == "include[]") {
      // Accepted and ignored: whisper segments by itself; no log probabilities.
    } else {
      reject_input("unknown form field '" + log_escape(n.substr(0, 64)) +
                   "' (fields: file, model, language, prompt, response_format, temperature, "
                   "timestamp_granularities[], stream)");
    }
  }
  if (form.model.empty()) reject_input("the form has no 'model' field");
  if (!file) reject_input("the form has no 'file' part: upload the audio as file=@speech.wav");
  if (file->data.empty()) reject_input("the uploaded audio file is empty");
  form.request.audio = std::string(file->data);
  std::string filename = file->filename.value_or("audio");
  if (auto slash = filename.find_last_of("/\\"); slash != std::string::npos)
    filename = filename.substr(slash + 1);
  if (filename.size() > 255) filename.resize(255);
  form.request.filename = filename.empty() ? "audio" : filename;
  if (form.stream && form.format != TranscriptFormat::json && form.format != TranscriptFormat::text)
    reject_input("stream=true answers with events; use response_format json or text with it");
  return form;
}

// What one streamed call keeps alive until its stream ends.
struct StreamedCall {
  ServerState& state;
  AdmittedModel admitted;
  std::unique_ptr<CancellationTracker::Handle> cancel;
  std::shared_ptr<TranscriberModel> model;
  TranscriptionForm form;

  bool stream_to(StreamSink& sink) {
    bool alive = true;
    auto send = [&](const nlohmann::json& event) {
      if (!alive) return false;
      alive = sink.write("data: " + event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
                         "\n\n");
      return alive;
    };
    bool first = true;
    auto result = model->transcribe(form.request, [&](const TranscriptSegment& s) {
      std::string delta = (first ? "" : " ") + s.text;
      first = false;
      return send({{"type", "transcript.text.delta"},
                   {"delta", delta},
                   {"start", static_cast<double>(s.start_ms) / 1000.0},
                   {"end", static_cast<double>(s.end_ms) / 1000.0}});
    });
    if (!alive) {
      cancel->cancel();
      spdlog::info("[{}] client disconnected; transcription cancelled", current_request().request_id);
      return false;
    }
    if (!result.ok()) {
      Error e = result.error().code() == ErrorCode::cancelled
                    ? cancel->error(state.options.request_timeout, "the transcription")
                    : result.error();
      send(error_body(e));
    } else {
      record_usage(state, 0, result->usage.completion_tokens);
      send({{"type", "transcript.text.done"},
            {"text", result->text},
            {"language", result->language},
            {"duration", result->duration_s},
            {"usage", {{"type", "tokens"}, {"output_tokens", result->usage.completion_tokens}}}});
    }
    return sink.write("data: [DONE]\n\n");
  }
};

void transcribe(ServerState& state, const HttpRequest& req, HttpResponse& res) {
  auto& ctx = current_request();
  ctx.route = "/v1/audio/transcriptions";
  auto form = read_form(req);
  auto admitted = admit_model(state, form.model, ModelTask::transcribe);
  auto cancel = track_call(state);
  auto handle = unwrap(stopped_as(state.runtime->transcriber(form.model, bounds(*cancel)), *cancel, state,
                                  "loading the model"));
  form.request.cancel = cancel->token();
  if (form.stream) {
    auto call = std::make_shared<StreamedCall>(
        StreamedCall{state, std::move(admitted), std::move(cancel), std::move(handle), std::move(form)});
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    res.set_stream("text/event-stream", [call](StreamSink& sink) { return call->stream_to(sink); });
    return;
  }
  auto result = unwrap(stopped_as(handle->transcribe(form.request), *cancel, state, "the transcription"));
  record_usage(state, 0, result.usage.completion_tokens);
  if (!result.served_by.empty()) res.set_header("X-Served-By", result.served_by);
  auto formatted = format_transcript(result, form.format);
  res.status = 200;
  res.set_content(std::move(formatted.body), formatted.content_type);
}

}  // namespace

void add_transcription_routes(Router& router, ServerState& state) {
  router.post("/v1/audio/transcriptions",
              [&state](const HttpRequest& req, HttpResponse& res) { transcribe(state, req, res); });
}

}  // namespace xervo::server
