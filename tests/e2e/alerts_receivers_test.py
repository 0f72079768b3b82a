"""Direct notifications end to end: `driftwatch serve` with Slack, PagerDuty and webhook
receivers (local recording HTTP servers). An injected NOT NULL drift pages each receiver with
target, risk and fix SQL; a 503 is retried; a receiver that never answers does not delay checks;
acknowledgements go through the API; fixing the drift resolves with the same dedup key."""
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_support as e2e  # noqa: E402
from alert_receivers import Recorder, wait_for  # noqa: E402
from serve_test import Daemon, http  # noqa: E402

TOKEN = "e2e-alerts-token-93ab"
SLACK_SECRET_PATH = "/services/T000/B000/slack-secret-never-print"
ROUTING_KEY = "pd-routing-key-never-print-7c2"
DEDUP = "driftwatch/prod/DriftwatchSchemaDrift"


class AlertReceiversTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.reference = e2e.MigratedTemplate("head", prefix="dw_alerts_ref")
        name, cls.prod_url = cls.reference.copy(prefix="dw_alerts_prod")
        cls.prod_db = name
        e2e.execute(cls.prod_url, "ALTER TABLE public.customer ADD COLUMN sneaky integer NOT NULL "
                    "DEFAULT 1", "ALTER TABLE public.customer ALTER COLUMN sneaky DROP DEFAULT")
        cls.tmp = e2e.TempDir()

    @classmethod
    def tearDownClass(cls):
        e2e.drop_database(cls.prod_db)
        cls.reference.drop()
        cls.tmp.cleanup()

    def test_receivers(self):
        slack = Recorder()
        pagerduty = Recorder()
        hook = Recorder("fail_first:1")
        dead = Recorder("hang")
        try:
            self.run_receivers(slack, pagerduty, hook, dead)
        finally:
            for r in (slack, pagerduty, hook, dead):
                r.stop()

    def run_receivers(self, slack, pagerduty, hook, dead):
        token_file = e2e.write_file(self.tmp.path, "token", TOKEN + "\n", mode=0o600)
        key_file = e2e.write_file(self.tmp.path, "pd-key", ROUTING_KEY + "\n", mode=0o600)
        text = (
            "[server]\nlisten = \"127.0.0.1:0\"\nadmin_token_file = %s\n\n"
            "[check]\ninterval = \"1s\"\ntimeout = \"20s\"\n\n"
            "[alerts]\nfor_checks = 1\nstate_dir = %s\nstatus_page_url = \"http://dw.test\"\n\n"
            "[[alerts.slack]]\nwebhook_url_env = \"E2E_SLACK_URL\"\nmin_severity = \"warning\"\n\n"
            "[[alerts.pagerduty]]\nrouting_key_file = %s\nevents_url = %s\n\n"
            "[[alerts.webhook]]\nurl = %s\n\n"
            "[[alerts.webhook]]\nurl = %s\n\n"
            % (e2e.toml_string(token_file), e2e.toml_string(os.path.join(self.tmp.path, "state")),
               e2e.toml_string(key_file), e2e.toml_string(pagerduty.url + "/v2/enqueue"),
               e2e.toml_string(hook.url + "/hook"), e2e.toml_string(dead.url + "/hang"))
        )
        text += e2e.migrations_section(reference_url=self.reference.url) + "\n"
        text += e2e.target_section("prod", url=self.prod_url)
        text += 'labels = { team = "data" }\n'
        config = e2e.write_file(self.tmp.path, "driftwatch.toml", text)
        os.environ["E2E_SLACK_URL"] = slack.url + SLACK_SECRET_PATH
        daemon = Daemon(config)
        try:
            self.check_firing(daemon, slack, pagerduty, hook, dead)
            self.check_ack(daemon)
            self.check_resolution(daemon, slack, pagerduty)
            out = daemon.process.output()
            self.assertNotIn(ROUTING_KEY, out)
            self.assertNotIn("slack-secret-never-print", out)
            self.assertNotIn(ROUTING_KEY, daemon.get("/metrics")[2])
        finally:
            daemon.stop()

    def check_firing(self, daemon, slack, pagerduty, hook, dead):
        out = daemon.process.output
        wait_for(lambda: slack.bodies(200), 60, "a Slack notification", out)
        wait_for(lambda: pagerduty.bodies(200), 60, "a PagerDuty event", out)
        wait_for(lambda: hook.bodies(200), 60, "the webhook delivery after a 503", out)

        message = slack.bodies(200)[0]
        self.assertIn("DriftwatchSchemaDrift on prod", message["text"])
        self.assertIn("[FIRING:critical]", message["text"])
        blocks = json.dumps(message["blocks"])
        self.assertIn("not_null_violation", blocks)
        self.assertIn("sneaky", blocks)
        self.assertIn("fix:", blocks)
        self.assertIn("http://dw.test/targets/prod", blocks)

        event = pagerduty.bodies(200)[0]
        self.assertEqual(event["routing_key"], ROUTING_KEY)
        self.assertEqual(event["event_action"], "trigger")
        self.assertEqual(event["dedup_key"], DEDUP)
        self.assertEqual(event["payload"]["severity"], "critical")
        self.assertEqual(event["payload"]["custom_details"]["target_labels"], {"team": "data"})
        self.assertTrue(any(f["risk"] == "not_null_violation"
                            for f in event["payload"]["custom_details"]["top_findings"]))

        # The webhook answered 503 once, then the same payload was delivered.
        all_hook = hook.bodies()
        self.assertGreaterEqual(len(all_hook), 2)
        self.assertEqual(all_hook[0], all_hook[1])
        self.assertEqual(all_hook[1]["version"], "driftwatch-alert/1")
        self.assertEqual(all_hook[1]["state"], "firing")
        self.assertEqual(all_hook[1]["labels"], {"alertname": "DriftwatchSchemaDrift",
                                                 "target": "prod", "severity": "critical"})
        metrics = daemon.get("/metrics")[2]
        self.assertIn('driftwatch_alert_notifications_total{receiver="webhook",outcome="retry"}',
                      metrics)
        self.assertIn('driftwatch_alert_notifications_total{receiver="webhook",outcome="success"}',
                      metrics)

        # The hanging receiver holds its worker, never the checks: checked_at keeps advancing.
        wait_for(lambda: dead.bodies(), 30, "the hanging receiver to be called", out)
        seen = set()
        deadline = time.time() + 12
        while time.time() < deadline and len(seen) < 4:
            seen.add(daemon.json("/api/v1/targets/prod")["checked_at"])
            time.sleep(0.5)
        self.assertGreaterEqual(len(seen), 4, "checks stalled behind a dead receiver: %s" % seen)
        # One firing page per receiver so far: checks every second did not re-page.
        self.assertEqual(len(slack.bodies(200)), 1)
        self.assertEqual(len(pagerduty.bodies(200)), 1)

    def check_ack(self, daemon):
        path = "/api/v1/targets/prod/ack"
        body = json.dumps({"owner": "alice", "reason": "fix-forward migration in review",
                           "expires_in": "2h"})
        status, _, _ = post(daemon, path, body, token=None)
        self.assertEqual(status, 401)
        status, _, _ = post(daemon, path, body, token="wrong")
        self.assertEqual(status, 403)
        status, _, text = post(daemon, path, json.dumps({"owner": "alice"}), token=TOKEN)
        self.assertEqual(status, 400, text)
        status, _, text = post(daemon, path, body, token=TOKEN)
        self.assertEqual(status, 200, text)
        self.assertEqual(json.loads(text)["ack"]["owner"], "alice")
        target = daemon.json("/api/v1/targets/prod")
        self.assertEqual(target["ack"]["reason"], "fix-forward migration in review")
        self.assertIn("fix-forward migration in review", daemon.get("/targets/prod")[2])
        status, _, text = post(daemon, "/api/v1/targets/prod/unack", "", token=TOKEN)
        self.assertEqual(status, 200, text)
        self.assertTrue(json.loads(text)["removed"])
        self.assertIsNone(daemon.json("/api/v1/targets/prod")["ack"])

    def check_resolution(self, daemon, slack, pagerduty):
        e2e.execute(self.prod_url, "ALTER TABLE public.customer DROP COLUMN sneaky")
        out = daemon.process.output
        wait_for(lambda: [b for b in pagerduty.bodies(200) if b["event_action"] == "resolve"],
                 60, "the PagerDuty resolve event", out)
        resolve = [b for b in pagerduty.bodies(200) if b["event_action"] == "resolve"]
        self.assertEqual(len(resolve), 1)
        self.assertEqual(resolve[0]["dedup_key"], DEDUP)
        wait_for(lambda: [b for b in slack.bodies(200) if "[RESOLVED" in b["text"]], 30,
                 "the Slack resolution", out)


def post(daemon, path, body, token):
    import urllib.error
    import urllib.request
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    request = urllib.request.Request("http://127.0.0.1:%d%s" % (daemon.port, path),
                                     data=body.encode(), method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


if __name__ == "__main__":
    e2e.main()
