#!/usr/bin/env python3
"""llm_ref.py — an independent numpy reference for the LLM runtime tests (no torch).

Written from the Hugging Face model definitions (modeling_gpt2.py GPT2LMHeadModel,
modeling_llama.py LlamaForCausalLM), not from our C code:
  GPT-2: h = wte[ids] + wpe[pos]; per block a = x + c_proj(attn(ln_1(x))), x = a + mlp(ln_2(a)),
         Conv1D y = x @ W + b with W [in, out], c_attn split into q|k|v, gelu_new, ln_f,
         logits = h @ wte^T.
  Llama: RMSNorm x * rsqrt(mean(x^2) + eps) * w, RoPE with rotate_half (pairs i, i + hd/2),
         inv_freq = theta^(-2i/hd), repeat_kv for grouped-query attention, SwiGLU
         down(silu(gate x) * up x), lm_head (or embed_tokens when tied).
Computed in float64 from the file's values (BF16/F16 widened exactly).

  llm_ref.py make DIR --arch gpt2|llama|mistral [--dtype F32|BF16|F16|mixed] [--seed N] [--shards 1|2]
                     [--tied 0|1|head|alias|both] [--tie-flag true|false|absent] [--prefix 0|1]
                     [--buffers 0|1] [--extra NAME] [--config JSON] [--vocab N]
                     [--gpt2-shape N_EMBD,N_LAYER,N_HEAD,N_POSITIONS] [--llama-shape DIM,LAYERS,HEADS,KV_HEADS,FFN]
      writes DIR/config.json and DIR/model.safetensors (or 2 shards + index), random weights,
      in the checkpoint layout the options name (see make())
  llm_ref.py logits DIR --tokens 1,2,3 --out FILE
      writes the logits [T, V] as little-endian float64 to FILE
  llm_ref.py bad DIR KIND   writes a deliberately broken model directory
  llm_ref.py l2c-encode TOKENIZER.bin TEXTFILE OUT   llama2.c run.c encode() (no BOS), int32 ids
"""
import json
import os
import struct
import sys

import numpy as np

# ------------------------------------------------------------------ safetensors
DT = {"F32": np.float32, "F16": np.float16, "I8": np.int8, "U8": np.uint8, "I32": np.int32}


def st_read(path):
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    hdr = json.loads(buf[8:8 + n])
    data = buf[8 + n:]
    out = {}
    for name, t in hdr.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        raw = data[b:e]
        if t["dtype"] == "BF16":
            u = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = u.view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=np.dtype(DT[t["dtype"]]).newbyteorder("<"))
        out[name] = arr.reshape(t["shape"]).astype(np.float64)
    return out


def to_bf16_bits(a):
    """float32 -> bf16 bits, round to nearest even."""
    u = np.asarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return r


