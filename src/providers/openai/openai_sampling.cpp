// The sampling fields of a chat request beyond the basics, and the logprobs of an answer, as
// OpenAI's API writes them.
#include <cmath>

#include "providers/openai/openai_models.h"

namespace xervo::openai {

void add_sampling_fields(nlohmann::json& body, const GenerateOptions& o) {
  if (o.presence_penalty != 0.0f) body["presence_penalty"] = o.presence_penalty;
  if (o.frequency_penalty != 0.0f) body["frequency_penalty"] = o.frequency_penalty;
  if (!o.logit_bias.empty()) {
    nlohmann::json bias = nlohmann::json::object();
    for (const auto& [token, value] : o.logit_bias) bias[std::to_string(token)] = value;
    body["logit_bias"] = std::move(bias);
  }
  if (o.logprobs) {
    body["logprobs"] = true;
    if (o.top_logprobs > 0) body["top_logprobs"] = o.top_logprobs;
  }
  if (o.n > 1) body["n"] = o.n;
}

std::vector<TokenLogprob> read_logprobs(const nlohmann::json& choice) {
  std::vector<TokenLogprob> out;
  auto lp = choice.find("logprobs");
  if (lp == choice.end() || !lp->is_object()) return out;
  auto content = lp->find("content");
  if (content == lp->end() || !content->is_array()) return out;
  // One entry: {token, logprob, top_logprobs: [{token, logprob}]}; ids are the server's secret.
  auto read = [](const nlohmann::json& e, std::string& token, double& logprob) {
    if (!e.is_object()) return false;
    auto t = e.find("token");
    auto l = e.find("logprob");
    if (t == e.end() || !t->is_string() || l == e.end() || !l->is_number()) return false;
    token = t->get<std::string>();
    logprob = l->get<double>();
    return true;
  };
  for (const auto& e : *content) {
    TokenLogprob t;
    if (!read(e, t.token, t.logprob)) continue;
    if (auto top = e.find("top_logprobs"); top != e.end() && top->is_array())
      for (const auto& a : *top) {
        TokenLogprob::Alternative alt;
        if (read(a, alt.token, alt.logprob)) t.top.push_back(std::move(alt));
      }
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace xervo::openai
