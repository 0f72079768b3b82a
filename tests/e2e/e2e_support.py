"""Shared helpers for driftwatch's end-to-end tests (Debian's /usr/bin/python3, stdlib + psycopg2).

Environment (set by tests/e2e/CMakeLists.txt):
  DRIFTWATCH_BIN               the built driftwatch binary
  DRIFTWATCH_TEST_PG_URL_FILE  file holding the throwaway cluster's superuser URL
  DRIFTWATCH_SOURCE_DIR        the source tree (fixtures live below it)

Databases are created with names unique to this process so that several test files can run in
parallel against the same cluster; every helper that starts something also stops it.
"""
import gzip
import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import psycopg2
from psycopg2 import sql as pgsql

PYTHON = "/usr/bin/python3"
SOURCE_DIR = os.environ.get(
    "DRIFTWATCH_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
)
WAREHOUSE_DIR = os.path.join(SOURCE_DIR, "tests", "fixtures", "warehouse")
WAREHOUSE_INI = os.path.join(WAREHOUSE_DIR, "alembic.ini")
WAREHOUSE_VERSIONS = os.path.join(WAREHOUSE_DIR, "versions")
WAREHOUSE_HEAD = "0011_invoices"
WAREHOUSE_SCHEMAS = ["public", "middleman"]

_counter = itertools.count()


def driftwatch_bin():
    path = os.environ.get("DRIFTWATCH_BIN")
    if not path:
        raise RuntimeError("DRIFTWATCH_BIN is not set")
    return path


def cluster_url():
    """The superuser URL of the test cluster (database `postgres`)."""
    path = os.environ.get("DRIFTWATCH_TEST_PG_URL_FILE")
    if not path:
        raise RuntimeError("DRIFTWATCH_TEST_PG_URL_FILE is not set")
    with open(path) as f:
        return f.read().strip()


def cluster_password():
    return urllib.parse.urlsplit(cluster_url()).password or ""


def url_for(dbname, user=None, password=None, host=None, port=None):
    """The cluster URL rewritten to another database, user, password, host or port."""
    parts = urllib.parse.urlsplit(cluster_url())
    user = user if user is not None else parts.username
    password = password if password is not None else parts.password
    host = host if host is not None else parts.hostname
    port = port if port is not None else parts.port
    auth = urllib.parse.quote(user, safe="")
    if password:
        auth += ":" + urllib.parse.quote(password, safe="")
    return "postgresql://%s@%s:%s/%s" % (auth, host, port, dbname)


def unique_name(prefix):
    return "%s_%d_%d" % (prefix, os.getpid(), next(_counter))


def connect(url, autocommit=True):
    conn = psycopg2.connect(url, connect_timeout=10)
    conn.autocommit = autocommit
    return conn


def execute(url, *statements):
    """Runs statements in autocommit mode; returns the rows of the last one that has any."""
    rows = None
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
                if cur.description is not None:
                    rows = cur.fetchall()
    finally:
        conn.close()
    return rows


def create_database(prefix="dw", template=None):
    """Creates a fresh database and returns (name, superuser URL)."""
    name = unique_name(prefix)
    statement = pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name))
    if template:
        statement = pgsql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            pgsql.Identifier(name), pgsql.Identifier(template)
        )
    conn = connect(cluster_url())
    try:
        with conn.cursor() as cur:
            # A template must have no other sessions; a just-closed one may still be exiting.
            for attempt in range(50):
                try:
                    cur.execute(statement)
                    break
                except psycopg2.errors.ObjectInUse:
                    if attempt == 49:
                        raise
                    time.sleep(0.1)
    finally:
        conn.close()
    return name, url_for(name)


def drop_database(name):
    conn = connect(cluster_url())
    try:
        with conn.cursor() as cur:
            cur.execute(
                pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name))
            )
    finally:
        conn.close()


