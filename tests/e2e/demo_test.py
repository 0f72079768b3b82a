"""README command 1 (scripts/demo.sh) end to end, as a user runs it.

Runs the demo with the built binary (DRIFTWATCH_BIN) on a free port in its own process group,
checks that `driftwatch serve` shows what the demo promises (prod drifted by a hand-added
NOT NULL column, staging one migration behind, reference clean), then presses Ctrl-C the way a
terminal does (SIGINT to the whole foreground process group) and checks that the script exits
0 and removes its throwaway PostgreSQL cluster and temporary directory.
"""
import glob
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_support as e2e  # noqa: E402
from serve_test import http  # noqa: E402


class DemoTest(unittest.TestCase):
    def test_demo_serves_the_drift_and_cleans_up_on_ctrl_c(self):
        before = set(glob.glob("/tmp/driftwatch-demo.*"))
        env = dict(os.environ, DEMO_PORT="0", DRIFTWATCH_BIN=e2e.driftwatch_bin())
        proc = subprocess.Popen(["bash", os.path.join(e2e.SOURCE_DIR, "scripts", "demo.sh")],
                                cwd=e2e.SOURCE_DIR, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        lines = []
        ready = threading.Event()

        def reader():  # keeps draining the output, as a terminal would
            for line in proc.stdout:
                lines.append(line)
                if "Press Ctrl-C" in line:
                    ready.set()
        threading.Thread(target=reader, daemon=True).start()
        try:
            self.assertTrue(ready.wait(180), "demo never started serving:\n" + "".join(lines))
            out = "".join(lines)
            m = re.search(r"serving on http://127\.0\.0\.1:(\d+)", out)
            self.assertIsNotNone(m, out)
            port = int(m.group(1))
            demo_dirs = set(glob.glob("/tmp/driftwatch-demo.*")) - before
            self.assertEqual(len(demo_dirs), 1, demo_dirs)
            demo_dir = demo_dirs.pop()
            with open(os.path.join(demo_dir, "pg", "datadir")) as f:
                datadir = f.read().strip()

            deadline = time.time() + 60
            while time.time() < deadline:
                try:
                    if http(port, "/readyz")[0] == 200:
                        break
                except OSError:
                    pass
                time.sleep(0.2)
            listing = json.loads(http(port, "/api/v1/targets")[2])
            targets = {t["name"]: t for t in listing["targets"]}
            self.assertEqual(set(targets), {"prod", "staging", "reference"})
            self.assertEqual(targets["reference"]["status"], "ok")
            self.assertEqual(targets["prod"]["status"], "drift")
            prod = json.loads(http(port, "/api/v1/targets/prod")[2])
            self.assertTrue(any(f["kind"] == "extra" and "reviewed_by" in f["message"]
                                for f in prod["findings"]), prod["findings"])
            self.assertEqual(targets["staging"]["revision"]["state"], "behind")
            # Only behind: compared with its own revision's schema, so no findings at all (it
            # used to show the pending migration as 2 critical findings and page).
            staging = json.loads(http(port, "/api/v1/targets/staging")[2])
            self.assertEqual(staging["findings"], [], staging)
            self.assertIn("(the target's revision)", staging["compared_against"])
            metrics = http(port, "/metrics")[2]
            self.assertIn('driftwatch_findings{target="staging",severity="critical"} 0', metrics)
            self.assertIn('driftwatch_drift_detected{target="prod"} 1', metrics)
            self.assertIn('driftwatch_drift_detected{target="reference"} 0', metrics)
            self.assertIn('driftwatch_revision_behind{target="staging"} 1', metrics)
        finally:
            # Ctrl-C in a terminal: SIGINT to the foreground process group.
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                raise
        proc.stdout.close()
        time.sleep(0.5)
        out = "".join(lines)
        self.assertEqual(proc.returncode, 0, out[-3000:])
        self.assertFalse(os.path.exists(demo_dir), "demo directory left behind")
        self.assertFalse(os.path.exists(datadir), "cluster data directory left behind")
        running = subprocess.run(["pgrep", "-f", "postgres -D " + datadir],
                                 capture_output=True, text=True).stdout
        self.assertEqual(running, "", "PostgreSQL of the demo still running")
        self.assertIn("stopped", out, "the daemon's shutdown lines did not reach the terminal")


if __name__ == "__main__":
    e2e.main()
