#include <cmath>

#include "net/segment_times.h"
#include "providers/openai/openai_models.h"

namespace xervo::openai {
namespace {

// POST {base}/audio/transcriptions with the audio as a multipart upload, asking for verbose_json
// (segments, language, duration: whisper-1 and OpenAI-compatible servers such as whisper.cpp's and
// vLLM's give them); a reply with only "text" (the gpt-4o transcribe models) is one segment. The
// whole reply comes at once: segments are handed to the callback after it arrived.
class OpenAiTranscriber final : public TranscriberModel {
 public:
  explicit OpenAiTranscriber(ModelConfig config) : config_(std::move(config)) {}

  using TranscriberModel::transcribe;
  Result<Transcription> transcribe(const TranscribeRequest& request,
                                   const SegmentCallback& on_segment) override {
    std::vector<net::FormPart> parts;
    parts.push_back({"file", request.audio, request.filename.empty() ? "audio" : request.filename, ""});
    parts.push_back({"model", config_.model, std::nullopt, ""});
    parts.push_back({"response_format", "verbose_json", std::nullopt, ""});
    parts.push_back({"timestamp_granularities[]", "segment", std::nullopt, ""});
    if (!request.language.empty()) parts.push_back({"language", request.language, std::nullopt, ""});
    if (!request.prompt.empty()) parts.push_back({"prompt", request.prompt, std::nullopt, ""});
    if (request.temperature > 0)
      parts.push_back({"temperature", std::to_string(request.temperature), std::nullopt, ""});
    for (const auto& [key, value] : config_.extra_body.items())
      parts.push_back({key, value.is_string() ? value.get<std::string>() : value.dump(), std::nullopt, ""});
    auto reply = config_.api->post_form("/audio/transcriptions", parts, request.cancel);
    if (!reply) return reply.error();

    const auto& ctx = config_.api->context();
    const std::string shown = reply->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    auto text = reply->find("text");
    if (!reply->is_object() || text == reply->end() || !text->is_string())
      return net::malformed_response(ctx, "{text, segments: [{start, end, text}]}", shown);
    Transcription t;
    t.text = text->get<std::string>();
    if (auto lang = reply->find("language"); lang != reply->end() && lang->is_string())
      t.language = language_code(lang->get<std::string>());
    if (t.language.empty()) t.language = request.language;
    if (auto d = reply->find("duration");
        d != reply->end() && d->is_number() && std::isfinite(d->get<double>()))
      t.duration_s = std::max(0.0, d->get<double>());
    if (auto segs = reply->find("segments"); segs != reply->end() && segs->is_array()) {
      for (const auto& s : *segs) {
        if (!s.is_object() || !s.contains("text") || !s["text"].is_string())
          return net::malformed_response(ctx, "segments with text", shown);
        TranscriptSegment seg;
        seg.text = s["text"].get<std::string>();
        net::read_segment_times(s, seg);
        t.segments.push_back(std::move(seg));
      }
    } else if (!t.text.empty()) {
      t.segments.push_back({0, static_cast<int64_t>(t.duration_s * 1000), t.text});
    }
    for (auto& s : t.segments) {
      while (!s.text.empty() && s.text.front() == ' ') s.text.erase(s.text.begin());
      if (on_segment && !on_segment(s)) return Error(ErrorCode::cancelled, "transcription cancelled");
    }
    if (auto usage = reply->find("usage"); usage != reply->end() && usage->is_object())
      t.usage.completion_tokens = usage->value("output_tokens", 0);
    return t;
  }

 private:
  // verbose_json names the language in full ("english"); callers get ISO 639-1 codes where known.
  static std::string language_code(const std::string& name) {
    static const std::pair<const char*, const char*> kNames[] = {
        {"english", "en"}, {"german", "de"},     {"french", "fr"},  {"spanish", "es"}, {"italian", "it"},
        {"dutch", "nl"},   {"portuguese", "pt"}, {"russian", "ru"}, {"chinese", "zh"}, {"japanese", "ja"},
        {"korean", "ko"},  {"polish", "pl"},     {"turkish", "tr"}, {"arabic", "ar"},  {"hindi", "hi"}};
    for (const auto& [full, code] : kNames)
      if (name == full) return code;
    return name.size() <= 3 ? name : name.substr(0, 32);
  }

  ModelConfig config_;
};

}  // namespace

std::shared_ptr<TranscriberModel> make_transcriber_model(ModelConfig config) {
  return std::make_shared<OpenAiTranscriber>(std::move(config));
}

}  // namespace xervo::openai
