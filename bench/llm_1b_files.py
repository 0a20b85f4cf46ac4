#!/usr/bin/env python3
"""llm_1b_files.py — the TinyLlama-1.1B-shaped model of bench/llm_vs_llamacpp.sh, written
straight from one set of integer codes into quant's and llama.cpp's formats.

    python3 bench/llm_1b_files.py OUTDIR [--seed 0] [--layers 22]

Random weights of realistic scale (linears N(0, 0.02), embeddings N(0, 0.02), RMSNorm weights
~1), rounded to float16 first (an F16 checkpoint).  Every linear is quantized once, in numpy:
  W4 g32: quant's full-range symmetric grid (llama.cpp's Q4_0 grid: d = e / -8 where e is the
          group's largest-magnitude value, d rounded to f16 before the codes, codes
          rint(w / d) clipped to -8..7);
  W8 g32: d = max|w| / 127 (f16), codes in -127..127 (ggml's Q8_0 dot products assume
          |q| <= 127).
and the same codes and f16 scales are written as
  OUTDIR/w4g32.safetensors  quant-llm v1 (docs/formats.md), bits 4, group 32
  OUTDIR/w4g32.gguf         GGUF v3, Q4_0 linears
  OUTDIR/w8g32.safetensors  quant-llm v1, bits 8, group 32
  OUTDIR/w8g32.gguf         GGUF v3, Q8_0 linears
  OUTDIR/tokenizer.bin      the vocabulary below as a llama2.c tokenizer (quant export needs one)
Token embedding, classifier and norms are F32 in all four, so both engines run identical
weights.  Why not `quant ptq-llm --method rtn` on an F16 directory: on this shape it takes
~210 s and ~10 GB RSS (it holds the fp32 model and calibrates), and a bench only needs the
codes; the files are still quant's format, read by quant's reader.  The small GGUF writer
here stands in for quant's exporter (issue 13) until that lands.

The GGUF vocabulary is synthetic (32000 SentencePiece-style pieces: <unk>, <s>, </s>, the 256
byte tokens, then made-up pieces): the benchmark feeds token ids, never text.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

DIM, HIDDEN, HEADS, KV_HEADS, VOCAB, CTX = 2048, 5632, 32, 4, 32000, 2048
EPS, THETA = 1e-5, 10000.0
QK = 32


def f16_round(a):
    return a.astype(np.float16).astype(np.float32)


def quantize(w, bits):
    """codes int8 [out, in], scales f16 [out, in / 32] (groups of 32 along the input)."""
    out, inp = w.shape
    g = w.reshape(out, inp // QK, QK)
    if bits == 4:
        idx = np.abs(g).argmax(axis=2)
        e = np.take_along_axis(g, idx[..., None], axis=2)[..., 0]
        d = (e / -8.0).astype(np.float16)
        lo, hi = -8, 7
    else:
        d = (np.abs(g).max(axis=2) / 127.0).astype(np.float16)
        lo, hi = -127, 127
    d[d == 0] = np.float16(1.0)
    q = np.clip(np.rint(g / d.astype(np.float32)[..., None]), lo, hi).astype(np.int8)
    return q.reshape(out, inp), d


def quant_qweight(q, bits):
    """quant's pack.h: u = q - qmin in `bits`-bit little-endian fields."""
    if bits == 8:
        return (q.astype(np.int16) + 128).astype(np.uint8).ravel()
    u = (q.astype(np.int16) + 8).astype(np.uint8).ravel()
    return (u[0::2] | (u[1::2] << 4)).astype(np.uint8)


def gguf_blocks(q, d, bits):
    """GGUF Q4_0 (18 B: f16 d, 16 bytes: low nibble j, high nibble j + 16, u = q + 8) or
    Q8_0 (34 B: f16 d, 32 int8) blocks, row-major."""
    out, inp = q.shape
    nb = inp // QK
    qb = q.reshape(out, nb, QK)
    dh = d.reshape(out, nb, 1).view(np.uint8).reshape(out, nb, 2)
    if bits == 8:
        body = qb.view(np.uint8)
    else:
        u = (qb.astype(np.int16) + 8).astype(np.uint8)
        body = (u[..., :16] | (u[..., 16:] << 4)).astype(np.uint8)
    return np.concatenate([dh, body], axis=2).ravel()


class Tensor:
    def __init__(self, name, shape, kind):
        self.name, self.shape, self.kind = name, shape, kind  # kind: f32 | lin


