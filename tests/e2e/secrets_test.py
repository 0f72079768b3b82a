"""No secret in any output (issue 15 "Passwords leak").

Targets reach the database with passwords of awkward shapes in every URL form (raw URL in the
SQLAlchemy `postgresql+driver://` form, key=value conninfo, url_env with an upper-case scheme,
url_file, url_command), some connecting, some failing (wrong password, refused port). Everything
driftwatch prints is captured and grepped for every password: the daemon's JSON logs, every
endpoint (/api/v1/targets, /api/v1/targets/NAME, the status pages, /metrics, the POST answers),
the four receivers' payloads (Alertmanager, Slack, PagerDuty, webhook stand-ins), the alert state
file, and the one-shot commands (check in text and JSON, diff, snapshot).
"""
import glob
import json
import os
import re
import subprocess
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_support as e2e  # noqa: E402
from alert_receivers import Recorder, wait_for  # noqa: E402
from serve_test import Daemon  # noqa: E402

TOKEN = "e2e-secrets-token-1c9e"
# The role's real password: '@', ':', '/', a space, '%' not a valid escape, quotes, unicode.
REAL = "p@ss:w/rd %zz 'q\"ü"
WRONG_PERCENT = "100%sure-wrong"
WRONG_SHORT = "zq"           # 2 characters
WRONG_AT = "ab@cd"           # unescaped '@'
WRONG_SLASH = "x@y/z9"       # '@' and '/'
SECRETS = [REAL, WRONG_PERCENT, WRONG_SHORT, WRONG_AT, WRONG_SLASH]


