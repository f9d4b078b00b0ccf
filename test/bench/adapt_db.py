"""In-database batch adaptation benchmarks (run by test/bench/adapt.sh).

    python3 adapt_db.py            # PGHOST/PGPORT/... point at a throwaway cluster

Reference shape: 50 rows per member (= support_size), item_dim 32,
member_dim 8, meta_hidden {32}, embedding 32, global_hidden {64}, 5 inner
steps.  Every figure is the best of REPEATS runs; each line says what it
compares and prints the ratio.
"""
import os
import re
import subprocess
import sys
import threading
import time

import numpy as np
import psycopg2
import psycopg2.extras

REPEATS = int(os.environ.get("REPEATS", "3"))
MEMBERS = int(os.environ.get("MEMBERS", "20000"))         # x 50 rows = 1M rows
E2E_MEMBERS = int(os.environ.get("E2E_MEMBERS", "5000"))
MEM_SMALL = int(os.environ.get("MEM_SMALL", "10000"))
MEM_LARGE = int(os.environ.get("MEM_LARGE", "100000"))
ROWS = 50


def connect():
    c = psycopg2.connect("")
    c.autocommit = True
    return c


conn = connect()
cur = conn.cursor()


def q(sql, *args):
    cur.execute(sql, args or None)
    return cur.fetchall() if cur.description else None


def best(sql, setup=(), repeats=REPEATS):
    """best wall time of a statement, on this connection"""
    for s in setup:
        q(s)
    t = 1e30
    for _ in range(repeats):
        t0 = time.perf_counter()
        q(sql)
        t = min(t, time.perf_counter() - t0)
    return t


def say(name, value, unit, detail=""):
    print("%-44s %12.1f %-10s %s" % (name, value, unit, detail), flush=True)


def ratio(name, value, aim=None):
    verdict = ""
    if aim is not None:
        verdict = "(aim >= %g: %s)" % (aim, "reached" if value >= aim else "NOT reached")
    print("RATIO %-38s %10.2f %s" % (name, value, verdict), flush=True)


def settings():
    rows = q("""SELECT name, setting FROM pg_settings WHERE name IN
        ('jit', 'max_parallel_workers_per_gather', 'max_parallel_workers', 'max_worker_processes',
         'work_mem', 'shared_buffers', 'enable_partitionwise_aggregate', 'parallel_setup_cost',
         'parallel_tuple_cost') ORDER BY name""")
    print("settings: " + ", ".join("%s=%s" % r for r in rows), flush=True)


# ------------------------------------------------------------------ data
def make_source(table, members, rows_per_member, partitions=0):
    """interactions in random physical order: rows of a member are spread out"""
    q("DROP TABLE IF EXISTS %s CASCADE" % table)
    if partitions:
        q("""CREATE TABLE %s (member_id bigint, member_features real[], item_features real[],
                              label real, ts timestamptz) PARTITION BY HASH (member_id)""" % table)
        for p in range(partitions):
            q("CREATE TABLE %s_%d PARTITION OF %s FOR VALUES WITH (MODULUS %d, REMAINDER %d)"
              % (table, p, table, partitions, p))
        q("INSERT INTO %s SELECT * FROM bench_src WHERE member_id <= %d" % (table, members))
    else:
        q("SELECT setseed(0.5)")
        q("""CREATE TABLE %s AS
             SELECT m::bigint AS member_id,
                    (SELECT array_agg((random() * 2 - 1)::real) FROM generate_series(1, 8) WHERE m > 0)
                      AS member_features,
                    (SELECT array_agg((random() * 2 - 1)::real) FROM generate_series(1, 32) WHERE k > 0)
                      AS item_features,
                    (random() < 0.3)::int::real AS label,
                    timestamptz '2026-01-01' + make_interval(secs => k * 60 + random()) AS ts
               FROM generate_series(1, %d) m, generate_series(1, %d) k
              ORDER BY random()""" % (table, members, rows_per_member))
    q("VACUUM ANALYZE %s" % table)


def create_model(name, source):
    q("SELECT limaml_drop_model(name) FROM limaml_model WHERE name = %s", name)
    q("""SELECT limaml_create_model(%s, %s, embedding_dim => 32, meta_hidden => '{32}',
                global_hidden => '{64}', inner_steps => 5, inner_lr => 0.5,
                support_size => 50, member_dim => 8, item_dim => 32, seed => 1)""", name, source)


# the outer aggregate reads every result (an unused subquery column would not be computed)
AGG = """SELECT count(e) FROM (SELECT member_id, limaml_adapt_agg('bench', member_features,
         item_features, label, ts) AS e FROM %s GROUP BY member_id) s"""
