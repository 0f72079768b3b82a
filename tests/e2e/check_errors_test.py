"""`driftwatch check` when a target cannot be checked.

Every case puts one broken target next to a healthy one in the same config and asserts: the
broken target reports status "error" with the right reason and a message naming the target and
the cause, the healthy target is still checked ("ok"), the exit code is 3, and no password shows
up on stdout or stderr.
"""
import os
import re
import shutil
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_support as e2e  # noqa: E402

WRONG_PASSWORD = "not-the-Secret-42"
LIMITED_PASSWORD = "limited-Secret-77"


class CheckErrorsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.reference = e2e.MigratedTemplate("head", prefix="dw_errors_ref")
        cls.healthy_name, cls.healthy_url = cls.reference.copy(prefix="dw_errors_ok")
        cls.tmp = e2e.TempDir()

    @classmethod
    def tearDownClass(cls):
        e2e.drop_database(cls.healthy_name)
        cls.reference.drop()
        cls.tmp.cleanup()

    def setUp(self):
        self.databases = []
        self.roles = []
        self.holders = []

    def tearDown(self):
        for conn in self.holders:
            conn.close()
        for name in self.databases:
            e2e.drop_database(name)
        for role in self.roles:
            e2e.execute(e2e.cluster_url(), 'DROP ROLE IF EXISTS "%s"' % role)

    # -- helpers --------------------------------------------------------------------------------

    def run_pair(self, broken_section, extra_sections=(), timeout="20s", env=None):
        """Checks the broken target next to the healthy one; returns (run, broken, healthy)."""
        sections = [e2e.migrations_section(reference_url=self.reference.url)]
        sections += list(extra_sections)
        sections += [e2e.target_section("healthy", url=self.healthy_url), broken_section]
        config = e2e.write_config(
            self.tmp.path, sections, timeout=timeout, name="%s.toml" % self.id().split(".")[-1]
        )
        run = e2e.run_check(config, env=env)
        output = run.stdout + run.stderr
        self.assertNotIn(e2e.cluster_password(), output)
        self.assertNotIn(WRONG_PASSWORD, output)
        self.assertNotIn(LIMITED_PASSWORD, output)
        healthy = run.target("healthy")
        self.assertEqual(healthy["status"], "ok", run.describe())
        self.assertEqual(healthy["revision"]["state"], "at_head", run.describe())
        self.assertEqual(run.returncode, 3, run.describe())
        return run, run.target("broken"), healthy

    def assert_error(self, run, target, reason, cause_pattern):
        self.assertEqual(target["status"], "error", run.describe())
        self.assertIsNotNone(target["error"], run.describe())
        self.assertEqual(target["error"]["reason"], reason, run.describe())
        message = target["error"]["message"]
        self.assertIn("broken", message, "the message names the target: " + message)
        self.assertRegex(message, re.compile(cause_pattern, re.I), "the message names the cause")
        # The cause also reaches stderr (logs), still without secrets.
        self.assertEqual(target["findings"], [], run.describe())

    def copy_of_head(self):
        name, url = self.reference.copy(prefix="dw_errors")
        self.databases.append(name)
        return name, url

    # -- migrations source problems -------------------------------------------------------------

    def test_missing_versions_directory(self):
        missing = os.path.join(self.tmp.path, "no-such-versions-dir")
        run, broken, _ = self.run_pair(
            e2e.target_section("broken", url=self.healthy_url, migrations="gone"),
            extra_sections=[
                e2e.migrations_section(
                    name="gone", versions=missing, reference_url=self.reference.url
                )
            ],
        )
        self.assert_error(run, broken, "migrations", r"no-such-versions-dir")

    def test_malformed_migration_file(self):
        versions = os.path.join(self.tmp.path, "malformed-versions")
        shutil.rmtree(versions, ignore_errors=True)
        shutil.copytree(e2e.WAREHOUSE_VERSIONS, versions)
        # A revision id computed at import time: not a literal, so it cannot be read textually.
        e2e.write_file(
            versions,
            "0012_broken.py",
            '"""Broken."""\nimport uuid\n\nrevision = str(uuid.uuid4())\n'
            'down_revision = "0011_invoices"\n',
        )
        run, broken, _ = self.run_pair(
            e2e.target_section("broken", url=self.healthy_url, migrations="malformed"),
            extra_sections=[
                e2e.migrations_section(
                    name="malformed", versions=versions, reference_url=self.reference.url
                )
            ],
        )
        self.assert_error(run, broken, "migrations", r"0012_broken\.py")

    # -- database problems ----------------------------------------------------------------------

    def test_unreachable_host(self):
        port = e2e.free_port()  # nothing listens there
        url = e2e.url_for("postgres", host="127.0.0.1", port=port)
        run, broken, _ = self.run_pair(e2e.target_section("broken", url=url))
        self.assert_error(run, broken, "connect", r"refused|connect|%d" % port)

    def test_wrong_password(self):
        url = e2e.url_for(self.healthy_name, password=WRONG_PASSWORD)
        run, broken, _ = self.run_pair(e2e.target_section("broken", url=url))
        self.assert_error(run, broken, "auth", r"password|authentication")

    def test_wrong_password_from_environment(self):
        url = e2e.url_for(self.healthy_name, password=WRONG_PASSWORD)
        run, broken, _ = self.run_pair(
            e2e.target_section("broken", url_env="DW_E2E_BROKEN_URL"),
            env={"DW_E2E_BROKEN_URL": url},
        )
        self.assert_error(run, broken, "auth", r"password|authentication")

    def test_permission_denied_on_schema(self):
        name, url = self.copy_of_head()
        role = e2e.unique_name("dw_limited")
        self.roles.append(role)
        e2e.execute(
            e2e.cluster_url(),
            "CREATE ROLE \"%s\" LOGIN PASSWORD '%s'" % (role, LIMITED_PASSWORD),
            'GRANT CONNECT ON DATABASE "%s" TO "%s"' % (name, role),
        )
        # PostgreSQL 15 grants USAGE on public to PUBLIC; take it away so that reading
        # public.alembic_version fails with "permission denied for schema public".
        e2e.execute(url, "REVOKE ALL ON SCHEMA public FROM PUBLIC")
        limited_url = e2e.url_for(name, user=role, password=LIMITED_PASSWORD)
        run, broken, _ = self.run_pair(e2e.target_section("broken", url=limited_url))
        self.assert_error(run, broken, "permission", r"permission denied")

    def test_statement_timeout_behind_a_lock(self):
        _, url = self.copy_of_head()
        holder = e2e.connect(url, autocommit=False)
        self.holders.append(holder)
        with holder.cursor() as cur:
            # Catalog introspection reads pg_trigger; an exclusive lock on it makes that read
            # wait until the check's deadline. This is not a migration (alembic_version and the
            # watched tables are free), so the result is a timeout, not "migrating".
            cur.execute("LOCK TABLE pg_catalog.pg_trigger IN ACCESS EXCLUSIVE MODE")
            run, broken, _ = self.run_pair(e2e.target_section("broken", url=url), timeout="4s")
        holder.rollback()
        self.assert_error(run, broken, "timeout", r"timeout|timed out|deadline|cancel")


if __name__ == "__main__":
    e2e.main()