def alembic(url, *args, check=True, timeout=300):
    """Runs the warehouse project's Alembic with the URL passed through the environment."""
    env = dict(os.environ, DRIFTWATCH_ALEMBIC_URL=url)
    proc = subprocess.run(
        [PYTHON, "-m", "alembic", "-c", WAREHOUSE_INI] + list(args),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise RuntimeError(
            "alembic %s failed (%d): %s" % (" ".join(args), proc.returncode, proc.stderr)
        )
    return proc


class MigratedTemplate:
    """One database migrated to a revision, copied cheaply for each test with TEMPLATE."""

    def __init__(self, revision="head", prefix="dwtpl"):
        self.name, self.url = create_database(prefix)
        alembic(self.url, "upgrade", revision)

    def copy(self, prefix="dw"):
        return create_database(prefix, template=self.name)

    def drop(self):
        drop_database(self.name)


class Workspace:
    """A test class's temporary directory and the databases it creates, removed by cleanup().

    `prefix` names its databases; with `reference` (a revision) a template migrated there is
    made once and copy() gives each test its own database at that revision cheaply.
    """

    def __init__(self, prefix, reference=None):
        self.prefix = prefix
        self.tmp = TempDir()
        self.path = self.tmp.path
        self.databases = []
        self.reference = (MigratedTemplate(reference, prefix=prefix + "_ref")
                          if reference else None)

    def copy(self):
        """A new database copied from the reference template; its URL."""
        name, url = self.reference.copy(prefix=self.prefix)
        self.databases.append(name)
        return url

    def database(self, prefix=None):
        """A new empty database; its URL."""
        name, url = create_database(prefix or self.prefix)
        self.databases.append(name)
        return url

    def database_at(self, revision):
        """A new database brought to `revision` by the warehouse project's Alembic; its URL."""
        url = self.database()
        if revision:
            alembic(url, "upgrade", revision)
        return url

    def cleanup(self):
        for name in self.databases:
            drop_database(name)
        if self.reference:
            self.reference.drop()
        self.tmp.cleanup()


def versions_with_migration(directory, name, file_name, text):
    """A copy of the warehouse versions with one more migration file, and an alembic.ini that
    uses it (the fixture's names its own versions directory). Returns (versions, ini)."""
    versions = os.path.join(directory, name + "-versions")
    shutil.copytree(WAREHOUSE_VERSIONS, versions)
    write_file(versions, file_name, text)
    with open(WAREHOUSE_INI) as f:
        ini_text = f.read()
    ini = write_file(directory, name + ".ini", ini_text.replace(
        "%(here)s/versions", versions).replace("script_location = %(here)s",
                                               "script_location = " + WAREHOUSE_DIR))
    return versions, ini


def scratch_databases(pid=None):
    """Names of the scratch databases replays left on the cluster (`driftwatch_replay_*`); with
    `pid`, only those of that driftwatch process (`driftwatch_replay_<pid>_<n>`), so that tests
    running in parallel do not see each other's."""
    rows = execute(cluster_url(),
                   "SELECT datname FROM pg_database WHERE datname LIKE 'driftwatch_replay_%'")
    names = [row[0] for row in rows]
    if pid is not None:
        names = [n for n in names if n.startswith("driftwatch_replay_%d_" % pid)]
    return names


def process_alive(pid):
    """True while `pid` runs (a zombie waiting to be reaped is dead all the same)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def toml_string(value):
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def write_file(directory, name, text, mode=0o644):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def migrations_section(name="warehouse", versions=None, reference_url=None, snapshots=None):
    lines = ["[migrations.%s]" % name]
    lines.append("versions = [%s]" % toml_string(versions or WAREHOUSE_VERSIONS))
    if reference_url:
        lines.append("reference_url = %s" % toml_string(reference_url))
    if snapshots:
        lines.append("snapshots = %s" % toml_string(snapshots))
    return "\n".join(lines) + "\n"


def target_section(name, url=None, url_env=None, migrations="warehouse", schemas=None):
    lines = ["[[targets]]", "name = %s" % toml_string(name)]
    lines.append("migrations = %s" % toml_string(migrations))
    lines.append(
        "schemas = [%s]" % ", ".join(toml_string(s) for s in (schemas or WAREHOUSE_SCHEMAS))
    )
    if url is not None:
        lines.append("url = %s" % toml_string(url))
    if url_env is not None:
        lines.append("url_env = %s" % toml_string(url_env))
    return "\n".join(lines) + "\n"


def write_config(directory, sections, timeout="20s", name="driftwatch.toml"):
    text = '[check]\ntimeout = %s\nconcurrency = 4\n\n' % toml_string(timeout)
    text += "\n".join(sections)
    return write_file(directory, name, text)


class CheckRun:
    """Outcome of one `driftwatch check --format json` run."""

    def __init__(self, proc):
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        try:
            self.doc = json.loads(proc.stdout)
        except ValueError:
            self.doc = None

    def target(self, name):
        if self.doc is None:
            raise AssertionError(
                "stdout is not one JSON document (exit %d)\nstdout: %s\nstderr: %s"
                % (self.returncode, self.stdout, self.stderr)
            )
        for target in self.doc.get("targets", []):
            if target.get("name") == name:
                return target
        raise AssertionError("no target %r in %s" % (name, self.stdout))

    def describe(self):
        return "exit %d\nstdout: %s\nstderr: %s" % (self.returncode, self.stdout, self.stderr)


def run_driftwatch(args, timeout=120, env=None):
    return subprocess.run(
        [driftwatch_bin()] + list(args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        timeout=timeout,
        env=dict(os.environ, **(env or {})),
    )


def run_check(config_path, targets=(), timeout=120, env=None):
    args = ["check", "--config", config_path, "--format", "json"]
    for target in targets:
        args += ["--target", target]
    return CheckRun(run_driftwatch(args, timeout=timeout, env=env))


def wait_for_check_command(timeout=0):
    """True when the binary has a working `check` (answers --help with 0 or 2)."""
    deadline = time.time() + timeout
    while True:
        try:
            proc = run_driftwatch(["check", "--help"], timeout=30)
            text = proc.stdout + proc.stderr
            if proc.returncode in (0, 2) and "not implemented" not in text:
                return True
        except (OSError, RuntimeError, subprocess.TimeoutExpired):
            pass
        if time.time() >= deadline:
            return False
        time.sleep(5)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.1)
    return False


class Process:
    """A background process with captured output, stopped (TERM, then KILL) on stop()."""

    def __init__(self, args, env=None, cwd=None, new_session=False):
        """new_session: the process leads a process group of its own (signal it with os.killpg
        as a terminal would, without reaching the test)."""
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            args,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, **(env or {})),
            cwd=cwd,
            text=True,
            start_new_session=new_session,
        )

    def stop(self, timeout=20.0):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)
        return self.proc.returncode

    def output(self):
        self.log.seek(0)
        return self.log.read()


def http(port, path, method="GET", headers=None, timeout=30):
    """(status, headers, body text); HTTP errors are returned, not raised."""
    request = urllib.request.Request(
        "http://127.0.0.1:%d%s" % (port, path), method=method, headers=headers or {},
        data=b"" if method == "POST" else None,
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
            if response.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            return response.status, dict(response.headers), body.decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


class Daemon:
    """`driftwatch serve --config CONFIG` on the port it reports in its log (listen on port 0)."""

    def __init__(self, config, extra_args=()):
        self.process = Process([driftwatch_bin(), "serve", "--config", config]
                               + list(extra_args))
        self.port = None
        deadline = time.time() + 30
        while time.time() < deadline and self.port is None:
            match = re.search(r"listening on 127\.0\.0\.1:(\d+)", self.process.output())
            if match:
                self.port = int(match.group(1))
            elif self.process.proc.poll() is not None:
                break
            else:
                time.sleep(0.1)
        if self.port is None:
            output = self.process.output()
            self.process.stop()
            raise AssertionError("daemon did not report its port:\n" + output)

    def get(self, path, **kwargs):
        return http(self.port, path, **kwargs)

    def json(self, path):
        status, _, body = self.get(path)
        if status != 200:
            raise AssertionError("GET %s: %d %s" % (path, status, body))
        return json.loads(body)

    def wait_until(self, predicate, timeout=60, what="condition"):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate():
                return
            if self.process.proc.poll() is not None:
                raise AssertionError("daemon exited:\n" + self.process.output())
            time.sleep(0.2)
        raise AssertionError("timed out waiting for %s\n%s" % (what, self.process.output()))

    def signal(self, signum):
        self.process.proc.send_signal(signum)

    def wait_exit(self, timeout):
        return self.process.proc.wait(timeout=timeout)

    def stop(self):
        return self.process.stop()


class TempDir:
    def __init__(self, prefix="driftwatch-e2e-"):
        self.path = tempfile.mkdtemp(prefix=prefix)

    def cleanup(self):
        shutil.rmtree(self.path, ignore_errors=True)


def main(module_name="__main__"):
    """unittest main that exits non-zero on failure (also when nothing ran)."""
    import unittest

    program = unittest.main(module=module_name, exit=False, verbosity=2)
    result = program.result
    sys.exit(0 if result.wasSuccessful() and result.testsRun > 0 else 1)
