#!/usr/bin/env python3
"""Independent numpy implementation of GPTQ (Frantar et al. 2022, Algorithm 1), written
from the paper for tests/test_gptq.c.  Reads W [N, K] and X [n, K] (float32, raw), writes
the dequantized weights [N, K] (float32) and the codes [N, K] (int8).

usage: gptq_ref.py W.bin X.bin N K n bits group(0=per channel) act_order(0/1) sym(0 affine/1 symmetric/2 full symmetric) out_w.bin out_q.bin [merge]
merge=1: a row's ragged remainder belongs to the last full group (70 columns, g=32: groups 32 + 38).
Grid: codes in [-2^(b-1), 2^(b-1)-1] over [min(lo,0), max(hi,0)]; affine: s = (hi-lo)/(2^b-1),
zero = round(qmin - lo/s); symmetric: s = max(-lo, hi)/qmax, zero = 0;
full symmetric: s = e/qmin with e the larger-magnitude of lo, hi (s may be < 0), zero = 0; ties round to even.  Groups are fitted from the error-updated
weights when their first column comes up; with act_order, from the original weights."""
import sys
import numpy as np

SYM = 0

def fit(vals, bits):
    qmin, qmax = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    lo, hi = min(vals.min(), 0.0), max(vals.max(), 0.0)
    if SYM == 2:   # "full" symmetric: the larger-magnitude extreme lands exactly on qmin
        e = np.float32(lo) if -lo > hi else np.float32(hi)
        s = np.float32(e / np.float32(qmin))
        return (s if s != 0 else np.float32(1.0)), 0
    if SYM:
        s = np.float32(max(-np.float32(lo), np.float32(hi)) / np.float32(qmax))
        return (s if s != 0 else np.float32(1.0)), 0
    s = np.float32((np.float32(hi) - np.float32(lo)) / np.float32(qmax - qmin))
    if s == 0: s = np.float32(1.0)
    z = int(np.clip(np.rint(np.float32(qmin) - np.float32(lo) / s), qmin, qmax))
    return s, z

def quant(w, s, z, bits):
    qmin, qmax = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    v = np.clip(np.float32(w) / s, qmin - z, qmax - z)
    q = np.rint(v).astype(np.int64) + z
    return q, np.float32(s) * np.float32(q - z)

def main():
    a = sys.argv[1:]
    global SYM
    N, K, n, bits, group, act_order, SYM = map(int, a[2:9])
    W = np.fromfile(a[0], dtype=np.float32).reshape(N, K).astype(np.float64)
    X = np.fromfile(a[1], dtype=np.float32).reshape(n, K).astype(np.float64)
    H = 2.0 / n * X.T @ X
    dead = np.diag(H) == 0           # inputs that are always zero: weight 0, H_ii = 1
    W[:, dead] = 0.0
    H[dead, dead] = 1.0
    g = group if group > 0 else K
    merge = len(a) > 11 and a[11] == "1" and group > 0 and K % g != 0 and K // g >= 2
    G = K // g if merge else (K + g - 1) // g
    unit = lambda c: min(c // g, G - 1)                    # the scale of column c
    cols = lambda j: (j * g, K if j == G - 1 else min(K, j * g + g))
    perm = np.arange(K)
    if act_order:
        perm = np.argsort(-np.diag(H), kind="stable")
    # static parameters (per channel, or every group when act_order)
    S = np.zeros((N, G), dtype=np.float32)
    Z = np.zeros((N, G), dtype=np.int64)
    if act_order or group == 0:
        for r in range(N):
            for j in range(G):
                c0, c1 = cols(j)
                S[r, j], Z[r, j] = fit(W[r, c0:c1].astype(np.float32), bits)
    Wp = W[:, perm].copy()
    Hp = H[np.ix_(perm, perm)]
    Hp += 0.01 * np.mean(np.diag(Hp)) * np.eye(K)
    Hinv = np.linalg.inv(Hp)
    U = np.linalg.cholesky(Hinv).T          # upper, Hinv = U^T U
    Q = np.zeros((N, K), dtype=np.int64)
    D = np.zeros((N, K), dtype=np.float64)
    for i in range(K):                      # column by column (no lazy batching: same math)
        c = perm[i]
        if not act_order and group > 0 and c % g == 0 and c // g < G:
            c0, c1 = cols(c // g)
            for r in range(N):
                S[r, c // g], Z[r, c // g] = fit(Wp[r, i:i + c1 - c0].astype(np.float32), bits)
        w = Wp[:, i]
        for r in range(N):
            Q[r, c], D[r, c] = quant(w[r], S[r, unit(c)], Z[r, unit(c)], bits)
        err = (w - D[:, c]) / U[i, i]
        Wp[:, i:] -= np.outer(err, U[i, i:])
    D.astype(np.float32).tofile(a[9])
    Q.astype(np.int8).tofile(a[10])

main()
