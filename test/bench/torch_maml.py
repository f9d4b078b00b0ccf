#!/usr/bin/python3
"""LiMAML in PyTorch, against limaml in PostgreSQL: agreement and speed.

Run by test/bench/torch_agreement.sh against a throwaway cluster (libpq's
PGHOST/PGPORT/PGUSER/PGDATABASE).  Not part of CI.

The model is the one of README "The model": a meta block (MLP over member
features, ReLU between hidden layers, linear last layer; a featureless meta
block is the learned vector) gives e; the global block (MLP over [e ; v])
gives the logit or value.  Tasks are limaml's: a member's rows ordered by ts,
the newest min(query_size, max(1, n - 1)) rows the query set, up to
support_size rows before them the support set.  The inner loop is K steps of
SGD on the meta block with the mean support loss (none for an empty support
set); first order (FOMAML) takes the query gradient at phi_K, second order
differentiates through the inner loop (create_graph=True), for both blocks.
The outer step divides the summed task gradients by the batch's task count
and applies torch.optim.Adam (PyTorch defaults).

Everything is written functionally over a batch dimension B of tasks: every
task carries its own copy of the meta block ([B, out, in] weights), support
and query rows are padded to the batch's longest and masked.  The same code
runs one task at a time (B = 1, "loop": the usual per-task MAML loop) or a
whole meta-batch at once ("batched").

  torch_maml.py agree MODEL [MODEL ...]   one and three Adam steps over all
      members (validation_fraction 0, meta_batch above the member count),
      order 1 and 2, limaml_train on clones of MODEL's version 0 against
      PyTorch runs from the same version 0; exits 1 on disagreement (see the
      comment at "agreement" for the criterion)
  torch_maml.py speed MODEL               per-epoch time, limaml against
      PyTorch, order 1 and 2, on MODEL's source
"""
import argparse
import json
import math
import sys
import time

import psycopg2
import torch
import torch.nn.functional as F

torch.set_num_threads(1)
try:
    torch.set_num_interop_threads(1)
except RuntimeError:
    pass

# Agreement tolerances (float32 on both sides; see "agreement" below)
PARAM_ATOL = 1e-4          # max |p_limaml - p_torch| over all parameters, absolute ...
STEP_FRACTION = 0.1        # ... and at most this fraction of outer_lr (Adam's step size)
LOSS_RTOL = 1e-4           # |train_loss_limaml - loss_torch| / loss_torch, every epoch


# --------------------------------------------------------------- database

def connect():
    conn = psycopg2.connect("")
    conn.autocommit = True
    return conn


def query(conn, sql, args=None):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall() if cur.description else None


def export(conn, model, version=None):
    doc = query(conn, "SELECT limaml_model_export(%s, %s)", (model, version))[0][0]
    return doc if isinstance(doc, dict) else json.loads(doc)


def model_source(conn, model):
    return query(conn, "SELECT source::text FROM limaml_model WHERE name = %s", (model,))[0][0]


def check_supported(doc):
    cfg = doc["config"]
    if cfg.get("meta_sgd") or "inner_rates" in doc:
        sys.exit("torch_maml: this benchmark does not model Meta-SGD")
    known = {"member_dim", "item_dim", "embedding_dim", "meta_hidden", "global_hidden", "loss",
             "inner_steps", "inner_lr", "adapt_steps", "adapt_lr", "support_size",
             "query_size", "seed", "meta_sgd"}
    extra = sorted(k for k, v in cfg.items() if k not in known and v not in (None, False, 0))
    if extra:
        sys.exit("torch_maml: this benchmark does not model these options: %s" % ", ".join(extra))
    if cfg["loss"] not in ("bce", "mse"):
        sys.exit("torch_maml: unknown loss %r" % cfg["loss"])


