#include "server/sampling_fields.h"

#include <cmath>
#include <limits>
#include <string>

#include "server/api_error.h"
#include "server/json_fields.h"

namespace xervo::server {
namespace {

// A seed as OpenAI's clients send it, any 64-bit integer: 0 .. 2^64 - 1, or a negative one, which
// stands for the same 64 bits (two's complement: -1 is 2^64 - 1).
std::optional<uint64_t> optional_seed(const nlohmann::json& body) {
  auto it = body.find("seed");
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (it->is_number_unsigned()) return it->get<uint64_t>();
  if (it->is_number_integer()) return static_cast<uint64_t>(it->get<int64_t>());
  if (it->is_number_float()) {
    // JSON parsers hand integers beyond 64 bits over as doubles; an integral double within 2^53 is exact.
    const double d = it->get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) <= 9007199254740992.0)
      return d < 0 ? static_cast<uint64_t>(static_cast<int64_t>(d)) : static_cast<uint64_t>(d);
    reject_input("'seed' must be an integer from -2^63 to 2^64 - 1");
  }
  reject_input("'seed' must be an integer, not " + json_type_name(*it));
}

// {"50256": -100, ...}: token ids (decimal strings) to biases in [-100, 100].
std::vector<std::pair<int32_t, float>> parse_logit_bias(const nlohmann::json& body) {
  std::vector<std::pair<int32_t, float>> out;
  auto it = body.find("logit_bias");
  if (it == body.end() || it->is_null()) return out;
  if (!it->is_object())
    reject_input("'logit_bias' must be an object of token ids to biases, like {\"50256\": -100}");
  if (it->size() > kMaxLogitBias)
    reject_input("'logit_bias' has " + std::to_string(it->size()) + " entries; at most " +
                 std::to_string(kMaxLogitBias));
  for (const auto& [key, value] : it->items()) {
    const std::string where = "'logit_bias[\"" + key.substr(0, 32) + "\"]'";
    if (key.empty() || key.size() > 9 || key.find_first_not_of("0123456789") != std::string::npos)
      reject_input("'logit_bias' keys must be token ids (a non-negative integer as a string), not " + where);
    if (!value.is_number() || !std::isfinite(value.get<double>()) || value.get<double>() < -100 ||
        value.get<double>() > 100)
      reject_input(where + " must be a number from -100 to 100");
    out.emplace_back(static_cast<int32_t>(std::stol(key)), static_cast<float>(value.get<double>()));
  }
  return out;
}

void parse_logprobs(const nlohmann::json& body, bool chat, GenerateOptions& o) {
  auto it = body.find("logprobs");
  const bool present = it != body.end() && !it->is_null();
  if (chat) {
    o.logprobs = optional_bool(body, "logprobs").value_or(false);
    o.top_logprobs = static_cast<int>(optional_int(body, "top_logprobs", 0, kMaxTopLogprobs).value_or(0));
    if (o.top_logprobs > 0 && !o.logprobs) reject_input("'top_logprobs' needs 'logprobs': true");
    return;
  }
  // Legacy completions: logprobs is the number of alternatives per token (0: the tokens' own only).
  if (present && it->is_boolean())
    reject_input("'logprobs' on /v1/completions is the number of alternatives per token (0 to " +
                 std::to_string(kMaxTopLogprobs) + "), not true or false");
  if (auto n = optional_int(body, "logprobs", 0, kMaxTopLogprobs)) {
    o.logprobs = true;
    o.top_logprobs = static_cast<int>(*n);
  }
}

// OpenAI writes a probability too small for a double's logarithm as -9999; JSON has no -inf.
double finite_logprob(double lp) { return std::isfinite(lp) ? lp : -9999.0; }

nlohmann::json bytes_of(const std::string& token) {
  nlohmann::json out = nlohmann::json::array();
  for (unsigned char c : token) out.push_back(static_cast<int>(c));
  return out;
}

}  // namespace

void parse_sampling_fields(const nlohmann::json& body, bool chat, GenerateOptions& o) {
  o.seed = optional_seed(body);
  if (auto p = optional_number(body, "presence_penalty", -2, 2)) o.presence_penalty = static_cast<float>(*p);
  if (auto p = optional_number(body, "frequency_penalty", -2, 2))
    o.frequency_penalty = static_cast<float>(*p);
  o.logit_bias = parse_logit_bias(body);
  o.n = static_cast<int>(optional_int(body, "n", 1, kMaxChoices).value_or(1));
  parse_logprobs(body, chat, o);
}

nlohmann::json chat_logprobs(const std::vector<TokenLogprob>& tokens) {
  nlohmann::json content = nlohmann::json::array();
  for (const auto& t : tokens) {
    nlohmann::json top = nlohmann::json::array();
    for (const auto& alt : t.top)
      top.push_back(
          {{"token", alt.token}, {"logprob", finite_logprob(alt.logprob)}, {"bytes", bytes_of(alt.token)}});
    content.push_back({{"token", t.token},
                       {"logprob", finite_logprob(t.logprob)},
                       {"bytes", bytes_of(t.token)},
                       {"top_logprobs", std::move(top)}});
  }
  return {{"content", std::move(content)}, {"refusal", nullptr}};
}

nlohmann::json completion_logprobs(const std::vector<TokenLogprob>& tokens, size_t& text_offset) {
  nlohmann::json out = {{"tokens", nlohmann::json::array()},
                        {"token_logprobs", nlohmann::json::array()},
                        {"top_logprobs", nlohmann::json::array()},
                        {"text_offset", nlohmann::json::array()}};
  bool any_top = false;
  for (const auto& t : tokens) {
    out["tokens"].push_back(t.token);
    out["token_logprobs"].push_back(finite_logprob(t.logprob));
    nlohmann::json top = nlohmann::json::object();
    for (const auto& alt : t.top)  // two tokens with the same text: the likelier one (it comes first)
      if (!top.contains(alt.token)) top[alt.token] = finite_logprob(alt.logprob);
    any_top = any_top || !t.top.empty();
    out["top_logprobs"].push_back(std::move(top));
    out["text_offset"].push_back(text_offset);
    text_offset += t.token.size();
  }
  if (!any_top) out["top_logprobs"] = nullptr;
  return out;
}

}  // namespace xervo::server
