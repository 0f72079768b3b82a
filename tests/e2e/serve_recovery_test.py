"""`driftwatch serve` when databases go away and when checks hang on a lock.

(a) A target lives in its own throwaway cluster (tests/harness/pg_cluster.sh start DIR). Its
    server is stopped with pg_ctl: the target must turn to status error (reason connect) with
    driftwatch_target_up 0 while a second target stays ok; the server is started again on the
    same port: the target must recover to ok without restarting the daemon (backoff is capped
    at the 2 s interval).
(b) Another session holds an ACCESS EXCLUSIVE lock on pg_catalog.pg_trigger in the target's
    database, so the check's catalog query waits on it (until lock_timeout, which driftwatch caps
    at 2 s). SIGTERM while that query waits: with a long drain deadline the daemon lets the check
    end and exits 0 well within it; with drain_timeout = "0s" it exits at once, saying the
    deadline passed with a check still running. Either way no driftwatch session is left behind.
(c) The reader of the daemon's stderr goes away (the pipe is closed): the daemon keeps checking
    and serving, and still exits 0 on SIGTERM.
"""
import os
import re
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_support as e2e  # noqa: E402
from serve_test import Daemon, http  # noqa: E402

PG_CLUSTER = os.path.join(e2e.SOURCE_DIR, "tests", "harness", "pg_cluster.sh")
PG_BIN = "/usr/lib/postgresql/15/bin"


