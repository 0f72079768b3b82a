"""Expected schema at every revision, with real Alembic and PostgreSQL (issue 12).

- `driftwatch snapshot --all-revisions` replays the warehouse migrations (a branch and a merge)
  into scratch databases and writes one snapshot per revision; each equals the snapshot of a
  database brought there from scratch with `alembic upgrade R`; a second run builds nothing;
  `.json.gz` files read like `.json`; a failing migration stops with its output, named.
Checks against the history: replay_check_test.py.
"""
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_support as e2e  # noqa: E402

REVISIONS = [
    "0001_base", "0002_catalog", "0003_customers", "0004_orders", "0005a_stock",
    "0005b_middleman", "0006_merge", "0007_audit", "0008_order_lines", "0009_reporting",
    "0010_movements", "0011_invoices",
]
UPGRADE = "%s -m alembic -c %s upgrade {revision}" % (e2e.PYTHON, e2e.WAREHOUSE_INI)


def snapshot_args(out_dir, versions=None, extra=(), upgrade=UPGRADE):
    return ["snapshot", "--all-revisions", "--versions", versions or e2e.WAREHOUSE_VERSIONS,
            "--scratch-url", e2e.cluster_url(), "--out-dir", out_dir,
            "--upgrade-command", upgrade] + list(extra)


class ReplayHistoryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = e2e.Workspace("dw_hist")
        cls.tmp = cls.work.tmp
        cls.history = os.path.join(cls.tmp.path, "history")
        started = time.time()
        # Run by hand rather than with e2e.run_driftwatch: its pid names its scratch databases.
        with subprocess.Popen([e2e.driftwatch_bin()] + snapshot_args(cls.history),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as build:
            try:
                stdout, stderr = build.communicate(timeout=600)
            except subprocess.TimeoutExpired:
                build.kill()
                raise
        cls.build = subprocess.CompletedProcess(build.args, build.returncode, stdout, stderr)
        cls.build_pid = build.pid
        cls.build_seconds = time.time() - started

    @classmethod
    def tearDownClass(cls):
        cls.work.cleanup()

    def test_history_matches_alembic_upgrade_from_scratch(self):
        self.assertEqual(self.build.returncode, 0, self.build.stderr)
        self.assertEqual(sorted(os.listdir(self.history)), [r + ".json" for r in REVISIONS])
        progress = [line for line in self.build.stderr.splitlines() if line.startswith("[")]
        self.assertEqual(len(progress), len(REVISIONS), self.build.stderr)
        self.assertIn("[6/12] 0005b_middleman: built", self.build.stderr)
        # Every revision, both branch tips and the merge included, is byte-identical to the
        # snapshot of a database upgraded from scratch to it.
        for revision in REVISIONS:
            url = self.work.database_at(revision)
            proc = e2e.run_driftwatch(["snapshot", "--url", url])
            self.assertEqual(proc.returncode, 0, proc.stderr)
            with open(os.path.join(self.history, revision + ".json")) as f:
                self.assertEqual(f.read(), proc.stdout, revision)
        # A branch tip has its own branch only.
        with open(os.path.join(self.history, "0005b_middleman.json")) as f:
            self.assertNotIn("stock_level", f.read())
        # Nothing is left on the scratch server (of this build's: other tests may be replaying
        # at the same time).
        self.assertEqual(e2e.scratch_databases(self.build_pid), [])

    def test_incremental_and_gzip(self):
        again = e2e.run_driftwatch(snapshot_args(self.history))
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertIn("0 built, 12 already present", again.stdout)
        # A gzip-compressed snapshot reads like the plain one.
        plain = os.path.join(self.history, "0011_invoices.json")
        packed = os.path.join(self.tmp.path, "head.json.gz")
        with open(plain, "rb") as src, gzip.open(packed, "wb") as dst:
            dst.write(src.read())
        diff = e2e.run_driftwatch(["diff", "--expected", packed, "--actual", plain,
                                   "--format", "json"])
        self.assertEqual(diff.returncode, 0, diff.stderr)
        self.assertEqual(json.loads(diff.stdout)["findings"], [])

    def test_failing_migration_is_named_with_its_output(self):
        versions, ini = e2e.versions_with_migration(
            self.tmp.path, "failing", "0012_fails.py",
            'revision = "0012_fails"\ndown_revision = "0011_invoices"\n'
            'branch_labels = None\ndepends_on = None\n\n'
            'from alembic import op\n\n\ndef upgrade():\n'
            '    op.execute("SELECT no_such_function_0012()")\n\n\n'
            'def downgrade():\n    pass\n')
        out = os.path.join(self.tmp.path, "failing-out")
        shutil.copytree(self.history, out)
        proc = e2e.run_driftwatch(
            ["snapshot", "--all-revisions", "--versions", versions, "--scratch-url",
             e2e.cluster_url(), "--out-dir", out, "--upgrade-command",
             "%s -m alembic -c %s upgrade {revision}" % (e2e.PYTHON, ini)])
        self.assertEqual(proc.returncode, 3, proc.stderr)
        self.assertIn("migration to revision 0012_fails failed", proc.stderr)
        self.assertIn("no_such_function_0012", proc.stderr)  # Alembic's own output
        self.assertNotIn(e2e.cluster_password(), proc.stderr)
        self.assertFalse(os.path.exists(os.path.join(out, "0012_fails.json")))

    def test_interrupt_kills_the_command_and_drops_the_scratch_databases(self):
        # The upgrade command runs in a process group of its own, so a terminal's Ctrl-C reaches
        # driftwatch only: it must kill the command and drop its scratch databases itself.
        out = os.path.join(self.tmp.path, "interrupted-out")
        pid_file = os.path.join(self.tmp.path, "upgrade-sleep-pid")
        proc = e2e.Process([e2e.driftwatch_bin()] + snapshot_args(
            out, upgrade="sleep 600 & echo $! > %s.tmp; mv %s.tmp %s; wait"
            % (pid_file, pid_file, pid_file)))
        try:
            deadline = time.time() + 60
            while not os.path.exists(pid_file) and time.time() < deadline:
                self.assertIsNone(proc.proc.poll(), proc.output())
                time.sleep(0.1)
            with open(pid_file) as f:
                sleep_pid = int(f.read())
            self.assertTrue(e2e.scratch_databases(proc.proc.pid))
            proc.proc.send_signal(signal.SIGINT)
            self.assertEqual(proc.proc.wait(timeout=30), 3, proc.output())
        finally:
            proc.stop()
        self.assertIn("interrupted at revision 0001_base", proc.output())
        self.assertFalse(e2e.process_alive(sleep_pid), "the upgrade command's child survived")
        self.assertEqual(e2e.scratch_databases(proc.proc.pid), [])
        self.assertEqual(os.listdir(out), [])


if __name__ == "__main__":
    e2e.main()
