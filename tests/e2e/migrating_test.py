"""`migrating` must not hide drift (issue 12, 5), real PostgreSQL and real Alembic.

- an ETL holds a TRUNCATE of a watched table for 3 s while a drifted target is checked: the
  verdict is deferred until the lock is gone, and the drift is reported (it used to be
  `migrating` with 0 findings and exit 0);
- real Alembic running a slow migration: `migrating`, marked as a migration (never alerted),
  with the lock on the version table and Alembic's statement as evidence.
"""
import os
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_support as e2e  # noqa: E402


class MigratingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = e2e.Workspace("dw_mig", reference="head")
        cls.tmp = cls.work.tmp
        cls.reference = cls.work.reference

    @classmethod
    def tearDownClass(cls):
        cls.work.cleanup()

    def test_etl_truncate_defers_but_does_not_hide_drift(self):
        url = self.work.copy()
        e2e.execute(url, "ALTER TABLE public.orders ADD COLUMN reviewed_by text NOT NULL")
        config = e2e.write_config(
            self.tmp.path, [e2e.migrations_section(reference_url=self.reference.url),
                            e2e.target_section("etl", url=url)], name="etl.toml")
        locked = threading.Event()

        def etl():
            conn = e2e.connect(url + "?application_name=nightly-etl", autocommit=False)
            with conn.cursor() as cur:
                cur.execute("TRUNCATE public.order_line")
                locked.set()
                time.sleep(3)
            conn.commit()
            conn.close()

        worker = threading.Thread(target=etl)
        worker.start()
        self.assertTrue(locked.wait(30))
        run = e2e.run_check(config)
        worker.join()
        self.assertEqual(run.returncode, 1, run.describe())
        result = run.target("etl")
        self.assertEqual(result["status"], "drift", run.describe())
        self.assertEqual([f["object"] for f in result["findings"]], ["public.orders.reviewed_by"])

    def test_real_alembic_slow_migration_is_migrating_with_evidence(self):
        url = self.work.copy()
        versions, ini = e2e.versions_with_migration(
            self.tmp.path, "slow", "0012_slow.py",
            'revision = "0012_slow"\ndown_revision = "0011_invoices"\n'
            'branch_labels = None\ndepends_on = None\n\nfrom alembic import op\n\n\n'
            'def upgrade():\n'
            '    op.execute("ALTER TABLE public.orders ADD COLUMN slow_col integer")\n'
            '    op.execute("SELECT pg_sleep(60)")\n\n\ndef downgrade():\n    pass\n')
        alembic = subprocess.Popen(
            [e2e.PYTHON, "-m", "alembic", "-c", ini, "upgrade", "0012_slow"],
            env=dict(os.environ, DRIFTWATCH_ALEMBIC_URL=url),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 60
            conn = e2e.connect(url)
            while time.time() < deadline:
                with conn.cursor() as cur:
                    cur.execute("SELECT count(*) FROM pg_stat_activity "
                                "WHERE query LIKE 'SELECT pg_sleep(60)%'")
                    if cur.fetchone()[0]:
                        break
                time.sleep(0.2)
            conn.close()
            config = e2e.write_config(
                self.tmp.path,
                [e2e.migrations_section(versions=versions, reference_url=self.reference.url),
                 e2e.target_section("upgrading", url=url)], name="slow.toml", timeout="15s")
            run = e2e.run_check(config)
            self.assertEqual(run.returncode, 0, run.describe())  # never alerted on
            result = run.target("upgrading")
            self.assertEqual(result["status"], "migrating", run.describe())
            migrating = result["migrating"]
            self.assertTrue(migrating["by_migration"], migrating)
            evidence = "\n".join(migrating["evidence"])
            self.assertIn("AccessExclusiveLock on public.orders", evidence)
            self.assertIn("SELECT pg_sleep(60)", evidence)
        finally:
            alembic.kill()
            alembic.wait()


if __name__ == "__main__":
    e2e.main()
