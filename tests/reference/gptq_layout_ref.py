#!/usr/bin/env python3
"""gptq_layout_ref.py — an independent numpy reader of the Hugging Face GPTQ checkpoint layout,
written from the format's description (AutoGPTQ / transformers "gptq" checkpoints), not from
quant's C code:

  qweight int32 [in / (32/bits), out]: input i of output j in bits (i % k)*bits.. of
          qweight[i // k, j], k = 32 / bits, stored unsigned (u = q + 2^(bits-1))
  qzeros  int32 [groups, out / k]: zero of (group g, output j) in bits (j % k)*bits.. of
          qzeros[g, j // k], stored minus one (checkpoint_format "gptq")
  scales  float16 [groups, out];  g_idx int32 [in]: the group of each input
  W[j, i] = scales[g_idx[i], j] * (u[j, i] - (zero[g_idx[i], j] + 1))

  gptq_layout_ref.py check GPTQ_DIR QUANT_FILE
      dequantizes every linear of GPTQ_DIR and compares it, exactly (float32 equality), with the
      same linear decoded from quant's own quantized safetensors file (docs/formats.md#quant-llm:
      codes packed as code - qmin in bits-bit little-endian fields, float16 scales per group,
      a merged ragged tail); Llama q/k rows of a llama2.c model (rope_interleaved = 1) are
      expected permuted to Hugging Face's rotate-half order; rows/columns beyond quant's shapes
      (FFN padding) must dequantize to 0.  Prints one line per architecture and exits 1 on any
      difference.
  gptq_layout_ref.py permute-groups SRC_DIR DST_DIR
      the same weights with every linear's groups renumbered at random (scales / qzeros rows
      moved, g_idx rewritten, desc_act true), as act-order checkpoints number them
"""
import json
import os
import struct
import sys

import numpy as np

DT = {"F32": np.float32, "F16": np.float16, "I32": np.int32, "U8": np.uint8, "I8": np.int8}


def read_safetensors(path):
    buf = open(path, "rb").read()
    (n,) = struct.unpack("<Q", buf[:8])
    hdr = json.loads(buf[8:8 + n])
    meta = hdr.pop("__metadata__", {})
    out = {}
    for name, t in hdr.items():
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(buf[8 + n + a:8 + n + b], dtype=DT[t["dtype"]]).reshape(t["shape"])
    return out, meta


def gptq_dequant(t, base, bits, v2=False):
    k = 32 // bits
    mask = (1 << bits) - 1
    qw = t[base + ".qweight"].astype(np.uint32)            # [in/k, out]
    qz = t[base + ".qzeros"].astype(np.uint32)             # [groups, out/k]
    sc = t[base + ".scales"].astype(np.float32)            # [groups, out]
    gi = t[base + ".g_idx"].astype(np.int64)                # [in]
    shifts = (np.arange(k, dtype=np.uint32) * bits)
    u = ((qw[:, None, :] >> shifts[None, :, None]) & mask).reshape(-1, qw.shape[1])   # [in, out]
    z = ((qz[:, :, None] >> shifts[None, None, :]) & mask).reshape(qz.shape[0], -1)  # [groups, out]
    z = z.astype(np.int64) + (0 if v2 else 1)
    diff = (u.astype(np.int64) - z[gi, :]).astype(np.float32)          # [in, out]
    return (sc[gi, :] * diff).T                                         # [out, in], float32 products


def unpack_codes(packed, bits, n):
    bitsarr = np.unpackbits(packed, bitorder="little")[: n * bits].reshape(n, bits)
    u = (bitsarr.astype(np.int64) << np.arange(bits)).sum(axis=1)
    return u - (1 << (bits - 1))


