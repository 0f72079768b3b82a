#!/usr/bin/python3
"""Replay benchmarks (issue 12): history build time, and whether an on-demand replay delays the
checks of other targets. Small and targeted (a few minutes), not part of bench/run.sh.

    bench/replay_bench.py [--chain 100]

Needs a built build/daemon/app/driftwatch (or DRIFTWATCH_BIN) and starts its own PostgreSQL
(tests/harness/pg_cluster.sh). Prints one JSON document and writes bench/results/replay.json.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
PY = "/usr/bin/python3"
WAREHOUSE = os.path.join(ROOT, "tests", "fixtures", "warehouse")
TOKEN = "bench-replay-token"


def run(args, **kwargs):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kwargs)


def timed_build(binary, scratch, versions, ini, out_dir):
    started = time.monotonic()
    run([binary, "snapshot", "--all-revisions", "--versions", versions, "--scratch-url", scratch,
         "--out-dir", out_dir, "--upgrade-command",
         "%s -m alembic -c %s upgrade {revision}" % (PY, ini)])
    return time.monotonic() - started


def synthetic_chain(directory, n):
    versions = os.path.join(directory, "versions")
    os.makedirs(versions)
    for i in range(n):
        down = '"c%03d"' % (i - 1) if i else "None"
        with open(os.path.join(versions, "c%03d.py" % i), "w") as f:
            f.write('from alembic import op\n\nrevision = "c%03d"\ndown_revision = %s\n'
                    'branch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n'
                    '    op.execute("CREATE TABLE t%03d (id bigint PRIMARY KEY, name text NOT NULL,'
                    ' created_at timestamptz DEFAULT now())")\n    op.execute("CREATE INDEX '
                    't%03d_name_idx ON t%03d (name)")\n\n\ndef downgrade():\n    pass\n'
                    % (i, down, i, i, i))
    ini = os.path.join(directory, "alembic.ini")
    with open(os.path.join(WAREHOUSE, "alembic.ini")) as f:
        text = f.read()
    text = text.replace("version_locations = %(here)s/versions", "version_locations = " + versions)
    text = text.replace("script_location = %(here)s", "script_location = " + WAREHOUSE)
    with open(ini, "w") as f:
        f.write(text)
    return versions, ini


def http(port, path, method="GET"):
    request = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method,
                                     headers={"Authorization": "Bearer " + TOKEN})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read().decode())


def check_latencies(port, target, count):
    out = []
    for _ in range(count):
        started = time.monotonic()
        http(port, "/api/v1/targets/%s/check" % target, method="POST")
        out.append(time.monotonic() - started)
    return out


def replay_interference(binary, e2e, tmp, scratch):
    """POST checks of a head target: baseline, then while a (slow) replay runs."""
    head = e2e.MigratedTemplate("head", prefix="bench_rp_head")
    names = []
    try:
        name, other = head.copy(prefix="bench_rp_other")
        names.append(name)
        name, old = e2e.create_database("bench_rp_old")
        names.append(name)
        e2e.alembic(old, "upgrade", "0009_reporting")
        snapshots = os.path.join(tmp, "head-only")
        os.makedirs(snapshots)
        run([binary, "snapshot", "--url", head.url, "--out",
             os.path.join(snapshots, "head.json")])
        token = os.path.join(tmp, "token")
        with open(token, "w") as f:
            f.write(TOKEN)
        # The replay command sleeps 8 s first: a slow migration.
        command = ["/bin/sh", "-c", "sleep 8; exec %s -m alembic -c %s upgrade \"$0\"" % (
            PY, os.path.join(WAREHOUSE, "alembic.ini")), "{revision}"]
        config = os.path.join(tmp, "serve.toml")
        with open(config, "w") as f:
            f.write('[server]\nlisten = "127.0.0.1:0"\nadmin_token_file = %s\n'
                    '[check]\ninterval = "1h"\nconcurrency = 2\n[alerts]\nstate_dir = %s\n'
                    '[migrations.warehouse]\nversions = [%s]\nsnapshots = %s\n'
                    '[migrations.warehouse.replay]\nscratch_url = %s\ncommand = %s\n'
                    '[[targets]]\nname = "other"\nurl = %s\n[[targets]]\nname = "old"\nurl = %s\n'
                    % tuple(json.dumps(x) for x in (
                        token, os.path.join(tmp, "state"), os.path.join(WAREHOUSE, "versions"),
                        snapshots, scratch, command, other, old)))
        log = open(os.path.join(tmp, "serve.log"), "w+")
        proc = subprocess.Popen([binary, "serve", "--config", config], stderr=log,
                                stdout=subprocess.DEVNULL)
        try:
            port = None
            while port is None:
                time.sleep(0.1)
                log.seek(0)
                for line in log:
                    if "listening on 127.0.0.1:" in line:
                        port = int(line.split("listening on 127.0.0.1:")[1].split()[0])
            while True:  # first round done; the replay for `old` is queued by its first check
                try:
                    with urllib.request.urlopen("http://127.0.0.1:%d/readyz" % port) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                time.sleep(0.2)
            during = check_latencies(port, "other", 10)  # the replay runs (>= 8 s)
            replay_running_at_end = "(the target's revision)" not in http(
                port, "/api/v1/targets/old").get("compared_against", "")
            while "(the target's revision)" not in http(port, "/api/v1/targets/old").get(
                    "compared_against", ""):
                time.sleep(0.5)
            baseline = check_latencies(port, "other", 10)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        return {
            "other_check_seconds_during_replay_median": statistics.median(during),
            "other_check_seconds_during_replay_max": max(during),
            "other_check_seconds_baseline_median": statistics.median(baseline),
            "ratio_median_during_over_baseline": statistics.median(during) /
            statistics.median(baseline),
            "replay_still_running_after_the_10_checks": replay_running_at_end,
        }
    finally:
        for name in names:
            e2e.drop_database(name)
        head.drop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--chain", type=int, default=100)
    args = parser.parse_args()
    binary = os.environ.get("DRIFTWATCH_BIN", os.path.join(ROOT, "build", "daemon", "app",
                                                            "driftwatch"))
    tmp = tempfile.mkdtemp(prefix="driftwatch-replay-bench.")
    cluster = os.path.join(tmp, "pg")
    run([os.path.join(ROOT, "tests", "harness", "pg_cluster.sh"), "start", cluster])
    try:
        os.environ["DRIFTWATCH_TEST_PG_URL_FILE"] = os.path.join(cluster, "url")
        os.environ["DRIFTWATCH_BIN"] = binary
        import e2e_support as e2e
        scratch = e2e.cluster_url()
        results = {}
        fixture_dir = os.path.join(tmp, "fixture-history")
        results["fixture_revisions"] = 12
        results["fixture_build_seconds"] = timed_build(
            binary, scratch, os.path.join(WAREHOUSE, "versions"),
            os.path.join(WAREHOUSE, "alembic.ini"), fixture_dir)
        results["fixture_incremental_rerun_seconds"] = timed_build(
            binary, scratch, os.path.join(WAREHOUSE, "versions"),
            os.path.join(WAREHOUSE, "alembic.ini"), fixture_dir)
        chain_dir = os.path.join(tmp, "chain")
        versions, ini = synthetic_chain(chain_dir, args.chain)
        results["chain_revisions"] = args.chain
        results["chain_build_seconds"] = timed_build(binary, scratch, versions, ini,
                                                     os.path.join(chain_dir, "history"))
        results["chain_seconds_per_revision"] = results["chain_build_seconds"] / args.chain
        # One plain `alembic upgrade` of a single revision, for scale.
        name, url = e2e.create_database("bench_one")
        started = time.monotonic()
        e2e.alembic(url, "upgrade", "0001_base")
        results["one_alembic_upgrade_process_seconds"] = time.monotonic() - started
        e2e.drop_database(name)
        results["replay_interference"] = replay_interference(binary, e2e, tmp, scratch)
        text = json.dumps(results, indent=2, sort_keys=True)
        print(text)
        os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
        with open(os.path.join(ROOT, "bench", "results", "replay.json"), "w") as f:
            f.write(text + "\n")
    finally:
        subprocess.run([os.path.join(ROOT, "tests", "harness", "pg_cluster.sh"), "stop", cluster],
                       capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