def doc_params(doc, dtype=torch.float32):
    """[(W, b)] per layer of the meta block and of the global block."""
    def block(layers):
        out = []
        for layer in layers:
            # float32 first: the JSON's 9 digits name float32 values exactly
            b = torch.tensor(layer["bias"], dtype=torch.float32).to(dtype)
            w = torch.tensor(layer["weight"], dtype=torch.float32).reshape(
                len(layer["bias"]), -1).to(dtype)
            out.append((w, b))
        return out
    return block(doc["meta"]), block(doc["global"])


def flat(meta, glob):
    """All parameters in limaml's layout: meta block first, per layer W [out][in] then b."""
    return torch.cat([t.detach().reshape(-1).to(torch.float64)
                      for layer in meta + glob for t in layer])


def layer_slices(meta, glob):
    out, off = [], 0
    for name, block in (("meta", meta), ("global", glob)):
        for i, (w, b) in enumerate(block):
            out.append(("%s[%d].weight" % (name, i), off, off + w.numel()))
            off += w.numel()
            out.append(("%s[%d].bias" % (name, i), off, off + b.numel()))
            off += b.numel()
    return out


# ------------------------------------------------------------------- tasks

class Tasks:
    """Every member's task as padded tensors (built once; not timed)."""

    def __init__(self, conn, source, cfg, dtype=torch.float32):
        t0 = time.perf_counter()
        # limaml's row order (README, "Row order"), so ties in ts split alike
        rows = query(conn, "SELECT member_id, member_features, item_features, label FROM %s "
                           "ORDER BY member_id, ts, label, item_features, "
                           "member_features NULLS FIRST" % source)
        S, Q = cfg["support_size"], cfg["query_size"]
        m, p = cfg["member_dim"], cfg["item_dim"]
        members, start = [], 0
        for i in range(1, len(rows) + 1):
            if i == len(rows) or rows[i][0] != rows[start][0]:
                members.append(rows[start:i])
                start = i
        n = len(members)
        self.n = n
        self.member_ids = [mr[0][0] for mr in members]
        self.member = torch.zeros(n, m, dtype=dtype)
        self.s_item = torch.zeros(n, S, p, dtype=dtype)
        self.s_label = torch.zeros(n, S, dtype=dtype)
        self.s_mask = torch.zeros(n, S, dtype=dtype)
        self.q_item = torch.zeros(n, Q, p, dtype=dtype)
        self.q_label = torch.zeros(n, Q, dtype=dtype)
        self.q_mask = torch.zeros(n, Q, dtype=dtype)
        self.s_n = torch.zeros(n, dtype=torch.long)
        self.q_n = torch.zeros(n, dtype=torch.long)
        for j, mr in enumerate(members):
            if m > 0:
                # the member's features from its newest row
                self.member[j] = torch.tensor(mr[-1][1], dtype=dtype)
            nq = min(Q, max(1, len(mr) - 1))
            query_rows = mr[len(mr) - nq:]
            support_rows = mr[max(0, len(mr) - nq - S):len(mr) - nq]
            for k, r in enumerate(support_rows):
                self.s_item[j, k] = torch.tensor(r[2], dtype=dtype)
                self.s_label[j, k] = r[3]
                self.s_mask[j, k] = 1
            for k, r in enumerate(query_rows):
                self.q_item[j, k] = torch.tensor(r[2], dtype=dtype)
                self.q_label[j, k] = r[3]
                self.q_mask[j, k] = 1
            self.s_n[j] = len(support_rows)
            self.q_n[j] = len(query_rows)
        self.rows = len(rows)
        self.load_seconds = time.perf_counter() - t0
        # one task at a time: its own rows, unpadded
        self.single = [self.batch(torch.tensor([j])) for j in range(n)]

    def batch(self, idx):
        """Tasks idx, padded to the batch's longest support and query sets."""
        s = max(int(self.s_n[idx].max()), 1)
        q = int(self.q_n[idx].max())
        return dict(member=self.member[idx], s_item=self.s_item[idx, :s],
                    s_label=self.s_label[idx, :s], s_mask=self.s_mask[idx, :s],
                    s_n=self.s_n[idx].clamp(min=1).to(self.member.dtype),
                    has_support=bool(self.s_n[idx].max() > 0),
                    q_item=self.q_item[idx, :q], q_label=self.q_label[idx, :q],
                    q_mask=self.q_mask[idx, :q], q_n=self.q_n[idx].to(self.member.dtype))

    def to(self, dtype):
        """The same tasks in another float type (for the float64 reference)."""
        other = object.__new__(Tasks)
        other.__dict__.update(self.__dict__)
        for k in ("member", "s_item", "s_label", "s_mask", "q_item", "q_label", "q_mask"):
            setattr(other, k, getattr(self, k).to(dtype))
        other.single = None
        return other


