#!/usr/bin/env python3
"""Converts a CTranslate2 Whisper checkpoint (model.bin + vocabulary.txt, as faster-whisper and the
packages built on it ship) to the ggml file whisper.cpp loads.

Usage: ct2_to_ggml.py CT2_DIR OUT_FILE

Standard library only (no numpy): float16 tensors are copied byte for byte; fused projections
are split by rows. Written for xervo from the two formats' definitions: CTranslate2's model.bin
(version 6: header, named variables, aliases) and whisper.cpp's legacy ggml layout (hyper-
parameters, mel filter bank, byte-level vocabulary, tensors with reversed dimensions).
"""
import math
import struct
import sys
from pathlib import Path

CT2_DTYPES = {0: ("f32", 4), 1: ("i8", 1), 2: ("i16", 2), 3: ("i32", 4), 4: ("f16", 2), 5: ("bf16", 2)}


class Tensor:
    def __init__(self, dims, dtype, data):
        self.dims, self.dtype, self.data = dims, dtype, data

    def rows(self, start, count):
        """Rows [start, start + count) of a 2-D (or 1-D) tensor."""
        row_elems = 1
        for d in self.dims[1:]:
            row_elems *= d
        size = CT2_DTYPES_BY_NAME[self.dtype]
        b = row_elems * size
        return Tensor([count] + self.dims[1:], self.dtype, self.data[start * b:(start + count) * b])


CT2_DTYPES_BY_NAME = {name: size for name, size in CT2_DTYPES.values()}


def read_ct2(path):
    data = Path(path).read_bytes()
    pos = 0

    def take(n):
        nonlocal pos
        if pos + n > len(data):
            sys.exit(f"{path}: truncated at byte {pos}")
        chunk = data[pos:pos + n]
        pos += n
        return chunk

    def u32():
        return struct.unpack("<I", take(4))[0]

    def string():
        n = struct.unpack("<H", take(2))[0]
        return take(n)[:-1].decode()

    version = u32()
    if version != 6:
        sys.exit(f"{path}: CTranslate2 model version {version}, this converter reads version 6")
    spec = string()
    if spec != "WhisperSpec":
        sys.exit(f"{path}: a {spec}, not a Whisper model")
    u32()  # spec revision
    variables = {}
    for _ in range(u32()):
        name = string()
        rank = take(1)[0]
        dims = [u32() for _ in range(rank)]
        dtype_id = take(1)[0]
        if dtype_id not in CT2_DTYPES:
            sys.exit(f"{path}: {name} has unknown data type {dtype_id}")
        nbytes = u32()
        variables[name] = Tensor(dims, CT2_DTYPES[dtype_id][0], take(nbytes))
    for _ in range(u32()):
        alias, target = string(), string()
        variables[alias] = variables[target]
    return variables


def scalar(t):
    fmt = {"i8": "<b", "i16": "<h", "i32": "<i", "f32": "<f"}[t.dtype]
    return struct.unpack(fmt, t.data[:struct.calcsize(fmt)])[0]


def to_f32_bytes(t):
    if t.dtype == "f32":
        return t.data
    if t.dtype == "f16":
        n = len(t.data) // 2
        return struct.pack(f"<{n}f", *struct.unpack(f"<{n}e", t.data))
    sys.exit(f"tensor of type {t.dtype}: only float16 and float32 checkpoints are supported")


def to_f16_bytes(t):
    if t.dtype == "f16":
        return t.data
    if t.dtype == "f32":
        n = len(t.data) // 4
        return struct.pack(f"<{n}e", *struct.unpack(f"<{n}f", t.data))
    sys.exit(f"tensor of type {t.dtype}: only float16 and float32 checkpoints are supported")


# The mel filter bank Whisper was trained with: 80 (or 128) triangular filters on the Slaney mel
# scale over a 400-point FFT at 16 kHz, each normalised to unit area (Slaney's norm).
def hz_to_mel(f):
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    if f < min_log_hz:
        return f / f_sp
    return min_log_hz / f_sp + math.log(f / min_log_hz) / (math.log(6.4) / 27.0)


def mel_to_hz(m):
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel = min_log_hz / f_sp
    if m < min_log_mel:
        return m * f_sp
    return min_log_hz * math.exp((math.log(6.4) / 27.0) * (m - min_log_mel))


def mel_filters(n_mels, sr=16000, n_fft=400):
    n_bins = n_fft // 2 + 1
    fft_freqs = [i * (sr / 2) / (n_bins - 1) for i in range(n_bins)]
    lo, hi = hz_to_mel(0.0), hz_to_mel(sr / 2)
    mel_f = [mel_to_hz(lo + (hi - lo) * i / (n_mels + 1)) for i in range(n_mels + 2)]
    out = []
    for i in range(n_mels):
        enorm = 2.0 / (mel_f[i + 2] - mel_f[i])
        row = []
        for f in fft_freqs:
            lower = (f - mel_f[i]) / (mel_f[i + 1] - mel_f[i])
            upper = (mel_f[i + 2] - f) / (mel_f[i + 2] - mel_f[i + 1])
            row.append(max(0.0, min(lower, upper)) * enorm)
        out.append(row)
    return out


