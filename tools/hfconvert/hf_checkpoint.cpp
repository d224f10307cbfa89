// Reading a checkpoint folder. Values from config.json are bounded before they size anything, and
// the vocabulary must match config.json's vocab_size, so a converter downstream can trust both.
#include "hf_checkpoint.h"

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

namespace xervo::hfconvert {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr uintmax_t kMaxJsonFile = 64ull << 20;  // tokenizer.json of large vocabularies is ~20 MB

Error bad(const fs::path& file, const std::string& why) {
  return Error(ErrorCode::invalid_input, file.string() + ": " + why);
}

Result<json> read_json(const fs::path& file) {
  std::error_code ec;
  const auto size = fs::file_size(file, ec);
  if (ec) return Error(ErrorCode::model_not_found, "cannot read " + file.string() + ": " + ec.message());
  if (size > kMaxJsonFile) return bad(file, "larger than " + std::to_string(kMaxJsonFile >> 20) + " MB");
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return bad(file, "not valid JSON");
  return j;
}

// An integer field within [lo, hi]; `fallback` when absent (or an error when fallback < 0).
Result<int> int_field(const json& j, const fs::path& file, const char* key, int lo, int hi,
                      int fallback = -1) {
  if (!j.contains(key)) {
    if (fallback >= 0) return fallback;
    return bad(file, std::string("no \"") + key + "\"");
  }
  if (!j[key].is_number_integer() || j[key].get<int64_t>() < lo || j[key].get<int64_t>() > hi)
    return bad(file, std::string("\"") + key + "\" must be an integer in [" + std::to_string(lo) + ", " +
                         std::to_string(hi) + "]");
  return static_cast<int>(j[key].get<int64_t>());
}

Result<BertConfig> read_config(const fs::path& file) {
  auto j = read_json(file);
  if (!j) return j.error();
  if (!j->is_object()) return bad(file, "not a JSON object");
  BertConfig c;
  const std::string model_type = j->value("model_type", "");
  if (model_type != "bert")
    return bad(file, "model_type \"" + model_type +
                         "\" is not supported (the converter reads BERT-family "
                         "checkpoints: BERT, MiniLM, BGE, cross-encoders)");
  if (j->contains("architectures") && (*j)["architectures"].is_array() && !(*j)["architectures"].empty() &&
      (*j)["architectures"][0].is_string())
    c.architecture = (*j)["architectures"][0].get<std::string>();
  else
    c.architecture = "BertModel";
  if (c.architecture != "BertModel" && c.architecture != "BertForMaskedLM" &&
      c.architecture != "BertForSequenceClassification")
    return bad(file, "architecture " + c.architecture +
                         " is not supported (BertModel, BertForMaskedLM, BertForSequenceClassification)");
  c.classifier = c.architecture == "BertForSequenceClassification";
  const std::string act = j->value("hidden_act", "gelu");
  if (act != "gelu")
    return bad(file, "hidden_act \"" + act + "\" is not supported (llama.cpp's BERT uses gelu)");
  const std::string pos = j->value("position_embedding_type", "absolute");
  if (pos != "absolute") return bad(file, "position_embedding_type \"" + pos + "\" is not supported");
  struct Field {
    const char* key;
    int* out;
    int lo, hi, fallback;
  } fields[] = {{"hidden_size", &c.hidden_size, 1, 16384, -1},
                {"num_hidden_layers", &c.num_layers, 1, 256, -1},
                {"num_attention_heads", &c.num_heads, 1, 1024, -1},
                {"intermediate_size", &c.intermediate_size, 1, 65536, -1},
                {"max_position_embeddings", &c.max_positions, 1, 1 << 20, -1},
                {"vocab_size", &c.vocab_size, 1, 1 << 21, -1},
                {"type_vocab_size", &c.type_vocab_size, 1, 16, 2}};
  for (const auto& f : fields) {
    auto v = int_field(*j, file, f.key, f.lo, f.hi, f.fallback);
    if (!v) return v.error();
    *f.out = *v;
  }
  if (c.hidden_size % c.num_heads != 0)
    return bad(file, "hidden_size is not a multiple of num_attention_heads");
  if (j->contains("layer_norm_eps")) {
    if (!(*j)["layer_norm_eps"].is_number() || !((*j)["layer_norm_eps"].get<double>() > 0))
      return bad(file, "\"layer_norm_eps\" must be a positive number");
    c.layer_norm_eps = (*j)["layer_norm_eps"].get<double>();
  }
  if (c.classifier && j->contains("id2label") && (*j)["id2label"].is_object()) {
    const auto& labels = (*j)["id2label"];
    c.num_labels = static_cast<int>(labels.size());
    if (c.num_labels < 1 || c.num_labels > 1024) return bad(file, "id2label must hold 1 to 1024 labels");
    bool dummy = true;  // AutoConfig fills LABEL_0, LABEL_1 .. when the author gave none
    std::vector<std::string> names(static_cast<size_t>(c.num_labels));
    for (auto& [k, v] : labels.items()) {
      size_t idx = 0;
      try {
        idx = std::stoul(k);
      } catch (...) {
        return bad(file, "id2label key \"" + k + "\" is not an index");
      }
      if (idx >= names.size() || !v.is_string()) return bad(file, "id2label is not a dense list of names");
      names[idx] = v.get<std::string>();
      if (names[idx] != "LABEL_" + k) dummy = false;
    }
    if (!dummy) c.labels = names;
  }
  return c;
}

void mark_specials(WordPieceVocab& v) {
  v.special.assign(v.tokens.size(), false);
  std::map<std::string, int*> names = {
      {"[UNK]", &v.unk}, {"[CLS]", &v.cls}, {"[SEP]", &v.sep}, {"[PAD]", &v.pad}, {"[MASK]", &v.mask}};
  for (size_t i = 0; i < v.tokens.size(); ++i)
    if (auto it = names.find(v.tokens[i]); it != names.end()) {
      *it->second = static_cast<int>(i);
      v.special[i] = true;
    }
}

Result<WordPieceVocab> read_vocab_txt(const fs::path& file) {
  WordPieceVocab v;
  v.source = file;
  std::ifstream in(file, std::ios::binary);
  if (!in) return Error(ErrorCode::model_not_found, "cannot read " + file.string());
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.size() > 256) return bad(file, "a token longer than 256 bytes");
    v.tokens.push_back(line);
    if (v.tokens.size() > (1u << 21)) return bad(file, "more than 2M tokens");
  }
  mark_specials(v);
  return v;
}

