"""A real Alertmanager (Debian's prometheus-alertmanager) receives driftwatch's alerts: an
injected NOT NULL drift appears in GET /api/v2/alerts with labels exactly {alertname, target,
severity}; a daemon restart in between sends no duplicate notification (counted at a recording
webhook) and keeps the alert; fixing the drift resolves it.

Expected side versus target (issue 13): a broken migration file raises one
DriftwatchMigrationsBroken for the migrations source (labels alertname, migrations, reason,
severity, as the Prometheus rule) and no DriftwatchTargetDown for its two healthy targets, while
an unreachable target of the same source does raise DriftwatchTargetDown; fixing the file
resolves the source's alert."""
import json
import os
import shutil
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_support as e2e  # noqa: E402
from alert_receivers import Recorder, wait_for  # noqa: E402
from serve_test import Daemon  # noqa: E402

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
AM_CONFIG = """route:
  receiver: "null"
receivers:
  - name: "null"
"""


def am_alerts(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/api/v2/alerts" % port, timeout=10) as r:
        return json.loads(r.read())


def drift_alerts(port):
    return [a for a in am_alerts(port)
            if a["labels"].get("alertname") == "DriftwatchSchemaDrift"
            and a["labels"].get("target") == "prod"]


class AlertmanagerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(ALERTMANAGER):
            raise AssertionError("%s is missing (apt-get install prometheus-alertmanager)"
                                 % ALERTMANAGER)
        cls.tmp = e2e.TempDir()
        config = e2e.write_file(cls.tmp.path, "alertmanager.yml", AM_CONFIG)
        cls.am_port = e2e.free_port()
        cls.am = e2e.Process([ALERTMANAGER, "--config.file=" + config,
                              "--storage.path=" + os.path.join(cls.tmp.path, "am-data"),
                              "--web.listen-address=127.0.0.1:%d" % cls.am_port,
                              "--cluster.listen-address="])
        try:
            if not e2e.wait_for_port(cls.am_port, timeout=30):
                raise AssertionError("alertmanager did not start:\n" + cls.am.output())
            cls.reference = e2e.MigratedTemplate("head", prefix="dw_am_ref")
            cls.prod_db, cls.prod_url = cls.reference.copy(prefix="dw_am_prod")
        except BaseException:
            cls.am.stop()
            cls.tmp.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.am.stop()
        e2e.drop_database(cls.prod_db)
        cls.reference.drop()
        cls.tmp.cleanup()

    def test_alert_lifecycle_across_restart(self):
        hook = Recorder()
        try:
            self.lifecycle(hook)
        finally:
            hook.stop()

    def lifecycle(self, hook):
        state_dir = os.path.join(self.tmp.path, "state")
        text = (
            "[server]\nlisten = \"127.0.0.1:0\"\n\n"
            "[check]\ninterval = \"1s\"\ntimeout = \"20s\"\n\n"
            "[alerts]\nfor_checks = 1\nstate_dir = %s\n\n"
            "[[alerts.alertmanager]]\nurls = [%s]\n\n"
            "[[alerts.webhook]]\nurl = %s\n\n"
            % (e2e.toml_string(state_dir), e2e.toml_string("http://127.0.0.1:%d" % self.am_port),
               e2e.toml_string(hook.url + "/hook"))
        )
        text += e2e.migrations_section(reference_url=self.reference.url) + "\n"
        text += e2e.target_section("prod", url=self.prod_url)
        config = e2e.write_file(self.tmp.path, "driftwatch.toml", text)

        daemon = Daemon(config)
        try:
            daemon.wait_until(lambda: daemon.json("/api/v1/targets/prod")["status"] == "ok",
                              what="a clean first check")
            self.assertEqual(drift_alerts(self.am_port), [])
            e2e.execute(self.prod_url,
                        "ALTER TABLE public.customer ADD COLUMN sneaky integer NOT NULL DEFAULT 1",
                        "ALTER TABLE public.customer ALTER COLUMN sneaky DROP DEFAULT")
            alerts = wait_for(lambda: drift_alerts(self.am_port), 60, "the alert in Alertmanager",
                              daemon.process.output)
            self.assertEqual(alerts[0]["labels"], {"alertname": "DriftwatchSchemaDrift",
                                                   "target": "prod", "severity": "critical"})
            self.assertIn("sneaky", alerts[0]["annotations"]["findings"])
            self.assertEqual(alerts[0]["status"]["state"], "active")
            wait_for(lambda: hook.bodies(200), 30, "the webhook notification")
        finally:
            self.assertEqual(daemon.stop(), 0, daemon.process.output())
        self.assertTrue(os.path.exists(os.path.join(state_dir, "alerts-state.json")))
        firing = [b for b in hook.bodies() if b["state"] == "firing"]
        self.assertEqual(len(firing), 1)

        # Restart: the open alert is loaded as already notified.
        daemon = Daemon(config)
        try:
            start = daemon.json("/api/v1/targets/prod")["summary"]["checks_total"]
            daemon.wait_until(
                lambda: daemon.json("/api/v1/targets/prod")["summary"]["checks_total"] >= start + 3,
                what="three checks after the restart")
            self.assertEqual(len([b for b in hook.bodies() if b["state"] == "firing"]), 1,
                             "re-paged after restart:\n" + daemon.process.output())
            self.assertTrue(drift_alerts(self.am_port))

            e2e.execute(self.prod_url, "ALTER TABLE public.customer DROP COLUMN sneaky")
            wait_for(lambda: [b for b in hook.bodies(200) if b["state"] == "resolved"], 60,
                     "the resolution at the webhook", daemon.process.output)

            def resolved_in_am():
                alerts = drift_alerts(self.am_port)
                return not alerts or all(a["status"]["state"] != "active" or
                                         a["endsAt"] <= time.strftime("%Y-%m-%dT%H:%M:%S",
                                                                      time.gmtime())
                                         for a in alerts)
            wait_for(resolved_in_am, 30, "the alert to resolve in Alertmanager",
                     lambda: json.dumps(drift_alerts(self.am_port)))
            resolved = [b for b in hook.bodies(200) if b["state"] == "resolved"]
            self.assertEqual(len(resolved), 1)
            self.assertEqual(resolved[0]["dedup_key"], "driftwatch/prod/DriftwatchSchemaDrift")
        finally:
            daemon.stop()

    def test_expected_side_error_is_the_sources_alert_not_target_down(self):
        hook = Recorder()
        try:
            self.expected_side(hook)
        finally:
            hook.stop()

    def expected_side(self, hook):
        versions = os.path.join(self.tmp.path, "versions-expected-side")
        shutil.copytree(e2e.WAREHOUSE_VERSIONS, versions)
        text = (
            "[server]\nlisten = \"127.0.0.1:0\"\n\n"
            "[check]\ninterval = \"1s\"\ntimeout = \"20s\"\n\n"
            "[alerts]\nfor_checks = 1\n\n"
            "[[alerts.alertmanager]]\nurls = [%s]\n\n"
            "[[alerts.webhook]]\nurl = %s\n\n"
            % (e2e.toml_string("http://127.0.0.1:%d" % self.am_port),
               e2e.toml_string(hook.url + "/hook"))
        )
        text += e2e.migrations_section(versions=versions, reference_url=self.reference.url) + "\n"
        # Two healthy targets (the reference database is only read) and one nobody answers for.
        text += e2e.target_section("exp-prod", url=self.prod_url) + "\n"
        text += e2e.target_section("exp-staging", url=self.reference.url) + "\n"
        text += e2e.target_section("exp-gone", url=e2e.url_for("nowhere", port=e2e.free_port()))
        config = e2e.write_file(self.tmp.path, "expected-side.toml", text)

        def am(alertname):
            """Label sets of the alerts called `alertname` that Alertmanager has as firing."""
            now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
            return sorted((a["labels"] for a in am_alerts(self.am_port)
                           if a["labels"].get("alertname") == alertname
                           and a["status"]["state"] == "active" and a["endsAt"] > now),
                          key=lambda labels: json.dumps(labels, sort_keys=True))

        def webhook(alertname, state=None):
            return [b for b in hook.bodies(200) if b["alertname"] == alertname
                    and (state is None or b["state"] == state)]

        daemon = Daemon(config)
        try:
            gone = {"alertname": "DriftwatchTargetDown", "target": "exp-gone",
                    "severity": "warning"}
            wait_for(lambda: am("DriftwatchTargetDown") == [gone], 60,
                     "DriftwatchTargetDown of the unreachable target",
                     lambda: json.dumps(am_alerts(self.am_port)) + daemon.process.output())

            e2e.write_file(versions, "0012_broken.py",
                           '"""Broken."""\nimport uuid\n\nrevision = str(uuid.uuid4())\n'
                           'down_revision = "0011_invoices"\n')
            broken = {"alertname": "DriftwatchMigrationsBroken", "migrations": "warehouse",
                      "reason": "parse_error", "severity": "warning"}
            wait_for(lambda: am("DriftwatchMigrationsBroken") == [broken], 60,
                     "DriftwatchMigrationsBroken in Alertmanager",
                     lambda: json.dumps(am_alerts(self.am_port)) + daemon.process.output())
            # Several more rounds in which both healthy targets fail on the expected side.
            for name in ("exp-prod", "exp-staging"):
                start = daemon.json("/api/v1/targets/" + name)["summary"]["checks_total"]
                daemon.wait_until(
                    lambda: daemon.json("/api/v1/targets/" + name)["summary"]["checks_total"]
                    >= start + 3, what="three more checks of " + name)
                result = daemon.json("/api/v1/targets/" + name)
                self.assertEqual(result["error"]["reason"], "migrations", result)
            self.assertEqual(am("DriftwatchTargetDown"), [gone])
            self.assertEqual([b["target"] for b in webhook("DriftwatchTargetDown")],
                             ["exp-gone"])
            pages = webhook("DriftwatchMigrationsBroken", "firing")
            self.assertEqual(len(pages), 1, json.dumps(pages))  # one per source, not per target
            self.assertEqual(pages[0]["migrations"], "warehouse")
            self.assertIsNone(pages[0]["target"])
            self.assertEqual(pages[0]["labels"], broken)

            os.remove(os.path.join(versions, "0012_broken.py"))
            wait_for(lambda: webhook("DriftwatchMigrationsBroken", "resolved"), 60,
                     "the source's alert to resolve", daemon.process.output)
            wait_for(lambda: not am("DriftwatchMigrationsBroken"), 30,
                     "the source's alert to resolve in Alertmanager",
                     lambda: json.dumps(am_alerts(self.am_port)))
            self.assertEqual(am("DriftwatchTargetDown"), [gone])
        finally:
            daemon.stop()


if __name__ == "__main__":
    e2e.main()
