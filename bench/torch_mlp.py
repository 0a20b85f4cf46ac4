#!/usr/bin/python3
"""torch_mlp.py — the PyTorch side of the MLP benchmark (issue 2, part 7).

Trains the issue's recipe (784-256-128-10 ReLU, Adam 1e-3, batch 128, 5 epochs, seed 0) on
Fashion-MNIST read straight from /usr/share/datasets/fashion-mnist/*.gz (gzip + numpy, no
torchvision), then static int8 PTQ with torch.ao.quantization (QuantStub/DeQuantStub,
prepare, calibrate on 1000 training images, convert), and measures inference:
  latency at batch 1 (median of many single-image forwards) and throughput at batch 256
  (images/s from the median time of a 256-image forward), fp32 and int8.

The quantized engine is fbgemm when this torch build has it; Debian's python3-torch 1.13
ships only qnnpack and onednn, so then onednn (oneDNN's x86 int8, the fbgemm successor)
is used.  The engine actually used is printed and written to the JSON (key "engine");
every other engine the build has is measured too ("int8_engines"), and best_lat_b1_int8_ms /
best_thr_b256_int8_img_s are the strongest PyTorch int8 figures over all of them.

  /usr/bin/python3 bench/torch_mlp.py --threads 2 --json build/torch_mlp.json
"""
import argparse
import gzip
import json
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn


def read_idx(path):
    """IDX file (gzip or raw) -> numpy array; checks magic and size."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path}: not an IDX ubyte file")
    nd = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    off = 4 + 4 * nd
    n = int(np.prod(dims))
    if len(data) - off != n:
        raise ValueError(f"{path}: expected {n} bytes of data after header, found {len(data) - off}")
    return np.frombuffer(data, dtype=np.uint8, offset=off).reshape(dims)


def load(data_dir, split):
    pre = "train" if split == "train" else "t10k"
    x = read_idx(os.path.join(data_dir, f"{pre}-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(data_dir, f"{pre}-labels-idx1-ubyte.gz"))
    x = torch.from_numpy(x.reshape(len(x), -1).astype(np.float32) / 255.0)
    y = torch.from_numpy(y.astype(np.int64))
    return x, y


class MLP(nn.Module):
    def __init__(self, dims=(784, 256, 128, 10)):
        super().__init__()
        self.quant = torch.ao.quantization.QuantStub()
        self.fc1 = nn.Linear(dims[0], dims[1])
        self.relu1 = nn.ReLU()
        self.fc2 = nn.Linear(dims[1], dims[2])
        self.relu2 = nn.ReLU()
        self.fc3 = nn.Linear(dims[2], dims[3])
        self.dequant = torch.ao.quantization.DeQuantStub()

    def forward(self, x):
        x = self.quant(x)
        x = self.relu1(self.fc1(x))
        x = self.relu2(self.fc2(x))
        return self.dequant(self.fc3(x))


@torch.no_grad()
def accuracy(model, x, y):
    correct = 0
    for i in range(0, len(x), 1000):
        correct += (model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum().item()
    return correct / len(x)


@torch.no_grad()
def median_time(fn, reps, warmup):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def pick_engine(want):
    have = torch.backends.quantized.supported_engines
    if want:
        if want not in have:
            sys.exit(f"torch_mlp.py: engine {want} not in this torch build (have {have})")
        return want
    for e in ("fbgemm", "x86", "onednn", "qnnpack"):
        if e in have:
            return e
    sys.exit(f"torch_mlp.py: no quantized engine in this torch build (have {have})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--engine", default=None, help="quantized engine (default: fbgemm, else onednn)")
    ap.add_argument("--reps-b1", type=int, default=2000)
    ap.add_argument("--reps-b256", type=int, default=200)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    xtr, ytr = load(a.data, "train")
    xte, yte = load(a.data, "test")
    log = lambda s: print(s, file=sys.stderr, flush=True)

    # ---- fp32 training: Adam 1e-3, batch 128, shuffled each epoch (seeded)
    model = MLP()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    lossf = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(a.seed)
    epoch_s = []
    for ep in range(a.epochs):
        model.train()
        t0 = time.perf_counter()
        perm = torch.randperm(len(xtr), generator=g)
        tot = 0.0
        for i in range(0, len(xtr), 128):
            idx = perm[i:i + 128]
            opt.zero_grad(set_to_none=True)
            loss = lossf(model(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
            tot += loss.item() * len(idx)
        epoch_s.append(time.perf_counter() - t0)
        log(f"epoch {ep + 1}/{a.epochs}: loss {tot / len(xtr):.4f}, {epoch_s[-1]:.2f} s")
    model.eval()
    acc_fp32 = accuracy(model, xte, yte)

    # ---- static int8 PTQ, on the chosen engine and (for the record) every other one
    def ptq(engine):
        torch.backends.quantized.engine = engine
        qm = MLP()
        qm.load_state_dict(model.state_dict())
        qm.eval()
        qm.qconfig = torch.ao.quantization.get_default_qconfig(engine)
        torch.ao.quantization.fuse_modules(qm, [["fc1", "relu1"], ["fc2", "relu2"]], inplace=True)
        torch.ao.quantization.prepare(qm, inplace=True)
        with torch.no_grad():
            qm(xtr[:1000])
        torch.ao.quantization.convert(qm, inplace=True)
        return qm

    # ---- inference timing (model(x) call from Python, as a user would run it)
    x1 = xte[:1].clone()
    x256 = xte[:256].clone()

    def timings(m):
        b1 = median_time(lambda: m(x1), a.reps_b1, 200)
        b256 = median_time(lambda: m(x256), a.reps_b256, 20)
        return b1 * 1e3, b256 * 1e3, 256 / b256

    engine = pick_engine(a.engine)
    res = {}
    b1, b256, thr = timings(model)
    res.update(lat_b1_fp32_ms=b1, lat_b256_fp32_ms=b256, thr_b256_fp32_img_s=thr)
    engines = {}
    others = [e for e in torch.backends.quantized.supported_engines if e not in ("none", engine)]
    for e in [engine] + ([] if a.engine else others):
        qm = ptq(e)
        acc_e = accuracy(qm, xte, yte)
        b1, b256, thr = timings(qm)
        engines[e] = {"acc_int8": acc_e, "lat_b1_int8_ms": b1, "lat_b256_int8_ms": b256, "thr_b256_int8_img_s": thr}
        log(f"int8 engine {e}: acc {100 * acc_e:.2f}%, b1 {b1:.4f} ms, b256 {thr:.0f} img/s")
    acc_int8 = engines[engine]["acc_int8"]
    res.update({k: v for k, v in engines[engine].items() if k != "acc_int8"})
    # the strongest PyTorch int8 figures over all engines, for an honest comparison
    res["best_lat_b1_int8_ms"] = min(v["lat_b1_int8_ms"] for v in engines.values())
    res["best_thr_b256_int8_img_s"] = max(v["thr_b256_int8_img_s"] for v in engines.values())

    out = {
        "framework": "pytorch",
        "torch_version": torch.__version__,
        "engine": engine,
        "threads": a.threads,
        "epochs": a.epochs,
        "seed": a.seed,
        "acc_fp32": acc_fp32,
        "acc_int8": acc_int8,
        "train_s_per_epoch": statistics.mean(epoch_s),
        "train_s_total": sum(epoch_s),
        **res,
        "int8_engines": engines,
    }
    print(f"PyTorch {torch.__version__}, {a.threads} thread(s); int8 = static PTQ on engine {engine}")
    print(f"{'':16s} {'acc %':>8s} {'b1 ms':>9s} {'b256 img/s':>12s}")
    print(f"{'fp32':16s} {100 * acc_fp32:8.2f} {res['lat_b1_fp32_ms']:9.4f} {res['thr_b256_fp32_img_s']:12.0f}")
    for e, v in engines.items():
        print(f"{'int8 ' + e:16s} {100 * v['acc_int8']:8.2f} {v['lat_b1_int8_ms']:9.4f} {v['thr_b256_int8_img_s']:12.0f}")
    print(f"training: {out['train_s_per_epoch']:.2f} s/epoch ({a.epochs} epochs)")
    if a.json:
        tmp = a.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(out, f, indent=2)
            f.write("\n")
        os.replace(tmp, a.json)


if __name__ == "__main__":
    main()
