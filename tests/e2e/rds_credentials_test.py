"""`driftwatch rds-token` and every AWS credential source, against local stand-ins.

Each case runs the built binary with a clean environment (HOME without ~/.aws, instance metadata
off unless the case is about it), a fixed signing time (DRIFTWATCH_AWS_SIGNING_TIME) and the
source under test pointed at aws_stand_in.py, then compares the printed token with the one
botocore's generate_db_auth_token computes for the credentials the stand-in handed out: an
independent implementation of the same signing (botocore is used here only as a reference).
Failures must exit 3, name the source and the reason, and never print a key, secret or token.

What this proves without AWS: the chain's order and protocols as AWS documents them (STS query
API XML, container endpoint JSON with its authorization token, IMDSv2 token + role credentials),
STS AssumeRole signatures (checked by the stand-in with botocore), timeouts, error paths, and
credential refresh. What it cannot prove: that real AWS accepts the tokens (IAM policy, the RDS
side), TLS to the real STS endpoint, and IMDS/agent reachability from a real pod or instance.
"""
import datetime
import os
import sys
import unittest
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_support as e2e  # noqa: E402
from aws_stand_in import StandIn  # noqa: E402

import botocore.session  # noqa: E402

SIGNING_TIME = "2026-01-02T03:04:05Z"
HOST = "prod.abc123.eu-west-1.rds.amazonaws.com"
PORT = 5432
USER = "driftwatch"
REGION = "eu-west-1"
ROLE_ARN = "arn:aws:iam::123456789012:role/driftwatch-rds"


def botocore_token(access_key_id, secret_access_key, session_token=None, host=HOST, port=PORT,
                   user=USER, region=REGION):
    session = botocore.session.get_session()
    client = session.create_client(
        "rds", region_name=region, aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key, aws_session_token=session_token)
    with mock.patch("botocore.auth.datetime") as fake:
        fake.datetime.utcnow.return_value = datetime.datetime(2026, 1, 2, 3, 4, 5)
        return client.generate_db_auth_token(host, port, user)


class RdsCredentialsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stand_in = StandIn()

    @classmethod
    def tearDownClass(cls):
        cls.stand_in.stop()

    def setUp(self):
        self.tmp = e2e.TempDir()
        self.stand_in.mode = "ok"
        self.stand_in.lifetime = datetime.timedelta(hours=1)
        self.stand_in.requests.clear()
        self.stand_in.issued.clear()
        self.stand_in.sts_signer = None
        self.stand_in.sts_signature_ok.clear()

    def tearDown(self):
        self.tmp.cleanup()

    def env(self, **extra):
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": self.tmp.path,  # no ~/.aws here
            "AWS_EC2_METADATA_DISABLED": "true",
            "DRIFTWATCH_AWS_SIGNING_TIME": SIGNING_TIME,
        }
        env.update(extra)
        return env

    def run_token(self, env, *extra_args):
        import subprocess

        args = [e2e.driftwatch_bin(), "rds-token", "--host", HOST, "--port", str(PORT), "--user",
                USER, "--region", REGION] + list(extra_args)
        return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=60, env=env)

    def assert_token(self, proc, access_key_id, secret_access_key, session_token=None):
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.strip(),
                         botocore_token(access_key_id, secret_access_key, session_token))

    def assert_failure(self, proc, *parts):
        self.assertEqual(proc.returncode, 3, "stdout: %s\nstderr: %s" % (proc.stdout, proc.stderr))
        self.assertEqual(proc.stdout, "")
        for part in parts:
            self.assertIn(part, proc.stderr)
        for secret in self.secrets():
            self.assertNotIn(secret, proc.stderr)

    def secrets(self):
        out = ["env-secret-key", "file-secret-key", self.stand_in.container_token,
               self.stand_in.web_identity_token, self.stand_in.imds_token]
        for issued in self.stand_in.issued:
            out += [issued.secret_access_key, issued.session_token]
        return out

    def stand_in_issued(self):
        self.assertTrue(self.stand_in.issued, "the stand-in handed out no credentials")
        issued = self.stand_in.issued[-1]
        return issued.access_key_id, issued.secret_access_key, issued.session_token

    def test_usage_errors_exit_2(self):
        import subprocess

        env = self.env(AWS_ACCESS_KEY_ID="AKIAENVEXAMPLE", AWS_SECRET_ACCESS_KEY="env-secret-key")
        for args in (["--host", HOST], ["--host", HOST, "--user", USER, "--port", "x"],
                     ["--host", HOST, "--user", USER, "--role-arn", "driftwatch"],
                     ["--host", "db.internal", "--user", USER], ["--bogus"]):
            proc = subprocess.run([e2e.driftwatch_bin(), "rds-token"] + args, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                  timeout=60)
            self.assertEqual(proc.returncode, 2, (args, proc.stderr))
            self.assertEqual(proc.stdout, "")
        # The region defaults to the endpoint name's.
        proc = subprocess.run([e2e.driftwatch_bin(), "rds-token", "--host", HOST, "--user", USER],
                              text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                              timeout=60)
        self.assert_token(proc, "AKIAENVEXAMPLE", "env-secret-key")

    # --- 1. environment -------------------------------------------------------------------

    def test_environment_keys(self):
        proc = self.run_token(self.env(AWS_ACCESS_KEY_ID="AKIAENVEXAMPLE",
                                       AWS_SECRET_ACCESS_KEY="env-secret-key"))
        self.assert_token(proc, "AKIAENVEXAMPLE", "env-secret-key")
        proc = self.run_token(self.env(AWS_ACCESS_KEY_ID="ASIAENVEXAMPLE",
                                       AWS_SECRET_ACCESS_KEY="env-secret-key",
                                       AWS_SESSION_TOKEN="env-session/token+="))
        self.assert_token(proc, "ASIAENVEXAMPLE", "env-secret-key", "env-session/token+=")

    def test_environment_partial_keys_fail(self):
        proc = self.run_token(self.env(AWS_SECRET_ACCESS_KEY="env-secret-key"))
        self.assert_failure(proc, "AWS credentials from environment",
                            "AWS_ACCESS_KEY_ID is not")

    def test_nothing_configured_names_every_source(self):
        proc = self.run_token(self.env())
        self.assert_failure(proc, "no AWS credentials found", "environment:", "shared files:",
                            "web identity:", "container endpoint:", "instance metadata:")

    # --- 2. shared credentials / config files -----------------------------------------------

    def write_aws_files(self, credentials, config=""):
        os.makedirs(os.path.join(self.tmp.path, ".aws"))
        e2e.write_file(os.path.join(self.tmp.path, ".aws"), "credentials", credentials)
        e2e.write_file(os.path.join(self.tmp.path, ".aws"), "config", config)

    def test_profile_static_keys(self):
        self.write_aws_files(
            "[default]\naws_access_key_id = AKIADEFAULTEXAMPLE\n"
            "aws_secret_access_key = file-secret-key-default\n\n"
            "[prod]\naws_access_key_id = AKIAPRODEXAMPLE\naws_secret_access_key = file-secret-key\n")
        self.assert_token(self.run_token(self.env()), "AKIADEFAULTEXAMPLE",
                          "file-secret-key-default")
        self.assert_token(self.run_token(self.env(AWS_PROFILE="prod")), "AKIAPRODEXAMPLE",
                          "file-secret-key")
        proc = self.run_token(self.env(AWS_PROFILE="missing"))
        self.assert_failure(proc, "profile missing", "not found in")

    def test_profile_role_with_source_profile_assumes_role_signed(self):
        self.write_aws_files(
            "[base]\naws_access_key_id = AKIABASEEXAMPLE\naws_secret_access_key = file-secret-key\n",
            "[profile deploy]\nrole_arn = %s\nsource_profile = base\n" % ROLE_ARN)
        self.stand_in.sts_signer = botocore.credentials.Credentials("AKIABASEEXAMPLE",
                                                                    "file-secret-key")
        env = self.env(AWS_PROFILE="deploy", AWS_ENDPOINT_URL_STS=self.stand_in.url + "/sts")
        proc = self.run_token(env)
        self.assert_token(proc, *self.stand_in_issued())
        self.assertEqual(self.stand_in.sts_signature_ok, [True])
        _, _, headers, body = self.stand_in.requests[-1]
        self.assertIn("Action=AssumeRole&", body)
        self.assertIn("RoleArn=" + ROLE_ARN.replace(":", "%3A").replace("/", "%2F"), body)

        # STS refuses: the error names the role, the source and STS's code.
        self.stand_in.mode = "error"
        proc = self.run_token(env)
        self.assert_failure(proc, "role " + ROLE_ARN, "profile base", "AccessDenied",
                            "HTTP 403")

    def test_profile_role_with_web_identity_file_or_credential_source(self):
        token_file = e2e.write_file(self.tmp.path, "token", self.stand_in.web_identity_token)
        self.write_aws_files(
            "",
            "[profile irsa]\nrole_arn = %s\nweb_identity_token_file = %s\n\n"
            "[profile from-container]\nrole_arn = %s\ncredential_source = EcsContainer\n\n"
            "[profile loop-a]\nrole_arn = %s\nsource_profile = loop-b\n\n"
            "[profile loop-b]\nrole_arn = %s\nsource_profile = loop-a\n"
            % (ROLE_ARN, token_file, ROLE_ARN, ROLE_ARN, ROLE_ARN))
        sts = self.stand_in.url + "/sts"
        proc = self.run_token(self.env(AWS_PROFILE="irsa", AWS_ENDPOINT_URL_STS=sts))
        self.assert_token(proc, *self.stand_in_issued())
        self.assertIn("Action=AssumeRoleWithWebIdentity", self.stand_in.requests[-1][3])

        # credential_source = EcsContainer: the role is assumed with the container endpoint's
        # credentials (the stand-in checks that they signed the AssumeRole request).
        self.stand_in.sts_signer = "last-issued"
        env = self.container_env(AWS_PROFILE="from-container", AWS_ENDPOINT_URL_STS=sts)
        proc = self.run_token(env)
        self.assert_token(proc, *self.stand_in_issued())
        self.assertEqual(self.stand_in.sts_signature_ok, [True])
        self.assertEqual([(m, p) for m, p, _, _ in self.stand_in.requests][-2:],
                         [("GET", "/container/creds"), ("POST", "/sts")])

        # Environment keys still win over AWS_PROFILE (chain order, as the AWS CLI does).
        env.update(AWS_ACCESS_KEY_ID="AKIAENVEXAMPLE", AWS_SECRET_ACCESS_KEY="env-secret-key")
        self.assert_token(self.run_token(env), "AKIAENVEXAMPLE", "env-secret-key")

        proc = self.run_token(self.env(AWS_PROFILE="loop-a", AWS_ENDPOINT_URL_STS=sts))
        self.assert_failure(proc, "source_profile chain loops back")

    def test_role_arn_option_assumes_role_with_chain_credentials(self):
        self.stand_in.sts_signer = botocore.credentials.Credentials(
            "ASIAENVEXAMPLE", "env-secret-key", "env-session-token")
        env = self.env(AWS_ACCESS_KEY_ID="ASIAENVEXAMPLE", AWS_SECRET_ACCESS_KEY="env-secret-key",
                       AWS_SESSION_TOKEN="env-session-token",
                       AWS_ENDPOINT_URL_STS=self.stand_in.url + "/sts")
        proc = self.run_token(env, "--role-arn", ROLE_ARN)
        self.assert_token(proc, *self.stand_in_issued())
        self.assertEqual(self.stand_in.sts_signature_ok, [True])

        # A wrong signature is refused by the stand-in, proving it checks signatures.
        self.stand_in.sts_signer = botocore.credentials.Credentials(
            "ASIAENVEXAMPLE", "another-secret", "env-session-token")
        proc = self.run_token(env, "--role-arn", ROLE_ARN)
        self.assert_failure(proc, "SignatureDoesNotMatch")

    # --- 3. web identity (EKS IRSA) ------------------------------------------------------

    def web_identity_env(self, token):
        token_file = e2e.write_file(self.tmp.path, "token", token + "\n")
        return self.env(AWS_WEB_IDENTITY_TOKEN_FILE=token_file, AWS_ROLE_ARN=ROLE_ARN,
                        AWS_ENDPOINT_URL_STS=self.stand_in.url + "/sts")

    def test_web_identity(self):
        proc = self.run_token(self.web_identity_env(self.stand_in.web_identity_token))
        self.assert_token(proc, *self.stand_in_issued())
        method, path, headers, body = self.stand_in.requests[-1]
        self.assertEqual((method, path), ("POST", "/sts"))
        self.assertIn("Action=AssumeRoleWithWebIdentity", body)
        self.assertNotIn("Authorization", headers)

    def test_web_identity_failures(self):
        proc = self.run_token(self.web_identity_env("a-wrong-jwt"))
        self.assert_failure(proc, "web identity (role %s)" % ROLE_ARN, "InvalidIdentityToken")
        self.stand_in.mode = "malformed"
        proc = self.run_token(self.web_identity_env(self.stand_in.web_identity_token))
        self.assert_failure(proc, "web identity", "malformed STS answer")
        env = self.web_identity_env("x")
        env["AWS_WEB_IDENTITY_TOKEN_FILE"] = os.path.join(self.tmp.path, "absent")
        self.assert_failure(self.run_token(env), "cannot read web identity token file")

    # --- 4. container credentials endpoint (EKS Pod Identity, ECS) --------------------------

    def container_env(self, token=None, **extra):
        token_file = e2e.write_file(self.tmp.path, "eks-pod-identity-token",
                                    (token or self.stand_in.container_token) + "\n")
        return self.env(AWS_CONTAINER_CREDENTIALS_FULL_URI=self.stand_in.url + "/container/creds",
                        AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=token_file, **extra)

    def test_container_endpoint(self):
        proc = self.run_token(self.container_env())
        self.assert_token(proc, *self.stand_in_issued())
        _, path, headers, _ = self.stand_in.requests[-1]
        self.assertEqual(path, "/container/creds")
        self.assertEqual(headers.get("Authorization"), self.stand_in.container_token)
        # AWS_CONTAINER_AUTHORIZATION_TOKEN (ECS style) works too.
        env = self.container_env()
        del env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"]
        env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = self.stand_in.container_token
        self.assert_token(self.run_token(env), *self.stand_in_issued())

    def test_container_endpoint_failures(self):
        proc = self.run_token(self.container_env(token="a-wrong-token"))
        self.assert_failure(proc, "container endpoint " + self.stand_in.url, "HTTP 401",
                            "authorization token rejected")
        self.stand_in.mode = "malformed"
        proc = self.run_token(self.container_env())
        self.assert_failure(proc, "container endpoint", "malformed credentials answer")
        self.stand_in.mode = "slow"
        self.stand_in.slow_seconds = 3
        proc = self.run_token(self.container_env(AWS_METADATA_SERVICE_TIMEOUT="1"))
        self.assert_failure(proc, "container endpoint", "timed out after 1000 ms")
        # Plain http to anything but loopback / the agent addresses is refused (AWS SDK rule).
        env = self.container_env()
        env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://example.com/creds"
        self.assert_failure(self.run_token(env), "plain http is only allowed")

    # --- 5. EC2 instance metadata, IMDSv2 --------------------------------------------------

    def imds_env(self, **extra):
        env = self.env(AWS_EC2_METADATA_SERVICE_ENDPOINT=self.stand_in.url + "/", **extra)
        del env["AWS_EC2_METADATA_DISABLED"]
        return env

    def test_instance_metadata(self):
        proc = self.run_token(self.imds_env())
        self.assert_token(proc, *self.stand_in_issued())
        calls = [(m, p) for m, p, _, _ in self.stand_in.requests]
        self.assertEqual(calls, [
            ("PUT", "/latest/api/token"),
            ("GET", "/latest/meta-data/iam/security-credentials/"),
            ("GET", "/latest/meta-data/iam/security-credentials/driftwatch-node-role"),
        ])
        self.assertEqual(self.stand_in.requests[0][2].get("X-aws-ec2-metadata-token-ttl-seconds"),
                         "21600")
        self.assertEqual(self.stand_in.requests[1][2].get("X-aws-ec2-metadata-token"),
                         self.stand_in.imds_token)

    def test_instance_metadata_failures(self):
        self.stand_in.mode = "wrong_token"
        self.assert_failure(self.run_token(self.imds_env()), "instance metadata", "HTTP 401",
                            "metadata token rejected")
        self.stand_in.mode = "malformed"
        self.assert_failure(self.run_token(self.imds_env()), "instance metadata",
                            "malformed credentials answer")
        # No answer at all (not on EC2): the chain ends with every source's reason.
        self.stand_in.mode = "slow"
        self.stand_in.slow_seconds = 3
        proc = self.run_token(self.imds_env(AWS_METADATA_SERVICE_TIMEOUT="1"))
        self.assert_failure(proc, "no AWS credentials found", "instance metadata",
                            "timed out after 1000 ms")

    # --- order and refresh -------------------------------------------------------------------

    def test_chain_order_environment_before_everything(self):
        self.write_aws_files("[default]\naws_access_key_id = AKIAFILE\n"
                             "aws_secret_access_key = file-secret-key\n")
        env = self.container_env(AWS_ACCESS_KEY_ID="AKIAENVEXAMPLE",
                                 AWS_SECRET_ACCESS_KEY="env-secret-key")
        self.assert_token(self.run_token(env), "AKIAENVEXAMPLE", "env-secret-key")
        del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
        self.assert_token(self.run_token(env), "AKIAFILE", "file-secret-key")
        self.assertEqual(self.stand_in.requests, [])  # the container endpoint was never asked

    def check_two_targets(self, env):
        """`driftwatch check` over two rds-iam targets (two users, so two tokens) whose server
        is not listening: each check signs a token, then fails to connect."""
        port = e2e.free_port()
        sections = [e2e.migrations_section()]
        for user in ("reader_a", "reader_b"):
            sections.append(
                '[[targets]]\nname = "%s"\nauth = "rds-iam"\nhost = "127.0.0.1"\nport = %d\n'
                'user = "%s"\ndatabase = "warehouse"\nregion = "%s"\n' % (user, port, user, REGION))
        config = e2e.write_config(self.tmp.path, sections, timeout="5s")
        env = dict(env)
        env.pop("DRIFTWATCH_AWS_SIGNING_TIME")
        return e2e.run_check(config, env=env)

    def test_temporary_credentials_refreshed_before_expiry(self):
        sources = [
            ("container", self.container_env, ("GET", "/container")),
            ("web identity", lambda: self.web_identity_env(self.stand_in.web_identity_token),
             ("POST", "/sts")),
            ("instance metadata", self.imds_env,
             ("GET", "/latest/meta-data/iam/security-credentials/driftwatch-node-role")),
        ]
        for name, make_env, (method, path) in sources:
            with self.subTest(source=name):
                # Valid for an hour: fetched once for both targets.
                self.stand_in.requests.clear()
                self.stand_in.lifetime = datetime.timedelta(hours=1)
                run = self.check_two_targets(make_env())
                self.assertEqual(run.target("reader_a")["error"]["reason"], "connect",
                                 run.describe())
                self.assertEqual(self.stand_in.count(method, path), 1)
                # Valid for 5 more minutes only (inside the 10-minute refresh window): fetched
                # again for the second target.
                self.stand_in.requests.clear()
                self.stand_in.lifetime = datetime.timedelta(minutes=5)
                run = self.check_two_targets(make_env())
                self.assertEqual(run.target("reader_b")["error"]["reason"], "connect",
                                 run.describe())
                self.assertEqual(self.stand_in.count(method, path), 2)

    def test_sts_timeout(self):
        # STS gets 10 s (AWS has no setting for it); a stand-in that answers after 12 s is cut.
        self.stand_in.mode = "slow"
        self.stand_in.slow_seconds = 12
        proc = self.run_token(self.web_identity_env(self.stand_in.web_identity_token))
        self.assert_failure(proc, "web identity", "timed out after 10000 ms")

    def test_credentials_failure_is_an_auth_error_of_the_target(self):
        run = self.check_two_targets(self.container_env(token="a-wrong-token"))
        self.assertEqual(run.returncode, 3, run.describe())
        error = run.target("reader_a")["error"]
        self.assertEqual(error["reason"], "auth")
        self.assertIn("container endpoint", error["message"])
        for secret in self.secrets():
            self.assertNotIn(secret, run.stdout + run.stderr)


if __name__ == "__main__":
    e2e.main()
