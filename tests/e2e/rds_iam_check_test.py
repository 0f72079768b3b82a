"""End to end: a target and a reference database with auth = "rds-iam", checked by the real
binary against a real PostgreSQL that requires TLS.

A local PostgreSQL cannot verify an IAM token (RDS does that with the rds_iam role). So the test
computes, with botocore (an independent implementation; product code never uses it), the token
driftwatch must present for fixed credentials at a fixed signing time
(DRIFTWATCH_AWS_SIGNING_TIME), and sets it as the role's password before the check.

Proven here without AWS:
  - the token driftwatch signs for a configured target (host, port, user, region, credentials
    from the chain) is byte-identical to botocore's, and is sent as the password;
  - the reference database side (reference_auth = "rds-iam") uses the same path;
  - the connection uses TLS with sslmode=verify-full and the configured ca_bundle: the server
    rejects non-TLS logins for these roles, a different CA fails, and so does a host name the
    certificate does not name;
  - a wrong token is an `auth` error; no token or secret appears in the output.
Not proven (needs AWS): that RDS accepts the token (IAM policy rds-db:connect, GRANT rds_iam,
clock skew), the real RDS CA bundle, and credentials from real STS / IMDS / EKS agents.
"""
import datetime
import os
import shutil
import subprocess
import sys
import unittest
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_support as e2e  # noqa: E402

import botocore.session  # noqa: E402

SIGNING_TIME = "2026-01-02T03:04:05Z"
REGION = "eu-west-1"
ACCESS_KEY_ID = "AKIAE2EEXAMPLE"
SECRET_ACCESS_KEY = "e2e-secret-access-key"
HARNESS = os.path.join(e2e.SOURCE_DIR, "tests", "harness", "pg_cluster.sh")


def botocore_token(host, port, user, signing_time=datetime.datetime(2026, 1, 2, 3, 4, 5)):
    client = botocore.session.get_session().create_client(
        "rds", region_name=REGION, aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY)
    with mock.patch("botocore.auth.datetime") as fake:
        fake.datetime.utcnow.return_value = signing_time
        return client.generate_db_auth_token(host, port, user)


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def make_certificates(directory):
    """A CA, a server certificate for DNS:localhost only (signed by it), and a second CA."""
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                "/CN=driftwatch test %s" % ca, "-keyout", ca + ".key", "-out", ca + ".pem",
                cwd=directory)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout",
            "server.key", "-out", "server.csr", cwd=directory)
    e2e.write_file(directory, "san.ext", "subjectAltName=DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.crt",
            cwd=directory)


class RdsIamCheckTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = e2e.TempDir()
        certs = os.path.join(cls.tmp.path, "certs")
        os.makedirs(certs)
        make_certificates(certs)
        cls.ca_bundle = os.path.join(certs, "ca.pem")
        cls.other_ca = os.path.join(certs, "other-ca.pem")

        # An own cluster: its TLS and pg_hba settings must not touch the shared one.
        cls.cluster = os.path.join(cls.tmp.path, "cluster")
        subprocess.run(["bash", HARNESS, "start", cls.cluster], check=True,
                       stdout=subprocess.DEVNULL)
        with open(os.path.join(cls.cluster, "url")) as f:
            cls.super_url = f.read().strip()
        with open(os.path.join(cls.cluster, "port")) as f:
            cls.port = int(f.read().strip())
        pgdata = os.path.join(cls.cluster, "data", "pgdata")
        owner = os.stat(pgdata)
        for name in ("server.crt", "server.key"):
            target = os.path.join(pgdata, name)
            shutil.copy(os.path.join(certs, name), target)
            os.chmod(target, 0o600)
            os.chown(target, owner.st_uid, owner.st_gid)
        hba = os.path.join(pgdata, "pg_hba.conf")
        with open(hba) as f:
            rules = f.read()
        with open(hba, "w") as f:
            # The driftwatch roles may only log in over TLS.
            f.write("hostnossl all dw_target,dw_reference all reject\n" + rules)
        e2e.execute(cls.super_url, "ALTER SYSTEM SET ssl = on", "SELECT pg_reload_conf()")

        base = cls.super_url.rsplit("/", 1)[0]
        cls.db_url = base + "/warehouse"
        e2e.execute(cls.super_url, "CREATE DATABASE warehouse")
        e2e.alembic(cls.db_url, "upgrade", "head")
        cls.target_token = botocore_token("localhost", cls.port, "dw_target")
        cls.reference_token = botocore_token("localhost", cls.port, "dw_reference")
        e2e.execute(
            cls.super_url,
            "CREATE ROLE dw_target LOGIN PASSWORD '%s'" % cls.target_token,
            "CREATE ROLE dw_reference LOGIN PASSWORD '%s'" % cls.reference_token,
            "GRANT pg_read_all_data TO dw_target, dw_reference",
        )

    @classmethod
    def tearDownClass(cls):
        subprocess.run(["bash", HARNESS, "stop", cls.cluster], stdout=subprocess.DEVNULL)
        cls.tmp.cleanup()

    def env(self, signing_time=SIGNING_TIME):
        return {
            "HOME": self.tmp.path,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "AWS_EC2_METADATA_DISABLED": "true",
            "DRIFTWATCH_AWS_SIGNING_TIME": signing_time,
        }

    def config(self, host="localhost", ca_bundle=None, name="driftwatch.toml"):
        lines = [
            "[migrations.warehouse]",
            "versions = [%s]" % e2e.toml_string(e2e.WAREHOUSE_VERSIONS),
            'reference_auth = "rds-iam"',
            'reference_host = "localhost"',
            "reference_port = %d" % self.port,
            'reference_user = "dw_reference"',
            'reference_database = "warehouse"',
            'reference_region = "%s"' % REGION,
            "reference_ca_bundle = %s" % e2e.toml_string(self.ca_bundle),
            "",
            "[[targets]]",
            'name = "prod"',
            'schemas = ["public", "middleman"]',
            'auth = "rds-iam"',
            "url = %s" % e2e.toml_string(
                "postgresql://dw_target@%s:%d/warehouse?connect_timeout=5" % (host, self.port)),
            'region = "%s"' % REGION,
            "ca_bundle = %s" % e2e.toml_string(ca_bundle or self.ca_bundle),
        ]
        return e2e.write_config(self.tmp.path, ["\n".join(lines) + "\n"], name=name)

    def assert_no_secret(self, run):
        for secret in (SECRET_ACCESS_KEY, self.target_token, self.reference_token, "X-Amz-"):
            self.assertNotIn(secret, run.stdout + run.stderr)

    def test_check_logs_in_with_the_token_over_verified_tls(self):
        run = e2e.run_check(self.config(), env=self.env())
        target = run.target("prod")
        self.assertEqual(run.returncode, 0, run.describe())
        self.assertEqual(target["status"], "ok", run.describe())
        self.assertEqual(target["revision"]["state"], "at_head")
        self.assertTrue(target["compared_against"].startswith("reference database"))
        self.assert_no_secret(run)
        # The sessions really were TLS: the server refuses these roles without it.
        with self.assertRaises(Exception):
            e2e.connect("host=127.0.0.1 port=%d dbname=warehouse user=dw_target password=%s "
                        "sslmode=disable" % (self.port, self.target_token))

    def test_rds_token_command_prints_the_same_token(self):
        proc = e2e.run_driftwatch(
            ["rds-token", "--host", "localhost", "--port", str(self.port), "--user", "dw_target",
             "--region", REGION], env=self.env())
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.strip(), self.target_token)

    def test_another_token_is_an_auth_error(self):
        run = e2e.run_check(self.config(), env=self.env(signing_time="2026-01-02T03:20:00Z"))
        self.assertEqual(run.returncode, 3, run.describe())
        error = run.target("prod")["error"]
        self.assertEqual(error["reason"], "auth", run.describe())
        self.assertIn("password authentication failed", error["message"])
        self.assert_no_secret(run)

    def test_tls_is_verified_against_the_ca_bundle_and_host_name(self):
        run = e2e.run_check(self.config(ca_bundle=self.other_ca), env=self.env())
        self.assertEqual(run.returncode, 3, run.describe())
        self.assertIn("certificate verify failed", run.target("prod")["error"]["message"])
        # 127.0.0.1 is not in the certificate (DNS:localhost only): verify-full refuses it.
        run = e2e.run_check(self.config(host="127.0.0.1"), env=self.env())
        self.assertEqual(run.returncode, 3, run.describe())
        self.assertIn("does not match host name", run.target("prod")["error"]["message"])
        self.assert_no_secret(run)


if __name__ == "__main__":
    e2e.main()
