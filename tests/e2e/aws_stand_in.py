"""A local stand-in for the AWS endpoints driftwatch gets credentials from, speaking their
documented protocols (used by rds_credentials_test.py):

  STS query API (POST form, XML answers): AssumeRole (SigV4-signed by the caller; the stand-in
    checks the signature with botocore, an independent implementation) and
    AssumeRoleWithWebIdentity (unsigned; checks the web identity token).
  Container credentials endpoint (ECS / EKS Pod Identity): GET with an Authorization header,
    JSON answer.
  EC2 instance metadata, IMDSv2: PUT /latest/api/token (X-aws-ec2-metadata-token-ttl-seconds),
    then GET /latest/meta-data/iam/security-credentials/[ROLE] with X-aws-ec2-metadata-token.

Each behaviour is switched by `mode` ("ok", "slow", "malformed", "error", "wrong_token");
every request is recorded in `requests`.
"""
import datetime
import http.server
import json
import threading
import time
import urllib.parse
from unittest import mock

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials


def iso(when):
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


class Issued:
    """Temporary credentials the stand-in hands out, numbered so refreshes are visible."""

    def __init__(self, prefix, number, lifetime):
        self.access_key_id = "%s%04dEXAMPLE" % (prefix, number)
        self.secret_access_key = "stand-in-secret-%s-%d" % (prefix, number)
        self.session_token = "stand-in-session-%s-%d/+=" % (prefix, number)
        self.expiration = datetime.datetime.utcnow() + lifetime


