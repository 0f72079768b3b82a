#!/usr/bin/python3
"""Measures one schema size: every tool on the same three databases, several runs each.

    measure.py --size N --gen DIR --url-base postgresql://u:p@host:port --server-log FILE
               --driftwatch BIN --migra JS --runs R --out results.json [--alembic]

Databases (made by run.sh): bench{N}_a and bench{N}_b are built from the same schema.sql
separately (identical schemas, different OIDs), bench{N}_c is a copy of _b with drift.sql
applied. "diff" means: expected = _b, actual = _c. False differences: expected = _a, actual = _b.

Per tool and run: wall time, CPU time (user+sys of the client processes, from wait4), peak RSS
of the largest client process. Server CPU is not in these figures for any tool.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time


def run(argv, stdout_path=None, env=None):
    """Runs argv, returns dict(wall, cpu, rss_kb, rc) measured with wait4."""
    out = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
    err = tempfile.TemporaryFile()
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if stdout_path:
        out.close()
    err.seek(0)
    stderr = err.read().decode(errors="replace")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_kb": usage.ru_maxrss,
            "rc": proc.returncode, "stderr": stderr}


def chain(steps):
    """Sequential processes counted as one tool run: times add up, RSS is the max."""
    total = {"wall": 0.0, "cpu": 0.0, "rss_kb": 0, "rc": 0, "stderr": ""}
    for argv, path in steps:
        r = run(argv, path)
        total["wall"] += r["wall"]
        total["cpu"] += r["cpu"]
        total["rss_kb"] = max(total["rss_kb"], r["rss_kb"])
        total["rc"] = max(total["rc"], r["rc"])
        total["stderr"] += r["stderr"]
    return total


def summarize(samples):
    out = {}
    for key in ("wall", "cpu", "rss_kb"):
        values = [s[key] for s in samples]
        out[key] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
    out["runs"] = len(samples)
    return out


def repeat(runs, fn, ok_rcs):
    samples = []
    for _ in range(runs):
        r = fn()
        if r["rc"] not in ok_rcs:
            raise SystemExit("measure: command failed (rc %d): %s" % (r["rc"], r["stderr"][-2000:]))
        samples.append(r)
    return summarize(samples)


# --- correctness -----------------------------------------------------------------------------
# A drift counts as reported when the tool's output has one difference unit (driftwatch: a
# finding; migra: a statement; pg_dump+diff: a changed line, within its pg_dump object block;
# Alembic: a diff tuple) that contains every needle of the drift; for driftwatch the finding's
# `object` must equal the drift's qualified name instead.

def dw_units(path):
    with open(path) as f:
        return json.load(f)["findings"]


def dw_found(findings, drift):
    return any(f["object"] == drift["object"] for f in findings)


def word_in(needle, text):
    return re.search(r"(?<![A-Za-z0-9_])%s(?![A-Za-z0-9_])" % re.escape(needle), text) is not None


def statements(path):
    with open(path, errors="replace") as f:
        text = f.read()
    return [s.strip() for s in re.split(r";\s*\n", text) if s.strip()]


def text_found(units, drift):
    return any(all(word_in(n, u) for n in drift["needles"]) for u in units)


def pg_dump_blocks(path):
    """Line number (1-based) -> text of the pg_dump TOC block ("-- Name: ...") holding it."""
    with open(path, errors="replace") as f:
        lines = f.read().split("\n")
    owner, blocks, current = [], [], []
    for line in lines:
        if line.startswith("-- Name:") or line.startswith("-- Data for Name:"):
            blocks.append(current)
            current = []
        current.append(line)
        owner.append(len(blocks))
    blocks.append(current)
    return lines, owner, ["\n".join(b) for b in blocks]


def diff_changed(diff_path):
    """Changed line numbers on each side from `diff` normal output."""
    left, right = set(), set()
    pattern = re.compile(r"^(\d+)(?:,(\d+))?([acd])(\d+)(?:,(\d+))?$")
    with open(diff_path, errors="replace") as f:
        for line in f:
            m = pattern.match(line.rstrip("\n"))
            if not m:
                continue
            l1, l2, op, r1, r2 = m.groups()
            l1, r1 = int(l1), int(r1)
            l2 = int(l2) if l2 else l1
            r2 = int(r2) if r2 else r1
            if op != "a":
                left.update(range(l1, l2 + 1))
            if op != "d":
                right.update(range(r1, r2 + 1))
    return left, right


def pg_dump_units(dump_left, dump_right, diff_path):
    """Difference units of a pg_dump diff: each changed line with its object block's text, as
    (line, block)."""
    left, right = diff_changed(diff_path)
    units = []
    for side, (path, changed) in enumerate(((dump_left, left), (dump_right, right))):
        lines, owner, texts = pg_dump_blocks(path)
        for n in sorted(changed):
            if n - 1 < len(lines):
                units.append((lines[n - 1], texts[owner[n - 1]]))
    return units


def pg_dump_found(units, drift):
    """The changed line, or the header of its object block ("-- Name: X; Type: ..."), names the
    drift's most specific identifier, and the block holds all its identifiers."""
    needles = drift["needles"]
    return any((word_in(needles[-1], line) or word_in(needles[-1], block.split("\n", 1)[0]))
               and all(word_in(n, block) for n in needles) for line, block in units)