# ------------------------------------------------------------------- model

def meta_forward(phi, x):
    """e [B, d] from the batched meta block phi = [(W [B,o,i], b [B,o])] and x [B, m]."""
    if phi[0][0].shape[-1] == 0:
        return phi[0][1]                  # featureless: the learned vector
    h = x
    for i, (w, b) in enumerate(phi):
        h = torch.baddbmm(b.unsqueeze(2), w, h.unsqueeze(2)).squeeze(2)
        if i < len(phi) - 1:
            h = F.relu(h)
    return h


def item_part(theta, item, d):
    """The first global layer's item part W0[:, d:] v + b0: [B, R, h0]."""
    w0, b0 = theta[0]
    return torch.matmul(item, w0[:, d:].t()) + b0


def global_forward(theta, e, pre, d):
    """Outputs [B, R] from e [B, d] and the rows' item part pre [B, R, h0]."""
    z = pre + torch.matmul(e, theta[0][0][:, :d].t()).unsqueeze(1)
    for w, b in theta[1:]:
        z = torch.matmul(F.relu(z), w.t()) + b
    return z.squeeze(-1)


def task_losses(z, label, mask, n, loss):
    """Mean loss over each task's rows: [B]."""
    if loss == "bce":
        per_row = F.binary_cross_entropy_with_logits(z, label, reduction="none")
    else:
        per_row = (z - label) ** 2
    return (per_row * mask).sum(1) / n


def grad_or_zero(out, inputs, create_graph=False):
    """torch.autograd.grad with zeros for unused inputs (a featureless meta block's empty W)."""
    gs = torch.autograd.grad(out, inputs, create_graph=create_graph, allow_unused=True)
    return [torch.zeros_like(t) if g is None else g for t, g in zip(inputs, gs)]


def outer_grad(meta, glob, tb, cfg, order):
    """Summed meta-gradient of the tasks in tb and their query losses [B].

    meta, glob: leaf tensors [(W, b)] requiring grad (unbatched)."""
    B = tb["member"].shape[0]
    d, K, alpha, loss = cfg["embedding_dim"], cfg["inner_steps"], cfg["inner_lr"], cfg["loss"]
    leaves = [t for layer in meta + glob for t in layer]
    if not tb["has_support"]:
        K = 0
    if order == 2:
        phi = [(w.unsqueeze(0).expand(B, *w.shape), b.unsqueeze(0).expand(B, *b.shape))
               for w, b in meta]
        theta_inner = glob
    else:
        phi = [(w.detach().unsqueeze(0).expand(B, *w.shape).requires_grad_(),
                b.detach().unsqueeze(0).expand(B, *b.shape).requires_grad_()) for w, b in meta]
        theta_inner = [(w.detach(), b.detach()) for w, b in glob]
    if K > 0:
        pre = item_part(theta_inner, tb["s_item"], d)
    for _ in range(K):
        e = meta_forward(phi, tb["member"])
        ls = task_losses(global_forward(theta_inner, e, pre, d), tb["s_label"], tb["s_mask"],
                         tb["s_n"], loss).sum()
        flat_phi = [t for layer in phi for t in layer]
        g = grad_or_zero(ls, flat_phi, create_graph=order == 2)
        new = [t - alpha * gi for t, gi in zip(flat_phi, g)]
        if order == 1:
            new = [t.detach().requires_grad_() for t in new]
        phi = [(new[2 * i], new[2 * i + 1]) for i in range(len(phi))]
    e = meta_forward(phi, tb["member"])
    lq = task_losses(global_forward(glob, e, item_part(glob, tb["q_item"], d), d),
                     tb["q_label"], tb["q_mask"], tb["q_n"], loss)
    total = lq.sum()
    if order == 2:
        grads = grad_or_zero(total, leaves)
    else:
        flat_phi = [t for layer in phi for t in layer]
        gl = grad_or_zero(total, flat_phi + [t for layer in glob for t in layer])
        grads = [g.sum(0) for g in gl[:len(flat_phi)]] + list(gl[len(flat_phi):])
    return grads, lq.detach()