SCAN = """SELECT count(n) FROM (SELECT member_id, sum(cardinality(item_features)) AS n
          FROM %s GROUP BY member_id) s"""


def bench_throughput():
    n_rows = MEMBERS * ROWS
    serial = ["SET max_parallel_workers_per_gather = 0"]
    t_agg = best(AGG % "bench_src", serial)
    t_scan = best(SCAN % "bench_src", serial)
    print("\n# batch throughput, %d rows of %d members, serial (max_parallel_workers_per_gather=0)"
          % (n_rows, MEMBERS))
    print("  " + AGG % "bench_src")
    print("  " + SCAN % "bench_src")
    say("limaml_adapt_agg GROUP BY member_id", n_rows / t_agg, "rows/s", "%.3f s" % t_agg)
    say("sum(cardinality(item_features)) GROUP BY", n_rows / t_scan, "rows/s", "%.3f s" % t_scan)
    ratio("adapt_agg / scan-and-group throughput", t_scan / t_agg, 0.5)
    plan = q("EXPLAIN (COSTS OFF) " + AGG % "bench_src")
    print("  plan: " + " / ".join(r[0].strip() for r in plan))
    return t_agg


def bench_throughput_history():
    """the same 1M rows as 5,000 members x 200: the newest 50 of each are adapted on"""
    members, rows = MEMBERS * ROWS // 200, 200
    make_source("bench_hist", members, rows)
    serial = ["SET max_parallel_workers_per_gather = 0"]
    t_agg = best(AGG % "bench_hist", serial)
    t_scan = best(SCAN % "bench_hist", serial)
    print("\n# batch throughput, %d rows of %d members (200 each; support_size 50), serial"
          % (members * rows, members))
    say("limaml_adapt_agg GROUP BY member_id", members * rows / t_agg, "rows/s", "%.3f s" % t_agg)
    say("sum(cardinality(item_features)) GROUP BY", members * rows / t_scan, "rows/s", "%.3f s" % t_scan)
    ratio("adapt_agg / scan-and-group, 200 rows/member", t_scan / t_agg, 0.5)
    q("DROP TABLE bench_hist")


def bench_adapt_per_member(t_agg):
    n = 2000
    q("DROP TABLE IF EXISTS bench_members")
    q("CREATE TABLE bench_members AS SELECT DISTINCT member_id FROM bench_src WHERE member_id <= %d" % n)
    q("CREATE INDEX IF NOT EXISTS bench_src_member_ts ON bench_src (member_id, ts)")
    q("ANALYZE bench_src, bench_members")
    sql = "SELECT count(limaml_adapt(member_id, 'bench')) FROM bench_members"
    t = best(sql)
    print("\n# one member at a time: limaml_adapt (index scan of the newest rows + upsert), %d members" % n)
    print("  " + sql)
    say("limaml_adapt per member", n / t, "members/s", "%.1f us/member" % (t / n * 1e6))
    say("limaml_adapt_agg (above)", MEMBERS / t_agg, "members/s", "%.1f us/member" % (t_agg / MEMBERS * 1e6))
    ratio("adapt_agg / limaml_adapt members/s", (MEMBERS / t_agg) / (n / t))
    q("DROP INDEX bench_src_member_ts")


def bench_parallel():
    make_source("bench_part", MEMBERS, ROWS, partitions=8)
    common = ["SET enable_partitionwise_aggregate = on", "SET parallel_setup_cost = 0",
              "SET parallel_tuple_cost = 0", "SET min_parallel_table_scan_size = 0",
              "SET parallel_leader_participation = off"]
    t1 = best(AGG % "bench_part", common + ["SET max_parallel_workers_per_gather = 1"])
    t2 = best(AGG % "bench_part", ["SET max_parallel_workers_per_gather = 2"])
    plan = q("EXPLAIN (COSTS OFF) " + AGG % "bench_part")
    t0 = best(AGG % "bench_part", ["SET max_parallel_workers_per_gather = 0"])
    q("RESET ALL")
    print("\n# partitionwise: bench_part hash-partitioned by member_id (8 partitions), "
          "enable_partitionwise_aggregate=on, parallel_leader_participation=off")
    print("  " + AGG % "bench_part")
    print("  plan (2 workers): " + " / ".join(r[0].strip() for r in plan))
    say("no worker (serial)", MEMBERS * ROWS / t0, "rows/s", "%.3f s" % t0)
    say("1 worker", MEMBERS * ROWS / t1, "rows/s", "%.3f s" % t1)
    say("2 workers", MEMBERS * ROWS / t2, "rows/s", "%.3f s" % t2)
    ratio("2 workers / 1 worker", t1 / t2, 1.7)
    q("DROP TABLE bench_part")


