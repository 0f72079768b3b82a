"""`driftwatch fix-forward` with real Alembic: the written migration upgrades a drifted and a clean
database to the same schema, and the history keeps one head.

The warehouse fixture is copied to a temporary directory (the migration is written there, never
into tests/fixtures). One database at head is the reference (expected schema); a copy of it gets
hand-made drift, another stays clean. fix-forward adopts every finding but the trigger, which
--revert brings back; then `alembic upgrade head` runs on both, and `driftwatch diff` between them
must find nothing. Also `driftwatch check --fix-script`, applied by psql, leaves only the
documented leftover.
"""
import json
import os
import shutil
import subprocess
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_support as e2e  # noqa: E402

DRIFT = [
    # The classic: a NOT NULL column added by hand (adopted: ADD COLUMN IF NOT EXISTS, SET NOT NULL).
    "ALTER TABLE public.orders ADD COLUMN reviewed_by text NOT NULL",
    "DROP INDEX public.orders_pending_created_at_idx",
    "CREATE INDEX orders_note_idx ON public.orders (note)",
    # Adopted in a DO block; ':x' and '%' must reach PostgreSQL as written (Alembic passes the
    # string through SQLAlchemy's text(), which reads :name as a bind parameter).
    "ALTER TABLE public.customer ADD CONSTRAINT customer_country_check "
    "CHECK (country NOT IN ('', ' :x', '%'))",
    "CREATE TYPE public.shipment_kind AS ENUM ('parcel', 'pallet')",
    "ALTER TABLE public.warehouse ALTER COLUMN created_at SET DEFAULT CURRENT_TIMESTAMP",
    # Adopted with ALTER TYPE ... ADD VALUE, which runs in an autocommit block.
    "ALTER TYPE public.order_status ADD VALUE 'refunded'",
    # Reverted (--revert 'public.product.*'): the migration recreates the trigger.
    "DROP TRIGGER product_touch_updated_at ON public.product",
]


def alembic(ini, url, *args):
    env = dict(os.environ, DRIFTWATCH_ALEMBIC_URL=url)
    return subprocess.run(
        [e2e.PYTHON, "-m", "alembic", "-c", ini] + list(args),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        timeout=300,
    )


def query(url, sql):
    conn = e2e.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        conn.close()


class FixForwardTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = e2e.TempDir(prefix="driftwatch-fixfwd-")
        cls.head = e2e.MigratedTemplate("head", prefix="dw_fixfwd_head")
        cls.databases = []

    @classmethod
    def tearDownClass(cls):
        for name in cls.databases:
            e2e.drop_database(name)
        cls.head.drop()
        cls.tmp.cleanup()

    def copy(self, prefix):
        name, url = self.head.copy(prefix=prefix)
        self.databases.append(name)
        return url

    def project(self, name):
        """A copy of the warehouse Alembic project; returns (ini, versions dir)."""
        path = os.path.join(self.tmp.path, name)
        shutil.copytree(e2e.WAREHOUSE_DIR, path)
        return os.path.join(path, "alembic.ini"), os.path.join(path, "versions")

    def config(self, name, versions, reference_url, target_url):
        return e2e.write_config(
            self.tmp.path,
            [
                e2e.migrations_section(versions=versions, reference_url=reference_url),
                e2e.target_section("t", url=target_url),
            ],
            name=name + ".toml",
        )

    def fix_forward(self, config, *extra):
        proc = e2e.run_driftwatch(["fix-forward", "--config", config, "--target", "t"] + list(extra))
        self.assertNotIn(e2e.cluster_password(), proc.stdout + proc.stderr)
        return proc

    def test_migration_converges_drifted_and_clean_databases(self):
        ini, versions = self.project("converge")
        reference = self.copy("dw_fixfwd_ref")
        drifted = self.copy("dw_fixfwd_drift")
        clean = self.copy("dw_fixfwd_clean")
        e2e.execute(drifted, *DRIFT)
        before = set(os.listdir(versions))
        config = self.config("converge", versions, reference, drifted)

        proc = self.fix_forward(config, "--revert", "public.product.*")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        path = proc.stdout.strip()
        self.assertEqual(os.path.dirname(path), versions)  # default: the first versions dir
        self.assertEqual(set(os.listdir(versions)) - before, {os.path.basename(path)})
        with open(path) as f:
            text = f.read()
        revision = os.path.basename(path).split("_")[0]
        self.assertIn('revision = "%s"' % revision, text)
        self.assertIn('down_revision = "%s"' % e2e.WAREHOUSE_HEAD, text)
        self.assertIn("  adopt  extra column public.orders.reviewed_by", text)
        self.assertIn("  revert missing trigger public.product.product_touch_updated_at", text)
        self.assertIn("autocommit_block()", text)
        self.assertIn("TODO backfill public.orders.reviewed_by", text)

        for url in (drifted, clean):
            up = alembic(ini, url, "upgrade", "head")
            self.assertEqual(up.returncode, 0, up.stderr + "\n" + text)
            self.assertEqual(query(url, "SELECT version_num FROM alembic_version"), [(revision,)])
        diff = e2e.run_driftwatch(["diff", "--expected", clean, "--actual", drifted,
                                   "--format", "json"])
        self.assertEqual(diff.returncode, 0, diff.stdout + diff.stderr + "\n" + text)
        self.assertEqual(json.loads(diff.stdout)["findings"], [])
        # Adopted: the column is there, NOT NULL, in the clean database too; reverted: the
        # trigger is back in the drifted one.
        self.assertEqual(
            query(clean, "SELECT is_nullable FROM information_schema.columns "
                         "WHERE table_name = 'orders' AND column_name = 'reviewed_by'"),
            [("NO",)])
        self.assertEqual(
            query(clean, "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                         "WHERE conname = 'customer_country_check'"),
            query(drifted, "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                           "WHERE conname = 'customer_country_check'"))
        self.assertEqual(
            query(drifted, "SELECT count(*) FROM pg_trigger "
                           "WHERE tgname = 'product_touch_updated_at'"), [(1,)])

        heads = e2e.run_driftwatch(["heads", "--versions", versions, "--format", "json"])
        self.assertEqual(heads.returncode, 0, heads.stdout + heads.stderr)
        self.assertEqual(json.loads(heads.stdout)["heads"], [revision])
        # Alembic agrees, and the downgrade runs.
        alembic_heads = alembic(ini, clean, "heads")
        self.assertEqual(alembic_heads.stdout.split()[0], revision, alembic_heads.stderr)
        down = alembic(ini, clean, "downgrade", "-1")
        self.assertEqual(down.returncode, 0, down.stderr)
        self.assertEqual(query(clean, "SELECT version_num FROM alembic_version"),
                         [(e2e.WAREHOUSE_HEAD,)])

    def test_check_fix_script_applied_by_psql_leaves_only_documented_leftovers(self):
        _, versions = self.project("script")
        reference = self.copy("dw_fixfwd_ref")
        drifted = self.copy("dw_fixfwd_script")
        e2e.execute(drifted, *[sql for sql in DRIFT if "ADD VALUE" not in sql])
        config = self.config("script", versions, reference, drifted)
        usage = e2e.run_driftwatch(["check", "--config", config, "--fix-script", "--format", "json"])
        self.assertEqual(usage.returncode, 2, usage.stderr)

        proc = e2e.run_driftwatch(["check", "--config", config, "--fix-script"])
        self.assertEqual(proc.returncode, 1, proc.stderr)  # drift: exit codes as without the flag
        script = proc.stdout
        self.assertTrue(script.startswith("-- driftwatch fix script for target t\n"), script)
        self.assertIn("BEGIN;", script)
        self.assertIn(
            "-- outside a transaction: CONCURRENTLY cannot run inside a transaction block\n"
            "-- fixes extra index public.orders_note_idx\n"
            "-- destructive: drops the index\n"
            "DROP INDEX CONCURRENTLY IF EXISTS public.orders_note_idx;\n",
            script,
        )
        parts = urllib.parse.urlsplit(drifted)
        env = dict(os.environ, PGPASSWORD=parts.password or "")
        psql = subprocess.run(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", parts.hostname, "-p",
             str(parts.port), "-U", parts.username, "-d", parts.path.lstrip("/")],
            input=script, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            timeout=120)
        self.assertEqual(psql.returncode, 0, psql.stderr + "\n" + script)
        after = e2e.run_check(config)
        findings = after.target("t")["findings"]
        # The NOT NULL column is relaxed, not dropped: documented by its finding's fix.
        self.assertEqual([(f["kind"], f["object"], f["severity"]) for f in findings],
                         [("extra", "public.orders.reviewed_by", "info")], after.describe())

    def test_no_drift_writes_nothing(self):
        _, versions = self.project("nodrift")
        reference = self.copy("dw_fixfwd_ref")
        target = self.copy("dw_fixfwd_same")
        before = set(os.listdir(versions))
        proc = self.fix_forward(self.config("nodrift", versions, reference, target))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout, "")
        self.assertIn("no drift", proc.stderr)
        self.assertEqual(set(os.listdir(versions)), before)

    def test_refuses_several_heads_and_a_target_not_at_head(self):
        _, versions = self.project("refuse")
        reference = self.copy("dw_fixfwd_ref")
        behind = self.copy("dw_fixfwd_behind")
        e2e.execute(behind, "UPDATE alembic_version SET version_num = '0010_movements'")
        proc = self.fix_forward(self.config("behind", versions, reference, behind))
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("not at head", proc.stderr)
        self.assertEqual(proc.stdout, "")

        e2e.write_file(versions, "0012_branch.py",
                       'revision = "0012_branch"\ndown_revision = "0010_movements"\n'
                       "branch_labels = None\ndepends_on = None\n")
        drifted = self.copy("dw_fixfwd_heads")
        e2e.execute(drifted, DRIFT[0])
        proc = self.fix_forward(self.config("heads", versions, reference, drifted))
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("2 heads (0011_invoices, 0012_branch)", proc.stderr)

    def test_revert_glob_that_matches_nothing_is_an_error(self):
        _, versions = self.project("badglob")
        reference = self.copy("dw_fixfwd_ref")
        drifted = self.copy("dw_fixfwd_glob")
        e2e.execute(drifted, DRIFT[0])
        before = set(os.listdir(versions))
        proc = self.fix_forward(self.config("badglob", versions, reference, drifted),
                                "--revert", "public.nothing_*")
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn("matches no finding", proc.stderr)
        self.assertEqual(set(os.listdir(versions)), before)


if __name__ == "__main__":
    e2e.main()
