"""Files that crashed or hung the running daemon (issue 15 "Files crash the running daemon"):
a migration file with down_revision nested in 30,000 parentheses (SIGSEGV within seconds), a FIFO
named *.py in the versions directory (all checks stopped, SIGTERM never completed), and a
config nested 8,000 arrays deep loaded on SIGHUP (crash instead of keeping the old config).
`serve` must keep running, report the files as migration errors, keep its old config, and exit
on SIGTERM.
"""
import os
import shutil
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_support as e2e  # noqa: E402
from serve_test import Daemon  # noqa: E402


class HostileFilesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.reference = e2e.MigratedTemplate("head", prefix="dw_hostile_ref")
        cls.tmp = e2e.TempDir()
        cls.db, cls.url = cls.reference.copy(prefix="dw_hostile")

    @classmethod
    def tearDownClass(cls):
        e2e.drop_database(cls.db)
        cls.reference.drop()
        cls.tmp.cleanup()

    def test_serve_survives_hostile_files(self):
        versions = os.path.join(self.tmp.path, "versions")
        shutil.copytree(e2e.WAREHOUSE_VERSIONS, versions,
                        ignore=shutil.ignore_patterns("__pycache__"))
        text = (
            "[server]\nlisten = \"127.0.0.1:0\"\ndrain_timeout = \"5s\"\n\n"
            "[check]\ninterval = \"1s\"\ntimeout = \"20s\"\n\n"
        )
        text += e2e.migrations_section(versions=versions, reference_url=self.reference.url)
        text += "\n" + e2e.target_section("prod", url=self.url)
        config = e2e.write_file(self.tmp.path, "driftwatch.toml", text)
        daemon = Daemon(config)
        try:
            daemon.wait_until(lambda: daemon.json("/api/v1/targets/prod")["status"] == "ok",
                              60, "first check")
            e2e.write_file(versions, "9999_deep.py",
                           "revision = 'deep'\ndown_revision = " + "(" * 30000 + "'"
                           + e2e.WAREHOUSE_HEAD + "'" + ")" * 30000 + "\n")
            os.mkfifo(os.path.join(versions, "9998_fifo.py"))

            def migration_errors():
                sources = daemon.json("/api/v1/migrations")["sources"]
                return " ".join(" ".join(s["errors"]) for s in sources)

            daemon.wait_until(lambda: "too many nested parentheses" in migration_errors()
                              and "not a regular file" in migration_errors(), 60,
                              "both files reported as migration errors")
            self.assertIn("9999_deep.py:2", migration_errors())
            # Checks go on: the target is checked again after the files appeared.
            before = daemon.json("/api/v1/targets/prod")["summary"]["checks_total"]
            daemon.wait_until(
                lambda: daemon.json("/api/v1/targets/prod")["summary"]["checks_total"] > before + 1,
                60, "checks continuing")

            with open(config, "w") as f:
                f.write("[ignore]\nobjects = " + "[" * 8000 + "]" * 8000 + "\n")
            daemon.signal(signal.SIGHUP)
            daemon.wait_until(
                lambda: "driftwatch_config_reload_success 0" in daemon.get("/metrics")[2], 30,
                "failed reload")
            self.assertIn("nested deeper than 64", daemon.process.output())
            self.assertEqual(daemon.json("/api/v1/targets/prod")["name"], "prod")  # old config
            daemon.signal(signal.SIGTERM)
            self.assertEqual(daemon.wait_exit(30), 0, daemon.process.output())
        finally:
            daemon.stop()


if __name__ == "__main__":
    e2e.main()