# ------------------------------------------------------------------ end to end
def python_pipeline(n):
    """read with psycopg2, adapt in PyTorch (adapt_core.py's loop), write back"""
    import torch
    torch.set_num_threads(1)
    F = torch.nn.functional
    c = connect()
    k = c.cursor()
    t0 = time.perf_counter()
    k.execute("""SELECT v.params FROM limaml_model m JOIN limaml_model_version v
                 ON v.model_id = m.model_id AND v.version = m.active_version WHERE m.name = 'bench'""")
    params = np.frombuffer(bytes(k.fetchone()[0]), dtype=np.float32)
    off = [0]

    def take(*shape):
        size = int(np.prod(shape))
        a = torch.tensor(params[off[0]:off[0] + size].reshape(shape))
        off[0] += size
        return a

    tm = [take(32, 8), take(32), take(32, 32), take(32)]
    tg = [take(64, 64), take(64), take(1, 64), take(1)]
    k.execute("""SELECT member_id, member_features, item_features, label FROM bench_src
                 WHERE member_id <= %s
                 ORDER BY member_id, ts, label, item_features, member_features NULLS FIRST""", (n,))
    rows = k.fetchall()
    out = []
    i = 0
    while i < len(rows):
        j = i
        while j < len(rows) and rows[j][0] == rows[i][0]:
            j += 1
        grp = rows[max(i, j - 50):j]
        x = torch.tensor(grp[-1][1])
        v = torch.tensor([r[2] for r in grp])
        y = torch.tensor([r[3] for r in grp])
        fast = [p.clone().requires_grad_(True) for p in tm]
        for _ in range(5):
            e = F.linear(F.relu(F.linear(x, fast[0], fast[1])), fast[2], fast[3])
            z = F.linear(F.relu(F.linear(torch.cat([e.expand(len(grp), 32), v], 1), tg[0], tg[1])),
                         tg[2], tg[3])
            loss = F.binary_cross_entropy_with_logits(z.squeeze(1), y)
            grads = torch.autograd.grad(loss, fast)
            fast = [p - 0.5 * g for p, g in zip(fast, grads)]
        with torch.no_grad():
            e = F.linear(F.relu(F.linear(x, fast[0], fast[1])), fast[2], fast[3])
        out.append((rows[i][0], psycopg2.Binary(e.numpy().astype(np.float32).tobytes()), len(grp)))
        i = j
    k.execute("CREATE TABLE IF NOT EXISTS py_embedding (member_id bigint PRIMARY KEY, embedding bytea, n_support int)")
    psycopg2.extras.execute_values(
        k, """INSERT INTO py_embedding VALUES %s ON CONFLICT (member_id) DO UPDATE
              SET embedding = EXCLUDED.embedding, n_support = EXCLUDED.n_support""", out, page_size=1000)
    c.commit()
    t = time.perf_counter() - t0
    c.close()
    return t, len(out)


def bench_end_to_end():
    n = E2E_MEMBERS
    q("DROP VIEW IF EXISTS bench_e2e_src")
    q("CREATE VIEW bench_e2e_src AS SELECT * FROM bench_src WHERE member_id <= %d" % n)
    q("CREATE INDEX IF NOT EXISTS bench_src_member_ts ON bench_src (member_id, ts)")
    q("ANALYZE bench_src")
    t_db = 1e30
    for _ in range(REPEATS):
        create_model("bench_e2e", "bench_e2e_src")
        t0 = time.perf_counter()
        q("CALL limaml_refresh('bench_e2e', 10000)")
        t_db = min(t_db, time.perf_counter() - t0)
    done = q("SELECT count(*) FROM limaml_meta_embedding WHERE model = 'bench_e2e'")[0][0]
    t_py = min(python_pipeline(n)[0] for _ in range(max(1, REPEATS - 1)))
    print("\n# end to end, %d members: read rows, adapt, write embeddings" % n)
    print("  CALL limaml_refresh('bench_e2e', 10000)   -- a fresh model: every member stale")
    print("  Python: psycopg2 SELECT ... ORDER BY member_id, ts, ...; PyTorch eager inner loop per member;"
          " execute_values upsert")
    say("limaml_refresh", done / t_db, "members/s", "%.3f s" % t_db)
    say("psycopg2 + PyTorch + write back", n / t_py, "members/s", "%.3f s" % t_py)
    ratio("limaml_refresh / Python pipeline", t_py / t_db, 20)
    q("DROP TABLE IF EXISTS py_embedding")
    q("SELECT limaml_drop_model('bench_e2e')")
    q("DROP VIEW bench_e2e_src")
    q("DROP INDEX bench_src_member_ts")


