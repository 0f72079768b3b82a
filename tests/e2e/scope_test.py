"""Scope and lookup correctness of the expected schema (issue 12, 5), real PostgreSQL.

- a target listing `schemas` gets no findings for schemas it does not watch, whether the
  expected side is a snapshot covering more schemas or a reference database shared with a
  target that watches more (the reference cache is keyed by what shapes the read);
- a database at head whose alembic_version has fewer rows than the graph has heads (a head
  another head depends_on, as Alembic records it) finds its snapshot.
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_support as e2e  # noqa: E402

MULTIBASE = os.path.join(e2e.SOURCE_DIR, "tests", "fixtures", "revisions", "multibase_labels")


class ScopeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = e2e.Workspace("dw_scope", reference="head")
        cls.tmp = cls.work.tmp
        cls.reference = cls.work.reference

    @classmethod
    def tearDownClass(cls):
        cls.work.cleanup()

    def targets(self):
        return [e2e.target_section("public_only", url=self.work.copy(), schemas=["public"]),
                e2e.target_section("both", url=self.work.copy(), schemas=["public", "middleman"])]

    def assert_clean(self, run):
        self.assertEqual(run.returncode, 0, run.describe())
        for name in ("public_only", "both"):
            self.assertEqual(run.target(name)["findings"], [], run.describe())

    def test_snapshot_covering_more_schemas(self):
        snapshots = os.path.join(self.tmp.path, "snapshots")
        os.makedirs(snapshots, exist_ok=True)
        proc = e2e.run_driftwatch(["snapshot", "--url", self.reference.url, "--out",
                                   os.path.join(snapshots, "head.json")])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        config = e2e.write_config(self.tmp.path, [e2e.migrations_section(snapshots=snapshots)]
                                  + self.targets(), name="scope-snapshots.toml")
        self.assert_clean(e2e.run_check(config))

    def test_reference_shared_by_targets_watching_different_schemas(self):
        config = e2e.write_config(
            self.tmp.path,
            [e2e.migrations_section(reference_url=self.reference.url)] + self.targets(),
            name="scope-reference.toml")
        self.assert_clean(e2e.run_check(config))

    def test_head_depending_on_another_head_finds_its_snapshot(self):
        # multibase_labels: heads core_2, billing_2, reports_base; reports_base depends_on
        # billing_2, which depends_on core_2. After `alembic upgrade heads` Alembic records
        # reports_base alone.
        url = self.work.database("dw_scope_multi")
        e2e.execute(url, "CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)",
                    "INSERT INTO alembic_version VALUES ('reports_base')")
        snapshots = os.path.join(self.tmp.path, "multi-snapshots")
        os.makedirs(snapshots, exist_ok=True)
        proc = e2e.run_driftwatch(["snapshot", "--url", url, "--out",
                                   os.path.join(snapshots, "heads.json")])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        config = e2e.write_config(
            self.tmp.path,
            [e2e.migrations_section(versions=MULTIBASE, snapshots=snapshots),
             e2e.target_section("multi", url=url, schemas=["public"])],
            name="scope-multi.toml")
        run = e2e.run_check(config)
        self.assertEqual(run.returncode, 0, run.describe())
        result = run.target("multi")
        self.assertEqual(result["revision"]["state"], "at_head", result)
        self.assertEqual(result["error"], None, result)


if __name__ == "__main__":
    e2e.main()