def st_write(path, tensors, dtype, meta=None):
    """tensors: list of (name, float32 array); written in `dtype` (F32/F16/BF16), or with
    dtype "mixed" each tensor in the next of F32, F16, BF16 in turn; meta: extra __metadata__."""
    hdr, blobs, off = {}, [], 0
    mixed = dtype == "mixed"
    for i, (name, a) in enumerate(tensors):
        if mixed:
            dtype = ("F32", "F16", "BF16")[i % 3]
        a = np.asarray(a, dtype=np.float32)
        if dtype == "BF16":
            raw = to_bf16_bits(a).astype("<u2").tobytes()
        elif dtype == "F16":
            raw = a.astype("<f2").tobytes()
        else:
            raw = a.astype("<f4").tobytes()
        hdr[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    hdr["__metadata__"] = dict({"format": "pt"}, **(meta or {}))
    h = json.dumps(hdr).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


# ------------------------------------------------------------------ random models
GPT2_CFG = dict(architectures=["GPT2LMHeadModel"], model_type="gpt2", vocab_size=97, n_embd=32, n_layer=2, n_head=4,
                n_positions=160, n_inner=None, activation_function="gelu_new", layer_norm_epsilon=1e-5)
LLAMA_CFG = dict(architectures=["LlamaForCausalLM"], model_type="llama", vocab_size=101, hidden_size=48,
                 intermediate_size=80, num_hidden_layers=2, num_attention_heads=6, num_key_value_heads=2,
                 max_position_embeddings=160, rms_norm_eps=1e-5, rope_theta=5000.0, hidden_act="silu",
                 tie_word_embeddings=False)


def make(d, arch, dtype="F32", seed=0, shards=1, tied=None, opts=None):
    """opts (checkpoint layouts as transformers / safetensors save them):
      tied: 0 untied (lm_head stored), 1 tied, stored as the embedding only; "head" tied, stored
            as lm_head.weight only; "alias" as "head" plus the __metadata__ entry
            {embedding name: "lm_head.weight"} safetensors' save_model records; "both" both stored
      tie_flag: "true" | "false" | "absent" (default: written when it differs from the arch's default)
      prefix: GPT-2 tensor names with "transformer." (1, default) or without (0)
      buffers: 1 adds GPT-2's attn.bias / attn.masked_bias, Llama's rotary_emb.inv_freq
      extra: the name of an unknown tensor to add
      config: JSON object merged into config.json"""
    opts = opts or {}
    rng = np.random.default_rng(seed)
    os.makedirs(d, exist_ok=True)
    W = lambda *s: (rng.standard_normal(s) * 0.2).astype(np.float32)
    N = lambda n: (1.0 + 0.2 * rng.standard_normal(n)).astype(np.float32)
    t = []
    if arch == "gpt2":
        c = dict(GPT2_CFG)
        D, L, V, S = c["n_embd"], c["n_layer"], c["vocab_size"], c["n_positions"]
        F = 4 * D
        px = "transformer." if opts.get("prefix", "1") == "1" else ""
        emb_name = px + "wte.weight"
        t += [(emb_name, W(V, D)), (px + "wpe.weight", W(S, D))]
        for i in range(L):
            p = px + "h.%d." % i
            t += [(p + "ln_1.weight", N(D)), (p + "ln_1.bias", W(D)),
                  (p + "attn.c_attn.weight", W(D, 3 * D)), (p + "attn.c_attn.bias", W(3 * D)),
                  (p + "attn.c_proj.weight", W(D, D)), (p + "attn.c_proj.bias", W(D)),
                  (p + "ln_2.weight", N(D)), (p + "ln_2.bias", W(D)),
                  (p + "mlp.c_fc.weight", W(D, F)), (p + "mlp.c_fc.bias", W(F)),
                  (p + "mlp.c_proj.weight", W(F, D)), (p + "mlp.c_proj.bias", W(D))]
            if opts.get("buffers") == "1":
                t += [(p + "attn.bias", np.tril(np.ones((S, S), np.float32))[None, None]),
                      (p + "attn.masked_bias", np.array(-1e4, np.float32))]
        t += [(px + "ln_f.weight", N(D)), (px + "ln_f.bias", W(D))]
        default_tie = True
    else:
        c = dict(LLAMA_CFG)
        if arch == "mistral":
            c.update(architectures=["MistralForCausalLM"], model_type="mistral", sliding_window=None)
        default_tie = False
        emb_name = "model.embed_tokens.weight"
        D, L, V, F = c["hidden_size"], c["num_hidden_layers"], c["vocab_size"], c["intermediate_size"]
        H, KV = c["num_attention_heads"], c["num_key_value_heads"]
        hd = D // H
        t += [("model.embed_tokens.weight", W(V, D))]
        for i in range(L):
            p = "model.layers.%d." % i
            t += [(p + "input_layernorm.weight", N(D)),
                  (p + "self_attn.q_proj.weight", W(H * hd, D)), (p + "self_attn.k_proj.weight", W(KV * hd, D)),
                  (p + "self_attn.v_proj.weight", W(KV * hd, D)), (p + "self_attn.o_proj.weight", W(D, H * hd)),
                  (p + "post_attention_layernorm.weight", N(D)),
                  (p + "mlp.gate_proj.weight", W(F, D)), (p + "mlp.up_proj.weight", W(F, D)),
                  (p + "mlp.down_proj.weight", W(D, F))]
            if opts.get("buffers") == "1":
                t += [(p + "self_attn.rotary_emb.inv_freq", 1.0 / c["rope_theta"] ** (np.arange(0, hd, 2) / hd))]
        t += [("model.norm.weight", N(D))]
    c.pop("tie_word_embeddings", None)
    tied = str(tied) if tied is not None else ("1" if default_tie else "0")
    meta = {}
    if tied == "0":
        t += [("lm_head.weight", W(V, D))]
    elif tied in ("head", "alias"):
        t = [("lm_head.weight", a) if n == emb_name else (n, a) for n, a in t]
        if tied == "alias":
            meta[emb_name] = "lm_head.weight"
    elif tied == "both":
        t += [("lm_head.weight", dict(t)[emb_name])]
    flag = opts.get("tie_flag")
    if flag is None:
        flag = "absent" if (tied != "0") == default_tie else ("false" if tied == "0" else "true")
    if flag != "absent":
        c["tie_word_embeddings"] = flag == "true"
    if "extra" in opts:
        t += [(opts["extra"], W(4))]
    c.update(json.loads(opts.get("config", "{}")))
    c.setdefault("torch_dtype", {"F32": "float32", "BF16": "bfloat16", "F16": "float16", "mixed": "float32"}[dtype])
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
    if shards == 1:
        st_write(os.path.join(d, "model.safetensors"), t, dtype, meta)
    else:
        half = len(t) // 2
        names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
        st_write(os.path.join(d, names[0]), t[:half], dtype, meta)
        st_write(os.path.join(d, names[1]), t[half:], dtype)
        wm = {n: names[0] for n, _ in t[:half]}
        wm.update({n: names[1] for n, _ in t[half:]})
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {}, "weight_map": wm}, f)