def quant_dequant(t, meta, base, rows, cols):
    bits, g = int(meta["bits"]), int(meta["group_size"])
    merged = meta.get("group_tail") == "merged"
    q = unpack_codes(t[base + ".qweight"], bits, rows * cols).reshape(rows, cols)
    s = t[base + ".scale"].astype(np.float32)
    if meta["symmetric"] != "1":
        raise SystemExit("affine files are not exported to the GPTQ layout")
    if g == 0:
        unit = np.zeros(cols, dtype=np.int64)
        per = 1
    else:
        per = cols // g if (merged and cols % g and cols > g) else -(-cols // g)
        unit = np.minimum(np.arange(cols) // g, per - 1)
    s = s.reshape(rows, per)
    return s[:, unit] * q.astype(np.float32)


def check(gdir, qfile):
    cfg = json.load(open(os.path.join(gdir, "config.json")))
    qc = cfg["quantization_config"]
    assert qc["quant_method"] == "gptq" and qc["sym"] is True, qc
    t, _ = read_safetensors(os.path.join(gdir, "model.safetensors"))
    qt, meta = read_safetensors(qfile)
    bits = qc["bits"]
    D, H, KV = int(meta["dim"]), int(meta["n_heads"]), int(meta["n_kv_heads"])
    F, L = int(meta["hidden_dim"]), int(meta["n_layers"])
    hs = D // H
    kvd = hs * KV
    gpt2 = meta["arch"] == "1"

    def halves(heads):  # HF row h*hs + j*hs/2 + i  <-  llama2.c row h*hs + 2i + j
        m = np.empty(heads * hs, dtype=np.int64)
        for h in range(heads):
            for i in range(hs // 2):
                for j in range(2):
                    m[h * hs + j * (hs // 2) + i] = h * hs + 2 * i + j
        return m

    n_ok = n_bad = 0
    act_order = 0
    for l in range(L):
        if gpt2:
            groups = [("transformer.h.%d.attn.c_attn" % l, [("q", D, D), ("k", kvd, D), ("v", kvd, D)]),
                      ("transformer.h.%d.attn.c_proj" % l, [("o", D, D)]),
                      ("transformer.h.%d.mlp.c_fc" % l, [("up", F, D)]),
                      ("transformer.h.%d.mlp.c_proj" % l, [("down", D, F)])]
        else:
            p = "model.layers.%d." % l
            groups = [(p + "self_attn.q_proj", [("q", D, D)]), (p + "self_attn.k_proj", [("k", kvd, D)]),
                      (p + "self_attn.v_proj", [("v", kvd, D)]), (p + "self_attn.o_proj", [("o", D, D)]),
                      (p + "mlp.gate_proj", [("gate", F, D)]), (p + "mlp.up_proj", [("up", F, D)]),
                      (p + "mlp.down_proj", [("down", D, F)])]
        for hf, parts in groups:
            w = gptq_dequant(t, hf, bits, qc.get("checkpoint_format") == "gptq_v2")
            gi = t[hf + ".g_idx"]
            if qc["group_size"] > 0 and not np.array_equal(gi, np.arange(gi.size) // qc["group_size"]):
                act_order += 1
            want = []
            for name, rows, cols in parts:
                x = quant_dequant(qt, meta, "blk.%d.%s" % (l, name), rows, cols)
                if not gpt2 and meta["rope_interleaved"] == "1" and name in ("q", "k"):
                    x = x[halves(H if name == "q" else KV)]
                want.append(x)
            want = np.concatenate(want, axis=0)
            r, c = want.shape
            ok = (np.array_equal(w[:r, :c], want) and not np.any(w[r:, :]) and not np.any(w[:, c:]))
            if ok:
                n_ok += 1
            else:
                n_bad += 1
                d = np.abs(w[:r, :c] - want)
                print("DIFFER %s: max |diff| %g at %s" % (hf, d.max(), np.unravel_index(d.argmax(), d.shape)))
    print("%s: %d linears dequantize exactly to quant's weights, %d differ (%d-bit, group %d, %d with a non-trivial g_idx)"
          % ("gpt2" if gpt2 else "llama", n_ok, n_bad, bits, qc["group_size"], act_order))
    return 0 if n_bad == 0 and n_ok > 0 else 1


def write_safetensors(path, tensors, meta):
    names = {np.dtype(np.float32): "F32", np.dtype(np.float16): "F16", np.dtype(np.int32): "I32"}
    hdr, off, blobs = {"__metadata__": meta}, 0, []
    for name, a in tensors.items():
        b = np.ascontiguousarray(a).tobytes()
        hdr[name] = {"dtype": names[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def permute_groups(src, dst, seed):
    """The same weights with the groups renumbered by a random permutation (scales and qzeros
    rows moved, g_idx rewritten, desc_act true): what an act-order checkpoint's g_idx looks like
    to a reader, which must dequantize through g_idx to get the weights back."""
    import shutil
    rng = np.random.default_rng(seed)
    if os.path.exists(dst):
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    t, meta = read_safetensors(os.path.join(src, "model.safetensors"))
    out = dict(t)
    for name in t:
        if not name.endswith(".g_idx"):
            continue
        base = name[:-6]
        G = t[base + ".scales"].shape[0]
        perm = rng.permutation(G)               # old group g -> new index perm[g]
        sc, qz = np.empty_like(t[base + ".scales"]), np.empty_like(t[base + ".qzeros"])
        sc[perm] = t[base + ".scales"]
        qz[perm] = t[base + ".qzeros"]
        out[base + ".scales"], out[base + ".qzeros"] = sc, qz
        out[name] = perm[t[name]].astype(np.int32)
    write_safetensors(os.path.join(dst, "model.safetensors"), out, meta)
    cfg = json.load(open(os.path.join(src, "config.json")))
    cfg["quantization_config"]["desc_act"] = True
    json.dump(cfg, open(os.path.join(dst, "config.json"), "w"), indent=1)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "check":
        sys.exit(check(sys.argv[2], sys.argv[3]))
    if len(sys.argv) == 4 and sys.argv[1] == "permute-groups":
        sys.exit(permute_groups(sys.argv[2], sys.argv[3], 1))
    print(__doc__)
    sys.exit(2)