def nudged(block, gen):
    """Half of the parameters moved by one float32 rounding, up or down at random."""
    out = []
    for layer in block:
        moved = []
        for t in layer:
            pick = torch.rand(t.shape, generator=gen) < 0.5
            up = torch.rand(t.shape, generator=gen) < 0.5
            target = torch.where(up, torch.full_like(t, math.inf), torch.full_like(t, -math.inf))
            moved.append(torch.where(pick, torch.nextafter(t, target), t))
        out.append(tuple(moved))
    return out


class Trainer:
    """MAML with Adam in PyTorch from a limaml export."""

    def __init__(self, doc, lr, dtype=torch.float32, nudge=None):
        meta, glob = doc_params(doc, dtype)
        if nudge is not None:
            meta, glob = (nudged(block, nudge) for block in (meta, glob))
        self.cfg = doc["config"]
        self.meta = [(w.requires_grad_(), b.requires_grad_()) for w, b in meta]
        self.glob = [(w.requires_grad_(), b.requires_grad_()) for w, b in glob]
        self.leaves = [t for layer in self.meta + self.glob for t in layer]
        self.adam = torch.optim.Adam(self.leaves, lr=lr)

    def params(self):
        return flat(self.meta, self.glob)

    def step(self, batches, order):
        """One Adam step on the mean gradient of the tasks in batches (a list of
        padded task batches, summed one after the other).  Returns the tasks' query losses."""
        acc = [torch.zeros_like(t) for t in self.leaves]
        losses, count = [], 0
        for tb in batches:
            grads, lq = outer_grad(self.meta, self.glob, tb, self.cfg, order)
            for a, g in zip(acc, grads):
                a.add_(g)
            losses.append(lq)
            count += lq.shape[0]
        for t, a in zip(self.leaves, acc):
            t.grad = a / count
        self.last_grad = torch.cat([t.grad.reshape(-1).to(torch.float64) for t in self.leaves])
        self.adam.step()
        return torch.cat(losses)


# --------------------------------------------------------------- agreement
#
# MAML's outer objective is discontinuous with ReLU networks: when a ReLU
# pre-activation in the inner loop crosses 0 the inner gradient jumps, and so
# do the adapted parameters, the member's query loss and its meta-gradient.
# A member with a pre-activation within float32 rounding of 0 gets a
# meta-gradient that float32 does not determine (screen() counts them: it
# moves the parameters by ~1e-7 and watches each member's meta-gradient
# jump by more than 1e-4 relative).  Two correct float32 implementations may
# land on different sides of such a jump; Adam's first steps turn the
# difference into another sign for parameters whose mean gradient is smaller
# than the jump, and the next steps spread it.  limaml is therefore compared
# with several PyTorch runs of the same math that differ only by rounding:
# float32 batched, float32 one task at a time, float64, and float32 runs
# whose initial parameters were nudged by one float32 rounding.  It passes
# when it matches at least one of them within the tolerance, over all
# parameters at once (not parameter by parameter), and its train_loss too.

SCREEN_RTOL = 1e-4
SCREEN_PERTURB = 1e-7
NUDGED_RUNS = 2