def diff_hunks(diff_path):
    with open(diff_path, errors="replace") as f:
        return sum(1 for line in f if re.match(r"^\d+(,\d+)?[acd]\d+(,\d+)?$", line))


# --- server-side time and query count from the PostgreSQL log --------------------------------
DURATION = re.compile(r"^\S+ \S+ \S+ \[(\d+)\] (\S*)@(\S*) LOG:  duration: ([0-9.]+) ms  (\w+)")


def logged(server_log, dbs, fn):
    """Runs fn with statement logging on for dbs; returns (queries, server_ms, limit_ms,
    sessions) of the sessions named driftwatch. Each statement's parse, bind and execute
    durations are added up (server_ms). driftwatch may use several sessions at once (both sides
    of a diff in parallel, a second connection for large schemas), so the wall-clock limit is
    the larger of the busiest session's sum and the total spread over this machine's cores."""
    offset = os.path.getsize(server_log)
    for db in dbs:
        psql(["-c", "ALTER DATABASE %s SET log_min_duration_statement = 0" % db])
    try:
        fn()
    finally:
        for db in dbs:
            psql(["-c", "ALTER DATABASE %s RESET log_min_duration_statement" % db])
    queries, total_ms, per_session = 0, 0.0, {}
    with open(server_log, errors="replace") as f:
        f.seek(offset)
        for line in f:
            m = DURATION.match(line)
            if not m or m.group(2) != "driftwatch":
                continue
            ms = float(m.group(4))
            total_ms += ms
            per_session[m.group(1)] = per_session.get(m.group(1), 0.0) + ms
            if m.group(5) in ("execute", "statement"):
                queries += 1
    limit_ms = max([total_ms / (os.cpu_count() or 1)] + list(per_session.values()))
    return queries, total_ms, limit_ms, len(per_session)


URL_BASE = None
# pg_dump >= 15.14 writes a random psql \restrict key into every dump, so two dumps of one
# database always differ in 2 lines; a fixed key is what a user diffing dumps would pass.
PG_DUMP = ["pg_dump", "--schema-only", "--no-owner", "--restrict-key=driftwatchbench"]


def psql(args):
    subprocess.run(["psql", "-qAtX", "-v", "ON_ERROR_STOP=1", URL_BASE + "/postgres"] + args,
                   check=True, stdout=subprocess.DEVNULL)


