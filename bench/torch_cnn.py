#!/usr/bin/env python3
"""bench/torch_cnn.py — PyTorch reference for the CNN recipe of `quant ptq-nn --arch cnn`:
conv 1->16 3x3, ReLU, max-pool 2, conv 16->32 3x3, ReLU, max-pool 2, linear 800->10; inputs
normalized by the training set's pixel mean/std, Adam 1e-3 with cosine decay to 0 over all
steps (CosineAnnealingLR stepped every batch), batch 128, a fresh shuffle every epoch, 5 epochs,
seed 0; Fashion-MNIST from /usr/share/datasets/fashion-mnist (gzip + numpy).
Prints seconds per epoch and test accuracy (use /usr/bin/python3 with Debian's python3-torch).
    /usr/bin/python3 bench/torch_cnn.py [--threads N] [--epochs 5]"""
import gzip, sys, time
import numpy as np
import torch

args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
threads, epochs = int(args.get("--threads", "2")), int(args.get("--epochs", "5"))
torch.set_num_threads(threads)
torch.manual_seed(0)
D = "/usr/share/datasets/fashion-mnist/"
def idx(name, off):
    return np.frombuffer(gzip.open(D + name).read(), dtype=np.uint8, offset=off)
xtr = idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28) / 255.0
xte = idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28) / 255.0
mean, std = xtr.mean(), xtr.std()          # transforms.Normalize((mean,), (std,)) on the whole set
xtr = torch.tensor((xtr - mean) / std, dtype=torch.float32)
xte = torch.tensor((xte - mean) / std, dtype=torch.float32)
ytr = torch.tensor(idx("train-labels-idx1-ubyte.gz", 8).astype(np.int64))
yte = torch.tensor(idx("t10k-labels-idx1-ubyte.gz", 8).astype(np.int64))
net = torch.nn.Sequential(torch.nn.Conv2d(1, 16, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                          torch.nn.Conv2d(16, 32, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                          torch.nn.Flatten(), torch.nn.Linear(800, 10))
batch = 128
steps = epochs * ((len(xtr) + batch - 1) // batch)
opt = torch.optim.Adam(net.parameters(), lr=1e-3)
sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
times = []
for ep in range(epochs):
    t0 = time.time()
    perm = torch.randperm(len(xtr))
    for i in range(0, len(xtr), batch):
        b = perm[i:i + batch]
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(xtr[b]), ytr[b])
        loss.backward()
        opt.step()
        sched.step()
    times.append(time.time() - t0)
    print(f"epoch {ep + 1}/{epochs}: loss {loss.item():.4f}, {times[-1]:.2f} s", flush=True)
with torch.no_grad():
    acc = (net(xte).argmax(1) == yte).float().mean().item()
print(f"PyTorch {torch.__version__}, {threads} thread(s): CNN test accuracy {100 * acc:.2f}% "
      f"(pixel mean {mean:.4f}, std {std:.4f}), {sum(times) / len(times):.2f} s/epoch")
