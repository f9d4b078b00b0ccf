"""MovieLens 100K read as a positive-only log, in numpy (test/movielens/implicit_ceiling.sh runs it).

    python3 test/movielens/implicit_ceiling.py DATA_DIR HELD_OUT_CSV

The protocol of implicit.sh: every rating a watched event; each held-out member's events
ordered by (ts, item_id), the newest ceil(20 %) to find among the movies it has not watched;
the known events are the training members' and the held-out members' older ones.  Top-10 hit
rate, overall and by the member's number of ratings, for:
  popularity, item-to-item     as implicit.sql computes them (the figures agree)
  member solve                 item bias + one Newton step of the member's L2-penalised logistic
                               fit over the factors, on its events and 4 catalogue negatives each:
                               what limaml's wide head does, with the factors fixed at their start
  fold-in                      item bias + a · f_i · Σ_j f_j over the member's watched movies j:
                               PureSVD's member vector (Cremonesi et al. 2010), no negatives
  solve from the fold-in       the member solve's Newton step taken from w⁰ = a · Σ_j f_j (a prior
                               mean) instead of 0
  solve + fold-in              the member solve (from 0) plus the fold-in term beside it
with f the top-r right singular vectors of the known matrix, raw or degree-normalised
(1/√((n_u + 1)(n_i + 1)), limaml's start for positive-only logs), scaled to unit variance.
The settings are scored on the test members themselves: an optimistic figure for each family.
"""
import math
import sys

import numpy as np

DATA, HELD = sys.argv[1], sys.argv[2]
NEG = 4

R = np.loadtxt(DATA + '/u.data', dtype=np.int64)
user, item, ts = R[:, 0], R[:, 1], R[:, 3]
held = sorted(set(np.loadtxt(HELD, dtype=np.int64, ndmin=1).tolist()))
NU, NI = user.max() + 1, item.max() + 1
items = np.arange(1, NI)

before, later, n_total = {}, {}, {}
for m in held:
    idx = np.where(user == m)[0]
    order = idx[np.lexsort((item[idx], ts[idx]))]
    nq = int(math.ceil(0.2 * len(order) - 1e-6))
    before[m], later[m], n_total[m] = item[order[:-nq]], set(item[order[-nq:]].tolist()), len(order)
X = np.zeros((NU, NI))
held_set = set(held)
for u, i in zip(user, item):
    if u not in held_set:
        X[u, i] = 1
for m in held:
    X[m, before[m]] = 1
pop = X.sum(0)
bias = np.log((pop + 0.5) / (NEG * pop.sum() / len(items)))
SEGMENTS = ((30, '1–30'), (60, '31–60'), (150, '61–150'), (10 ** 9, '151+'))


def evaluate(name, score):
    hits = {s: [] for _, s in SEGMENTS}
    for m in held:
        s = np.asarray(score(m), dtype=float).copy()
        s[before[m]] = -np.inf
        s[0] = -np.inf
        top = np.lexsort((np.arange(NI), -pop, -s))[:10]     # ties: popularity, then id
        seg = next(label for bound, label in SEGMENTS if n_total[m] <= bound)
        hits[seg].append(len(later[m] & set(top.tolist())) > 0)
    overall = np.mean([h for v in hits.values() for h in v])
    print(f'| {name} | {overall:.3f} | ' + ' | '.join(f'{np.mean(hits[s]):.3f}' for _, s in SEGMENTS) + ' |',
          flush=True)


def factors(matrix, r):
    V = np.linalg.svd(matrix, full_matrices=False)[2][:r].T
    return V / V[1:].std(0)


def member_solve(F, lam, a_prior=0.0):
    """bias + (w₀, w) from one Newton step of the penalised logistic fit, from w = (0, a_prior · Σ f_j)."""
    def score(m):
        rng = np.random.default_rng(m)
        pos = before[m]
        its = np.concatenate([pos, rng.choice(items, NEG * len(pos))])
        y = np.concatenate([np.ones(len(pos)), np.zeros(NEG * len(pos))])
        Ft = np.concatenate([np.ones((len(its), 1)), F[its]], 1)
        w = np.concatenate([[0.0], a_prior * F[pos].sum(0)])
        p = 1 / (1 + np.exp(-(bias[its] + Ft @ w)))
        w = w + np.linalg.solve((Ft.T * (p * (1 - p))) @ Ft + lam * np.eye(Ft.shape[1]), Ft.T @ (y - p))
        return bias + w[0] + F @ w[1:]
    return score


print(f'{len(held)} held-out members; top-10 hit rate\n')
print('| method | all | ' + ' | '.join(s for _, s in SEGMENTS) + ' |')
print('|---|---|' + '---|' * len(SEGMENTS))
evaluate('popularity', lambda m: pop)
C = X.T @ X
np.fill_diagonal(C, 0)
norm = np.sqrt(np.maximum(pop, 1))
S = C / norm[:, None] / norm[None, :]
evaluate('item-to-item', lambda m: S[before[m]].sum(0))
degree = X.sum(1)
for name, M in (('raw', X), ('normalised', X / np.sqrt(degree[:, None] + 1) / np.sqrt(pop[None, :] + 1))):
    for r in (16, 64):
        F = factors(M, r)
        for lam in (3, 10, 30):
            evaluate(f'member solve, {name} r {r}, λ {lam}', member_solve(F, lam))
        for a in (0.01, 0.03, 0.1):
            evaluate(f'fold-in, {name} r {r}, a {a}', lambda m: bias + a * (F @ F[before[m]].sum(0)))
        for lam in (10, 30, 100):
            evaluate(f'solve from the fold-in, {name} r {r}, λ {lam}, a 0.03', member_solve(F, lam, 0.03))
        for lam in (10, 30):
            solve = member_solve(F, lam)
            evaluate(f'solve + fold-in, {name} r {r}, λ {lam}, a 0.03',
                     lambda m: solve(m) + 0.03 * (F @ F[before[m]].sum(0)))