def unflat(vec, meta_like, glob_like, dtype):
    out, off = [], 0
    for block in (meta_like, glob_like):
        layers = []
        for w, b in block:
            nw, nb = w.numel(), b.numel()
            layers.append((vec[off:off + nw].reshape(w.shape).to(dtype),
                           vec[off + nw:off + nw + nb].to(dtype)))
            off += nw + nb
        out.append(layers)
    return out


def task_meta_grads(meta, glob, tb, cfg):
    """Per task: the first-order meta-gradient (query gradient at phi_K), [B, n_meta]."""
    B = tb["member"].shape[0]
    d, K, alpha = cfg["embedding_dim"], cfg["inner_steps"], cfg["inner_lr"]
    phi = [(w.unsqueeze(0).expand(B, *w.shape).requires_grad_(),
            b.unsqueeze(0).expand(B, *b.shape).requires_grad_()) for w, b in meta]
    if not tb["has_support"]:
        K = 0
    if K > 0:
        pre = item_part(glob, tb["s_item"], d)
    for _ in range(K):
        e = meta_forward(phi, tb["member"])
        ls = task_losses(global_forward(glob, e, pre, d), tb["s_label"], tb["s_mask"],
                         tb["s_n"], cfg["loss"]).sum()
        flat_phi = [t for layer in phi for t in layer]
        g = grad_or_zero(ls, flat_phi)
        new = [(t - alpha * gi).detach().requires_grad_() for t, gi in zip(flat_phi, g)]
        phi = [(new[2 * i], new[2 * i + 1]) for i in range(len(phi))]
    e = meta_forward(phi, tb["member"])
    lq = task_losses(global_forward(glob, e, item_part(glob, tb["q_item"], d), d),
                     tb["q_label"], tb["q_mask"], tb["q_n"], cfg["loss"]).sum()
    flat_phi = [t for layer in phi for t in layer]
    return torch.cat([g.reshape(B, -1).to(torch.float64) for g in grad_or_zero(lq, flat_phi)], 1)


def screen(v0, tasks, vec, cfg, draws=2):
    """Members whose float32 meta-gradient at the parameters vec jumps by more than
    SCREEN_RTOL (relative) when the parameters move by SCREEN_PERTURB:
    {member_id: largest relative jump}."""
    meta_like, glob_like = doc_params(v0)
    gen = torch.Generator().manual_seed(1)
    tb = tasks.batch(torch.arange(tasks.n))
    vec = vec.to(torch.float32)
    ref = task_meta_grads(*unflat(vec, meta_like, glob_like, torch.float32), tb, cfg)
    scale = ref.norm(dim=1).clamp(min=1e-12)
    found = {}
    for _ in range(draws):
        noise = torch.randn(vec.shape, generator=gen)
        moved = task_meta_grads(*unflat(vec * (1 + SCREEN_PERTURB * noise), meta_like,
                                        glob_like, torch.float32), tb, cfg)
        rel = (moved - ref).norm(dim=1) / scale
        for j in torch.nonzero(rel > SCREEN_RTOL).flatten().tolist():
            mid = tasks.member_ids[j]
            found[mid] = max(found.get(mid, 0.0), float(rel[j]))
    return found


def clone_model(conn, base, name, source, v0):
    query(conn, "SELECT limaml_drop_model(name) FROM limaml_model WHERE name = %s", (name,))
    query(conn, "SELECT limaml_model_import(%s, %s::jsonb, %s::regclass)",
          (name, json.dumps(v0), source))
    got = flat(*doc_params(export(conn, name)))
    want = flat(*doc_params(v0))
    if not torch.equal(got, want):
        sys.exit("torch_maml: the clone %s of %s version 0 differs from it" % (name, base))


# plain MAML, as the PyTorch side computes it: 0.1.0's training settings
# (limaml_train's defaults since 0.2.0 add a cold support loss, random split
# points, weight decay and a cosine rate)
PLAIN_MAML = ("support_weight => 0, random_splits => false, weight_decay => 0, "
              "lr_schedule => 'constant'")