def main():
    global URL_BASE
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--gen", required=True)
    p.add_argument("--url-base", required=True)
    p.add_argument("--server-log", required=True)
    p.add_argument("--driftwatch", required=True)
    p.add_argument("--migra", required=True)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--alembic", action="store_true")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    URL_BASE = a.url_base
    n = a.size
    db = {k: "bench%d_%s" % (n, k) for k in "abc"}
    url = {k: "%s/%s" % (a.url_base, v) for k, v in db.items()}
    work = tempfile.mkdtemp(prefix="dwbench%d-" % n)
    drifts = json.load(open(os.path.join(a.gen, "drifts.json")))
    dw = a.driftwatch
    migra = ["node", a.migra, "run"]
    res = {"size": n, "runs": a.runs, "drifts": len(drifts), "tools": {}, "correctness": {}}
    log = lambda *x: print("measure[%d]:" % n, *x, file=sys.stderr, flush=True)

    snap_b = os.path.join(work, "b.json")
    run([dw, "snapshot", "--url", url["b"], "--out", snap_b])

    def out(name):
        return os.path.join(work, name)

    tools = {
        "driftwatch snapshot": (lambda: run([dw, "snapshot", "--url", url["b"], "--out",
                                             out("snap.json")]), {0}),
        "driftwatch diff": (lambda: run([dw, "diff", "--expected", url["b"], "--actual", url["c"],
                                         "--format", "json"], out("dw_drift.json")), {0, 1}),
        "driftwatch check (snapshot file vs DB)": (
            lambda: run([dw, "diff", "--expected", snap_b, "--actual", url["c"], "--format",
                         "json"], out("dw_check.json")), {0, 1}),
        "pg_dump+diff": (lambda: chain([
            (PG_DUMP + [url["b"]], out("dump_b.sql")),
            (PG_DUMP + [url["c"]], out("dump_c.sql")),
            (["diff", out("dump_b.sql"), out("dump_c.sql")], out("dump_bc.diff"))]), {0, 1}),
        "migra": (lambda: run(migra + [url["b"], url["c"], "--unsafe"], out("migra_bc.sql")),
                  {0, 2}),
    }
    if a.alembic:
        models = os.path.join(a.gen, "models.py")
        tools["alembic compare_metadata"] = (
            lambda: run(["/usr/bin/python3", os.path.join(os.path.dirname(__file__),
                                                          "alembic_compare.py"), models, url["c"]],
                        out("alembic_c.txt")), {0})
    for name, (fn, ok) in tools.items():
        log(name)
        res["tools"][name] = repeat(a.runs, fn, ok)

    # The limit: server-side time of driftwatch's own statements (one extra, logged run each,
    # not part of the timings above), and the queries it sends.
    def limit(name, dbs, cmd):
        q, ms, lim, sessions = logged(a.server_log, dbs, lambda: run(cmd))
        res["tools"][name].update(queries=q, server_ms=ms, limit_ms=lim, sessions=sessions)
    limit("driftwatch snapshot", [db["b"]],
          [dw, "snapshot", "--url", url["b"], "--out", out("snap_logged.json")])
    limit("driftwatch diff", [db["b"], db["c"]],
          [dw, "diff", "--expected", url["b"], "--actual", url["c"]])
    limit("driftwatch check (snapshot file vs DB)", [db["c"]],
          [dw, "diff", "--expected", snap_b, "--actual", url["c"]])

    # Correctness on the drifted pair (outputs of the last timed run) and on identical ones.
    log("correctness")
    run([dw, "diff", "--expected", url["a"], "--actual", url["b"], "--format", "json"],
        out("dw_same.json"))
    chain([(PG_DUMP + [url["a"]], out("dump_a.sql")),
           (["diff", out("dump_a.sql"), out("dump_b.sql")], out("dump_ab.diff"))])
    run(migra + [url["a"], url["b"], "--unsafe"], out("migra_ab.sql"))

    findings = dw_units(out("dw_drift.json"))
    pd_units = pg_dump_units(out("dump_b.sql"), out("dump_c.sql"), out("dump_bc.diff"))
    mg = statements(out("migra_bc.sql"))
    per_tool = {
        "driftwatch": ([dw_found(findings, d) for d in drifts], len(findings),
                       len(dw_units(out("dw_same.json")))),
        "pg_dump+diff": ([pg_dump_found(pd_units, d) for d in drifts],
                         diff_hunks(out("dump_bc.diff")), diff_hunks(out("dump_ab.diff"))),
        "migra": ([text_found(mg, d) for d in drifts], len(mg),
                  len(statements(out("migra_ab.sql")))),
    }
    if a.alembic:
        run(["/usr/bin/python3", os.path.join(os.path.dirname(__file__), "alembic_compare.py"),
             os.path.join(a.gen, "models.py"), url["a"]], out("alembic_a.txt"))
        al = [l for l in open(out("alembic_c.txt")).read().split("\n") if l.strip()]
        al_same = [l for l in open(out("alembic_a.txt")).read().split("\n") if l.strip()]
        per_tool["alembic compare_metadata"] = ([text_found(al, d) for d in drifts], len(al),
                                                len(al_same))
    for tool, (found, reported, false_diffs) in per_tool.items():
        res["correctness"][tool] = {
            "found": sum(found),
            "missed": [d["what"] + " " + d["object"] for d, f in zip(drifts, found) if not f],
            "differences_reported": reported,
            "false_differences_identical": false_diffs,
        }
    res["workdir"] = work
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1, sort_keys=True)
    log("wrote", a.out)


if __name__ == "__main__":
    main()