Result<WordPieceVocab> read_tokenizer_json(const fs::path& file) {
  auto j = read_json(file);
  if (!j) return j.error();
  const auto& model = j->contains("model") ? (*j)["model"] : json();
  if (!model.is_object() || model.value("type", "") != "WordPiece" || !model.contains("vocab") ||
      !model["vocab"].is_object())
    return bad(file, "not a WordPiece tokenizer (model.type must be \"WordPiece\" with a vocab)");
  WordPieceVocab v;
  v.source = file;
  const auto& vocab = model["vocab"];
  if (vocab.size() > (1u << 21)) return bad(file, "more than 2M tokens");
  v.tokens.assign(vocab.size(), std::string());
  std::vector<bool> seen(vocab.size(), false);
  for (auto& [tok, id] : vocab.items()) {
    if (!id.is_number_unsigned() || id.get<uint64_t>() >= vocab.size() || seen[id.get<size_t>()])
      return bad(file, "vocab ids are not 0..N-1, each once");
    seen[id.get<size_t>()] = true;
    v.tokens[id.get<size_t>()] = tok;
  }
  mark_specials(v);
  if (j->contains("added_tokens") && (*j)["added_tokens"].is_array())
    for (const auto& t : (*j)["added_tokens"])
      if (t.is_object() && t.value("special", false) && t.contains("id") && t["id"].is_number_unsigned() &&
          t["id"].get<uint64_t>() < v.special.size())
        v.special[t["id"].get<size_t>()] = true;
  const auto& norm = j->contains("normalizer") ? (*j)["normalizer"] : json();
  if (norm.is_object() && norm.contains("lowercase") && norm["lowercase"].is_boolean())
    v.lowercase = norm["lowercase"].get<bool>();
  return v;
}

Result<WordPieceVocab> read_vocab(const fs::path& dir, const BertConfig& config) {
  Result<WordPieceVocab> v = Error(ErrorCode::invalid_input, "");
  if (fs::exists(dir / "vocab.txt"))
    v = read_vocab_txt(dir / "vocab.txt");
  else if (fs::exists(dir / "tokenizer.json"))
    v = read_tokenizer_json(dir / "tokenizer.json");
  else
    return bad(dir, "no vocab.txt or tokenizer.json (the WordPiece vocabulary)");
  if (!v) return v.error();
  if (fs::exists(dir / "tokenizer_config.json")) {
    auto tc = read_json(dir / "tokenizer_config.json");
    if (!tc) return tc.error();
    if (tc->is_object() && tc->contains("do_lower_case") && (*tc)["do_lower_case"].is_boolean())
      v->lowercase = (*tc)["do_lower_case"].get<bool>();
  }
  if (static_cast<int>(v->tokens.size()) != config.vocab_size)
    return bad(v->source, "holds " + std::to_string(v->tokens.size()) +
                              " tokens, config.json says vocab_size " + std::to_string(config.vocab_size));
  if (v->unk < 0 || v->cls < 0 || v->sep < 0)
    return bad(v->source, "lacks one of the [UNK], [CLS], [SEP] tokens a BERT tokenizer needs");
  return v;
}

