"""`driftwatch check` against every revision state of a real Alembic-managed database.

One database is migrated to head with real Alembic (the warehouse fixture) and kept as the
reference (expected schema); each test copies it with CREATE DATABASE ... TEMPLATE, puts the copy
into one revision state and asserts the JSON report and the exit code.
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_support as e2e  # noqa: E402

HEAD = e2e.WAREHOUSE_HEAD


class CheckStatesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.reference = e2e.MigratedTemplate("head", prefix="dw_states_ref")
        cls.tmp = e2e.TempDir()

    @classmethod
    def tearDownClass(cls):
        cls.reference.drop()
        cls.tmp.cleanup()

    def setUp(self):
        self.databases = []

    def tearDown(self):
        for name in self.databases:
            e2e.drop_database(name)

    def copy_of_head(self):
        name, url = self.reference.copy(prefix="dw_states")
        self.databases.append(name)
        return url

    def check_one(self, url, name="t", reference_url=None, snapshots=None):
        config = e2e.write_config(
            self.tmp.path,
            [
                e2e.migrations_section(
                    reference_url=reference_url or (None if snapshots else self.reference.url),
                    snapshots=snapshots,
                ),
                e2e.target_section(name, url=url),
            ],
            name="%s.toml" % self.id().split(".")[-1],
        )
        run = e2e.run_check(config)
        self.assertNotIn(e2e.cluster_password(), run.stdout + run.stderr)
        return run, run.target(name)

    # -- states ---------------------------------------------------------------------------------

    def test_at_head_is_clean(self):
        url = self.copy_of_head()
        run, target = self.check_one(url)
        self.assertEqual(run.returncode, 0, run.describe())
        self.assertEqual(target["status"], "ok", run.describe())
        self.assertIsNone(target["error"])
        self.assertEqual(target["revision"]["state"], "at_head")
        self.assertEqual(target["revision"]["current"], [HEAD])
        self.assertEqual(target["revision"]["expected_heads"], [HEAD])
        self.assertEqual(target["revision"]["pending"], [])
        self.assertEqual(target["revision"]["behind_by"], 0)
        self.assertEqual(target["findings"], [], run.describe())
        self.assertIn("checked_at", target)
        self.assertGreaterEqual(target["duration_seconds"], 0)

    def test_behind_by_one(self):
        url = self.copy_of_head()
        e2e.alembic(url, "downgrade", "-1")
        run, target = self.check_one(url)
        self.assertEqual(run.returncode, 1, run.describe())
        self.assertEqual(target["status"], "drift", run.describe())
        self.assertEqual(target["revision"]["state"], "behind")
        self.assertEqual(target["revision"]["current"], ["0010_movements"])
        self.assertEqual(target["revision"]["expected_heads"], [HEAD])
        self.assertEqual(target["revision"]["behind_by"], 1)
        self.assertEqual(target["revision"]["pending"], [HEAD])

    def test_behind_across_the_merge(self):
        # Below the branch point: both branches, the merge and everything after are pending.
        url = self.copy_of_head()
        e2e.alembic(url, "downgrade", "0004_orders")
        run, target = self.check_one(url)
        self.assertEqual(run.returncode, 1, run.describe())
        self.assertEqual(target["revision"]["state"], "behind", run.describe())
        self.assertEqual(target["revision"]["current"], ["0004_orders"])
        expected_pending = sorted(
            [
                "0005a_stock",
                "0005b_middleman",
                "0006_merge",
                "0007_audit",
                "0008_order_lines",
                "0009_reporting",
                "0010_movements",
                "0011_invoices",
            ]
        )
        self.assertEqual(target["revision"]["pending"], expected_pending)
        self.assertEqual(target["revision"]["behind_by"], 8)

    def test_unknown_revision(self):
        url = self.copy_of_head()
        e2e.execute(url, "UPDATE alembic_version SET version_num = '0099_from_the_future'")
        run, target = self.check_one(url)
        self.assertEqual(run.returncode, 1, run.describe())
        self.assertEqual(target["status"], "drift", run.describe())
        self.assertEqual(target["revision"]["state"], "unknown_revision")
        self.assertEqual(target["revision"]["current"], ["0099_from_the_future"])
        self.assertEqual(target["revision"]["expected_heads"], [HEAD])

    def test_made_up_second_row_is_unknown_revision(self):
        url = self.copy_of_head()
        e2e.execute(url, "INSERT INTO alembic_version (version_num) VALUES ('0012_hotfix')")
        run, target = self.check_one(url)
        self.assertEqual(run.returncode, 1, run.describe())
        self.assertEqual(target["status"], "drift", run.describe())
        self.assertEqual(target["revision"]["state"], "unknown_revision", run.describe())
        self.assertEqual(target["revision"]["current"], sorted([HEAD, "0012_hotfix"]))

    def test_multiple_heads_in_db(self):
        # Head plus one of its ancestors: rows Alembic never writes (it refuses to upgrade from
        # them: "overlaps with other requested revisions").
        url = self.copy_of_head()
        e2e.execute(url, "INSERT INTO alembic_version (version_num) VALUES ('0005a_stock')")
        run, target = self.check_one(url)
        self.assertEqual(run.returncode, 1, run.describe())
        self.assertEqual(target["status"], "drift", run.describe())
        self.assertEqual(target["revision"]["state"], "multiple_heads_in_db", run.describe())
        self.assertEqual(target["revision"]["current"], sorted([HEAD, "0005a_stock"]))

    def test_two_branch_tips_before_the_merge_are_behind(self):
        # Real Alembic writes one row per branch tip while the branches are unmerged.
        url = self.copy_of_head()
        e2e.alembic(url, "downgrade", "0004_orders")
        e2e.alembic(url, "upgrade", "0005a_stock")
        e2e.alembic(url, "upgrade", "0005b_middleman")
        run, target = self.check_one(url)
        self.assertEqual(run.returncode, 1, run.describe())
        self.assertEqual(target["revision"]["state"], "behind", run.describe())
        self.assertEqual(target["revision"]["current"], ["0005a_stock", "0005b_middleman"])
        self.assertEqual(
            target["revision"]["pending"],
            [
                "0006_merge",
                "0007_audit",
                "0008_order_lines",
                "0009_reporting",
                "0010_movements",
                "0011_invoices",
            ],
        )
        self.assertEqual(target["revision"]["behind_by"], 6)

    def test_no_version_table(self):
        url = self.copy_of_head()
        e2e.execute(url, "DROP TABLE alembic_version")
        run, target = self.check_one(url)
        self.assertEqual(run.returncode, 1, run.describe())
        self.assertEqual(target["status"], "drift", run.describe())
        self.assertEqual(target["revision"]["state"], "no_version_table")
        self.assertEqual(target["revision"]["current"], [])

    def test_empty_version_table(self):
        url = self.copy_of_head()
        e2e.execute(url, "DELETE FROM alembic_version")
        run, target = self.check_one(url)
        self.assertEqual(run.returncode, 1, run.describe())
        self.assertEqual(target["status"], "drift", run.describe())
        self.assertEqual(target["revision"]["state"], "empty_version_table")
        self.assertEqual(target["revision"]["current"], [])

    def test_migrating_while_version_table_is_locked(self):
        url = self.copy_of_head()
        holder = e2e.connect(url, autocommit=False)
        try:
            with holder.cursor() as cur:
                # What `alembic upgrade` holds while it runs: the version table, exclusively.
                cur.execute("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE")
                run, target = self.check_one(url)
        finally:
            holder.rollback()
            holder.close()
        self.assertEqual(target["status"], "migrating", run.describe())
        self.assertEqual(target["revision"]["state"], "migrating", run.describe())
        # Neither drift nor failure: a deploy in progress must not fail a cron/CI gate.
        self.assertEqual(run.returncode, 0, run.describe())
        self.assertEqual(target["findings"], [], run.describe())
        self.assertEqual(target["revision"]["current"], [])

    def test_partially_applied_head(self):
        # The version row says head, but the last migration's table was removed by hand.
        url = self.copy_of_head()
        e2e.execute(url, "DROP TABLE public.invoice", "DROP SEQUENCE public.invoice_number_seq")
        run, target = self.check_one(url)
        self.assertEqual(run.returncode, 1, run.describe())
        self.assertEqual(target["status"], "drift", run.describe())
        self.assertEqual(target["revision"]["state"], "at_head")
        found = {(f["kind"], f["object_type"], f["object"]): f for f in target["findings"]}
        self.assertIn(("missing", "table", "public.invoice"), found, run.describe())
        self.assertIn(("missing", "sequence", "public.invoice_number_seq"), found, run.describe())
        table = found[("missing", "table", "public.invoice")]
        self.assertEqual(table["risk"], "undefined_table")
        self.assertEqual(table["severity"], "critical")

    def test_drift_against_snapshot_file(self):
        # Expected schema from `driftwatch snapshot` of the reference instead of a live database.
        snapshots = os.path.join(self.tmp.path, "snapshots")
        os.makedirs(snapshots, exist_ok=True)
        proc = e2e.run_driftwatch(
            [
                "snapshot",
                "--url",
                self.reference.url,
                "--schema",
                "public",
                "--schema",
                "middleman",
                "--out",
                os.path.join(snapshots, "head.json"),
            ]
        )
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertNotIn(e2e.cluster_password(), proc.stdout + proc.stderr)
        clean_url = self.copy_of_head()
        drifted_url = self.copy_of_head()
        e2e.execute(drifted_url, "ALTER TABLE public.orders ADD COLUMN reviewed_by text NOT NULL")
        config = e2e.write_config(
            self.tmp.path,
            [
                e2e.migrations_section(snapshots=snapshots),
                e2e.target_section("clean", url=clean_url),
                e2e.target_section("drifted", url=drifted_url),
            ],
            name="snapshot.toml",
        )
        run = e2e.run_check(config)
        self.assertEqual(run.returncode, 1, run.describe())
        clean = run.target("clean")
        self.assertEqual(clean["status"], "ok", run.describe())
        self.assertEqual(clean["findings"], [])
        drifted = run.target("drifted")
        self.assertEqual(drifted["status"], "drift")
        self.assertEqual(drifted["revision"]["state"], "at_head")
        self.assertEqual(len(drifted["findings"]), 1, run.describe())
        finding = drifted["findings"][0]
        self.assertEqual(finding["kind"], "extra")
        self.assertEqual(finding["object_type"], "column")
        self.assertEqual(finding["object"], "public.orders.reviewed_by")
        self.assertEqual(finding["risk"], "not_null_violation")
        self.assertEqual(finding["severity"], "critical")

    def snapshot_to(self, url, directory, filename):
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, filename)
        proc = e2e.run_driftwatch(["snapshot", "--url", url, "--out", path])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return path

    def test_behind_is_compared_with_its_own_revision_snapshot(self):
        # With snapshots of head and of 0010_movements, a target at 0010 is compared with its own
        # revision: the pending migration is not reported as missing tables, but a hand-made
        # change is. Without its own snapshot it is compared with head, and the report says so.
        snapshots = os.path.join(self.tmp.path, "own-snapshots")
        self.snapshot_to(self.reference.url, snapshots, "head.json")
        previous = self.copy_of_head()
        e2e.alembic(previous, "downgrade", "-1")
        self.snapshot_to(previous, snapshots, "previous.json")
        with open(os.path.join(snapshots, "head.json")) as f:
            head_text = f.read()
        # Deterministic: the same schema gives a byte-identical file.
        again = self.snapshot_to(self.reference.url, self.tmp.path, "head-again.json")
        with open(again) as f:
            self.assertEqual(f.read(), head_text)

        behind_clean = self.copy_of_head()
        e2e.alembic(behind_clean, "downgrade", "-1")
        behind_drifted = self.copy_of_head()
        e2e.alembic(behind_drifted, "downgrade", "-1")
        e2e.execute(behind_drifted, "ALTER TABLE public.orders ADD COLUMN reviewed_by text NOT NULL")
        config = e2e.write_config(
            self.tmp.path,
            [
                e2e.migrations_section(snapshots=snapshots),
                e2e.target_section("clean", url=behind_clean),
                e2e.target_section("drifted", url=behind_drifted),
            ],
            name="own-snapshot.toml",
        )
        run = e2e.run_check(config)
        self.assertEqual(run.returncode, 1, run.describe())
        clean = run.target("clean")
        self.assertEqual(clean["revision"]["state"], "behind")
        self.assertEqual(clean["findings"], [], run.describe())
        self.assertIn("0010_movements", clean["compared_against"])
        drifted = run.target("drifted")
        self.assertEqual([f["object"] for f in drifted["findings"]], ["public.orders.reviewed_by"])

        os.remove(os.path.join(snapshots, "previous.json"))
        run = e2e.run_check(config, targets=["clean"])
        clean = run.target("clean")
        self.assertIn("head revision", clean["compared_against"])
        self.assertIn("not the target's revision", clean["compared_against"])
        missing = [f for f in clean["findings"] if f["kind"] == "missing"]
        self.assertTrue(missing, run.describe())  # the pending migration's objects
        # Possibly pending, so capped below critical: a lagging deploy never pages as drift.
        for finding in clean["findings"]:
            self.assertTrue(finding.get("possibly_pending"), finding)
            self.assertNotEqual(finding["severity"], "critical", finding)

    def test_text_format_names_each_target(self):
        url = self.copy_of_head()
        e2e.alembic(url, "downgrade", "-1")
        config = e2e.write_config(
            self.tmp.path,
            [
                e2e.migrations_section(reference_url=self.reference.url),
                e2e.target_section("staging_behind", url=url),
            ],
            name="text.toml",
        )
        proc = e2e.run_driftwatch(["check", "--config", config])
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        self.assertIn("staging_behind", proc.stdout)
        self.assertIn("behind", proc.stdout)
        self.assertNotIn(e2e.cluster_password(), proc.stdout + proc.stderr)


if __name__ == "__main__":
    e2e.main()
