#!/usr/bin/python3
"""Renders bench/results/raw/*.json into tables (bench/results/results.md, also spliced into
bench/README.md between the results markers) and a log-log plot of time vs schema size
(bench/results/time_vs_size.png).

    report.py --results bench/results --root REPO [--elapsed SECONDS]
"""
import argparse
import datetime
import glob
import json
import os
import platform
import re
import subprocess

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
PEERS = ["pg_dump+diff", "migra", "alembic compare_metadata"]


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


def machine(root):
    model = sh("lscpu | sed -n 's/^Model name: *//p'")
    mem = sh("free -g | awk '/Mem:/ {print $2}'")
    return {
        "nproc": sh("nproc"), "cpu": model, "ram_gb": mem, "kernel": platform.release(),
        "postgres": sh("psql --version"), "commit": sh("git -C %s rev-parse HEAD" % root),
        "dirty": bool(sh("git -C %s status --porcelain -- daemon include" % root)),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def fmt_s(x):
    return "%.3f" % x if x < 10 else "%.1f" % x


def cell(t):
    w = t["wall"]
    return "%s (%s–%s)" % (fmt_s(w["median"]), fmt_s(w["min"]), fmt_s(w["max"]))


def limit_ms(t):
    """The wall-clock floor set by PostgreSQL (measure.logged); older results have only the sum."""
    return t.get("limit_ms", t["server_ms"])


def size_table(r):
    out = ["### %d tables (%d injected drifts, %d runs; times in seconds, median (min–max))"
           % (r["size"], r["drifts"], r["runs"]), "",
           "| tool | wall s | CPU s | peak RSS MB | sessions | queries | server s | limit s | "
           "wall / driftwatch diff |",
           "|---|---|---|---|---|---|---|---|---|"]
    base = r["tools"]["driftwatch diff"]["wall"]["median"]
    for name, t in r["tools"].items():
        ms = lambda k: "%.3f" % (t[k] / 1000.0) if k in t else ""
        out.append("| %s | %s | %.3f | %.1f | %s | %s | %s | %s | %.1f× |" % (
            name, cell(t), t["cpu"]["median"], t["rss_kb"]["median"] / 1024.0,
            t.get("sessions", ""), t.get("queries", ""), ms("server_ms"), ms("limit_ms"),
            t["wall"]["median"] / base))
    over = lambda k: r["tools"][k]["wall"]["median"] * 1000 / limit_ms(r["tools"][k])
    out += ["", "Overhead vs the limit (driftwatch wall / limit): diff %.1f×, snapshot %.1f×, "
            "check (snapshot file vs DB) %.1f×." % (
                over("driftwatch diff"), over("driftwatch snapshot"),
                over("driftwatch check (snapshot file vs DB)")), ""]
    out += ["| tool | injected drifts reported | differences reported (drifted pair) | "
            "false differences (identical pair) | missed |", "|---|---|---|---|---|"]
    for name, c in r["correctness"].items():
        missed = ", ".join(c["missed"][:6]) + (" …" if len(c["missed"]) > 6 else "")
        out.append("| %s | %d / %d | %d | %d | %s |" % (name, c["found"], r["drifts"],
                                                        c["differences_reported"],
                                                        c["false_differences_identical"],
                                                        missed or "–"))
    return "\n".join(out) + "\n"


def summary_table(rs):
    out = ["### Ratios (median wall time of the peer / driftwatch diff; vs limit = driftwatch diff "
           "wall / limit)", "",
           "| tables | driftwatch diff s | pg_dump+diff | migra | alembic | vs limit |",
           "|---|---|---|---|---|---|"]
    for r in rs:
        dw = r["tools"]["driftwatch diff"]
        b = dw["wall"]["median"]
        ratio = lambda k: ("%.1f×" % (r["tools"][k]["wall"]["median"] / b)
                           if k in r["tools"] else "–")
        out.append("| %d | %s | %s | %s | %s | %.1f× |" % (
            r["size"], fmt_s(b), ratio("pg_dump+diff"), ratio("migra"),
            ratio("alembic compare_metadata"), b * 1000 / limit_ms(dw)))
    return "\n".join(out) + "\n"


def fleet_table(path):
    if not os.path.exists(path):
        return "Fleet: not run.\n"
    f = json.load(open(path))
    out = ["### Fleet (`driftwatch serve`, small 10-table databases in one cluster)", "",
           "wrk: 2 threads, 50 connections, while checks run; gzip = `Accept-Encoding: gzip` "
           "(what Prometheus sends), identity = no compression.", "",
           "| targets | concurrency | interval | first full round s | RSS MB after round / peak | "
           "/metrics p50 / p99 ms gzip | identity | /api/v1/targets p50 / p99 ms gzip | identity "
           "| req/s /metrics gzip | checks/s under load | statuses |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in f["runs"]:
        if "error" in r:
            out.append("| %d | %d | | failed: %s | | | | | | | | |" % (
                r["targets"], r["concurrency"], r["error"][:120]))
            continue
        g = lambda d, k: "%.1f" % d[k] if d.get(k) is not None else "?"
        pair = lambda k: "%s / %s" % (g(r.get(k, {}), "p50_ms"), g(r.get(k, {}), "p99_ms"))
        out.append("| %d | %d | %s | %.1f | %.0f / %.0f | %s | %s | %s | %s | %s | %s | %s |" % (
            r["targets"], r["concurrency"], r.get("interval", "?"), r["round_s"],
            r["rss_mb_after_round"], r["rss_mb_peak"], pair("metrics"), pair("metrics_identity"),
            pair("api_targets"), pair("api_targets_identity"),
            g(r.get("metrics", {}), "requests_per_s"), g(r, "checks_per_s_under_load"),
            r.get("statuses")))
    return "\n".join(out) + "\n"


def plot(rs, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    tools = []
    for r in rs:
        for k in r["tools"]:
            if k not in tools:
                tools.append(k)
    fig, ax = plt.subplots(figsize=(8, 5))
    for k in tools:
        pts = [(r["size"], r["tools"][k]["wall"]) for r in rs if k in r["tools"]]
        xs = [p[0] for p in pts]
        ys = [p[1]["median"] for p in pts]
        err = [[p[1]["median"] - p[1]["min"] for p in pts],
               [p[1]["max"] - p[1]["median"] for p in pts]]
        ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=k)
    limit = [(r["size"], limit_ms(r["tools"]["driftwatch diff"]) / 1000.0) for r in rs]
    ax.plot([p[0] for p in limit], [p[1] for p in limit], "k--", label="limit: PostgreSQL's time "
            "for driftwatch diff's statements")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("tables per schema")
    ax.set_ylabel("wall time, s (median, bars min–max)")
    ax.set_title("Schema comparison time vs schema size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--results", required=True)
    p.add_argument("--root", required=True)
    p.add_argument("--elapsed", type=int)
    a = p.parse_args()
    rs = sorted((json.load(open(f)) for f in glob.glob(os.path.join(a.results, "raw",
                                                                    "size_*.json"))),
                key=lambda r: r["size"])
    m = machine(a.root)
    json.dump({"machine": m, "sizes": rs}, open(os.path.join(a.results, "results.json"), "w"),
              indent=1, sort_keys=True)
    parts = ["Measured %s on commit `%s`%s; %s CPUs (%s), %s GB RAM, kernel %s, %s.%s\n" % (
        m["date"], m["commit"], " (with uncommitted changes in daemon/ or include/)"
        if m["dirty"] else "", m["nproc"], m["cpu"], m["ram_gb"], m["kernel"], m["postgres"],
        " Whole run: %d s." % a.elapsed if a.elapsed else "")]
    if rs:
        parts.append(summary_table(rs))
        parts += [size_table(r) for r in rs]
    db = os.path.join(a.results, "raw", "diff_bench_1000.txt")
    if os.path.exists(db):
        parts.append("### Pure diff, two 1,000-table snapshots (`build-bench/bench/"
                     "driftwatch_diff_bench 1000 15`)\n\n```\n" + open(db).read() + "```\n")
    parts.append(fleet_table(os.path.join(a.results, "raw", "fleet.json")))
    text = "\n".join(parts)
    open(os.path.join(a.results, "results.md"), "w").write(text)
    if rs and plot(rs, os.path.join(a.results, "time_vs_size.png")):
        text += "\n![time vs size](results/time_vs_size.png)\n"
    readme = os.path.join(os.path.dirname(a.results), "README.md")
    if os.path.exists(readme):
        body = open(readme).read()
        if BEGIN in body and END in body:
            body = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END),
                          lambda _: BEGIN + "\n" + text + END, body, flags=re.S)
            open(readme, "w").write(body)


if __name__ == "__main__":
    main()
