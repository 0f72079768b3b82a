"""A real Prometheus scrapes `driftwatch serve`.

Two targets: `clean` (a copy of the warehouse at head) and `drifted` (at head plus a column the
code does not know). Debian's /usr/bin/prometheus scrapes the daemon every second; queries
through its HTTP API must return driftwatch_drift_detected 0 for clean and 1 for drifted. Then
real Alembic downgrades `clean` by one revision, an on-demand check (POST with the bearer token)
runs, and driftwatch_revision_behind for clean becomes 1 in /metrics and then in Prometheus.
`promtool check metrics` must be clean on every scrape body the test reads.
"""
import json
import os
import re
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_support as e2e  # noqa: E402
from serve_test import Daemon  # noqa: E402

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
TOKEN = "e2e-prometheus-token-c41a"


def get_json(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read().decode())


class Prometheus:
    """Prometheus scraping one driftwatch every second, on a free port, with a temporary TSDB."""

    def __init__(self, directory, scrape_port, rule_files=()):
        config = (
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: driftwatch\n    static_configs:\n"
            "      - targets: ['127.0.0.1:%d']\n" % scrape_port
        )
        if rule_files:  # paths relative to `directory`
            config += "rule_files:\n" + "".join("  - %s\n" % f for f in rule_files)
        config_file = e2e.write_file(directory, "prometheus.yml", config)
        self.port = e2e.free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.process = e2e.Process([
            PROMETHEUS,
            "--config.file=" + config_file,
            "--storage.tsdb.path=" + os.path.join(directory, "tsdb"),
            "--web.listen-address=127.0.0.1:%d" % self.port,
        ], cwd=directory)
        self.wait_ready()

    def wait_ready(self, timeout=90):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.proc.poll() is not None:
                raise AssertionError("prometheus exited:\n" + self.process.output())
            try:
                with urllib.request.urlopen(self.base + "/-/ready", timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise AssertionError("prometheus not ready:\n" + self.process.output())

    def query(self, expr):
        """{target label: value} of an instant query."""
        url = self.base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        doc = get_json(url)
        if doc.get("status") != "success":
            raise AssertionError("query %s failed: %s" % (expr, doc))
        return {r["metric"].get("target", ""): float(r["value"][1]) for r in doc["data"]["result"]}

    def wait_for(self, expr, expected, timeout=90):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            if self.process.proc.poll() is not None:
                raise AssertionError("prometheus exited:\n" + self.process.output())
            try:
                last = self.query(expr)
                if last == expected:
                    return last
            except (urllib.error.URLError, OSError) as error:
                last = error
            time.sleep(0.5)
        raise AssertionError("%s: expected %s, last answer %s" % (expr, expected, last))

    def stop(self):
        return self.process.stop()


def sample(metrics, name, target):
    match = re.search(r'^%s\{target="%s"\} (\S+)$' % (re.escape(name), re.escape(target)),
                      metrics, re.M)
    return float(match.group(1)) if match else None


class ServePrometheusTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.reference = e2e.MigratedTemplate("head", prefix="dw_prom_ref")
        cls.tmp = e2e.TempDir()
        cls.databases = []
        name, cls.clean_url = cls.reference.copy(prefix="dw_prom_clean")
        cls.databases.append(name)
        name, cls.drifted_url = cls.reference.copy(prefix="dw_prom_drifted")
        cls.databases.append(name)
        e2e.execute(cls.drifted_url, "ALTER TABLE public.customer ADD COLUMN prom_extra integer")

    @classmethod
    def tearDownClass(cls):
        for name in cls.databases:
            e2e.drop_database(name)
        cls.reference.drop()
        cls.tmp.cleanup()

    def setUp(self):
        self.stoppers = []

    def tearDown(self):
        for stop in reversed(self.stoppers):
            stop()

    def promtool_check(self, metrics):
        proc = subprocess.run([PROMTOOL, "check", "metrics"], input=metrics, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stdout)
        self.assertEqual(proc.stdout.strip(), "", "promtool reported problems")

    def test_prometheus_scrapes_drift_and_revision_behind(self):
        token_file = e2e.write_file(self.tmp.path, "token", TOKEN + "\n", mode=0o600)
        text = (
            "[server]\nlisten = \"127.0.0.1:0\"\nadmin_token_file = %s\n\n"
            "[check]\ninterval = \"1h\"\ntimeout = \"30s\"\nconcurrency = 2\n\n"
            % e2e.toml_string(token_file)
        )
        text += e2e.migrations_section(reference_url=self.reference.url) + "\n"
        text += e2e.target_section("clean", url=self.clean_url) + "\n"
        text += e2e.target_section("drifted", url=self.drifted_url)
        config = e2e.write_file(self.tmp.path, "prom.toml", text)
        daemon = Daemon(config)
        self.stoppers.append(daemon.stop)
        daemon.wait_until(lambda: daemon.get("/readyz")[0] == 200, timeout=120,
                          what="first round done")

        prometheus = Prometheus(self.tmp.path, daemon.port)
        self.stoppers.append(prometheus.stop)
        prometheus.wait_for('up{job="driftwatch"}', {"": 1.0})
        prometheus.wait_for("driftwatch_drift_detected", {"clean": 0.0, "drifted": 1.0})
        prometheus.wait_for("driftwatch_revision_behind", {"clean": 0.0, "drifted": 0.0})
        self.promtool_check(daemon.get("/metrics")[2])

        # One revision down with real Alembic, then an on-demand check.
        e2e.alembic(self.clean_url, "downgrade", "-1")
        path = "/api/v1/targets/clean/check"
        status, _, body = daemon.get(path, method="POST",
                                     headers={"Authorization": "Bearer " + TOKEN})
        self.assertEqual(status, 200, body)
        result = json.loads(body)
        self.assertEqual(result["revision"]["state"], "behind", result)
        self.assertEqual(result["revision"]["behind_by"], 1, result)

        metrics = daemon.get("/metrics")[2]
        self.assertEqual(sample(metrics, "driftwatch_revision_behind", "clean"), 1.0)
        self.assertEqual(sample(metrics, "driftwatch_revision_at_head", "clean"), 0.0)
        self.assertEqual(sample(metrics, "driftwatch_revision_behind", "drifted"), 0.0)
        self.assertIn('driftwatch_revision_state{target="clean",state="behind"} 1', metrics)
        self.promtool_check(metrics)

        prometheus.wait_for("driftwatch_revision_behind", {"clean": 1.0, "drifted": 0.0})
        prometheus.wait_for("driftwatch_revision_at_head", {"clean": 0.0, "drifted": 1.0})
        # Behind counts as drift for the exit code and the drift metric (DESIGN.md).
        prometheus.wait_for("driftwatch_drift_detected", {"clean": 1.0, "drifted": 1.0})
        self.assertNotIn(e2e.cluster_password(), daemon.process.output())


if __name__ == "__main__":
    e2e.main()
