"""Baselines for the core adaptation benchmark, on adapt_core's data.

    python3 adapt_core.py DIR

Reads what adapt_core wrote to DIR and times, per member, on one thread:
  * PyTorch eager: a functional MAML inner loop in the learn2learn style
    (parameters as tensors, torch.autograd.grad per step, full forward
    through the concatenated [e ; v] input);
  * numpy: the same math with hand-written gradients and the item part of
    the first global layer computed once per row, as the C core does.
Checks that both give the C embeddings (max abs difference), and prints
"torch_us_per_member X" and "numpy_us_per_member X".
"""
import os
import sys
import time

import numpy as np
import torch

torch.set_num_threads(1)
torch.set_grad_enabled(True)

d = sys.argv[1]
shape = dict(line.split() for line in open(os.path.join(d, "shape.txt")))
M = int(shape["members"])
R = int(shape["rows"])
MD = int(shape["member_dim"])
ID = int(shape["item_dim"])
E = int(shape["embedding_dim"])
MH = int(shape["meta_hidden"])
GH = int(shape["global_hidden"])
K = int(shape["steps"])
LR = float(shape["lr"])

params = np.fromfile(os.path.join(d, "params.f32"), dtype=np.float32)
member = np.fromfile(os.path.join(d, "member.f32"), dtype=np.float32).reshape(M, MD)
items = np.fromfile(os.path.join(d, "items.f32"), dtype=np.float32).reshape(M, R, ID)
labels = np.fromfile(os.path.join(d, "labels.f32"), dtype=np.float32).reshape(M, R)
emb_c = np.fromfile(os.path.join(d, "emb.f32"), dtype=np.float32).reshape(M, E)

# the flat layout: meta block (W[out][in], b[out] per layer), then the global block
off = 0


def take(*shape):
    global off
    n = int(np.prod(shape))
    a = params[off:off + n].reshape(shape)
    off += n
    return a


mW0, mb0 = take(MH, MD), take(MH)
mW1, mb1 = take(E, MH), take(E)
gW0, gb0 = take(GH, E + ID), take(GH)
gW1, gb1 = take(1, GH), take(1)

# ------------------------------------------------------------ PyTorch eager
tm = [torch.tensor(a) for a in (mW0, mb0, mW1, mb1)]
tg = [torch.tensor(a) for a in (gW0, gb0, gW1, gb1)]
t_member = torch.tensor(member)
t_items = torch.tensor(items)
t_labels = torch.tensor(labels)
F = torch.nn.functional


def torch_adapt(x, v, y):
    fast = [p.clone().requires_grad_(True) for p in tm]
    for _ in range(K):
        h = F.relu(F.linear(x, fast[0], fast[1]))
        e = F.linear(h, fast[2], fast[3])
        z = F.linear(F.relu(F.linear(torch.cat([e.expand(R, E), v], 1), tg[0], tg[1])), tg[2], tg[3])
        loss = F.binary_cross_entropy_with_logits(z.squeeze(1), y)
        grads = torch.autograd.grad(loss, fast)
        fast = [p - LR * g for p, g in zip(fast, grads)]
    with torch.no_grad():
        return F.linear(F.relu(F.linear(x, fast[0], fast[1])), fast[2], fast[3])


def bench(fn, n, reps=3):
    best = 1e30
    out = None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = [fn(m) for m in range(n)]
        best = min(best, (time.perf_counter() - t0) / n * 1e6)
    return best, out


n_torch = min(M, 1000)
torch_us, torch_emb = bench(lambda m: torch_adapt(t_member[m], t_items[m], t_labels[m]), n_torch)
torch_emb = np.stack([e.numpy() for e in torch_emb])

# ------------------------------------------------------------ numpy
gW0e, gW0v = gW0[:, :E], gW0[:, E:]
w1 = gW1[0]


def numpy_adapt(x, v, y):
    W0, b0, W1, b1 = mW0.copy(), mb0.copy(), mW1.copy(), mb1.copy()
    pre = v @ gW0v.T + gb0                      # item part, once per row
    for _ in range(K):
        a0 = W0 @ x + b0
        h = np.maximum(a0, 0)
        e = W1 @ h + b1
        z0 = pre + gW0e @ e                     # member part, one vector
        h0 = np.maximum(z0, 0)
        z = h0 @ w1 + gb1[0]
        dz = (1 / (1 + np.exp(-z)) - y) / R
        dh0 = np.outer(dz, w1) * (z0 > 0)
        de = gW0e.T @ dh0.sum(0)
        dh = (W1.T @ de) * (a0 > 0)
        W1 -= LR * np.outer(de, h)
        b1 -= LR * de
        W0 -= LR * np.outer(dh, x)
        b0 -= LR * dh
    return W1 @ np.maximum(W0 @ x + b0, 0) + b1


n_numpy = min(M, 2000)
numpy_us, numpy_emb = bench(lambda m: numpy_adapt(member[m], items[m], labels[m]), n_numpy)
numpy_emb = np.stack(numpy_emb)

# agreement, against the same math in float64 (float32 rounding is amplified where a ReLU flips)
n_ref = min(M, 500)
f64 = [a.astype(np.float64) for a in (mW0, mb0, mW1, mb1, gW0e, gW0v, gb0, w1, gb1)]


def reference(x, v, y):
    global mW0, mb0, mW1, mb1, gW0e, gW0v, gb0, w1, gb1
    saved = (mW0, mb0, mW1, mb1, gW0e, gW0v, gb0, w1, gb1)
    mW0, mb0, mW1, mb1, gW0e, gW0v, gb0, w1, gb1 = f64
    try:
        return numpy_adapt(x.astype(np.float64), v.astype(np.float64), y.astype(np.float64))
    finally:
        mW0, mb0, mW1, mb1, gW0e, gW0v, gb0, w1, gb1 = saved


ref = np.stack([reference(member[m], items[m], labels[m]) for m in range(n_ref)])
for name, emb in (("c", emb_c), ("torch", torch_emb), ("numpy", numpy_emb)):
    diff = np.abs(emb[:n_ref] - ref).max(axis=1)
    print("%s_vs_float64: median %.2g, max %.2g (max abs difference per member)"
          % (name, np.median(diff), diff.max()))
print("torch_us_per_member %.3f" % torch_us)
print("numpy_us_per_member %.3f" % numpy_us)
