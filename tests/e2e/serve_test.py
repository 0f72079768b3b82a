"""`driftwatch serve` end to end: the built daemon against real PostgreSQL and Alembic.

Starts the daemon on port 0 (reading the bound port back from its log), then exercises the HTTP
API, the metrics (validated with promtool when installed), the status pages, SIGHUP reloads
(valid and invalid), and SIGTERM draining with a check in flight. Secrets must never appear in
any output.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_support as e2e  # noqa: E402
# Daemon and http live in e2e_support; other tests still import them from here.
from e2e_support import Daemon, http  # noqa: E402,F401

TOKEN = "e2e-admin-token-5f1c"
DOWN_PASSWORD = "hunter2-never-print-me"


def target_names(daemon):
    return sorted(t["name"] for t in daemon.json("/api/v1/targets")["targets"])


class ServeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.reference = e2e.MigratedTemplate("head", prefix="dw_serve_ref")
        cls.tmp = e2e.TempDir()
        cls.token_file = e2e.write_file(cls.tmp.path, "token", TOKEN + "\n", mode=0o600)
        cls.databases = []
        # prod: at head plus a column the code does not know about, NOT NULL without default.
        name, cls.prod_url = cls.reference.copy(prefix="dw_serve_prod")
        cls.databases.append(name)
        e2e.execute(cls.prod_url, "ALTER TABLE public.customer ADD COLUMN sneaky integer NOT NULL "
                    "DEFAULT 1", "ALTER TABLE public.customer ALTER COLUMN sneaky DROP DEFAULT")
        name, cls.clean_url = cls.reference.copy(prefix="dw_serve_clean")
        cls.databases.append(name)
        cls.down_url = e2e.url_for("nope", user="someone", password=DOWN_PASSWORD,
                                   port=e2e.free_port())

    @classmethod
    def tearDownClass(cls):
        for name in cls.databases:
            e2e.drop_database(name)
        cls.reference.drop()
        cls.tmp.cleanup()

    def setUp(self):
        self.daemons = []

    def tearDown(self):
        for daemon in self.daemons:
            daemon.stop()

    def config(self, name, targets, interval="2s", drain="15s", extra=""):
        text = (
            "[server]\nlisten = \"127.0.0.1:0\"\nadmin_token_file = %s\ndrain_timeout = %s\n%s\n"
            "[check]\ninterval = %s\ntimeout = \"20s\"\nconcurrency = 4\n\n"
            % (e2e.toml_string(self.token_file), e2e.toml_string(drain), extra,
               e2e.toml_string(interval))
        )
        text += e2e.migrations_section(reference_url=self.reference.url) + "\n"
        text += "\n".join(targets)
        return e2e.write_file(self.tmp.path, name, text)

    def start(self, config, extra_args=()):
        daemon = Daemon(config, extra_args)
        self.daemons.append(daemon)
        return daemon

    def assert_no_secrets(self, *texts):
        for text in texts:
            self.assertNotIn(DOWN_PASSWORD, text)
            self.assertNotIn(e2e.cluster_password(), text)
            self.assertNotIn(TOKEN, text)

    def test_api_metrics_pages_and_reload(self):
        config = self.config("api.toml", [
            e2e.target_section("prod", url=self.prod_url),
            e2e.target_section("down", url=self.down_url),
        ])
        daemon = self.start(config)
        self.assertEqual(daemon.get("/healthz")[0], 200)
        daemon.wait_until(lambda: daemon.get("/readyz")[0] == 200, what="readyz 200")

        targets = {t["name"]: t for t in daemon.json("/api/v1/targets")["targets"]}
        self.assertEqual(sorted(targets), ["down", "prod"])
        prod = targets["prod"]
        self.assertEqual(prod["status"], "drift", prod)
        self.assertEqual(prod["revision"]["state"], "at_head")
        sneaky = [f for f in prod["findings"] if f["object"] == "public.customer.sneaky"]
        self.assertEqual(len(sneaky), 1, prod["findings"])
        self.assertEqual(sneaky[0]["risk"], "not_null_violation")
        self.assertGreaterEqual(prod["summary"]["findings"]["critical"], 1)
        self.assertEqual(targets["down"]["status"], "error")
        self.assertEqual(targets["down"]["error"]["reason"], "connect")

        one = daemon.json("/api/v1/targets/prod")
        self.assertEqual(one["name"], "prod")
        status, _, body = daemon.get("/api/v1/targets/nope")
        self.assertEqual(status, 404)
        self.assertIn("error", json.loads(body))
        self.assertEqual(daemon.get("/api/v1/targets", method="POST")[0], 405)

        migrations = daemon.json("/api/v1/migrations")["sources"]
        self.assertEqual(migrations[0]["heads"], [e2e.WAREHOUSE_HEAD])

        status, headers, metrics = daemon.get("/metrics")
        self.assertEqual(status, 200)
        self.assertIn("version=0.0.4", headers.get("Content-Type", ""))
        self.assertIn('driftwatch_target_up{target="down"} 0', metrics)
        self.assertIn('driftwatch_target_up{target="prod"} 1', metrics)
        self.assertIn('driftwatch_drift_detected{target="prod"} 1', metrics)
        self.assertIn('driftwatch_revision_state{target="prod",state="at_head"} 1', metrics)
        self.assertRegex(metrics, r'driftwatch_check_errors_total\{target="down",'
                                  r'reason="connect"\} [1-9]')
        self.assertNotIn("sneaky", metrics)  # no column names in labels
        # Compressed when asked for, as Prometheus does (checks keep running, so the two
        # answers may differ in counters, not in what they list).
        for path, needle in (("/metrics", 'driftwatch_target_up{target="prod"} 1'),
                             ("/api/v1/targets", '"name":"prod"')):
            plain = daemon.get(path)
            packed = daemon.get(path, headers={"Accept-Encoding": "gzip"})
            self.assertNotIn("Content-Encoding", plain[1])
            self.assertEqual(packed[1].get("Content-Encoding"), "gzip", path)
            self.assertIn(needle, plain[2])
            self.assertIn(needle, packed[2])
        if shutil.which("promtool"):
            proc = subprocess.run(["promtool", "check", "metrics"], input=metrics, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            self.assertEqual(proc.returncode, 0, proc.stdout)

        # On-demand check: bearer token required.
        path = "/api/v1/targets/prod/check"
        self.assertEqual(daemon.get(path, method="POST")[0], 401)
        self.assertEqual(daemon.get(path, method="POST",
                                    headers={"Authorization": "Bearer wrong"})[0], 403)
        before = daemon.json("/api/v1/targets/prod")["summary"]["checks_total"]
        status, _, body = daemon.get(path, method="POST",
                                     headers={"Authorization": "Bearer " + TOKEN})
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["name"], "prod")
        self.assertGreater(daemon.json("/api/v1/targets/prod")["summary"]["checks_total"], before)

        status, headers, page = daemon.get("/")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/html"))
        self.assertIn('href="/targets/prod"', page)
        status, _, page = daemon.get("/targets/prod")
        self.assertEqual(status, 200)
        self.assertIn("public.customer.sneaky", page)
        self.assertIn("<pre>", page)

        # Valid reload: down removed, clean added, prod keeps its history.
        checks_before = daemon.json("/api/v1/targets/prod")["summary"]["checks_total"]
        self.config("api.toml", [
            e2e.target_section("prod", url=self.prod_url),
            e2e.target_section("clean", url=self.clean_url),
        ])
        daemon.signal(signal.SIGHUP)
        daemon.wait_until(lambda: target_names(daemon) == ["clean", "prod"], what="reload")
        self.assertGreaterEqual(daemon.json("/api/v1/targets/prod")["summary"]["checks_total"],
                                checks_before)
        daemon.wait_until(lambda: daemon.json("/api/v1/targets/clean")["status"] == "ok",
                          what="clean target checked")
        metrics = daemon.get("/metrics")[2]
        self.assertNotIn('target="down"', metrics)
        self.assertIn("driftwatch_config_reload_success 1", metrics)

        # Invalid reload: old config kept, reload_success 0, every error logged.
        with open(config) as f:
            text = f.read()
        e2e.write_file(self.tmp.path, "api.toml",
                       text.replace("[server]\n", "[server]\nnot_a_key = 1\n")
                       .replace('interval = "2s"', 'interval = "bogus"'))
        daemon.signal(signal.SIGHUP)
        daemon.wait_until(lambda: "driftwatch_config_reload_success 0" in daemon.get("/metrics")[2],
                          what="reload failure metric")
        self.assertEqual(target_names(daemon), ["clean", "prod"])
        self.assertEqual(daemon.get("/readyz")[0], 200)

        api = daemon.get("/api/v1/targets")[2]
        daemon.signal(signal.SIGTERM)
        self.assertEqual(daemon.wait_exit(30), 0)
        log = daemon.process.output()
        self.assertIn("not_a_key", log)
        self.assertIn("bogus", log)
        self.assertRegex(log, r"check target=prod status=drift")
        self.assert_no_secrets(log, metrics, api)

    def slow_target(self, name, seconds):
        url_file = e2e.write_file(self.tmp.path, name + ".url", self.clean_url + "\n", mode=0o600)
        return e2e.target_section(name, url_env="UNUSED").replace(
            'url_env = "UNUSED"',
            "url_command = [\"sh\", \"-c\", %s]" % e2e.toml_string(
                "sleep %d; cat %s" % (seconds, url_file)))

    def test_sigterm_drains_in_flight_check(self):
        config = self.config("drain.toml", [self.slow_target("slow", 4)], interval="1h")
        daemon = self.start(config, extra_args=["--json-logs"])
        answer = {}

        def trigger():
            answer["result"] = daemon.get("/api/v1/targets/slow/check", method="POST",
                                          headers={"Authorization": "Bearer " + TOKEN})

        thread = threading.Thread(target=trigger)
        thread.start()
        daemon.wait_until(lambda: daemon.json("/api/v1/targets/slow")["summary"]["checking"],
                          timeout=20, what="check in flight")
        started = time.time()
        daemon.signal(signal.SIGTERM)
        daemon.wait_until(lambda: daemon.get("/readyz")[0] == 503, timeout=5,
                          what="readyz 503 while draining")
        self.assertEqual(daemon.wait_exit(30), 0)
        self.assertGreater(time.time() - started, 1.0)  # waited for the check
        thread.join(30)
        self.assertEqual(answer["result"][0], 200, answer)
        self.assertEqual(json.loads(answer["result"][2])["name"], "slow")
        for line in daemon.process.output().splitlines():
            json.loads(line)  # --json-logs: every line is one JSON object

    def test_second_sigterm_exits_at_once(self):
        config = self.config("second.toml", [self.slow_target("slow", 30)], interval="1h",
                             drain="60s")
        daemon = self.start(config)
        threading.Thread(target=lambda: daemon.get(
            "/api/v1/targets/slow/check", method="POST",
            headers={"Authorization": "Bearer " + TOKEN}, timeout=60), daemon=True).start()
        daemon.wait_until(lambda: daemon.json("/api/v1/targets/slow")["summary"]["checking"],
                          timeout=20, what="check in flight")
        daemon.signal(signal.SIGTERM)
        time.sleep(0.5)
        self.assertIsNone(daemon.process.proc.poll())  # still draining
        started = time.time()
        daemon.signal(signal.SIGTERM)
        self.assertEqual(daemon.wait_exit(10), 1)
        self.assertLess(time.time() - started, 5)

    def test_invalid_config_exits_2_with_every_error(self):
        path = e2e.write_file(self.tmp.path, "bad.toml",
                              "[server]\nlisten = 5\n[check]\ninterval = \"soon\"\n")
        proc = e2e.run_driftwatch(["serve", "--config", path], timeout=30)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn("listen", proc.stderr)
        self.assertIn("interval", proc.stderr)


if __name__ == "__main__":
    e2e.main()