// sentence-transformers: modules.json lists Transformer, Pooling (with its folder) and Normalize.
Result<void> read_pooling(HfCheckpoint& c) {
  const fs::path modules_file = c.dir / "modules.json";
  if (!fs::exists(modules_file)) return {};
  auto modules = read_json(modules_file);
  if (!modules) return modules.error();
  if (!modules->is_array()) return bad(modules_file, "not a JSON array");
  c.source_files.push_back(modules_file);
  for (const auto& m : *modules) {
    const std::string type = m.is_object() ? m.value("type", "") : "";
    if (type.ends_with("Normalize")) c.normalize = true;
    if (!type.ends_with("Pooling") || c.config.classifier) continue;
    const std::string rel = m.value("path", "");
    if (rel.find("..") != std::string::npos || (!rel.empty() && rel[0] == '/'))
      return bad(modules_file, "module path \"" + rel + "\" leaves the checkpoint folder");
    const fs::path pooling_file = c.dir / rel / "config.json";
    auto p = read_json(pooling_file);
    if (!p) return p.error();
    c.source_files.push_back(pooling_file);
    if (p->value("pooling_mode_mean_tokens", false))
      c.pooling = CheckpointPooling::mean;
    else if (p->value("pooling_mode_cls_token", false))
      c.pooling = CheckpointPooling::cls;
    else if (p->value("pooling_mode_lasttoken", false))
      c.pooling = CheckpointPooling::last;
    else
      return bad(pooling_file,
                 "declares a pooling mode llama.cpp lacks (mean, cls and last token are supported)");
    c.pooling_declared = true;
  }
  return {};
}

Result<fs::path> find_weights(const fs::path& dir) {
  if (fs::exists(dir / "model.safetensors")) return dir / "model.safetensors";
  if (fs::exists(dir / "model.safetensors.index.json"))
    return bad(dir, "sharded safetensors (model.safetensors.index.json) are not supported yet");
  for (const char* pickle : {"pytorch_model.bin", "model.bin", "pytorch_model.pt", "model.pt", "model.pth"})
    if (fs::exists(dir / pickle))
      return bad(dir / pickle,
                 "is a PyTorch pickle, which xervo never loads (unpickling can run arbitrary code). "
                 "Provide model.safetensors instead: most Hugging Face repositories publish one, or convert "
                 "the pickle yourself in a trusted environment");
  return bad(dir, "no model.safetensors");
}

}  // namespace

const char* to_string(CheckpointPooling pooling) {
  switch (pooling) {
    case CheckpointPooling::mean:
      return "mean";
    case CheckpointPooling::cls:
      return "cls";
    case CheckpointPooling::last:
      return "last";
    case CheckpointPooling::rank:
      return "rank";
  }
  return "?";
}

namespace {

// A checkpoint folder's files; the weights only when `with_weights` (looked for before the
// vocabulary, so a pickle is refused first).
Result<HfCheckpoint> read_folder(const fs::path& dir, bool with_weights) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Error(ErrorCode::model_not_found, dir.string() + " is not a folder");
  HfCheckpoint c;
  c.dir = dir;
  if (!fs::exists(dir / "config.json"))
    return Error(ErrorCode::model_not_found,
                 dir.string() + " has no config.json (not a Hugging Face checkpoint)");
  auto config = read_config(dir / "config.json");
  if (!config) return config.error();
  c.config = *config;
  c.source_files.push_back(dir / "config.json");
  if (with_weights) {
    auto weights = find_weights(dir);
    if (!weights) return weights.error();
    c.weights = *weights;
    c.source_files.push_back(c.weights);
  }
  auto vocab = read_vocab(dir, c.config);
  if (!vocab) return vocab.error();
  c.vocab = std::move(*vocab);
  c.source_files.push_back(c.vocab.source);
  if (fs::exists(dir / "tokenizer_config.json")) c.source_files.push_back(dir / "tokenizer_config.json");
  if (auto ok = read_pooling(c); !ok) return ok.error();
  if (c.config.classifier) c.pooling = CheckpointPooling::rank, c.pooling_declared = true;
  return c;
}

}  // namespace

Result<HfCheckpoint> read_checkpoint(const fs::path& dir) { return read_folder(dir, /*with_weights=*/true); }

Result<HfCheckpoint> read_checkpoint_metadata(const fs::path& dir) {
  return read_folder(dir, /*with_weights=*/false);
}

}  // namespace xervo::hfconvert
