// The test checkpoint writer and the reference forward pass (textbook BERT: post-LayerNorm,
// exact GELU, softmax attention without a mask over one sequence).
#include "hf_checkpoint_writer.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <random>

#include "ggml.h"

namespace xervo::testing {
namespace {

using Mat = std::vector<std::vector<double>>;

HfTensor random_tensor(std::mt19937_64& rng, std::vector<int64_t> shape, double mean, double sd) {
  std::normal_distribution<double> d(mean, sd);
  int64_t n = 1;
  for (auto s : shape) n *= s;
  HfTensor t{shape, {}};
  for (int64_t i = 0; i < n; ++i) t.data.push_back(static_cast<float>(d(rng)));
  return t;
}

// y = x W^T + b for every row of x; W is [out, in].
Mat linear(const Mat& x, const HfTensor& w, const HfTensor& b) {
  const int64_t out = w.shape[0], in = w.shape[1];
  Mat y(x.size(), std::vector<double>(static_cast<size_t>(out)));
  for (size_t r = 0; r < x.size(); ++r)
    for (int64_t o = 0; o < out; ++o) {
      double s = b.data[static_cast<size_t>(o)];
      for (int64_t i = 0; i < in; ++i)
        s += x[r][static_cast<size_t>(i)] * w.data[static_cast<size_t>(o * in + i)];
      y[r][static_cast<size_t>(o)] = s;
    }
  return y;
}

void layer_norm(Mat& x, const HfTensor& g, const HfTensor& b, double eps) {
  for (auto& row : x) {
    double mean = 0, var = 0;
    for (double v : row) mean += v;
    mean /= static_cast<double>(row.size());
    for (double v : row) var += (v - mean) * (v - mean);
    var /= static_cast<double>(row.size());
    for (size_t i = 0; i < row.size(); ++i)
      row[i] = (row[i] - mean) / std::sqrt(var + eps) * g.data[i] + b.data[i];
  }
}

void add(Mat& x, const Mat& y) {
  for (size_t r = 0; r < x.size(); ++r)
    for (size_t i = 0; i < x[r].size(); ++i) x[r][i] += y[r][i];
}

}  // namespace

nlohmann::json TinyBert::config() const {
  nlohmann::json j = {{"architectures", {classifier ? "BertForSequenceClassification" : "BertModel"}},
                      {"model_type", "bert"},
                      {"hidden_size", hidden},
                      {"num_hidden_layers", layers},
                      {"num_attention_heads", heads},
                      {"intermediate_size", ff},
                      {"max_position_embeddings", positions},
                      {"vocab_size", static_cast<int>(vocab.size())},
                      {"type_vocab_size", type_vocab},
                      {"hidden_act", "gelu"},
                      {"layer_norm_eps", 1e-12},
                      {"position_embedding_type", "absolute"}};
  if (classifier) j["id2label"] = {{"0", "LABEL_0"}};
  return j;
}

TinyBert make_tiny_bert(uint64_t seed, bool classifier) {
  TinyBert m;
  m.classifier = classifier;
  m.vocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  for (const char* w : {"the",   "a",     "cat",     "dog",  "sat",    "on",   "mat",   "hello", "world",
                        "paris", "is",    "capital", "of",   "france", "red",  "blue",  "car",   "run",
                        "##s",   "##ing", "##ed",    "big",  "small",  "tree", "house", "sun",   "moon",
                        "water", "fire",  "book",    "read", ".",      ",",    "?",     "x"})
    m.vocab.push_back(w);
  std::mt19937_64 rng(seed);
  const int64_t E = m.hidden, V = static_cast<int64_t>(m.vocab.size()), FF = m.ff;
  auto& t = m.tensors;
  t["embeddings.word_embeddings.weight"] = random_tensor(rng, {V, E}, 0, 0.5);
  t["embeddings.position_embeddings.weight"] = random_tensor(rng, {m.positions, E}, 0, 0.1);
  t["embeddings.token_type_embeddings.weight"] = random_tensor(rng, {m.type_vocab, E}, 0, 0.1);
  t["embeddings.LayerNorm.weight"] = random_tensor(rng, {E}, 1, 0.05);
  t["embeddings.LayerNorm.bias"] = random_tensor(rng, {E}, 0, 0.05);
  for (int i = 0; i < m.layers; ++i) {
    const std::string p = "encoder.layer." + std::to_string(i) + ".";
    auto lin = [&](const std::string& n, int64_t out, int64_t in) {
      t[p + n + ".weight"] = random_tensor(rng, {out, in}, 0, 0.1);
      t[p + n + ".bias"] = random_tensor(rng, {out}, 0, 0.05);
    };
    lin("attention.self.query", E, E);
    lin("attention.self.key", E, E);
    lin("attention.self.value", E, E);
    lin("attention.output.dense", E, E);
    lin("intermediate.dense", FF, E);
    lin("output.dense", E, FF);
    for (const char* n : {"attention.output.LayerNorm", "output.LayerNorm"}) {
      t[p + n + ".weight"] = random_tensor(rng, {E}, 1, 0.05);
      t[p + n + ".bias"] = random_tensor(rng, {E}, 0, 0.05);
    }
  }
  t["pooler.dense.weight"] = random_tensor(rng, {E, E}, 0, 0.1);  // present in BertModel files too
  t["pooler.dense.bias"] = random_tensor(rng, {E}, 0, 0.05);
  if (classifier) {
    t["classifier.weight"] = random_tensor(rng, {1, E}, 0, 0.3);
    t["classifier.bias"] = random_tensor(rng, {1}, 0, 0.1);
  }
  // One tensor stored as F16 on disk, so the converter's F16 path is exercised; its values are
  // rounded here too, so the reference sees what the file holds.
  auto& half = t["encoder.layer.0.intermediate.dense.weight"];
  half.dtype = "F16";
  for (auto& v : half.data) v = ggml_fp16_to_fp32(ggml_fp32_to_fp16(v));
  return m;
}

std::string safetensors_bytes(const std::map<std::string, HfTensor>& tensors) {
  nlohmann::json header = nlohmann::json::object();
  std::string data;
  for (const auto& [name, t] : tensors) {
    const size_t begin = data.size();
    if (t.dtype == "F16") {
      for (float v : t.data) {
        const ggml_fp16_t h = ggml_fp32_to_fp16(v);
        data.append(reinterpret_cast<const char*>(&h), sizeof h);
      }
    } else {
      data.append(reinterpret_cast<const char*>(t.data.data()), t.data.size() * sizeof(float));
    }
    header[name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {begin, data.size()}}};
  }
  header["__metadata__"] = {{"format", "pt"}};
  std::string h = header.dump();
  while (h.size() % 8) h += ' ';
  std::string out(8, '\0');
  uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + h + data;
}