def byte_decoder():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, out = Path(sys.argv[1]), Path(sys.argv[2])
    v = read_ct2(src / "model.bin")
    vocab = (src / "vocabulary.txt").read_text(encoding="utf-8").split("\n")
    if vocab and vocab[-1] == "":
        vocab.pop()

    n_vocab, n_text_state = v["decoder/embeddings/weight"].dims
    n_audio_ctx, n_audio_state = v["encoder/position_encodings/encodings"].dims
    n_text_ctx = v["decoder/position_encodings/encodings"].dims[0]
    n_mels = v["encoder/conv1/weight"].dims[1]
    count = lambda side: len({k.split("/")[1] for k in v if k.split("/")[1].removeprefix("layer_").isdigit() and k.startswith(side + "/")})
    n_audio_layer, n_text_layer = count("encoder"), count("decoder")
    n_audio_head = scalar(v["encoder/num_heads"])
    n_text_head = scalar(v["decoder/num_heads"])
    if len(vocab) != n_vocab:
        sys.exit(f"vocabulary.txt has {len(vocab)} tokens, the model {n_vocab}")

    tensors = []  # (name, ggml dims order = reversed, f16?, bytes)

    def add(name, t, f16=True, dims=None):
        dims = list(dims if dims is not None else t.dims)
        if f16 and len(dims) >= 2:
            tensors.append((name, dims, True, to_f16_bytes(t)))
        else:
            tensors.append((name, dims, False, to_f32_bytes(t)))

    def linear(dst, src_prefix, t_w=None, t_b=None, bias=True):
        add(dst + ".weight", t_w or v[src_prefix + "/weight"])
        if bias:
            add(dst + ".bias", t_b or v[src_prefix + "/bias"])

    def norm(dst, src_prefix):
        add(dst + ".weight", v[src_prefix + "/gamma"])
        add(dst + ".bias", v[src_prefix + "/beta"])

    def split_rows(prefix, parts):
        w, b = v[prefix + "/weight"], v[prefix + "/bias"]
        d = w.dims[0] // parts
        return [(w.rows(i * d, d), b.rows(i * d, d)) for i in range(parts)]

    def attention(dst, qkv_prefix, out_prefix):
        (qw, qb), (kw, _), (vw, vb) = split_rows(qkv_prefix, 3)
        linear(dst + ".query", None, qw, qb)
        linear(dst + ".key", None, kw, bias=False)  # Whisper's keys have no bias (CTranslate2 stores zeros)
        linear(dst + ".value", None, vw, vb)
        linear(dst + ".out", out_prefix)

    def mlp(dst, src):
        norm(dst + ".mlp_ln", src + "/ffn/layer_norm")
        linear(dst + ".mlp.0", src + "/ffn/linear_0")
        linear(dst + ".mlp.2", src + "/ffn/linear_1")

    add("encoder.positional_embedding", v["encoder/position_encodings/encodings"], f16=False)
    add("encoder.conv1.weight", v["encoder/conv1/weight"])
    add("encoder.conv1.bias", v["encoder/conv1/bias"], f16=False, dims=[n_audio_state, 1])
    add("encoder.conv2.weight", v["encoder/conv2/weight"])
    add("encoder.conv2.bias", v["encoder/conv2/bias"], f16=False, dims=[n_audio_state, 1])
    for i in range(n_audio_layer):
        s, d = f"encoder/layer_{i}", f"encoder.blocks.{i}"
        norm(d + ".attn_ln", s + "/self_attention/layer_norm")
        attention(d + ".attn", s + "/self_attention/linear_0", s + "/self_attention/linear_1")
        mlp(d, s)
    norm("encoder.ln_post", "encoder/layer_norm")

    add("decoder.positional_embedding", v["decoder/position_encodings/encodings"], f16=False)
    add("decoder.token_embedding.weight", v["decoder/embeddings/weight"])
    for i in range(n_text_layer):
        s, d = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        norm(d + ".attn_ln", s + "/self_attention/layer_norm")
        attention(d + ".attn", s + "/self_attention/linear_0", s + "/self_attention/linear_1")
        norm(d + ".cross_attn_ln", s + "/attention/layer_norm")
        qw, qb = v[s + "/attention/linear_0/weight"], v[s + "/attention/linear_0/bias"]
        (kw, _), (vw, vb) = split_rows(s + "/attention/linear_1", 2)
        linear(d + ".cross_attn.query", None, qw, qb)
        linear(d + ".cross_attn.key", None, kw, bias=False)
        linear(d + ".cross_attn.value", None, vw, vb)
        linear(d + ".cross_attn.out", s + "/attention/linear_2")
        mlp(d, s)
    norm("decoder.ln", "decoder/layer_norm")

    decode = byte_decoder()
    base_tokens = []  # the byte-level BPE tokens; whisper.cpp adds the special ones itself
    for tok in vocab:
        if tok.startswith("<|") and tok.endswith("|>"):
            break
        base_tokens.append(bytes(decode[c] for c in tok))

    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<i", 0x67676D6C))
        for x in (n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer,
                  n_text_ctx, n_text_state, n_text_head, n_text_layer, n_mels, 1):
            f.write(struct.pack("<i", x))
        filters = mel_filters(n_mels)
        f.write(struct.pack("<ii", len(filters), len(filters[0])))
        for row in filters:
            f.write(struct.pack(f"<{len(row)}f", *row))
        f.write(struct.pack("<i", len(base_tokens)))
        for tok in base_tokens:
            f.write(struct.pack("<i", len(tok)))
            f.write(tok)
        for name, dims, f16, data in tensors:
            encoded = name.encode()
            f.write(struct.pack("<iii", len(dims), len(encoded), 1 if f16 else 0))
            for dim in reversed(dims):
                f.write(struct.pack("<i", dim))
            f.write(encoded)
            f.write(data)
    tmp.replace(out)
    print(f"{out}: {len(tensors)} tensors, {n_audio_layer}+{n_text_layer} layers, vocabulary {n_vocab}")


if __name__ == "__main__":
    main()