class StandIn:
    def __init__(self):
        self.mode = "ok"
        self.lifetime = datetime.timedelta(hours=1)
        self.requests = []
        self.issued = []
        self.container_token = "container-auth-token"
        self.web_identity_token = "web-identity-jwt"
        self.imds_token = "imds-session-token"
        self.imds_role = "driftwatch-node-role"
        self.sts_region = "eu-west-1"
        self.sts_signer = None  # botocore Credentials the AssumeRole request must be signed with
        self.sts_signature_ok = []
        self.slow_seconds = 5
        stand_in = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def reply(self, status, body, content_type="application/json"):
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def handle_any(self, method):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                stand_in.requests.append((method, self.path, dict(self.headers), body))
                if stand_in.mode == "slow":
                    time.sleep(stand_in.slow_seconds)
                status, text, content_type = stand_in.route(method, self.path, self.headers, body)
                try:
                    self.reply(status, text, content_type)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout cases)

            def do_GET(self):
                self.handle_any("GET")

            def do_PUT(self):
                self.handle_any("PUT")

            def do_POST(self):
                self.handle_any("POST")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def issue(self, prefix):
        credentials = Issued(prefix, len(self.issued) + 1, self.lifetime)
        self.issued.append(credentials)
        return credentials

    def count(self, method, path_prefix):
        return sum(1 for m, p, _, _ in self.requests if m == method and p.startswith(path_prefix))

    # --- protocols -------------------------------------------------------------------------

    def route(self, method, path, headers, body):
        if path.startswith("/sts"):
            return self.sts(method, path, headers, body)
        if path.startswith("/container"):
            return self.container(headers)
        if path.startswith("/latest/"):
            return self.imds(method, path, headers)
        return 404, '{"message":"not found"}', "application/json"

    def sts_error(self, status, code, message):
        xml = (
            '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
            "<Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error>"
            "<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
            % (code, message)
        )
        return status, xml, "text/xml"

    def sts(self, method, path, headers, body):
        if method != "POST":
            return self.sts_error(400, "InvalidAction", "POST expected")
        form = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
        action = form.get("Action")
        if self.mode == "malformed":
            return 200, "<AssumeRoleResponse><Result>half", "text/xml"
        if self.mode == "error":
            return self.sts_error(403, "AccessDenied", "Not authorized to perform sts:AssumeRole")
        if action == "AssumeRoleWithWebIdentity":
            if form.get("WebIdentityToken") != self.web_identity_token:
                return self.sts_error(400, "InvalidIdentityToken", "Incorrect token audience")
            if "Authorization" in headers:
                return self.sts_error(400, "InvalidRequest", "must not be signed")
        elif action == "AssumeRole":
            ok = self.check_signature(path, headers, body)
            self.sts_signature_ok.append(ok)
            if not ok:
                return self.sts_error(
                    403, "SignatureDoesNotMatch", "The request signature we calculated does not "
                    "match the signature you provided")
        else:
            return self.sts_error(400, "InvalidAction", "unknown action")
        credentials = self.issue("ASIASTS")
        xml = (
            '<{0}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><{0}Result>'
            "<Credentials><AccessKeyId>{1}</AccessKeyId><SecretAccessKey>{2}</SecretAccessKey>"
            "<SessionToken>{3}</SessionToken><Expiration>{4}</Expiration></Credentials>"
            "<AssumedRoleUser><Arn>{5}/s</Arn></AssumedRoleUser></{0}Result></{0}Response>"
        ).format(action, credentials.access_key_id, credentials.secret_access_key,
                 credentials.session_token, iso(credentials.expiration), form.get("RoleArn"))
        return 200, xml, "text/xml"

    def check_signature(self, path, headers, body):
        """Recomputes the caller's SigV4 Authorization header with botocore."""
        signer = self.sts_signer
        if signer == "last-issued":  # credentials this stand-in handed out just before
            issued = self.issued[-1]
            signer = BotoCredentials(issued.access_key_id, issued.secret_access_key,
                                     issued.session_token)
        if signer is None:
            return False
        amz_date = headers.get("X-Amz-Date", "")
        try:
            when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
        except ValueError:
            return False
        request = AWSRequest(
            method="POST",
            url="http://%s%s" % (headers.get("Host"), path),
            data=body.encode(),
            headers={"Content-Type": headers.get("Content-Type")},
        )
        with mock.patch("botocore.auth.datetime") as fake:
            fake.datetime.utcnow.return_value = when
            fake.datetime.strptime = datetime.datetime.strptime
            SigV4Auth(signer, "sts", self.sts_region).add_auth(request)
        return request.headers["Authorization"] == headers.get("Authorization")

    def credentials_json(self, prefix):
        credentials = self.issue(prefix)
        return json.dumps({
            "Code": "Success",
            "Type": "AWS-HMAC",
            "AccessKeyId": credentials.access_key_id,
            "SecretAccessKey": credentials.secret_access_key,
            "Token": credentials.session_token,
            "Expiration": iso(credentials.expiration),
            "LastUpdated": iso(datetime.datetime.utcnow()),
        })

    def container(self, headers):
        if headers.get("Authorization") != self.container_token:
            return 401, '{"message":"invalid authorization token"}', "application/json"
        if self.mode == "malformed":
            return 200, '{"AccessKeyId": "ASIA', "application/json"
        return 200, self.credentials_json("ASIACTR"), "application/json"

    def imds(self, method, path, headers):
        if path == "/latest/api/token":
            if method != "PUT" or not headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                return 400, "", "text/plain"
            return 200, self.imds_token, "text/plain"
        token = headers.get("X-aws-ec2-metadata-token")
        if token != self.imds_token or self.mode == "wrong_token":
            return 401, "", "text/plain"
        base = "/latest/meta-data/iam/security-credentials/"
        if path == base:
            return 200, self.imds_role + "\n", "text/plain"
        if path == base + self.imds_role:
            if self.mode == "malformed":
                return 200, "<html>captive portal</html>", "text/html"
            return 200, self.credentials_json("ASIAIMDS"), "application/json"
        return 404, "", "text/plain"


def boto_credentials(access_key_id, secret_access_key, session_token=None):
    return BotoCredentials(access_key_id, secret_access_key, session_token)
