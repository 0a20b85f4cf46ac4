#!/usr/bin/env python3
"""ggml_dequant_check.py K.gguf F32.gguf — the K-type tensors (Q2_K .. Q6_K) of a file that
llama.cpp's quantizer wrote, dequantized by ggml itself (dequantize_row_q*_K in the libggml-base
that node-llama-cpp 3.21.1 ships, tests/npm), against the same tensors in the F32 GGUF that
`quant export` wrote from that file (quant's own dequantization, src/quant/qblock_k.c).
Prints, per type, the tensors compared and the largest difference relative to the tensor's
largest weight; fails above 1e-6 (the two may round d sc q - dmin m differently by an ulp) or
when a K tensor is missing.  Used by tests/integration/gguf.sh."""
import ctypes
import glob
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
from gguf_tensors_equal import tensors  # noqa: E402

KTYPES = {10: "q2_K", 11: "q3_K", 12: "q4_K", 13: "q5_K", 14: "q6_K"}


def load(path):
    f, infos = tensors(path)
    out = {}
    for name, typ, ne, off, nbytes in infos:
        f.seek(off)
        out[name] = (typ, ne, f.read(nbytes))
    return out


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    here = os.path.dirname(os.path.abspath(__file__))
    libdir = os.path.join(here, "..", "npm", "node_modules", "@node-llama-cpp", "linux-x64", "bins", "linux-x64")
    lib = ctypes.CDLL(glob.glob(os.path.join(libdir, "libggml-base.so"))[0])
    kq, f32 = load(argv[0]), load(argv[1])
    worst, count, bad = {}, {}, 0
    for name, (typ, ne, raw) in sorted(kq.items()):
        if typ not in KTYPES:
            continue
        n = int(np.prod(ne))
        fn = getattr(lib, "dequantize_row_" + KTYPES[typ])
        fn.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int64]
        ref = np.empty(n, dtype=np.float32)
        fn(raw, ref.ctypes.data, n)
        if name not in f32 or f32[name][0] != 0:
            print("%s: not an F32 tensor in %s" % (name, argv[1]))
            bad += 1
            continue
        got = np.frombuffer(f32[name][2], dtype=np.float32)
        rel = float(np.max(np.abs(got.astype(np.float64) - ref)) / max(float(np.max(np.abs(ref))), 1e-30))
        t = KTYPES[typ].upper()
        worst[t] = max(worst.get(t, 0.0), rel)
        count[t] = count.get(t, 0) + 1
        if rel > 1e-6:
            print("%s (%s): differs from ggml's dequantization by %.3g of its largest weight" % (name, t, rel))
            bad += 1
    print("; ".join("%s: %d tensors, max diff %.2g" % (t, count[t], worst[t]) for t in sorted(count)) or "no K tensors")
    return 1 if bad or not count else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
