"""A page survives a receiver outage and a restart, and a removed target's alert is resolved.

`driftwatch serve` watches `prod` (a NOT NULL column the code does not know: critical drift)
and pages a webhook that is down for 60 s: connection refused for the first half, HTTP 503 for
the second. The page is retried (retry_initial 1s, retry_max 4s: short, so the test does not
wait minutes after the outage) and counted in driftwatch_alert_undelivered. Halfway through the
outage the daemon is stopped and started again with prod unreachable, so the only way the drift
page can arrive is from the state file's pending deliveries. Once the webhook accepts, it gets
the page; then a reload that removes prod sends the resolution to the webhook.
"""
import os
import re
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_support as e2e  # noqa: E402
from alert_receivers import Recorder, wait_for  # noqa: E402
from serve_test import Daemon  # noqa: E402

OUTAGE_SECONDS = 60
DRIFT = "DriftwatchSchemaDrift"


def undelivered(daemon, receiver="webhook"):
    metrics = daemon.get("/metrics")[2]
    match = re.search(r'^driftwatch_alert_undelivered\{receiver="%s"\} (\S+)$' % receiver,
                      metrics, re.M)
    return float(match.group(1)) if match else None


class AlertDeliveryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.reference = e2e.MigratedTemplate("head", prefix="dw_deliv_ref")
        cls.prod_db, cls.prod_url = cls.reference.copy(prefix="dw_deliv_prod")
        e2e.execute(cls.prod_url, "ALTER TABLE public.customer ADD COLUMN sneaky integer NOT NULL "
                    "DEFAULT 1", "ALTER TABLE public.customer ALTER COLUMN sneaky DROP DEFAULT")
        cls.tmp = e2e.TempDir()

    @classmethod
    def tearDownClass(cls):
        e2e.drop_database(cls.prod_db)
        cls.reference.drop()
        cls.tmp.cleanup()

    def write_config(self, hook_url, prod_url, with_prod=True):
        text = (
            "[server]\nlisten = \"127.0.0.1:0\"\n\n"
            "[check]\ninterval = \"2s\"\ntimeout = \"10s\"\n\n"
            "[alerts]\nfor_checks = 1\nstate_dir = %s\nretry_initial = \"1s\"\n"
            "retry_max = \"4s\"\n\n"
            "[[alerts.webhook]]\nurl = %s\n\n"
            % (e2e.toml_string(os.path.join(self.tmp.path, "state")), e2e.toml_string(hook_url))
        )
        text += e2e.migrations_section(reference_url=self.reference.url) + "\n"
        text += e2e.target_section("other", url=self.reference.url) + "\n"
        if with_prod:
            text += e2e.target_section("prod", url=prod_url)
        return e2e.write_file(self.tmp.path, "driftwatch.toml", text)

    def test_page_survives_outage_and_restart_then_removed_target_resolves(self):
        port = e2e.free_port()  # nothing listens here yet: connection refused
        hook_url = "http://127.0.0.1:%d/hook" % port
        outage_ends = time.time() + OUTAGE_SECONDS
        config = self.write_config(hook_url, self.prod_url)
        first = Daemon(config)
        try:
            first.wait_until(lambda: first.json("/api/v1/targets/prod")["status"] == "drift",
                             timeout=40, what="prod checked with drift")
            first.wait_until(lambda: (undelivered(first) or 0) >= 1, timeout=20,
                             what="the page counted as undelivered")
            # Not given up: still retried (several attempts with a 4 s cap).
            first.wait_until(
                lambda: len(re.findall(r"alert receiver webhook: sending %s" % DRIFT,
                                       first.process.output())) >= 4,
                timeout=30, what="several delivery attempts")
        finally:
            self.assertEqual(first.stop(), 0)
        first_log = first.process.output()
        self.assertLess(time.time(), outage_ends, "the first daemon ran past the outage")

        # Restart with prod unreachable: checks cannot produce the drift page again.
        dead_url = e2e.url_for(self.prod_db, port=e2e.free_port())
        config = self.write_config(hook_url, dead_url)
        second = Daemon(config)
        hook = None
        try:
            second.wait_until(lambda: "pending delivery" in second.process.output(), timeout=10,
                              what="the state file loaded")
            self.assertRegex(second.process.output(), r"loaded \d+ open alert\(s\), \d+ "
                             r"acknowledgement\(s\) and [1-9]\d* pending delivery")
            # Second half of the outage: the webhook answers, but with 503.
            time.sleep(max(0.0, outage_ends - OUTAGE_SECONDS / 2 - time.time()))
            hook = Recorder(port=port, refuse_until=outage_ends)
            wait_for(lambda: any(b and b.get("alertname") == DRIFT and s == 200
                                 for (b, _, s) in hook.answered()),
                     OUTAGE_SECONDS + 30, "the drift page after the outage",
                     second.process.output)
            refused = [t for (b, t, s) in hook.answered() if b and b.get("alertname") == DRIFT
                       and s == 503]
            accepted = [(b, t) for (b, t, s) in hook.answered()
                        if b and b.get("alertname") == DRIFT and s == 200]
            self.assertTrue(refused, "the webhook refused nothing: no outage was tested")
            self.assertGreaterEqual(accepted[0][1], outage_ends)
            page = accepted[0][0]
            self.assertEqual(page["state"], "firing")
            self.assertEqual(page["target"], "prod")
            self.assertEqual(page["severity"], "critical")
            self.assertTrue(any("sneaky" in f["object"] for f in page["findings"]), page)
            second.wait_until(lambda: undelivered(second) == 0, timeout=30,
                              what="nothing undelivered once the webhook accepts")
            self.assertIn('driftwatch_alert_notifications_total{receiver="webhook",'
                          'outcome="success"}', second.get("/metrics")[2])

            # A reload that removes prod resolves its open alerts at the webhook.
            self.write_config(hook_url, dead_url, with_prod=False)
            second.signal(signal.SIGHUP)
            wait_for(lambda: any(b and b.get("alertname") == DRIFT and b.get("state") == "resolved"
                                 and s == 200 for (b, _, s) in hook.answered()),
                     30, "the resolution of the removed target's drift alert",
                     second.process.output)
            resolved = [b for (b, _, s) in hook.answered()
                        if b and b.get("alertname") == DRIFT and b.get("state") == "resolved"][0]
            self.assertEqual(resolved["target"], "prod")
            self.assertEqual(resolved["dedup_key"], page["dedup_key"])
        finally:
            second.stop()
            if hook:
                hook.stop()
        self.assertNotIn("giving up", first_log + second.process.output())


if __name__ == "__main__":
    e2e.main()