# ------------------------------------------------------------------ memory
def rss_anon(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


def peak_memory(sql, setup):
    """peak anonymous RSS (kB) of a fresh backend while it runs sql, sampled every 2 ms"""
    c = connect()
    k = c.cursor()
    k.execute("SELECT pg_backend_pid()")
    pid = k.fetchone()[0]
    for s in setup:
        k.execute(s)
    base = rss_anon(pid)
    peak = [base]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            try:
                peak[0] = max(peak[0], rss_anon(pid))
            except OSError:
                return
            time.sleep(0.002)

    th = threading.Thread(target=sample)
    th.start()
    t0 = time.perf_counter()
    k.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + sql)
    plan = [r[0] for r in k.fetchall()]
    t = time.perf_counter() - t0
    stop.set()
    th.join()
    peak[0] = max(peak[0], rss_anon(pid))
    c.close()
    return base, peak[0], t, plan


def bench_memory():
    rows = 20
    q("DROP TABLE IF EXISTS bench_mem")
    q("SELECT setseed(0.25)")
    q("""CREATE TABLE bench_mem AS
         SELECT m::bigint AS member_id, NULL::real[] AS member_features,
                (SELECT array_agg((random() * 2 - 1)::real) FROM generate_series(1, 32) WHERE k > 0) AS item_features,
                (random() < 0.3)::int::real AS label,
                timestamptz '2026-01-01' + make_interval(secs => k * 60) AS ts
           FROM generate_series(1, %d) m, generate_series(1, %d) k""" % (MEM_LARGE, rows))
    q("CREATE INDEX ON bench_mem (member_id, ts)")
    q("VACUUM ANALYZE bench_mem")
    q("SELECT limaml_drop_model(name) FROM limaml_model WHERE name = 'bench_mem'")
    q("""SELECT limaml_create_model('bench_mem', 'bench_mem', embedding_dim => 32, meta_hidden => '{}',
                global_hidden => '{64}', support_size => 50, member_dim => 0, item_dim => 32)""")
    agg = """SELECT count(e) FROM (SELECT member_id, limaml_adapt_agg('bench_mem', member_features,
             item_features, label, ts) AS e FROM bench_mem WHERE member_id <= %d GROUP BY member_id) s"""
    print("\n# peak backend memory (anonymous RSS, sampled every 2 ms), %d rows per member" % rows)
    print("  " + agg % MEM_LARGE)
    # hash_mem_multiplier = 1: the hash table's limit is work_mem itself (PostgreSQL 15's default is 2)
    cases = [("sorted (GroupAggregate over the index)",
              ["SET enable_hashagg = off", "SET enable_sort = off", "SET max_parallel_workers_per_gather = 0"]),
             ("hash aggregation, work_mem = 64MB, hash_mem_multiplier = 1",
              ["SET enable_sort = off", "SET enable_indexscan = off", "SET enable_bitmapscan = off",
               "SET work_mem = '64MB'", "SET hash_mem_multiplier = 1",
               "SET max_parallel_workers_per_gather = 0"])]
    for label, setup in cases:
        res = {}
        for n in (MEM_SMALL, MEM_LARGE):
            base, peak, t, plan = peak_memory(agg % n, setup)
            res[n] = peak - base
            node = plan[1].strip() if len(plan) > 1 else plan[0]
            extra = " ".join(l.strip() for l in plan if "Batches" in l or "Memory" in l)
            say("%s, %d members" % (label, n), (peak - base) / 1024.0, "MB",
                "(%.1f s; %s %s)" % (t, node, extra))
        ratio("memory %dk/%dk members, %s" % (MEM_LARGE // 1000, MEM_SMALL // 1000, label.split(" (")[0]
                                                 .split(",")[0]), res[MEM_LARGE] / max(res[MEM_SMALL], 1))
    q("DROP TABLE bench_mem")
    q("SELECT limaml_drop_model('bench_mem')")


def main():
    what = sys.argv[1:] or ["throughput", "parallel", "e2e", "memory"]
    settings()
    print("\n# data: %d members x %d rows (random physical order)" % (MEMBERS, ROWS), flush=True)
    make_source("bench_src", MEMBERS, ROWS)
    create_model("bench", "bench_src")
    if "throughput" in what:
        t_agg = bench_throughput()
        bench_adapt_per_member(t_agg)
        bench_throughput_history()
    if "parallel" in what:
        bench_parallel()
    if "e2e" in what:
        bench_end_to_end()
    if "memory" in what:
        bench_memory()


main()
