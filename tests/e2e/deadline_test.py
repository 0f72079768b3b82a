"""`driftwatch serve`: no target can hold a worker past `[check] timeout`.

Two hostile targets among 20 healthy ones, [check] timeout = 2s:
- blackhole: a TCP listener that accepts and never answers (not even the SSL/startup reply);
- stalled: a proxy to the real test cluster that forwards the connection startup and then stops
  forwarding in both directions, like a server that stops answering mid-query (the server's own
  statement_timeout cannot help: its answer never arrives).
Both must end with reason `timeout` within timeout + 2 s (their duration_seconds), again and
again, while the 20 healthy targets keep being checked on their 2 s schedule.
"""
import os
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_support as e2e  # noqa: E402
from serve_test import Daemon  # noqa: E402

TIMEOUT_S = 2.0
HEALTHY = 20


class Blackhole:
    """Accepts connections and never sends a byte."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted = []
        self.closed = False
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)  # kept open, never read or answered

    def close(self):
        self.closed = True
        self.sock.close()
        for conn in self.accepted:
            conn.close()


READY_FOR_QUERY = b"Z\x00\x00\x00\x05"
CANCEL_REQUEST_CODE = (80877102).to_bytes(4, "big")


class StallingProxy:
    """Forwards to PostgreSQL until the server's first ReadyForQuery (the connection is up), then
    forwards nothing more on that connection, in either direction; sockets stay open."""

    def __init__(self, upstream_port, swallow_cancels=False):
        self.upstream_port = upstream_port
        # Cancel requests too are taken and never answered (PQcancel then waits for good).
        self.swallow_cancels = swallow_cancels
        self.cancels = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.sockets = []
        self.closed = False
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while not self.closed:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            self.sockets.append(client)
            head = b""
            if self.swallow_cancels:
                # The first packet's length and code: a CancelRequest is 16 bytes, code 80877102.
                while len(head) < 8:
                    chunk = client.recv(8 - len(head))
                    if not chunk:
                        break
                    head += chunk
                if head[4:8] == CANCEL_REQUEST_CODE:
                    self.cancels += 1
                    continue  # kept open, never answered nor closed
            server = socket.create_connection(("127.0.0.1", self.upstream_port))
            self.sockets.append(server)
            server.sendall(head)
            state = {"stalled": False}
            threading.Thread(target=self.pump, args=(client, server, state, False),
                             daemon=True).start()
            threading.Thread(target=self.pump, args=(server, client, state, True),
                             daemon=True).start()

    @staticmethod
    def pump(source, sink, state, from_server):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    sink.shutdown(socket.SHUT_WR)
                    return
                if state["stalled"]:
                    continue  # swallowed: the peer waits forever
                sink.sendall(data)
                if from_server and READY_FOR_QUERY in data:
                    state["stalled"] = True
        except OSError:
            return

    def close(self):
        self.closed = True
        self.sock.close()
        for s in self.sockets:
            try:
                s.close()
            except OSError:
                pass


def metric(metrics, name, target):
    prefix = '%s{target="%s"} ' % (name, target)
    for line in metrics.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix):])
    return None


class DeadlineTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.reference = e2e.MigratedTemplate("head", prefix="dw_deadline_ref")
        cls.db_name, cls.db_url = cls.reference.copy(prefix="dw_deadline")
        cls.tmp = e2e.TempDir()

    @classmethod
    def tearDownClass(cls):
        e2e.drop_database(cls.db_name)
        cls.reference.drop()
        cls.tmp.cleanup()

    def test_hung_targets_time_out_and_the_rest_keep_their_schedule(self):
        blackhole = Blackhole()
        self.addCleanup(blackhole.close)
        cluster_port = urllib.parse.urlsplit(e2e.cluster_url()).port
        proxy = StallingProxy(cluster_port)
        self.addCleanup(proxy.close)
        password = e2e.cluster_password()
        targets = [
            e2e.target_section("blackhole", url=e2e.url_for(self.db_name, port=blackhole.port)),
            e2e.target_section("stalled", url=e2e.url_for(self.db_name, port=proxy.port)),
        ]
        healthy = ["healthy%02d" % i for i in range(HEALTHY)]
        targets += [e2e.target_section(name, url=self.db_url) for name in healthy]
        text = ('[server]\nlisten = "127.0.0.1:0"\n\n'
                '[check]\ninterval = "2s"\ntimeout = "%ds"\nconcurrency = 4\n\n' % TIMEOUT_S)
        text += e2e.migrations_section(reference_url=self.reference.url) + "\n"
        text += "\n".join(targets)
        config = e2e.write_file(self.tmp.path, "deadline.toml", text)

        daemon = Daemon(config)
        self.addCleanup(daemon.stop)

        def result(name):
            return daemon.json("/api/v1/targets/" + name)

        # Both hostile targets get a result, repeatedly: their workers come back.
        for name in ("stalled", "blackhole"):
            daemon.wait_until(lambda n=name: (result(n).get("error") or {}).get("reason")
                              == "timeout", timeout=40, what=name + " timing out")
            got = result(name)
            self.assertLessEqual(got["duration_seconds"], TIMEOUT_S + 2.0, got)
            self.assertIn("timeout", got["error"]["message"])

        # The healthy targets keep their schedule meanwhile: every one is checked again and
        # again while the hostile ones keep timing out (a check every 2 s, 4 workers).
        def checks(name):
            metrics = daemon.get("/metrics")[2]
            return metric(metrics, "driftwatch_checks_total", name) or 0

        before = {name: checks(name) for name in healthy + ["blackhole", "stalled"]}
        daemon.wait_until(
            lambda: all(checks(name) >= before[name] + 3 for name in healthy)
            and checks("blackhole") >= before["blackhole"] + 1
            and checks("stalled") >= before["stalled"] + 1,
            timeout=40, what="three more checks of every healthy target")
        for name in healthy:
            self.assertEqual(result(name)["status"], "ok", result(name))
        for name in ("blackhole", "stalled"):
            got = result(name)
            self.assertEqual(got["error"]["reason"], "timeout", got)
            self.assertLessEqual(got["duration_seconds"], TIMEOUT_S + 2.0, got)
        self.assertNotIn(password, daemon.process.output())

    def test_a_server_that_never_answers_cancels_does_not_pile_up_threads(self):
        # Each timed-out check cancels its query with PQcancel, which has no timeout of its own:
        # with a server that takes cancel requests and never closes them, every deadline used
        # to leave one more thread blocked for good (a daemon of a few days: thousands).
        cluster_port = urllib.parse.urlsplit(e2e.cluster_url()).port
        proxy = StallingProxy(cluster_port, swallow_cancels=True)
        self.addCleanup(proxy.close)
        text = ('[server]\nlisten = "127.0.0.1:0"\n\n'
                '[check]\ninterval = "1s"\ntimeout = "1s"\n\n')
        text += e2e.migrations_section(reference_url=self.reference.url) + "\n"
        text += e2e.target_section("stalled", url=e2e.url_for(self.db_name, port=proxy.port))
        config = e2e.write_file(self.tmp.path, "cancels.toml", text)
        daemon = Daemon(config)
        self.addCleanup(daemon.stop)

        def threads():
            with open("/proc/%d/status" % daemon.process.proc.pid) as status:
                for line in status:
                    if line.startswith("Threads:"):
                        return int(line.split()[1])
            return 0

        def timeouts():
            return metric(daemon.get("/metrics")[2], "driftwatch_checks_total", "stalled") or 0

        daemon.wait_until(lambda: proxy.cancels >= 1, timeout=30, what="a first cancel request")
        time.sleep(0.5)  # its watchdog thread is now blocked in PQcancel
        baseline, checked = threads(), timeouts()
        daemon.wait_until(lambda: timeouts() >= checked + 6, timeout=60,
                          what="six more timed-out checks")
        got = daemon.json("/api/v1/targets/stalled")
        self.assertEqual(got["error"]["reason"], "timeout", got)
        self.assertLessEqual(got["duration_seconds"], 1.0 + 2.0, got)
        # At most the one blocked cancel per server, not one per deadline.
        self.assertLessEqual(threads(), baseline + 1,
                             "threads grew from %d with %d cancel requests sent"
                             % (baseline, proxy.cancels))

    def test_a_stalled_resolver_times_out_at_the_deadline(self):
        # libpq resolves host names inside PQconnectStart with no timeout of its own; driftwatch
        # resolves them on a helper thread within the check's deadline. A resolver that never
        # answers (here a nameserver on 127.0.0.77:53 that swallows every query, put in place of
        # /etc/resolv.conf in a mount namespace of the check's own) must cost the deadline, not
        # the resolver's 30 s.
        resolver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            resolver.bind(("127.0.0.77", 53))
        except OSError as error:
            self.fail("this test needs 127.0.0.77:53 (root, port free): %s" % error)
        self.addCleanup(resolver.close)
        queries = []

        def swallow():
            while True:
                try:
                    queries.append(resolver.recvfrom(4096)[0])
                except OSError:
                    return

        threading.Thread(target=swallow, daemon=True).start()
        resolv = e2e.write_file(self.tmp.path, "resolv.conf",
                                "nameserver 127.0.0.77\noptions timeout:30 attempts:1\n")
        cluster_port = urllib.parse.urlsplit(e2e.cluster_url()).port
        stalled_url = "postgresql://postgres:%s@db.driftwatch-stall.test:%d/%s" % (
            urllib.parse.quote(e2e.cluster_password(), safe=""), cluster_port, self.db_name)
        config = e2e.write_config(self.tmp.path, [
            e2e.migrations_section(reference_url=self.reference.url),
            e2e.target_section("healthy", url=self.db_url),
            e2e.target_section("stalled", url=stalled_url),
        ], timeout="%ds" % TIMEOUT_S, name="dns.toml")
        script = 'mount --bind "$0" /etc/resolv.conf && exec "$@"'
        proc = subprocess.run(
            ["unshare", "-m", "sh", "-c", script, resolv, e2e.driftwatch_bin(), "check",
             "--config", config, "--format", "json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
        run = e2e.CheckRun(proc)
        self.assertTrue(queries, "the check never asked the stalled resolver:\n" + run.describe())
        stalled = run.target("stalled")
        self.assertEqual(stalled["status"], "error", run.describe())
        self.assertEqual(stalled["error"]["reason"], "timeout", run.describe())
        self.assertLessEqual(stalled["duration_seconds"], TIMEOUT_S + 2.0, run.describe())
        self.assertEqual(run.target("healthy")["status"], "ok", run.describe())
        self.assertNotIn(e2e.cluster_password(), proc.stdout + proc.stderr)


if __name__ == "__main__":
    e2e.main()