def model_tensors(layers):
    t = [Tensor("token_embd", (VOCAB, DIM), "emb"), Tensor("output_norm", (DIM,), "norm"), Tensor("output", (VOCAB, DIM), "emb")]
    kvd = DIM // HEADS * KV_HEADS
    for l in range(layers):
        t.append(Tensor(f"blk.{l}.attn_norm", (DIM,), "norm"))
        t.append(Tensor(f"blk.{l}.ffn_norm", (DIM,), "norm"))
        for name, shape in (("q", (DIM, DIM)), ("k", (kvd, DIM)), ("v", (kvd, DIM)), ("o", (DIM, DIM)),
                            ("gate", (HIDDEN, DIM)), ("up", (HIDDEN, DIM)), ("down", (DIM, HIDDEN))):
            t.append(Tensor(f"blk.{l}.{name}", shape, "lin"))
    return t


GGUF_NAMES = {"q": "attn_q", "k": "attn_k", "v": "attn_v", "o": "attn_output", "gate": "ffn_gate", "up": "ffn_up",
              "down": "ffn_down"}


def gguf_name(t):
    parts = t.name.split(".")
    if len(parts) == 3 and parts[2] in GGUF_NAMES:
        return f"blk.{parts[1]}.{GGUF_NAMES[parts[2]]}.weight"
    return t.name + ".weight"


