#!/usr/bin/python3
"""Fleet benchmark: `driftwatch serve` watching many small databases in one cluster.

    fleet.py --driftwatch BIN --url-base postgresql://u:p@127.0.0.1:port --targets 100,1000
             --out fleet.json [--concurrency 4,16] [--load-seconds 20]

For each fleet size it creates that many databases from one template (the 10-table benchmark
schema, at the revision of a one-file versions directory, with a snapshot of it as expected
schema), then per concurrency level starts the daemon on 127.0.0.1:0 and records:
  round_s    time from start to /readyz = 200 (the first full round of checks is done; the
             scheduler spreads first checks over min(interval, 10 s) on purpose)
  checks_per_s_under_load  checks completed per second during the wrk load
  rss_mb     daemon VmRSS after the round, and VmHWM (peak) at the end
  latency    /metrics and /api/v1/targets under wrk (50 connections, --load-seconds) while the
             daemon keeps checking (interval short enough that checks run during the load)
Only 127.0.0.1 is contacted.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REVISION = "a1b2c3d4e5f6"


def log(*a):
    print("fleet:", *a, file=sys.stderr, flush=True)


def psql(url, *sql):
    args = ["psql", "-qAtX", "-v", "ON_ERROR_STOP=1", url]
    for s in sql:
        args += ["-c", s]
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def http_status(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def proc_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def wrk(url, seconds, gzip=True):
    # Prometheus asks for gzip (Accept-Encoding: gzip) on every scrape, as do browsers.
    headers = ["-H", "Accept-Encoding: gzip"] if gzip else []
    out = subprocess.run(["wrk", "-t2", "-c50", "-d%ds" % seconds, "--latency"] + headers + [url],
                         capture_output=True, text=True).stdout
    res = {"raw": out}
    for pct in ("50", "90", "99"):
        m = re.search(r"^\s+%s%%\s+([0-9.]+)(us|ms|s)\s*$" % pct, out, re.M)
        if m:
            scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
            res["p%s_ms" % pct] = float(m.group(1)) * scale
    m = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    res["requests_per_s"] = float(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["non_2xx"] = int(m.group(1)) if m else 0
    return res


def checks_total(root):
    with urllib.request.urlopen(root + "/metrics", timeout=10) as r:
        text = r.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.split("\n")
               if line.startswith("driftwatch_checks_total{"))


def prepare(base, dw, count, work):
    admin = base + "/postgres"
    existing = set(psql(admin, "SELECT datname FROM pg_database WHERE datname LIKE 'fleet_%'")
                   .split())
    if "fleet_tpl" not in existing:
        subprocess.run(["/usr/bin/python3", os.path.join(HERE, "gen_schema.py"), "10",
                        os.path.join(work, "gen10")], check=True, stdout=subprocess.DEVNULL)
        psql(admin, "CREATE DATABASE fleet_tpl")
        subprocess.run(["psql", "-qX", "-v", "ON_ERROR_STOP=1", base + "/fleet_tpl", "-f",
                        os.path.join(work, "gen10", "schema.sql")], check=True,
                       stdout=subprocess.DEVNULL)
    for i in range(count):
        name = "fleet_%04d" % i
        if name not in existing:
            psql(admin, "CREATE DATABASE %s TEMPLATE fleet_tpl" % name)
    versions = os.path.join(work, "versions")
    snapshots = os.path.join(work, "snapshots")
    os.makedirs(versions, exist_ok=True)
    os.makedirs(snapshots, exist_ok=True)
    with open(os.path.join(versions, REVISION + "_initial.py"), "w") as f:
        f.write('"""initial"""\nrevision = "%s"\ndown_revision = None\n' % REVISION)
    subprocess.run([dw, "snapshot", "--url", base + "/fleet_tpl", "--out",
                    os.path.join(snapshots, REVISION + ".json")], check=True)
    return versions, snapshots


def write_config(path, base, count, concurrency, versions, snapshots, interval):
    lines = ['[server]', 'listen = "127.0.0.1:0"', '',
             '[check]', 'interval = "%s"' % interval, 'timeout = "30s"',
             'concurrency = %d' % concurrency, '',
             '[migrations.warehouse]', 'versions = ["%s"]' % versions,
             'snapshots = "%s"' % snapshots, '']
    for i in range(count):
        lines += ['[[targets]]', 'name = "db%04d"' % i, 'migrations = "warehouse"',
                  'url = "%s/fleet_%04d"' % (base, i), '']
    with open(path, "w") as f:
        f.write("\n".join(lines))
    os.chmod(path, 0o600)  # holds the cluster password


def run_daemon(dw, config, load_seconds):
    errlog = open(config + ".log", "w")
    start = time.perf_counter()
    proc = subprocess.Popen([dw, "serve", "--config", config], stdout=subprocess.DEVNULL,
                            stderr=errlog)
    res = {}
    try:
        port = None
        while port is None and time.perf_counter() - start < 30:
            time.sleep(0.05)
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", open(config + ".log").read())
            port = m.group(1) if m else None
        if port is None:
            raise RuntimeError("daemon did not report its port: " + open(config + ".log").read()[-2000:])
        root = "http://127.0.0.1:%s" % port
        while http_status(root + "/readyz") != 200:
            if proc.poll() is not None or time.perf_counter() - start > 600:
                raise RuntimeError("daemon never became ready")
            time.sleep(0.05)
        res["round_s"] = time.perf_counter() - start
        res["rss_mb_after_round"] = proc_kb(proc.pid, "VmRSS") / 1024.0
        with urllib.request.urlopen(root + "/api/v1/targets", timeout=10) as r:
            targets = json.load(r)
        items = targets.get("targets", targets) if isinstance(targets, dict) else targets
        statuses = {}
        for t in items:
            s = t.get("status", "?") if isinstance(t, dict) else "?"
            statuses[s] = statuses.get(s, 0) + 1
        res["statuses"] = statuses
        # Steady state: checks per second over the load window (the daemon keeps checking,
        # interval 10s), so a full round takes targets / rate once the start-up spread is over.
        t0, c0 = time.perf_counter(), checks_total(root)
        if shutil.which("wrk"):
            res["metrics"] = wrk(root + "/metrics", load_seconds)
            res["api_targets"] = wrk(root + "/api/v1/targets", load_seconds)
            # The same without compression (clients that do not ask for gzip).
            res["metrics_identity"] = wrk(root + "/metrics", load_seconds, gzip=False)
            res["api_targets_identity"] = wrk(root + "/api/v1/targets", load_seconds,
                                              gzip=False)
        else:
            time.sleep(load_seconds)
        res["checks_per_s_under_load"] = (checks_total(root) - c0) / (time.perf_counter() - t0)
        res["rss_mb_end"] = proc_kb(proc.pid, "VmRSS") / 1024.0
        res["rss_mb_peak"] = proc_kb(proc.pid, "VmHWM") / 1024.0
        res["cpu_s"] = sum(int(x) for x in open("/proc/%d/stat" % proc.pid).read()
                           .rsplit(")", 1)[1].split()[11:13]) / os.sysconf("SC_CLK_TCK")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return res


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--driftwatch", required=True)
    p.add_argument("--url-base", required=True)
    p.add_argument("--targets", default="100,1000")
    p.add_argument("--concurrency", default="4,16")
    p.add_argument("--load-seconds", type=int, default=20)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    work = tempfile.mkdtemp(prefix="dwfleet-")
    sizes = [int(x) for x in a.targets.split(",")]
    results = {"runs": []}
    versions, snapshots = prepare(a.url_base, a.driftwatch, max(sizes), work)
    for count in sizes:
        for conc in [int(x) for x in a.concurrency.split(",")]:
            config = os.path.join(work, "fleet_%d_%d.toml" % (count, conc))
            # Short interval: after the first round the daemon keeps checking during the load.
            write_config(config, a.url_base, count, conc, versions, snapshots, "10s")
            log("%d targets, concurrency %d" % (count, conc))
            try:
                r = run_daemon(a.driftwatch, config, a.load_seconds)
            except (RuntimeError, OSError) as e:  # a starved or crashed daemon is a result too
                r = {"error": "%s: %s" % (type(e).__name__, e)}
            r.update(targets=count, concurrency=conc, interval="10s")
            for k in ("metrics", "api_targets", "metrics_identity", "api_targets_identity"):
                if k in r:
                    r[k].pop("raw", None)
            log(json.dumps(r))
            results["runs"].append(r)
            with open(a.out, "w") as f:
                json.dump(results, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
