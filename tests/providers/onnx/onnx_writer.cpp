#include "onnx_writer.h"

#include <cstring>
#include <fstream>
#include <random>
#include <stdexcept>

namespace xervo::testing {
namespace {

// Protobuf wire format: varints, and length-delimited fields (wire type 2) for strings, bytes and
// embedded messages.
struct Msg {
  std::string bytes;
  void varint(uint64_t v) {
    while (v >= 0x80) {
      bytes += static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    bytes += static_cast<char>(v);
  }
  Msg& i64(int field, int64_t v) {
    varint(static_cast<uint64_t>(field) << 3);
    varint(static_cast<uint64_t>(v));
    return *this;
  }
  Msg& str(int field, const std::string& s) {
    varint((static_cast<uint64_t>(field) << 3) | 2);
    varint(s.size());
    bytes += s;
    return *this;
  }
  Msg& msg(int field, const Msg& m) { return str(field, m.bytes); }
};

// ValueInfoProto for a tensor with symbolic dims ("batch", "sequence") or fixed ones (> 0).
Msg value_info(const std::string& name, int32_t elem_type, const std::vector<std::string>& dims) {
  Msg shape;
  for (const auto& d : dims) {
    Msg dim;
    if (!d.empty() && std::isdigit(static_cast<unsigned char>(d[0])))
      dim.i64(1, std::stoll(d));
    else
      dim.str(2, d);
    shape.msg(1, dim);
  }
  Msg tensor;
  tensor.i64(1, elem_type).msg(2, shape);
  Msg type;
  type.msg(1, tensor);
  Msg vi;
  vi.str(1, name).msg(2, type);
  return vi;
}

Msg node(const std::string& op, const std::vector<std::string>& in, const std::vector<std::string>& out,
         const std::vector<Msg>& attributes = {}) {
  Msg n;
  for (const auto& i : in) n.str(1, i);
  for (const auto& o : out) n.str(2, o);
  n.str(3, op + "_" + out[0]).str(4, op);
  for (const auto& a : attributes) n.msg(5, a);
  return n;
}

Msg int_attribute(const std::string& name, int64_t v) {
  Msg a;
  a.str(1, name).i64(20, 2).i64(3, v);  // type INT
  return a;
}

Msg initializer(const std::string& name, int32_t type, const std::vector<int64_t>& dims, const void* data,
                size_t bytes) {
  Msg t;
  for (auto d : dims) t.i64(1, d);
  t.i64(2, type).str(8, name).str(9, std::string(static_cast<const char*>(data), bytes));
  return t;
}

}  // namespace

std::vector<float> random_table(int vocab, int width, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> t(static_cast<size_t>(vocab) * width);
  for (size_t i = static_cast<size_t>(width); i < t.size(); ++i) t[i] = normal(rng);
  return t;
}

void write_onnx(const TinyGraph& g, const std::filesystem::path& path) {
  if (g.table.size() != static_cast<size_t>(g.vocab) * g.width) throw std::runtime_error("table size");
  Msg graph;
  const std::string states = g.pooled ? "states" : (g.output_type == 1 ? g.output : "states");
  graph.msg(1, node("Gather", {"table", g.ids_input}, {states}, {int_attribute("axis", 0)}));
  std::string last = states;
  if (g.pooled) {
    const std::string sum = g.output_type == 1 ? g.output : "summed";
    graph.msg(1, node("ReduceSum", {states, "axes"}, {sum}, {int_attribute("keepdims", 0)}));
    last = sum;
  }
  if (g.output_type != 1)
    graph.msg(1, node("Cast", {last}, {g.output}, {int_attribute("to", g.output_type)}));
  graph.str(2, "tiny");
  graph.msg(5, initializer("table", 1, {g.vocab, g.width}, g.table.data(), g.table.size() * sizeof(float)));
  const int64_t axes[1] = {1};
  if (g.pooled) graph.msg(5, initializer("axes", 7, {1}, axes, sizeof axes));
  graph.msg(11, value_info(g.ids_input, 7, {"batch", "sequence"}));
  if (g.attention_mask) graph.msg(11, value_info("attention_mask", 7, {"batch", "sequence"}));
  if (g.token_type_ids) graph.msg(11, value_info("token_type_ids", 7, {"batch", "sequence"}));
  const std::string w = std::to_string(g.width);
  graph.msg(12, value_info(g.output, g.output_type,
                           g.pooled ? std::vector<std::string>{"batch", w}
                                    : std::vector<std::string>{"batch", "sequence", w}));
  Msg opset;
  opset.str(1, "").i64(2, 17);
  Msg model;
  model.i64(1, 8).str(2, "xervo-tests").msg(8, opset).msg(7, graph);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(model.bytes.data(), static_cast<std::streamsize>(model.bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

}  // namespace xervo::testing