# ------------------------------------------------------------------ forward passes
def load(d):
    with open(os.path.join(d, "config.json")) as f:
        c = json.load(f)
    w = {}
    ix = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(ix):
        with open(ix) as f:
            for fn in sorted(set(json.load(f)["weight_map"].values())):
                w.update(st_read(os.path.join(d, fn)))
    else:
        w = st_read(os.path.join(d, "model.safetensors"))
    # a tensor safetensors dropped as a duplicate: __metadata__ {dropped: kept}
    first = os.path.join(d, "model.safetensors")
    if not os.path.exists(first):
        first = os.path.join(d, sorted(set(json.load(open(ix))["weight_map"].values()))[0])
    for k, v in st_meta(first).items():
        if k not in w and v in w:
            w[k] = w[v]
    return c, w


def st_meta(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n)).get("__metadata__", {})


def embeddings(c, w, emb_name, default_tie):
    """(input embedding, head) as transformers ties them: tie_word_embeddings (the arch's default
    when absent) makes the head the embedding matrix, stored under either name.  With the flag
    absent and no lm_head.weight, quant's convention (the Hub's) is tied too."""
    tied = c.get("tie_word_embeddings", default_tie or "lm_head.weight" not in w)
    E = w[emb_name] if emb_name in w else w["lm_head.weight"]
    return E, (E if tied else w["lm_head.weight"])


def softmax(x):
    x = x - x.max(-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(-1, keepdims=True)


def causal_attention(q, k, v):
    """q [H, T, hd], k/v [H, T, hd] -> [T, H*hd]."""
    H, T, hd = q.shape
    s = q @ k.transpose(0, 2, 1) / np.sqrt(hd)
    s = np.where(np.tril(np.ones((T, T), bool))[None], s, -np.inf)
    o = softmax(s) @ v
    return o.transpose(1, 0, 2).reshape(T, H * hd)


def gpt2_forward(c, w, ids):
    g = lambda n: w.get("transformer." + n, w.get(n))
    D, H = c["n_embd"], c["n_head"]
    eps = c.get("layer_norm_epsilon", 1e-5)
    hd = D // H
    T = len(ids)

    def ln(x, p):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + eps) * g(p + ".weight") + g(p + ".bias")

    def gelu_new(x):
        return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))

    E, head = embeddings(c, w, "transformer.wte.weight" if "transformer.wte.weight" in w else "wte.weight", True)
    x = E[ids] + g("wpe.weight")[np.arange(T)]
    for i in range(c["n_layer"]):
        p = "h.%d." % i
        a = ln(x, p + "ln_1") @ g(p + "attn.c_attn.weight") + g(p + "attn.c_attn.bias")
        q, k, v = np.split(a, 3, axis=-1)
        heads = lambda z: z.reshape(T, H, hd).transpose(1, 0, 2)
        o = causal_attention(heads(q), heads(k), heads(v))
        x = x + o @ g(p + "attn.c_proj.weight") + g(p + "attn.c_proj.bias")
        m = gelu_new(ln(x, p + "ln_2") @ g(p + "mlp.c_fc.weight") + g(p + "mlp.c_fc.bias"))
        x = x + m @ g(p + "mlp.c_proj.weight") + g(p + "mlp.c_proj.bias")
    x = ln(x, "ln_f")
    return x @ head.T