def conninfo_quote(value):
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class SecretsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.reference = e2e.MigratedTemplate("head", prefix="dw_secrets_ref")
        cls.tmp = e2e.TempDir()
        cls.db, cls.admin_url = cls.reference.copy(prefix="dw_secrets")
        e2e.execute(cls.admin_url, "ALTER TABLE public.customer ADD COLUMN leak_probe integer")
        cls.role = e2e.unique_name("dw_secret_role")
        conn = e2e.connect(e2e.cluster_url())
        with conn.cursor() as cur:
            cur.execute("CREATE ROLE %s LOGIN PASSWORD %%s IN ROLE pg_read_all_data" % cls.role,
                        (REAL,))
        conn.close()
        parts = urllib.parse.urlsplit(e2e.cluster_url())
        cls.host, cls.port = parts.hostname, parts.port
        cls.refused = e2e.free_port()

    @classmethod
    def tearDownClass(cls):
        e2e.drop_database(cls.db)
        e2e.execute(e2e.cluster_url(), "DROP ROLE IF EXISTS %s" % cls.role)
        cls.reference.drop()
        cls.tmp.cleanup()

    def raw_url(self, password, scheme="postgresql+psycopg2", port=None):
        return "%s://%s:%s@%s:%d/%s" % (scheme, self.role, password, self.host,
                                        port or self.port, self.db)

    def assert_clean(self, where, text):
        for secret in SECRETS:
            if len(secret) >= 4:
                self.assertNotIn(secret, text, where)
            else:
                self.assertIsNone(re.search(r"(?<![A-Za-z0-9])%s(?![A-Za-z0-9])" % re.escape(secret),
                                            text), where)
            self.assertNotIn(urllib.parse.quote(secret, safe=""), text, where)
        self.assertNotIn(TOKEN, text, where)

    def test_no_secret_in_any_output(self):
        receivers = {"alertmanager": Recorder(), "slack": Recorder(), "pagerduty": Recorder(),
                     "webhook": Recorder()}
        try:
            self.run_everything(receivers)
        finally:
            for r in receivers.values():
                r.stop()

    def run_everything(self, receivers):
        tmp = self.tmp.path
        token_file = e2e.write_file(tmp, "token", TOKEN + "\n", mode=0o600)
        key_file = e2e.write_file(tmp, "pd-key", "pd-routing-key-secret\n", mode=0o600)
        url_file = e2e.write_file(tmp, "file.url",
                                  self.raw_url(WRONG_PERCENT, scheme="postgres") + "\n", 0o600)
        command_file = e2e.write_file(
            tmp, "cmd.url", self.raw_url(WRONG_SLASH, port=self.refused) + "\n", 0o600)
        env = {"E2E_SECRET_URL": self.raw_url(WRONG_SHORT, scheme="POSTGRESQL"),
               "E2E_SLACK_URL": receivers["slack"].url + "/services/T/B/slack-path-secret"}
        os.environ.update(env)
        conninfo = "host=%s port=%d dbname=%s user=%s password=%s" % (
            self.host, self.port, self.db, self.role, conninfo_quote(REAL))
        state_dir = os.path.join(tmp, "state")
        targets = [
            e2e.target_section("t_url", url=self.raw_url(REAL)),
            e2e.target_section("t_kv", url=conninfo),
            e2e.target_section("t_env", url_env="E2E_SECRET_URL"),
            e2e.target_section("t_file", url_env="X").replace('url_env = "X"',
                                                             "url_file = %s" % e2e.toml_string(url_file)),
            e2e.target_section("t_cmd", url_env="X").replace(
                'url_env = "X"', "url_command = [\"cat\", %s]" % e2e.toml_string(command_file)),
            e2e.target_section("t_at", url=self.raw_url(WRONG_AT, port=self.refused)),
        ]
        text = (
            "[server]\nlisten = \"127.0.0.1:0\"\nadmin_token_file = %s\n\n"
            "[check]\ninterval = \"2s\"\ntimeout = \"20s\"\nconcurrency = 4\n\n"
            "[alerts]\nfor_checks = 1\nstate_dir = %s\n\n"
            "[[alerts.alertmanager]]\nurls = [%s]\n\n"
            "[[alerts.slack]]\nwebhook_url_env = \"E2E_SLACK_URL\"\nmin_severity = \"info\"\n\n"
            "[[alerts.pagerduty]]\nrouting_key_file = %s\nevents_url = %s\nmin_severity = \"info\"\n\n"
            "[[alerts.webhook]]\nurl = %s\n\n"
            % (e2e.toml_string(token_file), e2e.toml_string(state_dir),
               e2e.toml_string(receivers["alertmanager"].url), e2e.toml_string(key_file),
               e2e.toml_string(receivers["pagerduty"].url + "/v2/enqueue"),
               e2e.toml_string(receivers["webhook"].url + "/hook"))
        )
        text += e2e.migrations_section(reference_url=self.reference.url) + "\n" + "\n".join(targets)
        config = e2e.write_file(tmp, "driftwatch.toml", text)

        outputs = {}
        daemon = Daemon(config, extra_args=["--json-logs"])
        try:
            def state(name):
                return daemon.json("/api/v1/targets/" + name)

            daemon.wait_until(lambda: state("t_url")["status"] == "drift"
                              and state("t_kv")["status"] == "drift"
                              and all(state(n)["status"] == "error"
                                      for n in ("t_env", "t_file", "t_cmd", "t_at")),
                              timeout=90, what="every target checked")
            self.assertEqual(state("t_env")["error"]["reason"], "auth", state("t_env"))
            self.assertEqual(state("t_file")["error"]["reason"], "auth", state("t_file"))
            for r in receivers.values():
                wait_for(lambda r=r: len(r.bodies()) >= 2, 60, "alert payloads",
                         daemon.process.output)
            names = ["t_url", "t_kv", "t_env", "t_file", "t_cmd", "t_at"]
            for path in ["/api/v1/targets", "/", "/metrics", "/api/v1/migrations"] + \
                    ["/api/v1/targets/" + n for n in names] + ["/targets/" + n for n in names]:
                outputs["GET " + path] = daemon.get(path)[2]
            for n in names:
                outputs["POST " + n] = daemon.get("/api/v1/targets/%s/check" % n, method="POST",
                                                  headers={"Authorization": "Bearer " + TOKEN},
                                                  timeout=60)[2]
        finally:
            daemon.stop()
        outputs["serve log (JSON)"] = daemon.process.output()
        for line in outputs["serve log (JSON)"].splitlines():
            json.loads(line)
        for name, r in receivers.items():
            outputs["receiver " + name] = json.dumps(r.bodies(), ensure_ascii=False)
        for path in glob.glob(os.path.join(state_dir, "*")):
            with open(path, encoding="utf-8", errors="replace") as f:
                outputs["state file " + path] = f.read()
        self.assertTrue(any(k.startswith("state file") for k in outputs), os.listdir(tmp))

        # One-shot commands, text logs on stderr.
        def run(label, args):
            proc = e2e.run_driftwatch(args, timeout=120, env=env)
            outputs[label] = proc.stdout + proc.stderr
            return proc

        self.assertEqual(run("check json", ["check", "--config", config, "--format", "json"])
                         .returncode, 3)
        run("check text", ["check", "--config", config])
        snapshot = os.path.join(tmp, "snap.json")
        self.assertEqual(run("snapshot", ["snapshot", "--url", self.raw_url(REAL), "--out",
                                          snapshot]).returncode, 0, outputs["snapshot"])
        self.assertEqual(run("diff", ["diff", "--expected", snapshot, "--actual", conninfo,
                                      "--format", "json"]).returncode, 0, outputs["diff"])
        for i, bad in enumerate([self.raw_url(WRONG_AT, port=self.refused),
                                 self.raw_url(WRONG_SHORT, scheme="POSTGRESQL"),
                                 "postgresql:/%s:%s@%s/x" % (self.role, REAL, self.host),
                                 "postgresql://%s:%s@%s:%d/%s?sslmode=bogus" % (
                                     self.role, WRONG_PERCENT, self.host, self.port, self.db),
                                 "host=%s user=u password='%s" % (self.host, WRONG_SLASH)]):
            run("diff bad %d" % i, ["diff", "--expected", bad, "--actual", snapshot])
            run("snapshot bad %d" % i, ["snapshot", "--url", bad, "--out", snapshot + ".x"])

        for where, text in outputs.items():
            self.assert_clean(where, text)
        # The redaction marker shows up where the URLs are described.
        self.assertIn("***", outputs["diff bad 2"])


if __name__ == "__main__":
    e2e.main()