def limaml_train(conn, model, epochs, meta_batch, lr, order):
    rows = query(conn, "SELECT epoch, train_loss FROM limaml_train(%s, epochs => %s, "
                       "meta_batch => %s, outer_lr => %s, validation_fraction => 0, "
                       "\"order\" => %s, " + PLAIN_MAML + ") ORDER BY epoch", (model, epochs, meta_batch, lr, order))
    return [r[1] for r in rows]


def run_torch(doc, tasks, lr, order, steps, mode, dtype=torch.float32, nudge=None):
    """steps Adam steps over all members; returns [params before and after each step],
    [mean query loss of each step]."""
    tr = Trainer(doc, lr, dtype, nudge)
    params, losses = [tr.params()], []
    for _ in range(steps):
        if mode == "loop":
            batches = tasks.single
        else:
            batches = [tasks.batch(torch.arange(tasks.n))]
        lq = tr.step(batches, order)
        losses.append(float(lq.to(torch.float64).mean()))
        params.append(tr.params())
    return params, losses


def agree(args):
    conn = connect()
    tol = min(PARAM_ATOL, STEP_FRACTION * args.lr)
    all_ok = True
    summary = []
    for base in args.models:
        v0 = export(conn, base, 0)
        check_supported(v0)
        cfg = v0["config"]
        source = model_source(conn, base)
        tasks = Tasks(conn, source, cfg)
        tasks64 = tasks.to(torch.float64)
        p0 = flat(*doc_params(v0))
        slices = layer_slices(*doc_params(v0))
        sizes = tasks.s_n.tolist()
        print("\n%s: source %s, %d members, %d rows; member_dim %d, item_dim %d, d %d, "
              "meta_hidden %s, global_hidden %s, %s, K %d, inner_lr %g, support %d, query %d; "
              "%d parameters; support sets of %d..%d rows, %d members without one"
              % (base, source, tasks.n, tasks.rows, cfg["member_dim"], cfg["item_dim"],
                 cfg["embedding_dim"], cfg["meta_hidden"] if cfg["member_dim"] else [],
                 cfg["global_hidden"], cfg["loss"], cfg["inner_steps"], cfg["inner_lr"],
                 cfg["support_size"], cfg["query_size"], p0.numel(), min(sizes), max(sizes),
                 sizes.count(0)))
        undetermined = screen(v0, tasks, p0, cfg)
        print(" members whose float32 meta-gradient at version 0 jumps by > %g when the "
              "parameters move by %g: %d%s"
              % (SCREEN_RTOL, SCREEN_PERTURB, len(undetermined),
                 "".join(" (%d: %.2g)" % kv for kv in sorted(undetermined.items()))))
        for order in args.orders:
            # limaml: 1 and 3 epochs of one Adam step each, from version 0
            lim = {}
            for epochs in (1, 3):
                name = "%s_o%d_e%d" % (base, order, epochs)
                clone_model(conn, base, name, source, v0)
                t0 = time.perf_counter()
                losses = limaml_train(conn, name, epochs, args.meta_batch, args.lr, order)
                lim[epochs] = (flat(*doc_params(export(conn, name))), losses,
                               time.perf_counter() - t0)
            print(" order %d: limaml 1 epoch %.2f s, 3 epochs %.2f s"
                  % (order, lim[1][2], lim[3][2]))
            runs = []
            for mode in args.modes:
                t0 = time.perf_counter()
                runs.append(("float32 " + mode,) + run_torch(v0, tasks, args.lr, order, 3, mode)
                            + (time.perf_counter() - t0,))
            t0 = time.perf_counter()
            runs.append(("float64 batched",) + run_torch(v0, tasks64, args.lr, order, 3,
                                                         "batched", torch.float64)
                        + (time.perf_counter() - t0,))
            gen = torch.Generator().manual_seed(order)
            for k in range(NUDGED_RUNS):
                t0 = time.perf_counter()
                runs.append(("float32 batched, nudged #%d" % (k + 1),)
                            + run_torch(v0, tasks, args.lr, order, 3, "batched", nudge=gen)
                            + (time.perf_counter() - t0,))
            for steps in (1, 3):
                p_lim, l_lim, _ = lim[steps]
                print("  after %d Adam step%s: limaml train_loss %s"
                      % (steps, "s" if steps > 1 else "",
                         " ".join("%.7f" % x for x in l_lim)))
                best = None
                for label, params, losses, secs in runs:
                    diff = (p_lim - params[steps]).abs()
                    dl = max(abs(a - b) / abs(b) for a, b in zip(l_lim, losses[:steps]))
                    line = ("   %-28s max |limaml - torch| %.2g (%.2g x outer_lr), train_loss "
                            "%s: max relative difference %.2g   [%.1f s for 3 steps]"
                            % (label, float(diff.max()), float(diff.max()) / args.lr,
                               " ".join("%.7f" % x for x in losses[:steps]), dl, secs))
                    print(line)
                    if float(diff.max()) > tol:
                        per_layer = ", ".join("%s %.2g" % (nm, float(diff[a:b].max()))
                                              for nm, a, b in slices)
                        print("     per layer: " + per_layer)
                    if best is None or float(diff.max()) < best[1]:
                        best = (label, float(diff.max()), dl)
                plain = runs[0]
                d_plain = float((p_lim - plain[1][steps]).abs().max())
                l_plain = max(abs(a - b) / abs(b) for a, b in zip(l_lim, plain[2][:steps]))
                ok = best[1] <= tol and best[2] <= LOSS_RTOL
                all_ok &= ok
                summary.append((base, order, steps, d_plain, l_plain, best, ok))
                print("   %s" % ("ok: matches " + best[0] if ok else "FAIL"))
    print("\nagreement (outer_lr %g, meta_batch %d: one Adam step per epoch over all members; "
          "pass: parameters within %g absolute and train_loss within %g relative of one of "
          "the PyTorch runs)" % (args.lr, args.meta_batch, tol, LOSS_RTOL))
    print("| model | order | Adam steps | max abs param diff vs PyTorch float32 "
          "| / outer_lr | max rel train_loss diff | closest PyTorch run | its max abs diff | |")
    print("|---|---|---|---|---|---|---|---|---|")
    for base, order, steps, dp, dl, best, ok in summary:
        print("| %s | %d | %d | %.2g | %.2g | %.2g | %s | %.2g | %s |"
              % (base, order, steps, dp, dp / args.lr, dl, best[0], best[1],
                 "ok" if ok else "FAIL"))
    print("agreement: %s" % ("PASS" if all_ok else "FAIL"))
    return 0 if all_ok else 1


