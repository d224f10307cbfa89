// Speech to text through Gemini's audio input: the file goes inline (base64 inlineData) into one
// generateContent call, with an instruction to transcribe it and a response schema asking for the
// language and timed segments as JSON. Gemini has no transcription endpoint of its own, so the
// times are the model's reading of the audio, not a decoder's alignment; the docs say so.
#include <algorithm>
#include <cctype>

#include "net/base64.h"
#include "net/segment_times.h"
#include "providers/gemini/gemini_models.h"

namespace xervo::gemini {
namespace {

// Gemini takes inline data up to 20 MB per request; base64 grows the file by a third.
constexpr size_t kMaxInlineAudio = 14 * 1024 * 1024;
constexpr size_t kMaxSegments = 100000;

// The MIME type Gemini wants, from the file's first bytes (the upload's name is not trusted).
std::string audio_mime(std::string_view a) {
  auto at = [&](size_t i, std::string_view magic) { return a.size() >= i + magic.size() && a.substr(i, magic.size()) == magic; };
  if (at(0, "RIFF") && at(8, "WAVE")) return "audio/wav";
  if (at(0, "fLaC")) return "audio/flac";
  if (at(0, "OggS")) return "audio/ogg";
  if (at(0, "ID3") || (a.size() >= 2 && static_cast<unsigned char>(a[0]) == 0xFF &&
                       (static_cast<unsigned char>(a[1]) & 0xE0) == 0xE0))
    return "audio/mp3";
  if (at(0, "FORM") && (at(8, "AIFF") || at(8, "AIFC"))) return "audio/aiff";
  if (at(4, "ftyp")) return "audio/aac";  // an MP4/M4A container
  return {};
}

// The schema of the answer, in the dialect `field` takes: JSON Schema (responseJsonSchema) or
// Gemini's OpenAPI subset (responseSchema), whose type names are upper case.
nlohmann::json answer_schema(const std::string& field) {
  const bool openapi = field == "responseSchema";
  auto type = [&](const char* t) {
    std::string s = t;
    if (openapi)
      for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
  };
  nlohmann::json segment = {{"type", type("object")},
                            {"properties",
                             {{"start", {{"type", type("number")}}},
                              {"end", {{"type", type("number")}}},
                              {"text", {{"type", type("string")}}}}},
                            {"required", {"start", "end", "text"}}};
  return {{"type", type("object")},
          {"properties",
           {{"language", {{"type", type("string")}}},
            {"segments", {{"type", type("array")}, {"items", segment}}}}},
          {"required", {"language", "segments"}}};
}

class GeminiTranscriber final : public TranscriberModel {
 public:
  explicit GeminiTranscriber(ModelConfig config) : config_(std::move(config)) {}

  using TranscriberModel::transcribe;
  Result<Transcription> transcribe(const TranscribeRequest& request, const SegmentCallback& on_segment) override {
    if (request.audio.empty()) return Error(ErrorCode::invalid_input, "the audio is empty");
    if (request.audio.size() > kMaxInlineAudio)
      return Error(ErrorCode::invalid_input, "Gemini takes inline audio up to 14 MiB (20 MB once encoded); this "
                                             "file has " + std::to_string(request.audio.size()) + " bytes");
    const std::string mime = audio_mime(request.audio);
    if (mime.empty())
      return Error(ErrorCode::invalid_input,
                   "the audio is not WAV, FLAC, Ogg, MP3, AIFF or AAC (by its first bytes): Gemini cannot read it");
    std::string instruction =
        "Transcribe the speech in this audio word for word. Answer with the ISO 639-1 code of the spoken "
        "language and the speech's segments in order, each with its start and end in seconds from the "
        "beginning of the audio and its text.";
    if (!request.language.empty()) instruction += " The speech is in the language " + request.language + ".";
    if (!request.prompt.empty()) instruction += " Spell names and terms as in this context: " + request.prompt;

    nlohmann::json generation = {{"temperature", request.temperature},
                                 {"responseMimeType", "application/json"},
                                 {config_.json_schema_field, answer_schema(config_.json_schema_field)}};
    generation.update(config_.extra_generation_config);
    const nlohmann::json body = {
        {"contents",
         {{{"role", "user"},
           {"parts",
            {{{"text", instruction}},
             {{"inlineData", {{"mimeType", mime}, {"data", net::base64_encode(request.audio)}}}}}}}}},
        {"generationConfig", generation}};
    auto reply = config_.api->post_json("/models/" + config_.model + ":generateContent", body, request.cancel);
    if (!reply) return reply.error();
    return read(*reply, request, on_segment);
  }

 private:
  Result<Transcription> read(const nlohmann::json& reply, const TranscribeRequest& request,
                             const SegmentCallback& on_segment) const {
    const auto& ctx = config_.api->context();
    const std::string shown = reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    const char* shape = "{candidates: [{content: {parts: [{text: JSON {language, segments}}]}}]}";
    std::string text;
    auto candidates = reply.find("candidates");
    if (candidates == reply.end() || !candidates->is_array() || candidates->empty() ||
        !(*candidates)[0].is_object())
      return net::malformed_response(ctx, shape, shown);
    const auto& content = (*candidates)[0].find("content");
    if (content == (*candidates)[0].end() || !content->is_object() || !content->contains("parts") ||
        !(*content)["parts"].is_array())
      return net::malformed_response(ctx, shape, shown);
    for (const auto& part : (*content)["parts"])
      if (part.is_object() && part.contains("text") && part["text"].is_string()) text += part["text"].get<std::string>();
    auto answer = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!answer.is_object() || !answer.contains("segments") || !answer["segments"].is_array())
      return net::malformed_response(ctx, shape, shown);
    const auto& segments = answer["segments"];
    if (segments.size() > kMaxSegments) return net::malformed_response(ctx, "at most 100000 segments", "(more)");

    Transcription t;
    if (auto lang = answer.find("language"); lang != answer.end() && lang->is_string() && lang->get_ref<const std::string&>().size() <= 8)
      t.language = lang->get<std::string>();
    if (t.language.empty()) t.language = request.language;
    for (const auto& s : segments) {
      if (!s.is_object() || !s.contains("text") || !s["text"].is_string())
        return net::malformed_response(ctx, "segments with text", shown);
      TranscriptSegment seg;
      seg.text = s["text"].get<std::string>();
      while (!seg.text.empty() && seg.text.front() == ' ') seg.text.erase(seg.text.begin());
      net::read_segment_times(s, seg);
      t.duration_s = std::max(t.duration_s, seg.end_ms / 1000.0);
      if (!t.text.empty() && !seg.text.empty()) t.text += ' ';
      t.text += seg.text;
      if (on_segment && !on_segment(seg)) return Error(ErrorCode::cancelled, "transcription cancelled");
      t.segments.push_back(std::move(seg));
    }
    if (auto usage = reply.find("usageMetadata"); usage != reply.end() && usage->is_object())
      if (auto n = usage->find("candidatesTokenCount"); n != usage->end() && n->is_number_integer())
        t.usage.completion_tokens = std::max<int64_t>(0, n->get<int64_t>());
    return t;
  }

  ModelConfig config_;
};

}  // namespace

std::shared_ptr<TranscriberModel> make_transcriber_model(ModelConfig config) {
  return std::make_shared<GeminiTranscriber>(std::move(config));
}

}  // namespace xervo::gemini
