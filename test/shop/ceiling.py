"""How far can any recommender go on the shop data?  (test/shop/ceiling.sh runs it.)

    python3 test/shop/ceiling.py DIR     DIR holds one seed's CSV dump (ceiling.sh)
    NEG=n (environment, default 4): sampled negatives per click for the ridge rows

Scores the held-out customers exactly as test/shop/evaluate.sql does (top 10 of the
products new to them before the cut; hit rate = a later click or purchase among
them; "fav" = the share of the 10 in the customer's favourite categories), for:
  popularity                the most-clicked products
  rule                      the category-mixture rule without profile (evaluate.sql)
  ridge cat, λ              item bias + the member's closed-form logistic ridge
                            weights over the category one-hot, fitted on its clicks
                            and 4 catalogue negatives each: what the wide head's
                            member solve does with ideal item features
  learned posterior         P(category | customer) · P(product | category), with
                            P(category | customer) a small network over the customer's
                            click and view counts per category, trained on the
                            training customers' events before and after the cut:
                            the best a learner of category taste does from the same
                            counts (needs torch)
  oracle                    knows the favourite categories (never observable): the
                            ceiling of any method that ranks by category taste
"""
import csv
import datetime
import os
import sys

import numpy as np

D = sys.argv[1]
CUT = datetime.datetime(2026, 5, 16, tzinfo=datetime.timezone.utc).timestamp()
NEG = int(os.environ.get('NEG', '4'))

prod = {int(r[0]): r[1] for r in csv.reader(open(D + '/products.csv'))}
cats = sorted(set(prod.values()))
C, P = len(cats), max(prod) + 1
pcat = np.zeros(P, int)
for p, c in prod.items():
    pcat[p] = cats.index(c)
items = np.array(sorted(prod))
truth = {}
for r in csv.reader(open(D + '/truth.csv')):
    truth.setdefault(int(r[0]), set()).add(cats.index(r[1]))
# (member, item, label, ts, held out)
rows = [(int(r[0]), int(r[1]), float(r[2]), float(r[3]), r[4] == 't') for r in csv.reader(open(D + '/inter.csv'))]

clicks = np.zeros(P)          # what the model saw: training customers, held-out ones before the cut
for m, i, y, t, h in rows:
    if y > 0 and (not h or t < CUT):
        clicks[i] += 1
cat_clicks = np.bincount(pcat[items], weights=clicks[items], minlength=C)
cat_items = np.bincount(pcat[items], minlength=C)
share = (clicks + 1) / (cat_clicks[pcat] + cat_items[pcat])      # P(product | category), add-one
global_share = cat_clicks / cat_clicks.sum()

held, train = {}, {}
for m, i, y, t, h in rows:
    (held if h else train).setdefault(m, []).append((i, y, t))


def counts(before):
    cc, vv = np.zeros(C), np.zeros(C)
    for i, y, t in before:
        if y > 0:
            cc[pcat[i]] += 1
        else:
            vv[pcat[i]] += 1
    return cc, vv


def evaluate(name, score):
    hits, fav = [], []
    for m, rs in sorted(held.items()):
        before = [r for r in rs if r[2] < CUT]
        seen = {i for i, y, t in before}
        later = {i for i, y, t in rs if t >= CUT and y > 0 and i not in seen}
        if not later:
            continue
        cand = np.array([i for i in items if i not in seen])
        s = score(m, before)[cand]
        top = cand[np.lexsort((cand, -s))[:10]]
        hits.append(len(later & set(top.tolist())) > 0)
        fav.append(np.mean([pcat[i] in truth[m] for i in top]))
    print(f'| {name} | {np.mean(fav):.3f} | {np.mean(hits):.3f} |', flush=True)


def rule(m, before):
    cc, vv = counts(before)
    return (cc[pcat] + 0.15 * vv[pcat] + 2 * global_share[pcat]) * share


bias = np.log((clicks + 0.5) / (NEG * clicks.sum() / len(items)))


def ridge_cat(lam):
    def score(m, before):
        rng = np.random.default_rng(m)
        its, ys = [], []
        for i, y, t in before:
            if y > 0:
                its += [i] + list(rng.choice(items, NEG))
                ys += [1.0] + [0.0] * NEG
        w = np.zeros(C + 1)
        if its:
            its, ys = np.array(its), np.array(ys)
            X = np.zeros((len(its), C + 1))
            X[:, 0] = 1
            X[np.arange(len(its)), 1 + pcat[its]] = 1
            for _ in range(3):   # Newton steps of the penalised logistic fit
                p = 1 / (1 + np.exp(-(bias[its] + X @ w)))
                H = (X.T * (p * (1 - p))) @ X + lam * np.eye(C + 1)
                w += np.linalg.solve(H, X.T @ (ys - p) - lam * w)
        return bias + w[0] + w[1 + pcat]
    return score


def oracle(m, before):
    return np.array([1.0 if c in truth[m] else 0.02 for c in range(C)])[pcat] * share


print('| method | top 10 in favourites | hit rate |\n|---|---|---|')
evaluate('popularity', lambda m, b: clicks.copy())
evaluate('category-mixture rule (no profile)', rule)
for lam in (1.0, 0.3, 0.1):
    evaluate(f'item bias + ridge over the category one-hot, λ {lam}', ridge_cat(lam))
try:
    import torch
except ImportError:
    torch = None
if torch is not None:
    def features(before):
        cc, vv = counts(before)
        n, nv = max(cc.sum(), 1), max(vv.sum(), 1)
        return np.stack([np.log1p(cc), np.log1p(vv), cc / n, vv / nv, (cc > 0) * 1.0,
                         np.full(C, np.log1p(cc.sum())), np.full(C, np.log1p(vv.sum()))], 1)
    X, T = [], []
    for m, rs in sorted(train.items()):
        after = np.bincount([pcat[i] for i, y, t in rs if t >= CUT and y > 0], minlength=C)
        if after.sum():
            X.append(features([r for r in rs if r[2] < CUT]))
            T.append(after)
    X, T = torch.tensor(np.array(X), dtype=torch.float32), torch.tensor(np.array(T), dtype=torch.float32)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(X.shape[2], 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
    cat_bias = torch.zeros(C, requires_grad=True)
    opt = torch.optim.Adam(list(net.parameters()) + [cat_bias], lr=0.01)
    for _ in range(400):   # full batch: one customer = one multinomial over categories
        loss = -(T * torch.log_softmax(net(X).squeeze(-1) + cat_bias, 1)).sum() / T.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()

    def posterior(m, before):
        with torch.no_grad():
            z = net(torch.tensor(features(before), dtype=torch.float32)).squeeze(-1) + cat_bias
        return torch.softmax(z, 0).numpy()[pcat] * share
    evaluate('learned posterior over click and view counts', posterior)
else:
    print('| learned posterior | (torch not installed) | |')
evaluate('oracle: knows the favourite categories', oracle)