void write_checkpoint(const TinyBert& model, const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.json") << model.config().dump(2);
  {
    std::ofstream v(dir / "vocab.txt");
    for (const auto& t : model.vocab) v << t << "\n";
  }
  std::ofstream(dir / "tokenizer_config.json")
      << R"({"do_lower_case": true, "tokenizer_class": "BertTokenizer"})";
  if (!model.classifier) {
    std::ofstream(dir / "modules.json")
        << R"([{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
{"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"},
{"idx":2,"name":"2","path":"2_Normalize","type":"sentence_transformers.models.Normalize"}])";
    std::filesystem::create_directories(dir / "1_Pooling");
    std::ofstream(dir / "1_Pooling" / "config.json")
        << R"({"word_embedding_dimension": 64, "pooling_mode_cls_token": false, "pooling_mode_mean_tokens": true})";
  }
  std::ofstream(dir / "model.safetensors", std::ios::binary) << safetensors_bytes(model.tensors);
}

std::vector<double> reference_forward(const TinyBert& m, const std::vector<int>& ids) {
  const auto& t = m.tensors;
  auto T = [&](const std::string& n) -> const HfTensor& { return t.at(n); };
  const size_t E = static_cast<size_t>(m.hidden), n = ids.size();
  Mat x(n, std::vector<double>(E));
  for (size_t r = 0; r < n; ++r)
    for (size_t i = 0; i < E; ++i)
      x[r][i] = T("embeddings.word_embeddings.weight").data[static_cast<size_t>(ids[r]) * E + i] +
                T("embeddings.position_embeddings.weight").data[r * E + i] +
                T("embeddings.token_type_embeddings.weight").data[i];
  layer_norm(x, T("embeddings.LayerNorm.weight"), T("embeddings.LayerNorm.bias"), 1e-12);
  const size_t H = static_cast<size_t>(m.heads), D = E / H;
  for (int l = 0; l < m.layers; ++l) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    auto lin = [&](const Mat& in, const std::string& name) {
      return linear(in, T(p + name + ".weight"), T(p + name + ".bias"));
    };
    Mat q = lin(x, "attention.self.query"), k = lin(x, "attention.self.key"),
        v = lin(x, "attention.self.value");
    Mat ctx(n, std::vector<double>(E, 0.0));
    for (size_t h = 0; h < H; ++h)
      for (size_t i = 0; i < n; ++i) {
        std::vector<double> s(n);
        double mx = -1e300, sum = 0;
        for (size_t j = 0; j < n; ++j) {
          double d = 0;
          for (size_t c = 0; c < D; ++c) d += q[i][h * D + c] * k[j][h * D + c];
          s[j] = d / std::sqrt(static_cast<double>(D));
          mx = std::max(mx, s[j]);
        }
        for (auto& e : s) sum += (e = std::exp(e - mx));
        for (size_t j = 0; j < n; ++j)
          for (size_t c = 0; c < D; ++c) ctx[i][h * D + c] += s[j] / sum * v[j][h * D + c];
      }
    Mat a = lin(ctx, "attention.output.dense");
    add(x, a);
    layer_norm(x, T(p + "attention.output.LayerNorm.weight"), T(p + "attention.output.LayerNorm.bias"),
               1e-12);
    Mat f = lin(x, "intermediate.dense");
    for (auto& row : f)
      for (auto& e : row) e = 0.5 * e * (1 + std::erf(e / std::sqrt(2.0)));
    Mat o = lin(f, "output.dense");
    add(x, o);
    layer_norm(x, T(p + "output.LayerNorm.weight"), T(p + "output.LayerNorm.bias"), 1e-12);
  }
  if (m.classifier) {
    Mat cls = {x[0]};
    Mat pooled = linear(cls, T("pooler.dense.weight"), T("pooler.dense.bias"));
    for (auto& e : pooled[0]) e = std::tanh(e);
    return linear(pooled, T("classifier.weight"), T("classifier.bias"))[0];
  }
  std::vector<double> mean(E, 0.0);
  for (const auto& row : x)
    for (size_t i = 0; i < E; ++i) mean[i] += row[i] / static_cast<double>(n);
  return mean;
}

}  // namespace xervo::testing
