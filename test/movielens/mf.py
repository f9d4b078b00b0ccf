"""Matrix factorization on MovieLens 100K with the protocol of defaults.sh (test/movielens/mf.sh runs it).

    python3 test/movielens/mf.py DATA_DIR HELD_OUT_CSV

The strongest simple baseline of the issue that asked for one: items' biases and factors by
ALS on the training members' rows; each held-out member's bias and vector in closed form
(ridge) on its support rows, items frozen; scored on its query rows. The split is limaml's:
a member's rows ordered by (ts, item_id), the newest ceil(0.2 n) the query, the support_size
(50) before them the support.  Printed per setting (mean over ALS_SEEDS random starts):
pooled and per-member AUC of the liked items (rating >= 4) and MAE.  The grid is scored on the
held-out members themselves, so its best row is an optimistic figure for this model family.
"""
import math
import os
import sys

import numpy as np

DATA, HELD = sys.argv[1], sys.argv[2]
RANK, SWEEPS, SUPPORT = 16, 20, 50
ALS_SEEDS = int(os.environ.get('ALS_SEEDS', '3'))

R = np.loadtxt(os.path.join(DATA, 'u.data'), dtype=np.int64)
user, item, rating, ts = R[:, 0], R[:, 1], R[:, 2].astype(float), R[:, 3]
liked = (rating >= 4).astype(float)
held = set(np.loadtxt(HELD, dtype=np.int64, ndmin=1).tolist())
NU, NI = user.max() + 1, item.max() + 1
train = np.array([u not in held for u in user])


def ridge_rows(rows, F, target, n, lam):
    """For each id g of rows: (Σ F Fᵀ + λ I)⁻¹ Σ F · target over its rows."""
    order = np.argsort(rows, kind='stable')
    rows, F, target = rows[order], F[order], target[order]
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    A = np.zeros((n, RANK, RANK))
    b = np.zeros((n, RANK))
    A[rows[starts]] = np.add.reduceat(F[:, :, None] * F[:, None, :], starts, axis=0)
    b[rows[starts]] = np.add.reduceat(F * target[:, None], starts, axis=0)
    return np.linalg.solve(A + lam * np.eye(RANK), b[:, :, None])[:, :, 0]


def fit_als(y, lam, seed, K_item=25, K_user=10):
    """Items' biases (shrunk means) and factors Q[NI][RANK] by ALS on the training rows."""
    tu, ti, ty = user[train], item[train], y[train]
    mu = ty.mean()
    b_item = np.bincount(ti, ty - mu, NI) / (np.bincount(ti, minlength=NI) + K_item)
    b_user = np.bincount(tu, ty - mu - b_item[ti], NU) / (np.bincount(tu, minlength=NU) + K_user)
    res = ty - mu - b_item[ti] - b_user[tu]
    Q = (np.random.default_rng(seed).random((NI, RANK)) * 2 - 1) * 0.1
    for _ in range(SWEEPS):
        P = ridge_rows(tu, Q[ti], res, NU, lam)     # members' vectors, items fixed
        Q = ridge_rows(ti, P[tu], res, NI, lam)     # items' factors, members fixed
    return mu, b_item, Q


def auc(scores, labels):
    """Mann-Whitney AUC with ties at half; None without both classes."""
    order = np.argsort(scores, kind='mergesort')
    s, lab = scores[order], labels[order]
    ranks = np.empty(len(s))
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[i:j + 1] = (i + j) / 2 + 1
        i = j + 1
    npos = lab.sum()
    nneg = len(lab) - npos
    if npos == 0 or nneg == 0:
        return None
    return (ranks[lab == 1].sum() - npos * (npos + 1) / 2) / (npos * nneg)


def evaluate(y, mu, b_item, Q, lam_user):
    """(pooled AUC of liked items, per-member AUC, MAE when y is the rating)."""
    pooled_s, pooled_l, per, err = [], [], [], []
    for m in sorted(held):
        idx = np.where(user == m)[0]
        order = idx[np.lexsort((item[idx], ts[idx]))]
        nq = int(math.ceil(0.2 * len(order) - 1e-6))
        q, s = order[-nq:], order[:-nq][-SUPPORT:]
        X = np.concatenate([np.ones((len(s), 1)), Q[item[s]]], 1)
        w = np.linalg.solve(X.T @ X + lam_user * np.eye(X.shape[1]), X.T @ (y[s] - mu - b_item[item[s]]))
        pred = mu + b_item[item[q]] + w[0] + Q[item[q]] @ w[1:]
        pooled_s += list(pred)
        pooled_l += list(liked[q])
        a = auc(pred, liked[q])
        if a is not None:
            per.append(a)
        err += list(np.abs(np.clip(pred, 1, 5) - rating[q]))
    return auc(np.array(pooled_s), np.array(pooled_l)), np.mean(per), np.mean(err)


print(f'{len(held)} held-out members; rank {RANK}, {SWEEPS} ALS sweeps, support {SUPPORT}, '
      f'mean of {ALS_SEEDS} starts\n')
print('| labels | ALS λ | member λ | pooled AUC (liked) | per-member AUC (liked) | MAE |')
print('|---|---|---|---|---|---|')
for name, y in (('ratings', rating), ('liked (≥ 4)', liked)):
    for lam in (3, 10, 30):
        fits = [fit_als(y, lam, seed) for seed in range(ALS_SEEDS)]
        for lam_user in (1, 3, 10):
            r = np.mean([evaluate(y, mu, b, Q, lam_user) for mu, b, Q in fits], 0)
            mae = f'{r[2]:.3f}' if y is rating else '—'
            print(f'| {name} | {lam} | {lam_user} | {r[0]:.3f} | {r[1]:.3f} | {mae} |', flush=True)
    mu, b, Q = fits[0]
    r = evaluate(y, mu, b, Q * 0, 3)
    mae = f'{r[2]:.3f}' if y is rating else '—'
    print(f'| {name}, biases only | — | 3 | {r[0]:.3f} | {r[1]:.3f} | {mae} |', flush=True)
