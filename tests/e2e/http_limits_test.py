"""HTTP resource limits of `driftwatch serve` (issue 15 "Resource exhaustion becomes false pages",
issue 13 "Two hung on-demand checks block the POST endpoints").

- Many slow clients (more than the descriptor limit) never make a healthy target fail: excess
  connections are refused at accept and counted in driftwatch_http_connections_rejected_total,
  and a client trickling its headers is cut off after server.header_timeout.
- A POST is authenticated before it queues: while two on-demand checks occupy the workers, an
  unauthenticated POST gets 401 and an acknowledgement is applied at once; a third check request
  is answered 503 at server.post_timeout.
"""
import json
import os
import resource
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_support as e2e  # noqa: E402
from serve_test import Daemon, http  # noqa: E402

TOKEN = "e2e-limits-token-77ab"
NOFILE = 256


def limit_descriptors():
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))


class LimitedDaemon(Daemon):
    """The daemon under a hard descriptor limit of NOFILE."""

    def __init__(self, config):
        original = e2e.subprocess.Popen

        def popen(*args, **kwargs):
            kwargs["preexec_fn"] = limit_descriptors
            return original(*args, **kwargs)

        e2e.subprocess.Popen = popen
        try:
            super().__init__(config)
        finally:
            e2e.subprocess.Popen = original


class HttpLimitsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.reference = e2e.MigratedTemplate("head", prefix="dw_limits_ref")
        cls.tmp = e2e.TempDir()
        cls.token_file = e2e.write_file(cls.tmp.path, "token", TOKEN + "\n", mode=0o600)
        cls.db, cls.url = cls.reference.copy(prefix="dw_limits")

    @classmethod
    def tearDownClass(cls):
        e2e.drop_database(cls.db)
        cls.reference.drop()
        cls.tmp.cleanup()

    def config(self, name, targets, server_extra="", interval="1s"):
        text = (
            "[server]\nlisten = \"127.0.0.1:0\"\nadmin_token_file = %s\n%s\n"
            "[check]\ninterval = %s\ntimeout = \"60s\"\nconcurrency = 4\n\n"
            % (e2e.toml_string(self.token_file), server_extra, e2e.toml_string(interval))
        )
        text += e2e.migrations_section(reference_url=self.reference.url) + "\n"
        text += "\n".join(targets)
        return e2e.write_file(self.tmp.path, name, text)

    @staticmethod
    def checks_total(daemon):
        for line in daemon.get("/metrics")[2].splitlines():
            if line.startswith('driftwatch_checks_total{target="healthy"}'):
                return float(line.split()[-1])
        return 0.0

    def test_slow_clients_cannot_starve_checks(self):
        config = self.config("slow.toml", [e2e.target_section("healthy", url=self.url)],
                             server_extra="max_connections = 1000\nheader_timeout = \"3s\"\n")
        daemon = LimitedDaemon(config)
        try:
            daemon.wait_until(
                lambda: daemon.json("/api/v1/targets/healthy")["status"] == "ok", 60,
                "first check of healthy")
            checks_before = self.checks_total(daemon)
            # More slow clients than the daemon has descriptors: each sends half a request line.
            clients = []
            refused = 0
            for _ in range(NOFILE + 50):
                s = socket.socket()
                s.settimeout(10)
                try:
                    s.connect(("127.0.0.1", daemon.port))
                    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
                except OSError:
                    refused += 1
                    s.close()
                    continue
                clients.append(s)
            # Checks keep running while the slow clients hold their connections.
            time.sleep(2.5)
            # The first ones are cut off after header_timeout (EOF), the excess got 503 at once.
            answers = {"closed": 0, "503": 0}
            for s in clients:
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if data.startswith(b"HTTP/1.1 503"):
                    answers["503"] += 1
                else:
                    answers["closed"] += 1
                s.close()
            self.assertGreater(answers["503"] + refused, 0, answers)
            target = daemon.json("/api/v1/targets/healthy")
            self.assertEqual(target["status"], "ok", json.dumps(target))
            metrics = daemon.get("/metrics")[2]
            self.assertGreater(self.checks_total(daemon), checks_before + 1, daemon.process.output())
            rejected = [line for line in metrics.splitlines()
                        if line.startswith("driftwatch_http_connections_rejected_total")]
            self.assertEqual(len(rejected), 1, metrics)
            self.assertGreater(float(rejected[0].split()[-1]), 0)
            self.assertNotIn("Too many open files", daemon.process.output())
        finally:
            daemon.stop()

    def test_header_timeout_closes_trickling_client(self):
        config = self.config("trickle.toml", [e2e.target_section("healthy", url=self.url)],
                             server_extra="header_timeout = \"1s\"\n", interval="1h")
        daemon = Daemon(config)
        try:
            s = socket.create_connection(("127.0.0.1", daemon.port), timeout=20)
            s.sendall(b"GET /healthz HTTP/1.1\r\n")
            for _ in range(3):  # a byte now and then: never completes its headers in time
                time.sleep(0.5)
                try:
                    s.sendall(b"X")
                except OSError:
                    break
            s.settimeout(20)
            try:
                data = s.recv(4096)
            except ConnectionResetError:
                data = b""
            self.assertFalse(data.startswith(b"HTTP/1.1 200"), data)
            s.close()
            self.assertEqual(daemon.get("/healthz")[0], 200)
        finally:
            daemon.stop()

    def slow_target(self, name, seconds):
        url_file = e2e.write_file(self.tmp.path, name + ".url", self.url + "\n", mode=0o600)
        return e2e.target_section(name, url_env="UNUSED").replace(
            'url_env = "UNUSED"',
            "url_command = [\"sh\", \"-c\", %s]" % e2e.toml_string(
                "sleep %d; cat %s" % (seconds, url_file)))

    def test_post_is_authenticated_before_it_queues(self):
        config = self.config(
            "auth.toml", [self.slow_target("slow1", 40), self.slow_target("slow2", 40),
                          self.slow_target("slow3", 40)],
            server_extra="post_timeout = \"3s\"\n", interval="1h")
        daemon = Daemon(config)
        auth = {"Authorization": "Bearer " + TOKEN}
        try:
            # Two on-demand checks occupy both POST workers (they wait for 40 s url_commands).
            for name in ("slow1", "slow2"):
                threading.Thread(target=lambda n=name: daemon.get(
                    "/api/v1/targets/%s/check" % n, method="POST", headers=auth, timeout=90),
                    daemon=True).start()
            time.sleep(1.5)
            # Each of these is answered at once, not after the running checks (they end when
            # url_command's 10 s limit kills their commands): client timeout 5 s.
            status, _, body = daemon.get("/api/v1/targets/slow3/check", method="POST",
                                         timeout=5)
            self.assertEqual(status, 401, body)
            status, _, body = daemon.get("/api/v1/targets/slow3/check", method="POST",
                                         headers={"Authorization": "Bearer wrong"}, timeout=5)
            self.assertEqual(status, 403, body)
            status, _, body = daemon.get("/api/v1/targets/slow3/unack", method="POST",
                                         headers=auth, timeout=5)
            self.assertIn(status, (200, 404), body)  # not queued behind the checks
            status, headers, body = daemon.get("/api/v1/targets/slow3/check", method="POST",
                                               headers=auth, timeout=8)
            self.assertEqual(status, 503, body)
            self.assertIn("Retry-After", headers)
            self.assertEqual(daemon.get("/healthz", timeout=15)[0], 200)
        finally:
            daemon.stop()


if __name__ == "__main__":
    e2e.main()
