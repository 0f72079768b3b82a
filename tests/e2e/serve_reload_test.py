"""A SIGHUP reload runs off the HTTP threads: /metrics answers without a pause during it.

The config has a second migrations source with 30,000 revision files, so a reload (which re-reads
every versions directory) takes a while, and four targets checked every second, so the reload
falls into rounds of checks. Four clients scrape /metrics back to back; the slowest answer to a
scrape started during the reload must be far below the reload's own duration (a scrape blocked
by the reload would take about as long as the reload). Durations are compared with each other,
never with a fixed limit.
"""
import os
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_support as e2e  # noqa: E402
from serve_test import Daemon, http  # noqa: E402

REVISIONS = 30000


def write_big_versions(directory):
    os.makedirs(directory)
    for i in range(REVISIONS):
        down = "None" if i == 0 else '"big%05d"' % (i - 1)
        with open(os.path.join(directory, "big%05d_step.py" % i), "w") as f:
            f.write('revision = "big%05d"\ndown_revision = %s\n\n\ndef upgrade():\n    pass\n'
                    % (i, down))


class ServeReloadTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.reference = e2e.MigratedTemplate("head", prefix="dw_reload_ref")
        cls.tmp = e2e.TempDir()
        cls.big = os.path.join(cls.tmp.path, "big-versions")
        write_big_versions(cls.big)

    @classmethod
    def tearDownClass(cls):
        cls.reference.drop()
        cls.tmp.cleanup()

    def test_metrics_answer_during_a_slow_reload(self):
        text = "[server]\nlisten = \"127.0.0.1:0\"\n\n[check]\ninterval = \"1s\"\ntimeout = \"10s\"\n\n"
        text += e2e.migrations_section(reference_url=self.reference.url) + "\n"
        text += e2e.migrations_section(name="big", versions=self.big) + "\n"
        for i in range(4):
            text += e2e.target_section("t%d" % i, url=self.reference.url) + "\n"
        config = e2e.write_file(self.tmp.path, "reload.toml", text)
        daemon = Daemon(config)
        stop = threading.Event()
        samples = []  # (start, seconds)
        lock = threading.Lock()

        def scrape():
            while not stop.is_set():
                start = time.monotonic()
                status, _, _ = http(daemon.port, "/metrics", timeout=60)
                with lock:
                    samples.append((start, time.monotonic() - start, status))

        try:
            daemon.wait_until(lambda: daemon.get("/readyz")[0] == 200, timeout=60,
                              what="first round done")
            threads = [threading.Thread(target=scrape) for _ in range(4)]
            for t in threads:
                t.start()
            time.sleep(1.0)
            reloads_before = daemon.process.output().count("configuration reloaded")
            began = time.monotonic()
            daemon.signal(signal.SIGHUP)
            daemon.wait_until(
                lambda: daemon.process.output().count("configuration reloaded") > reloads_before,
                timeout=120, what="the reload to finish")
            ended = time.monotonic()
            time.sleep(0.5)
            stop.set()
            for t in threads:
                t.join()
        finally:
            stop.set()
            daemon.stop()
        reload_seconds = ended - began
        during = [s for s in samples if began <= s[0] <= ended]
        print("reload %.2f s; %d scrapes during it, slowest %.3f s"
              % (reload_seconds, len(during), max(d for (_, d, _) in during) if during else -1))
        self.assertTrue(all(status == 200 for (_, _, status) in samples))
        # The setup makes the reload slow enough to see a pause if there were one.
        self.assertGreater(len(during), 4, "too few scrapes during the reload to tell")
        slowest = max(d for (_, d, _) in during)
        self.assertLess(slowest, reload_seconds / 3,
                        "a /metrics answer waited for the reload (%.3f s of a %.3f s reload)"
                        % (slowest, reload_seconds))


if __name__ == "__main__":
    e2e.main()
