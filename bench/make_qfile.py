#!/usr/bin/env python3
"""make_qfile.py OUT [--shape 1.1b|small] — a quant-llm file (docs/formats.md#quant-llm) of a
given Llama shape with random 4-bit g32 codes and float16 scales, to time exporters on a
realistically sized model without quantizing one (bench only: the weights are noise).
1.1b = TinyLlama-1.1B's shape: dim 2048, FFN 5632, 22 layers, 32 heads / 4 KV heads, vocab 32000."""
import json
import struct
import sys

import numpy as np

SHAPES = {"1.1b": dict(dim=2048, hidden_dim=5632, n_layers=22, n_heads=32, n_kv_heads=4, vocab_size=32000),
          "small": dict(dim=256, hidden_dim=704, n_layers=2, n_heads=8, n_kv_heads=4, vocab_size=512)}


def main(out, shape):
    c = SHAPES[shape]
    rng = np.random.default_rng(0)
    D, F, L, V = c["dim"], c["hidden_dim"], c["n_layers"], c["vocab_size"]
    kvd = D // c["n_heads"] * c["n_kv_heads"]
    t = []
    scale = lambda n: (0.01 + 0.01 * rng.random(n)).astype(np.float16)
    t.append(("token_embd.qweight", "U8", rng.integers(1, 256, V * D, dtype=np.uint8)))
    t.append(("token_embd.scale", "F16", scale(V)))
    t.append(("output.weight", "F32", (0.02 * rng.standard_normal((V, D))).astype(np.float32)))
    t.append(("output_norm.weight", "F32", np.ones(D, np.float32)))
    for l in range(L):
        t.append(("blk.%d.attn_norm.weight" % l, "F32", np.ones(D, np.float32)))
        t.append(("blk.%d.ffn_norm.weight" % l, "F32", np.ones(D, np.float32)))
        for name, o, i in [("q", D, D), ("k", kvd, D), ("v", kvd, D), ("o", D, D), ("gate", F, D), ("up", F, D), ("down", D, F)]:
            t.append(("blk.%d.%s.qweight" % (l, name), "U8", rng.integers(0, 256, o * i // 2, dtype=np.uint8)))
            t.append(("blk.%d.%s.scale" % (l, name), "F16", scale(o * (i // 32))))
    meta = {"format": "quant-llm", "version": "1", "arch": "0", "max_seq": "2048", "norm_eps": "1e-05",
            "rope_theta": "10000", "rope_interleaved": "0", "shared_head": "0", "method": "rtn", "bits": "4",
            "group_size": "32", "symmetric": "1", "group_tail": "merged", "emb_bits": "8", "source": "random " + shape}
    meta.update({k: str(v) for k, v in c.items()})
    hdr, off = {"__metadata__": meta}, 0
    for name, dt, a in t:
        hdr[name] = {"dtype": dt, "shape": [a.size] if a.ndim == 1 else list(a.shape), "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    with open(out, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for _, _, a in t:
            f.write(a.tobytes())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[3] if len(sys.argv) > 3 and sys.argv[2] == "--shape" else "1.1b")
