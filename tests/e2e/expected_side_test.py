"""Expected-side problems are the migrations source's signal, not the targets' (issue 13, 3).

A daemon watches two healthy targets of one migrations source. A real Prometheus scrapes it and
evaluates the shipped rules (their `for:` shortened to 0s, so a single bad sample would fire).
Then a migration file is broken (a revision id computed at import time): the migrations alert
DriftwatchMigrationsBroken fires with reason parse_error, both targets keep
driftwatch_target_up 1, and DriftwatchTargetDown never fires.
"""
import os
import re
import shutil
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_support as e2e  # noqa: E402
from serve_prometheus_test import Prometheus, get_json  # noqa: E402
from serve_test import Daemon  # noqa: E402

RULES = os.path.join(e2e.SOURCE_DIR, "deploy", "prometheus", "driftwatch-rules.yml")


def alerts(prometheus, name):
    """Label sets of the firing alerts called `name`."""
    expr = 'ALERTS{alertname="%s",alertstate="firing"}' % name
    doc = get_json(prometheus.base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    return [r["metric"] for r in doc["data"]["result"]]


class ExpectedSideTest(unittest.TestCase):
    def setUp(self):
        self.tmp = e2e.TempDir()
        self.reference = e2e.MigratedTemplate("head", prefix="dw_exp_ref")
        self.databases = []
        self.stoppers = []

    def tearDown(self):
        for stop in reversed(self.stoppers):
            stop()
        for name in self.databases:
            e2e.drop_database(name)
        self.reference.drop()
        self.tmp.cleanup()

    def test_broken_migration_file_alerts_the_source_not_the_targets(self):
        versions = os.path.join(self.tmp.path, "versions")
        shutil.copytree(e2e.WAREHOUSE_VERSIONS, versions)
        text = '[server]\nlisten = "127.0.0.1:0"\n\n[check]\ninterval = "2s"\ntimeout = "10s"\n\n'
        text += e2e.migrations_section(versions=versions, reference_url=self.reference.url)
        for target in ("prod", "staging"):
            name, url = self.reference.copy(prefix="dw_exp_" + target)
            self.databases.append(name)
            text += "\n" + e2e.target_section(target, url=url)
        daemon = Daemon(e2e.write_file(self.tmp.path, "expected.toml", text))
        self.stoppers.append(daemon.stop)
        daemon.wait_until(lambda: daemon.get("/readyz")[0] == 200, timeout=60, what="first round")

        with open(RULES) as f:
            rules = re.sub(r"(?m)^(\s+for:) \S+$", r"\1 0s", f.read())
        e2e.write_file(self.tmp.path, "rules.yml", rules)
        prometheus = Prometheus(self.tmp.path, daemon.port, rule_files=["rules.yml"])
        self.stoppers.append(prometheus.stop)
        prometheus.wait_for('driftwatch_migrations_up', {"": 1.0})
        prometheus.wait_for("driftwatch_target_up", {"prod": 1.0, "staging": 1.0})

        e2e.write_file(versions, "0012_broken.py",
                       '"""Broken."""\nimport uuid\n\nrevision = str(uuid.uuid4())\n'
                       'down_revision = "0011_invoices"\n')
        prometheus.wait_for("driftwatch_migrations_up", {"": 0.0})
        daemon.wait_until(lambda: alerts(prometheus, "DriftwatchMigrationsBroken"), timeout=60,
                          what="DriftwatchMigrationsBroken firing")
        fired = alerts(prometheus, "DriftwatchMigrationsBroken")
        self.assertEqual([(a["migrations"], a["reason"]) for a in fired],
                         [("warehouse", "parse_error")])
        # driftwatch_migrations_up is computed at each scrape, from the migrations source: the
        # alert can fire before the target's next check has met the broken file.
        daemon.wait_until(
            lambda: (daemon.json("/api/v1/targets/prod").get("error") or {}).get("reason")
            == "migrations", timeout=60, what="prod's check failing on the expected side")
        # Both targets are checked (and fail on the expected side) several more times.
        result = daemon.json("/api/v1/targets/prod")
        self.assertEqual(result["error"]["reason"], "migrations", result)
        self.assertIn("0012_broken.py", result["error"]["message"])
        checks = daemon.json("/api/v1/targets/prod")["checked_at"]
        daemon.wait_until(lambda: daemon.json("/api/v1/targets/prod")["checked_at"] != checks,
                          timeout=30, what="another check")
        prometheus.wait_for("driftwatch_target_up", {"prod": 1.0, "staging": 1.0})
        self.assertEqual(alerts(prometheus, "DriftwatchTargetDown"), [])
        status = get_json("http://127.0.0.1:%d/api/v1/migrations" % daemon.port)
        source = status["sources"][0]
        self.assertFalse(source["up"])
        self.assertEqual(source["problem"]["reason"], "parse_error")


if __name__ == "__main__":
    e2e.main()
