"""`driftwatch heads` agrees with Alembic itself on every valid revision fixture.

For each versions directory in tests/fixtures/revisions/ whose name does not start with `error_`
or `warn_`, a throwaway Alembic environment (alembic.ini, env.py, script.py.mako) points its
version_locations at a copy of the fixture; `python3 -m alembic heads` and `history` are the
truth, and `driftwatch heads --format json` must report the same heads, revision count, bases
and merge points. Error fixtures must make Alembic fail as well (except the non-literal values,
which Python evaluates happily and only a textual reader must refuse).

Needs no database. Environment: DRIFTWATCH_BIN (the built binary), DRIFTWATCH_SOURCE_DIR.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

PYTHON = "/usr/bin/python3"
SOURCE_DIR = os.environ.get(
    "DRIFTWATCH_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
)
FIXTURES = os.path.join(SOURCE_DIR, "tests", "fixtures", "revisions")
# The example project the other end-to-end tests migrate: checked the same way.
WAREHOUSE_VERSIONS = os.path.join(SOURCE_DIR, "tests", "fixtures", "warehouse", "versions")

ENV_PY = '''\
"""Minimal env.py: `heads` and `history` never run it; present so the environment is complete."""
from alembic import context

config = context.config
if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    raise SystemExit("offline only")
'''

SCRIPT_MAKO = '''\
"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
"""
from alembic import op

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
'''


def driftwatch_bin():
    path = os.environ.get("DRIFTWATCH_BIN")
    if not path:
        raise RuntimeError("DRIFTWATCH_BIN is not set")
    return path


def fixture_names(valid):
    names = []
    for name in sorted(os.listdir(FIXTURES)):
        if not os.path.isdir(os.path.join(FIXTURES, name)):
            continue
        is_valid = not name.startswith(("error_", "warn_"))
        if is_valid == valid:
            names.append(name)
    return names


def fixture_path(name):
    return os.path.join(FIXTURES, name)


class AlembicProject:
    """A temporary Alembic environment whose version_locations is a copy of one fixture."""

    def __init__(self, source):
        self.root = tempfile.mkdtemp(prefix="dw_heads_")
        self.versions = os.path.join(self.root, "versions")
        # A copy, so that Alembic's imports leave no __pycache__ in the source tree.
        shutil.copytree(source, self.versions)
        env_dir = os.path.join(self.root, "migrations")
        os.mkdir(env_dir)
        with open(os.path.join(env_dir, "env.py"), "w") as f:
            f.write(ENV_PY)
        with open(os.path.join(env_dir, "script.py.mako"), "w") as f:
            f.write(SCRIPT_MAKO)
        self.ini = os.path.join(self.root, "alembic.ini")
        with open(self.ini, "w") as f:
            f.write(
                "[alembic]\n"
                "script_location = %s\n"
                "version_locations = %s\n"
                "sqlalchemy.url = sqlite://\n" % (env_dir, self.versions)
            )

    def alembic(self, *args):
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        return subprocess.run(
            [PYTHON, "-m", "alembic", "-c", self.ini] + list(args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            env=env,
            cwd=self.root,
        )

    def driftwatch_heads(self, *extra):
        return subprocess.run(
            [driftwatch_bin(), "heads", "--versions", self.versions, "--format", "json"]
            + list(extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )

    def cleanup(self):
        shutil.rmtree(self.root, ignore_errors=True)


def parse_heads(stdout):
    # "rev (label) (head)" / "rev (effective head)": the id is the first word of each line.
    return sorted(line.split()[0] for line in stdout.splitlines() if line.strip())


def parse_history(stdout):
    """Alembic's non-verbose history lines: "<down> [(<deps>)] -> <rev> [(...)], <doc>".

    Returns {rev: [down revisions]} ("<base>" = no down revision).
    """
    revisions = {}
    for line in stdout.splitlines():
        if " -> " not in line:
            continue
        left, right = line.split(" -> ", 1)
        rev = right.split()[0].rstrip(",")
        down = left.split(" (", 1)[0]
        revisions[rev] = [] if down == "<base>" else [d.strip() for d in down.split(",")]
    return revisions


class HeadsAgreeWithAlembicTest(unittest.TestCase):
    def test_there_are_fixtures(self):
        self.assertGreaterEqual(len(fixture_names(valid=True)), 8)
        self.assertGreaterEqual(len(fixture_names(valid=False)), 8)

    def test_valid_fixtures_match_alembic(self):
        sources = [fixture_path(name) for name in fixture_names(valid=True)]
        if os.path.isdir(WAREHOUSE_VERSIONS):
            sources.append(WAREHOUSE_VERSIONS)
        for source in sources:
            with self.subTest(fixture=source):
                project = AlembicProject(source)
                try:
                    self.check_one(project)
                finally:
                    project.cleanup()

    def check_one(self, project):
        heads_run = project.alembic("heads")
        self.assertEqual(heads_run.returncode, 0, heads_run.stderr)
        history_run = project.alembic("history")
        self.assertEqual(history_run.returncode, 0, history_run.stderr)
        alembic_heads = parse_heads(heads_run.stdout)
        history = parse_history(history_run.stdout)

        run = project.driftwatch_heads()
        self.assertIn(run.returncode, (0, 1), run.stdout + run.stderr)
        report = json.loads(run.stdout)
        self.assertEqual(report["errors"], [], run.stdout)
        self.assertEqual(report["warnings"], [], run.stdout)

        self.assertEqual(report["heads"], alembic_heads, heads_run.stdout)
        self.assertEqual(report["revisions"], len(history), history_run.stdout)
        self.assertEqual(
            report["bases"], sorted(r for r, down in history.items() if not down), history_run.stdout
        )
        self.assertEqual(
            report["merge_points"],
            sorted(r for r, down in history.items() if len(down) > 1),
            history_run.stdout,
        )
        self.assertEqual(run.returncode, 1 if len(alembic_heads) > 1 else 0)
        for key in ("heads", "bases", "merge_points", "branch_points"):
            self.assertEqual(report[key], sorted(report[key]))

    def test_behind_matches_alembic_history_range(self):
        # pending from the first base of a linear fixture = every later revision.
        project = AlembicProject(fixture_path("linear_plain"))
        try:
            run = project.driftwatch_heads("--behind", "0001_initial")
            self.assertEqual(run.returncode, 0, run.stderr)
            report = json.loads(run.stdout)
            history = parse_history(project.alembic("history", "-r", "0001_initial:heads").stdout)
            expected = sorted(r for r in history if r != "0001_initial")
            self.assertEqual(
                report["behind"],
                [{"from": ["0001_initial"], "behind_by": len(expected), "pending": expected}],
            )
        finally:
            project.cleanup()

    def test_error_fixtures_fail_in_alembic_and_driftwatch(self):
        for fixture in fixture_names(valid=False):
            with self.subTest(fixture=fixture):
                project = AlembicProject(fixture_path(fixture))
                try:
                    run = project.driftwatch_heads()
                    report = json.loads(run.stdout)
                    if fixture.startswith("warn_"):
                        self.assertIn(run.returncode, (0, 1), run.stdout)
                        self.assertEqual(report["errors"], [], run.stdout)
                        self.assertNotEqual(report["warnings"], [], run.stdout)
                        continue
                    self.assertEqual(run.returncode, 2, run.stdout + run.stderr)
                    self.assertNotEqual(report["errors"], [], run.stdout)
                    for error in report["errors"]:
                        self.assertTrue(error["file"].startswith(project.versions), error)
                    if fixture == "error_not_literal":
                        continue  # valid Python: Alembic evaluates it; driftwatch must not guess
                    alembic_run = project.alembic("heads")
                    self.assertNotEqual(
                        alembic_run.returncode, 0, alembic_run.stdout + alembic_run.stderr
                    )
                finally:
                    project.cleanup()


def main():
    program = unittest.main(module="__main__", exit=False, verbosity=2)
    result = program.result
    sys.exit(0 if result.wasSuccessful() and result.testsRun > 0 else 1)


if __name__ == "__main__":
    main()