def llama_forward(c, w, ids):
    D, H = c["hidden_size"], c["num_attention_heads"]
    KV = c.get("num_key_value_heads", H)
    hd = D // H
    eps, theta = c.get("rms_norm_eps", 1e-6), c.get("rope_theta", 10000.0)
    T = len(ids)

    def rms(x, wt):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * wt

    inv_freq = 1.0 / theta ** (np.arange(0, hd, 2) / hd)
    ang = np.outer(np.arange(T), inv_freq)
    emb = np.concatenate([ang, ang], -1)
    cos, sin = np.cos(emb), np.sin(emb)

    def rotate_half(z):
        return np.concatenate([-z[..., hd // 2:], z[..., :hd // 2]], -1)

    def rope(z):  # z [h, T, hd]
        return z * cos[None] + rotate_half(z) * sin[None]

    E, head = embeddings(c, w, "model.embed_tokens.weight", False)
    x = E[ids]
    for i in range(c["num_hidden_layers"]):
        p = "model.layers.%d." % i
        h = rms(x, w[p + "input_layernorm.weight"])
        q = (h @ w[p + "self_attn.q_proj.weight"].T).reshape(T, H, hd).transpose(1, 0, 2)
        k = (h @ w[p + "self_attn.k_proj.weight"].T).reshape(T, KV, hd).transpose(1, 0, 2)
        v = (h @ w[p + "self_attn.v_proj.weight"].T).reshape(T, KV, hd).transpose(1, 0, 2)
        q, k = rope(q), rope(k)
        k, v = np.repeat(k, H // KV, axis=0), np.repeat(v, H // KV, axis=0)  # repeat_kv
        x = x + causal_attention(q, k, v) @ w[p + "self_attn.o_proj.weight"].T
        h = rms(x, w[p + "post_attention_layernorm.weight"])
        gt = h @ w[p + "mlp.gate_proj.weight"].T
        up = h @ w[p + "mlp.up_proj.weight"].T
        x = x + (gt / (1.0 + np.exp(-gt)) * up) @ w[p + "mlp.down_proj.weight"].T
    x = rms(x, w["model.norm.weight"])
    return x @ head.T


def logits(d, ids):
    c, w = load(d)
    if c["architectures"][0] == "GPT2LMHeadModel":
        return gpt2_forward(c, w, np.asarray(ids))
    return llama_forward(c, w, np.asarray(ids))


# ------------------------------------------------------------------ broken models
def bad(d, kind):
    if kind == "unknown_arch":
        make(d, "gpt2")
        c = json.load(open(os.path.join(d, "config.json")))
        c["architectures"] = ["BertForMaskedLM"]
        c["model_type"] = "bert"
        json.dump(c, open(os.path.join(d, "config.json"), "w"))
    elif kind == "dims":  # config.json says n_embd 40, the tensors are 32 wide
        make(d, "gpt2")
        c = json.load(open(os.path.join(d, "config.json")))
        c["n_embd"] = 40
        json.dump(c, open(os.path.join(d, "config.json"), "w"))
    elif kind == "truncated":
        make(d, "llama")
        p = os.path.join(d, "model.safetensors")
        data = open(p, "rb").read()
        open(p, "wb").write(data[:len(data) // 2])
    elif kind == "offsets":
        make(d, "llama")
        p = os.path.join(d, "model.safetensors")
        data = open(p, "rb").read()
        (n,) = struct.unpack("<Q", data[:8])
        hdr = json.loads(data[8:8 + n])
        dlen = len(data) - 8 - n
        t = hdr["model.norm.weight"]
        size = t["data_offsets"][1] - t["data_offsets"][0]
        t["data_offsets"] = [dlen + 64, dlen + 64 + size]
        h = json.dumps(hdr).encode()
        h += b" " * ((8 - len(h) % 8) % 8)
        open(p, "wb").write(struct.pack("<Q", len(h)) + h + data[8 + n:])
    elif kind == "missing_tensor":
        make(d, "llama")
        p = os.path.join(d, "model.safetensors")
        w = st_read(p)
        del w["model.layers.1.mlp.up_proj.weight"]
        st_write(p, [(k, v.astype(np.float32)) for k, v in w.items()], "F32")
    else:
        raise SystemExit("unknown kind " + kind)


def main(argv):
    if len(argv) >= 2 and argv[0] == "make":
        a = dict(zip(argv[2::2], argv[3::2]))
        if "--vocab" in a:  # e.g. 50257, to pair the random model with the real GPT-2 tokenizer
            GPT2_CFG["vocab_size"] = LLAMA_CFG["vocab_size"] = int(a["--vocab"])
        opts = {k[2:].replace("-", "_"): v for k, v in a.items()
                if k in ("--tie-flag", "--prefix", "--buffers", "--extra", "--config")}
        if "--gpt2-shape" in a:  # N_EMBD,N_LAYER,N_HEAD,N_POSITIONS: a larger random GPT-2 (ptq-llm's fixtures)
            e, l, h, p = map(int, a["--gpt2-shape"].split(","))
            GPT2_CFG.update(n_embd=e, n_layer=l, n_head=h, n_positions=p)
        if "--llama-shape" in a:  # DIM,LAYERS,HEADS,KV_HEADS,FFN (e.g. widths that are whole 32-blocks for GGUF)
            dm, l, h, kv, f = map(int, a["--llama-shape"].split(","))
            LLAMA_CFG.update(hidden_size=dm, num_hidden_layers=l, num_attention_heads=h, num_key_value_heads=kv,
                             intermediate_size=f)
        make(argv[1], a.get("--arch", "gpt2"), a.get("--dtype", "F32"), int(a.get("--seed", "0")),
             int(a.get("--shards", "1")), a.get("--tied"), opts)
    elif len(argv) >= 2 and argv[0] == "logits":
        a = dict(zip(argv[2::2], argv[3::2]))
        ids = [int(s) for s in a["--tokens"].split(",")]
        lg = logits(argv[1], ids)
        lg.astype("<f8").tofile(a["--out"])
    elif len(argv) == 4 and argv[0] == "l2c-encode":  # TOKENIZER.bin TEXTFILE OUT (int32 ids)
        text = open(argv[2], "rb").read().decode("utf-8")
        np.asarray(l2c_encode(argv[1], text), dtype="<i4").tofile(argv[3])
    elif len(argv) == 3 and argv[0] == "bad":
        bad(argv[1], argv[2])
    else:
        print(__doc__)
        return 2
    return 0


# ------------------------------------------------------------------ llama2.c tokenizer
def l2c_encode(tok_path, text):
    """llama2.c's run.c encode(): dummy-prefix " ", codepoints looked up (byte fallback id = byte + 3),
    then repeatedly merge the adjacent pair whose concatenation is in the vocab with the best score
    (leftmost on ties).  Quadratic, as run.c; for short texts."""
    data = open(tok_path, "rb").read()
    off = 4
    vocab, scores = [], []
    while off < len(data):
        sc, n = struct.unpack("<fi", data[off:off + 8])
        vocab.append(data[off + 8:off + 8 + n])
        scores.append(sc)
        off += 8 + n
    lookup = {v: i for i, v in reversed(list(enumerate(vocab)))}
    ids = []
    b = text.encode("utf-8")
    if b:
        ids.append(lookup[b" "])
    i = 0
    while i < len(b):
        j = i + 1
        while j < len(b) and (b[j] & 0xC0) == 0x80 and j - i < 4:
            j += 1
        cp = b[i:j]
        if cp in lookup:
            ids.append(lookup[cp])
        else:
            ids.extend(x + 3 for x in cp)
        i = j
    while True:
        best, best_id, best_i = -1e10, -1, -1
        for k in range(len(ids) - 1):
            s = vocab[ids[k]] + vocab[ids[k + 1]]
            if s in lookup and scores[lookup[s]] > best:
                best, best_id, best_i = scores[lookup[s]], lookup[s], k
        if best_i < 0:
            break
        ids[best_i:best_i + 2] = [best_id]
    return ids




if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