def st_entries(t, bits):
    """(name, dtype, shape, bytes) of the quant-llm tensors for t."""
    if t.kind != "lin":
        n = int(np.prod(t.shape))
        return [(t.name + ".weight", "F32", list(t.shape), 4 * n)]
    out, inp = t.shape
    nq = out * inp * bits // 8
    return [(t.name + ".qweight", "U8", [nq], nq), (t.name + ".scale", "F16", [out * inp // QK], 2 * out * inp // QK)]


def write_safetensors_header(f, tensors, bits, layers):
    meta = {"format": "quant-llm", "version": "1", "arch": "0", "dim": str(DIM), "hidden_dim": str(HIDDEN),
            "n_layers": str(layers), "n_heads": str(HEADS), "n_kv_heads": str(KV_HEADS), "vocab_size": str(VOCAB),
            "max_seq": str(CTX), "norm_eps": "%.9g" % EPS, "rope_theta": "%.9g" % THETA, "rope_interleaved": "1",
            "shared_head": "0", "method": "rtn", "bits": str(bits), "group_size": "32", "symmetric": "1",
            "group_tail": "merged", "emb_bits": "0", "source": "bench/llm_1b_files.py (random, TinyLlama-1.1B shape)"}
    hdr, off = {"__metadata__": meta}, 0
    for t in tensors:
        for name, dt, shape, nbytes in st_entries(t, bits):
            hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + nbytes]}
            off += nbytes
    js = json.dumps(hdr).encode()
    js += b" " * ((8 - len(js) % 8) % 8)
    f.write(struct.pack("<Q", len(js)))
    f.write(js)


def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gkv(key, typ, val):
    # GGUF value types: 4 u32, 5 i32, 6 f32, 8 string, 9 array
    out = gstr(key) + struct.pack("<I", typ)
    if typ == 4:
        return out + struct.pack("<I", val)
    if typ == 5:
        return out + struct.pack("<i", val)
    if typ == 6:
        return out + struct.pack("<f", val)
    if typ == 8:
        return out + gstr(val)
    atyp, items = val
    out += struct.pack("<IQ", atyp, len(items))
    if atyp == 8:
        return out + b"".join(gstr(s) for s in items)
    return out + np.asarray(items, dtype={5: "<i4", 6: "<f4"}[atyp]).tobytes()


def vocab():
    toks, types = ["<unk>", "<s>", "</s>"], [2, 3, 3]
    toks += ["<0x%02X>" % i for i in range(256)]
    types += [6] * 256
    i = 0
    while len(toks) < VOCAB:
        toks.append("\u2581p%d" % i if i % 2 == 0 else "q%d" % i)
        types.append(1)
        i += 1
    return toks, [-float(k) for k in range(VOCAB)], types


ALIGN = 32


def gguf_tensor_bytes(t, bits):
    if t.kind != "lin":
        return 4 * int(np.prod(t.shape))
    out, inp = t.shape
    return out * (inp // QK) * (18 if bits == 4 else 34)


def write_gguf_header(f, tensors, bits, layers):
    toks, scores, types = vocab()
    kv = [gkv("general.architecture", 8, "llama"), gkv("general.name", 8, "quant-bench-1b-w%d" % bits),
          gkv("general.file_type", 4, 2 if bits == 4 else 7), gkv("general.alignment", 4, ALIGN),
          gkv("llama.context_length", 4, CTX), gkv("llama.embedding_length", 4, DIM), gkv("llama.block_count", 4, layers),
          gkv("llama.feed_forward_length", 4, HIDDEN), gkv("llama.rope.dimension_count", 4, DIM // HEADS),
          gkv("llama.attention.head_count", 4, HEADS), gkv("llama.attention.head_count_kv", 4, KV_HEADS),
          gkv("llama.attention.layer_norm_rms_epsilon", 6, EPS), gkv("llama.rope.freq_base", 6, THETA),
          gkv("tokenizer.ggml.model", 8, "llama"), gkv("tokenizer.ggml.tokens", 9, (8, toks)),
          gkv("tokenizer.ggml.scores", 9, (6, scores)), gkv("tokenizer.ggml.token_type", 9, (5, types)),
          gkv("tokenizer.ggml.bos_token_id", 4, 1), gkv("tokenizer.ggml.eos_token_id", 4, 2),
          gkv("tokenizer.ggml.unknown_token_id", 4, 0)]
    f.write(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv)))
    for k in kv:
        f.write(k)
    off = 0
    for t in tensors:
        typ = 0 if t.kind != "lin" else (2 if bits == 4 else 8)
        dims = list(reversed(t.shape))  # ne0 = innermost
        f.write(gstr(gguf_name(t)) + struct.pack("<I", len(dims)) + struct.pack("<%dQ" % len(dims), *dims) +
                struct.pack("<IQ", typ, off))
        off += gguf_tensor_bytes(t, bits)
        off = (off + ALIGN - 1) // ALIGN * ALIGN
    pad = (-f.tell()) % ALIGN
    f.write(b"\0" * pad)


def gguf_pad(f, start):
    pad = (-(f.tell() - start)) % ALIGN
    f.write(b"\0" * pad)


def write_tokenizer_bin(path):
    """The same vocabulary as llama2.c's tokenizer.bin (max piece length, then per piece: score
    f32, length i32, bytes; "\u2581" written as a space, as llama2.c's export does), so quant
    finds a tokenizer beside the model files (quant export needs one for the GGUF metadata)."""
    toks, scores, _ = vocab()
    pieces = [t.replace("\u2581", " ").encode("utf-8") for t in toks]
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<i", max(len(b) for b in pieces)))
        for b, s in zip(pieces, scores):
            f.write(struct.pack("<fi", s, len(b)) + b)
    os.replace(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--layers", type=int, default=22)
    ap.add_argument("--tokenizer-only", action="store_true", help="only OUTDIR/tokenizer.bin")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    write_tokenizer_bin(os.path.join(a.out, "tokenizer.bin"))
    if a.tokenizer_only:
        return
    tensors = model_tensors(a.layers)
    rng = np.random.default_rng(a.seed)
    files = {}
    for bits in (4, 8):
        st = open(os.path.join(a.out, "w%dg32.safetensors.tmp" % bits), "wb")
        gg = open(os.path.join(a.out, "w%dg32.gguf.tmp" % bits), "wb")
        write_safetensors_header(st, tensors, bits, a.layers)
        write_gguf_header(gg, tensors, bits, a.layers)
        files[bits] = (st, gg, gg.tell())
    for i, t in enumerate(tensors):
        if t.kind == "norm":
            w = f16_round(1.0 + 0.05 * rng.standard_normal(t.shape, dtype=np.float32))
        else:
            w = f16_round(0.02 * rng.standard_normal(t.shape, dtype=np.float32))
        for bits, (st, gg, g0) in files.items():
            if t.kind != "lin":
                st.write(w.astype("<f4").tobytes())
                gg.write(w.astype("<f4").tobytes())
            else:
                q, d = quantize(w, bits)
                st.write(quant_qweight(q, bits).tobytes())
                st.write(d.astype("<f2").ravel().tobytes())
                gg.write(gguf_blocks(q, d, bits).tobytes())
            gguf_pad(gg, g0)
        if i % 20 == 0:
            print("  %d/%d tensors" % (i + 1, len(tensors)), file=sys.stderr, flush=True)
    for bits, (st, gg, _) in files.items():
        st.close()
        gg.close()
        for ext in ("safetensors", "gguf"):
            p = os.path.join(a.out, "w%dg32.%s" % (bits, ext))
            os.replace(p + ".tmp", p)
    print("wrote", ", ".join(sorted(os.listdir(a.out))))


if __name__ == "__main__":
    main()
