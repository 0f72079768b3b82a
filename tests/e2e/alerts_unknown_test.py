"""Unknown is not resolved: a firing drift alert keeps firing when its target becomes
unreachable, in a real Prometheus evaluating the shipped rules (deploy/prometheus).

`drifted` has a NOT NULL column the code does not know (critical drift). Prometheus scrapes
`driftwatch serve` every second and evaluates driftwatch-rules.yml with its `for:` durations
shortened to seconds (the only change). Once DriftwatchSchemaDrift fires, the database stops
accepting connections (ALTER DATABASE ... ALLOW_CONNECTIONS false): checks fail, target_up goes
to 0, and the alert must stay firing because driftwatch keeps publishing the last known findings
(with driftwatch_last_result_age_seconds growing).
"""
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_support as e2e  # noqa: E402
from serve_prometheus_test import Prometheus  # noqa: E402
from serve_test import Daemon  # noqa: E402

RULES = os.path.join(e2e.SOURCE_DIR, "deploy", "prometheus", "driftwatch-rules.yml")


class RulesPrometheus(Prometheus):
    """Prometheus as in serve_prometheus_test, plus the shipped rules with short `for:`."""

    def __init__(self, directory, scrape_port):
        with open(RULES) as f:
            rules = re.sub(r"^(\s+for:) \S+$", r"\1 3s", f.read(), flags=re.M)
        rules_file = e2e.write_file(directory, "rules.yml", rules)
        config = (
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
            "rule_files:\n  - %s\n"
            "scrape_configs:\n  - job_name: driftwatch\n    static_configs:\n"
            "      - targets: ['127.0.0.1:%d']\n" % (rules_file, scrape_port)
        )
        config_file = e2e.write_file(directory, "prometheus.yml", config)
        self.port = e2e.free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.process = e2e.Process([
            "/usr/bin/prometheus",
            "--config.file=" + config_file,
            "--storage.tsdb.path=" + os.path.join(directory, "tsdb"),
            "--web.listen-address=127.0.0.1:%d" % self.port,
        ], cwd=directory)
        self.wait_ready()


class UnknownIsNotResolvedTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.reference = e2e.MigratedTemplate("head", prefix="dw_unknown_ref")
        cls.tmp = e2e.TempDir()
        cls.drifted_db, cls.drifted_url = cls.reference.copy(prefix="dw_unknown_drifted")
        e2e.execute(cls.drifted_url, "ALTER TABLE public.customer ADD COLUMN sneaky integer NOT "
                    "NULL DEFAULT 1", "ALTER TABLE public.customer ALTER COLUMN sneaky DROP DEFAULT")

    @classmethod
    def tearDownClass(cls):
        e2e.drop_database(cls.drifted_db)
        cls.reference.drop()
        cls.tmp.cleanup()

    def test_drift_alert_keeps_firing_while_the_target_is_down(self):
        text = "[server]\nlisten = \"127.0.0.1:0\"\n\n[check]\ninterval = \"1s\"\ntimeout = \"10s\"\n\n"
        text += e2e.migrations_section(reference_url=self.reference.url) + "\n"
        text += e2e.target_section("drifted", url=self.drifted_url)
        config = e2e.write_file(self.tmp.path, "unknown.toml", text)
        daemon = Daemon(config)
        prometheus = None
        try:
            daemon.wait_until(lambda: daemon.get("/readyz")[0] == 200, timeout=60,
                              what="first round done")
            prometheus = RulesPrometheus(self.tmp.path, daemon.port)
            firing = 'ALERTS{alertname="DriftwatchSchemaDrift",alertstate="firing"}'
            prometheus.wait_for(firing, {"drifted": 1.0})

            e2e.execute(e2e.cluster_url(),
                        'ALTER DATABASE "%s" ALLOW_CONNECTIONS false' % self.drifted_db)
            try:
                prometheus.wait_for("driftwatch_target_up", {"drifted": 0.0})
                # Down for a while: several scrapes and rule evaluations since the first failure.
                prometheus.wait_for(
                    'clamp_max(count_over_time((driftwatch_target_up{target="drifted"} == 0)'
                    '[30s:1s]), 8) == 8', {"drifted": 8.0}, timeout=60)
                self.assertEqual(prometheus.query(firing), {"drifted": 1.0})
                # Never resolved in between: the alert's series has no gap since it fired.
                self.assertEqual(
                    prometheus.query('count_over_time(%s[10s]) >= bool 8' % firing),
                    {"drifted": 1.0})
                metrics = daemon.get("/metrics")[2]
                self.assertIn('driftwatch_target_up{target="drifted"} 0', metrics)
                self.assertRegex(
                    metrics, r'driftwatch_findings\{target="drifted",severity="critical"\} [1-9]')
                age = re.search(r'^driftwatch_last_result_age_seconds\{target="drifted"\} (\S+)$',
                                metrics, re.M)
                self.assertIsNotNone(age, metrics)
                self.assertGreater(float(age.group(1)), 0.0)
            finally:
                e2e.execute(e2e.cluster_url(),
                            'ALTER DATABASE "%s" ALLOW_CONNECTIONS true' % self.drifted_db)
        finally:
            if prometheus:
                prometheus.stop()
            daemon.stop()


if __name__ == "__main__":
    e2e.main()