# ------------------------------------------------------------------- speed

TIME_SQL = """
CREATE OR REPLACE FUNCTION pg_temp.torch_time_train(m text, e int, mb int, lr real, o int)
RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
  PERFORM * FROM limaml_train(m, epochs => e, meta_batch => mb, outer_lr => lr,
                              validation_fraction => 0, maml_order => o,
                              support_weight => 0, random_splits => false, weight_decay => 0,
                              lr_schedule => 'constant');
  RETURN extract(epoch FROM clock_timestamp() - t0);
END $$;
"""


def load_average():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def speed(args):
    conn = connect()
    query(conn, "SET client_min_messages = warning")
    query(conn, TIME_SQL)
    doc = export(conn, args.model, 0)
    check_supported(doc)
    cfg = doc["config"]
    source = model_source(conn, args.model)
    tasks = Tasks(conn, source, cfg)
    sizes = tasks.s_n.tolist()
    print("\nspeed: model %s on %s: %d members, %d rows, d %d, meta_hidden %s, global_hidden %s, "
          "%s, K %d, support %d (%d..%d used), query %d, meta_batch %d, 1 thread each; "
          "PyTorch %s; fastest of %d runs (%d for the per-task loop); load average %s.  "
          "Excluded: PyTorch's reading and tensor building (%.1f s); included: limaml's "
          "reading of the source (each limaml_train call reads it once)"
          % (args.model, source, tasks.n, tasks.rows, cfg["embedding_dim"], cfg["meta_hidden"],
             cfg["global_hidden"], cfg["loss"], cfg["inner_steps"], cfg["support_size"],
             min(sizes), max(sizes), cfg["query_size"], args.meta_batch, torch.__version__,
             args.repeat, args.loop_epochs, load_average(), tasks.load_seconds))

    def limaml_time(epochs, order):
        return [query(conn, "SELECT pg_temp.torch_time_train(%s, %s, %s, %s, %s)",
                      (args.model, epochs, args.meta_batch, args.lr, order))[0][0]
                for _ in range(args.repeat)]

    def torch_epochs(order, mode, epochs):
        tr = Trainer(doc, args.lr)
        gen = torch.Generator().manual_seed(0)
        times = []
        for _ in range(epochs):
            t0 = time.perf_counter()
            perm = torch.randperm(tasks.n, generator=gen)
            for s in range(0, tasks.n, args.meta_batch):
                idx = perm[s:s + args.meta_batch]
                if mode == "batched":
                    batches = [tasks.batch(idx)]
                else:
                    batches = [tasks.single[int(j)] for j in idx]
                tr.step(batches, order)
            times.append(time.perf_counter() - t0)
        return times

    results = []
    for order in args.orders:
        t1 = limaml_time(1, order)
        t3 = limaml_time(3, order)
        lim_epoch = min(t1)
        lim_per = (min(t3) - lim_epoch) / 2
        tb = torch_epochs(order, "batched", args.repeat)
        tl = torch_epochs(order, "loop", args.loop_epochs)
        results.append((order, lim_epoch, lim_per, min(tb), min(tl)))
        print("  order %d: limaml epochs=1 %s s; epochs=3 %s s; torch batched %s s; torch loop %s s"
              % (order, " ".join("%.3f" % x for x in t1), " ".join("%.3f" % x for x in t3),
                 " ".join("%.3f" % x for x in tb), " ".join("%.3f" % x for x in tl)))

    print("\nper-epoch training time (s), %d members, meta_batch %d, one thread"
          % (tasks.n, args.meta_batch))
    print("| order | limaml, epochs=1 (incl. reading the source) | limaml, (t(3) - t(1)) / 2 "
          "| PyTorch batched | PyTorch per-task loop | batched / limaml | loop / limaml |")
    print("|---|---|---|---|---|---|---|")
    for order, le, lp, tb, tl in results:
        print("| %d | %.3f | %.3f | %.3f | %.2f | %.1f× (%.1f×) | %.0f× (%.0f×) |"
              % (order, le, lp, tb, tl, tb / le, tb / lp, tl / le, tl / lp))
    print("(ratios: PyTorch time over limaml's epochs=1 time, in parentheses over its "
          "per-epoch difference; load average now %s)" % load_average())
    return 0


def main():
    print("+ " + " ".join(sys.argv), flush=True)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("agree")
    a.add_argument("models", nargs="+")
    a.add_argument("--lr", type=float, default=1e-3)
    a.add_argument("--meta-batch", type=int, default=1000000)
    a.add_argument("--orders", type=int, nargs="+", default=[1, 2])
    a.add_argument("--modes", nargs="+", default=["batched", "loop"])
    s = sub.add_parser("speed")
    s.add_argument("model")
    s.add_argument("--lr", type=float, default=1e-3)
    s.add_argument("--meta-batch", type=int, default=32)
    s.add_argument("--orders", type=int, nargs="+", default=[1, 2])
    s.add_argument("--repeat", type=int, default=5)
    s.add_argument("--loop-epochs", type=int, default=2)
    args = ap.parse_args()
    return agree(args) if args.cmd == "agree" else speed(args)


if __name__ == "__main__":
    sys.exit(main())
