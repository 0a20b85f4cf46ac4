#!/usr/bin/env python3
"""Independent numpy reference for gptq_refit_to_inputs (tests/test_gptq.c): the weights W'
minimising ||Xq W'^T - (Xf W^T + Yadd)||^2 / n + lam ||W' - W||^2 with lam = ridge * mean(diag(Xq^T Xq / n)),
solved as one stacked least-squares problem with numpy.linalg.lstsq (not the normal equations).

usage: refit_ref.py W.bin Xf.bin Xq.bin Yadd.bin|- N K n ridge out.bin"""
import sys
import numpy as np

a = sys.argv[1:]
N, K, n = int(a[4]), int(a[5]), int(a[6])
ridge = float(a[7])
W = np.fromfile(a[0], dtype=np.float32).reshape(N, K).astype(np.float64)
Xf = np.fromfile(a[1], dtype=np.float32).reshape(n, K).astype(np.float64)
Xq = np.fromfile(a[2], dtype=np.float32).reshape(n, K).astype(np.float64)
Y = Xf @ W.T
if a[3] != "-":
    Y += np.fromfile(a[3], dtype=np.float32).reshape(n, N).astype(np.float64)
lam = ridge * np.mean(np.sum(Xq * Xq, axis=0) / n)
# rows scaled by 1/sqrt(n) so the data term is the mean; the ridge rows pull toward W
A = np.vstack([Xq / np.sqrt(n), np.sqrt(lam) * np.eye(K)])
B = np.vstack([Y / np.sqrt(n), np.sqrt(lam) * W.T])
Wt, *_ = np.linalg.lstsq(A, B, rcond=None)
Wt.T.astype(np.float32).tofile(a[8])