def as_postgres(args):
    """pg_ctl refuses to run as root; the harness runs the server as the postgres OS user."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + args
    return args


def cluster_data(cluster_dir):
    """The cluster's real data directory under /tmp (the postgres OS user may not be able to
    traverse cluster_dir, so not the DIR/data symlink)."""
    with open(os.path.join(cluster_dir, "datadir")) as f:
        return f.read().strip()


def pg_ctl(cluster_dir, *args):
    pgdata = os.path.join(cluster_data(cluster_dir), "pgdata")
    proc = subprocess.run(as_postgres([os.path.join(PG_BIN, "pg_ctl"), "-D", pgdata] + list(args)),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    if proc.returncode != 0:
        raise AssertionError("pg_ctl %s failed: %s" % (" ".join(args), proc.stdout))


def sample(metrics, name, labels):
    match = re.search(r"^%s\{%s\} (\S+)$" % (re.escape(name), re.escape(labels)), metrics, re.M)
    return float(match.group(1)) if match else None


def driftwatch_sessions(url, waiting_on_lock=False):
    """Backends of driftwatch in the database of `url` (optionally only those waiting on a lock)."""
    query = ("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'driftwatch' "
             "AND datname = current_database() AND pid <> pg_backend_pid()")
    if waiting_on_lock:
        query += " AND wait_event_type = 'Lock'"
    return e2e.execute(url, query)[0][0]


def wait_for(predicate, timeout, what, interval=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError("timed out waiting for " + what)


class ServeRecoveryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.reference = e2e.MigratedTemplate("head", prefix="dw_recovery_ref")
        cls.tmp = e2e.TempDir()
        cls.databases = []

    @classmethod
    def tearDownClass(cls):
        for name in cls.databases:
            e2e.drop_database(name)
        cls.reference.drop()
        cls.tmp.cleanup()

    def setUp(self):
        self.cleanups = []

    def tearDown(self):
        for cleanup in reversed(self.cleanups):
            cleanup()

    def copy_of_head(self, prefix):
        name, url = self.reference.copy(prefix=prefix)
        self.databases.append(name)
        return url

    def config(self, name, targets, interval, drain="20s", timeout="30s"):
        text = (
            "[server]\nlisten = \"127.0.0.1:0\"\ndrain_timeout = %s\n\n"
            "[check]\ninterval = %s\ntimeout = %s\nconcurrency = 2\n\n"
            % (e2e.toml_string(drain), e2e.toml_string(interval), e2e.toml_string(timeout))
        )
        text += e2e.migrations_section(reference_url=self.reference.url) + "\n"
        text += "\n".join(targets)
        return e2e.write_file(self.tmp.path, name, text)

    def start(self, config):
        daemon = Daemon(config)
        self.cleanups.append(daemon.stop)
        return daemon

    # -- (c) the reader of the daemon's log goes away -------------------------------------------

    def test_daemon_keeps_running_when_its_log_pipe_closes(self):
        url = self.copy_of_head("dw_recovery_pipe")
        config = self.config("pipe.toml", [e2e.target_section("piped", url=url)], "1s")
        proc = subprocess.Popen([e2e.driftwatch_bin(), "serve", "--config", config],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.cleanups.append(lambda: (proc.kill(), proc.wait()))
        port = None
        while port is None:
            line = proc.stderr.readline().decode()
            self.assertNotEqual(line, "", "daemon exited before listening")
            match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            port = int(match.group(1)) if match else None
        proc.stderr.close()  # e.g. the `tee` of `driftwatch serve 2>&1 | tee log` was stopped

        def checks():
            if proc.poll() is not None:
                raise AssertionError("daemon died (exit status %d) when its log pipe closed"
                                     % proc.returncode)
            status, _, body = http(port, "/metrics")
            return sample(body, "driftwatch_checks_total", 'target="piped"') or 0
        # Every check logs a line: with interval 1 s several are written to the closed pipe.
        wait_for(lambda: checks() >= 4, 30, "four checks after the log pipe closed")
        self.assertIsNone(proc.poll(), "daemon died when its log pipe closed")
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=30), 0)

    # -- (a) a database that goes away and comes back ------------------------------------------

    def test_target_down_then_recovers_without_restart(self):
        cluster_dir = os.path.join(self.tmp.path, "second-cluster")
        proc = subprocess.run(["bash", PG_CLUSTER, "start", cluster_dir], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=300)
        self.assertEqual(proc.returncode, 0, proc.stdout)
        self.cleanups.append(lambda: subprocess.run(["bash", PG_CLUSTER, "stop", cluster_dir],
                                                    stdout=subprocess.DEVNULL,
                                                    stderr=subprocess.DEVNULL, timeout=120))
        with open(os.path.join(cluster_dir, "url")) as f:
            second_url = f.read().strip()
        e2e.execute(second_url, "CREATE DATABASE flaky")
        flaky_url = second_url.rsplit("/", 1)[0] + "/flaky"
        e2e.alembic(flaky_url, "upgrade", "head")
        steady_url = self.copy_of_head("dw_recovery_steady")

        daemon = self.start(self.config("recovery.toml", [
            e2e.target_section("flaky", url=flaky_url),
            e2e.target_section("steady", url=steady_url),
        ], interval="2s"))

        def status(name):
            return daemon.json("/api/v1/targets/" + name)

        daemon.wait_until(lambda: status("flaky")["status"] == "ok", timeout=120,
                          what="flaky ok before the outage")
        metrics = daemon.get("/metrics")[2]
        self.assertEqual(sample(metrics, "driftwatch_target_up", 'target="flaky"'), 1.0)

        pg_ctl(cluster_dir, "-m", "fast", "-w", "stop")
        daemon.wait_until(lambda: status("flaky")["status"] == "error", timeout=60,
                          what="flaky reported as error")
        down = status("flaky")
        self.assertEqual(down["error"]["reason"], "connect", down)
        self.assertIn("flaky", down["error"]["message"])
        daemon.wait_until(
            lambda: sample(daemon.get("/metrics")[2], "driftwatch_target_up",
                           'target="flaky"') == 0.0, timeout=30, what="target_up 0")
        # Keep it down for a few retries: the daemon keeps polling and counts every failure.
        daemon.wait_until(lambda: status("flaky")["summary"]["consecutive_failures"] >= 2,
                          timeout=60, what="retries while down")
        metrics = daemon.get("/metrics")[2]
        self.assertGreaterEqual(
            sample(metrics, "driftwatch_check_errors_total", 'target="flaky",reason="connect"'),
            2.0)
        self.assertEqual(sample(metrics, "driftwatch_target_up", 'target="steady"'), 1.0)
        self.assertEqual(status("steady")["status"], "ok")
        self.assertEqual(daemon.get("/healthz")[0], 200)

        checks_while_down = status("flaky")["summary"]["checks_total"]
        pg_ctl(cluster_dir, "-l", os.path.join(cluster_data(cluster_dir), "server.log"), "-w",
               "-t", "60", "start")
        daemon.wait_until(lambda: status("flaky")["status"] == "ok", timeout=90,
                          what="flaky recovered")
        up = status("flaky")
        self.assertIsNone(up["error"])
        self.assertEqual(up["summary"]["consecutive_failures"], 0)
        self.assertGreater(up["summary"]["checks_total"], checks_while_down)
        self.assertEqual(up["revision"]["state"], "at_head")
        daemon.wait_until(
            lambda: sample(daemon.get("/metrics")[2], "driftwatch_target_up",
                           'target="flaky"') == 1.0, timeout=30, what="target_up 1")
        log = daemon.process.output()
        self.assertRegex(log, r"check target=flaky status=error .*reason=connect")
        self.assertNotIn(e2e.cluster_password(), log)
        self.assertNotIn(second_url.split(":")[2].split("@")[0], log)  # second cluster password
        self.assertEqual(daemon.stop(), 0)

    # -- (b) SIGTERM while a check waits on a lock -----------------------------------------------

    def sigterm_while_locked(self, drain):
        """Starts a daemon whose only target's catalog is locked, sends SIGTERM while its check
        waits on the lock; returns (exit code, seconds from SIGTERM to exit, log, url)."""
        url = self.copy_of_head("dw_recovery_locked")
        holder = e2e.connect(url, autocommit=False)
        self.cleanups.append(holder.close)
        with holder.cursor() as cur:
            # Introspection reads pg_trigger; alembic_version and the watched tables stay free,
            # so this is a stuck catalog read, not a migration.
            cur.execute("LOCK TABLE pg_catalog.pg_trigger IN ACCESS EXCLUSIVE MODE")
        daemon = self.start(self.config("locked-%s.toml" % drain,
                                        [e2e.target_section("locked", url=url)],
                                        interval="1h", drain=drain, timeout="60s"))
        # The first scheduled check starts within 10 s; the lock wait lasts up to 2 s, so poll
        # fast and signal as soon as the wait is seen.
        wait_for(lambda: driftwatch_sessions(url, waiting_on_lock=True) > 0, timeout=60,
                 what="a driftwatch query waiting on the lock")
        started = time.time()
        daemon.signal(signal.SIGTERM)
        code = daemon.wait_exit(60)
        elapsed = time.time() - started
        holder.rollback()
        wait_for(lambda: driftwatch_sessions(url) == 0, timeout=30,
                 what="no driftwatch session left", interval=0.2)
        return code, elapsed, daemon.process.output(), url

    def test_sigterm_lets_a_locked_check_finish_within_the_drain_deadline(self):
        code, elapsed, log, _ = self.sigterm_while_locked(drain="30s")
        self.assertEqual(code, 0, log)
        # The check ends at its lock timeout (<= 2 s); allow for a loaded machine but stay far
        # below the 30 s deadline.
        self.assertLess(elapsed, 15, log)
        self.assertIn("SIGTERM: draining", log)
        self.assertRegex(log, r"check target=locked status=error .*reason=timeout")
        self.assertNotIn("drain deadline passed", log)

    def test_sigterm_with_zero_drain_deadline_exits_at_once(self):
        code, elapsed, log, _ = self.sigterm_while_locked(drain="0s")
        self.assertEqual(code, 0, log)
        # No wait for the check: only the listener's short grace for answers in progress.
        self.assertLess(elapsed, 8, log)
        self.assertIn("drain deadline passed with 1 check(s) still running", log)


if __name__ == "__main__":
    e2e.main()
