// AWS Signature Version 4 and RDS IAM tokens against published vectors, plus the parsers and
// caches of the credentials chain (daemon/aws). No network: credential sources talking HTTP are
// tested end to end in tests/e2e/rds_iam_test.py against local stand-ins.
#include "aws/sigv4.hpp"

#include <doctest/doctest.h>

#include <string>

#include "aws/credentials.hpp"
#include "aws/http.hpp"
#include "aws/rds_token.hpp"
#include "driftwatch/error.hpp"

namespace driftwatch::aws {
namespace {

using std::chrono::system_clock;

system_clock::time_point at(const std::string& iso) { return *parse_iso8601(iso); }

// --- AWS Signature Version 4 test suite (aws-sig-v4-test-suite, 2015-08-30, as published in
// the AWS General Reference "Signature Version 4 test suite"): credentials AKIDEXAMPLE /
// wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, region us-east-1, service "service".
const Credentials kSuiteCredentials{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "",
                                    std::nullopt, "test"};
const Scope kSuiteScope{"us-east-1", "service"};

TEST_CASE("SigV4 test suite: get-vanilla") {
  Request request;
  request.headers = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}};
  const auto time = at("2015-08-30T12:36:00Z");
  const std::string canonical = canonical_request(request);
  CHECK(canonical ==
        "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const std::string to_sign = string_to_sign(canonical, time, kSuiteScope);
  CHECK(to_sign ==
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
        "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
  CHECK(signature(kSuiteCredentials.secret_access_key, to_sign, time, kSuiteScope) ==
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST_CASE("SigV4 test suite: get-vanilla-query-order-key-case (parameters sorted)") {
  Request request;
  request.query = {{"Param2", "value2"}, {"Param1", "value1"}};
  request.headers = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}};
  const auto time = at("2015-08-30T12:36:00Z");
  const std::string canonical = canonical_request(request);
  CHECK(canonical.find("\nParam1=value1&Param2=value2\n") != std::string::npos);
  CHECK(signature(kSuiteCredentials.secret_access_key, string_to_sign(canonical, time, kSuiteScope),
                  time, kSuiteScope) ==
        "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

TEST_CASE("SigV4 via sign_headers: the IAM ListUsers example of the AWS General Reference") {
  // "Examples of the complete Signature Version 4 signing process": GET
  // https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08 at 20150830T123600Z.
  Request request;
  request.query = {{"Action", "ListUsers"}, {"Version", "2010-05-08"}};
  request.headers = {{"Host", "iam.amazonaws.com"},
                     {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
  const auto time = at("2015-08-30T12:36:00Z");
  const Scope scope{"us-east-1", "iam"};
  CHECK(hex(signing_key(kSuiteCredentials.secret_access_key, time, scope)) ==
        "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
  sign_headers(request, kSuiteCredentials, scope, time);
  CHECK(request.headers.back().first == "Authorization");
  CHECK(request.headers.back().second ==
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date, "
        "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
}

TEST_CASE("uri_encode: unreserved characters stay, the rest is %XY upper case") {
  CHECK(uri_encode("AZaz09-_.~") == "AZaz09-_.~");
  CHECK(uri_encode("a b/c+d=e@f") == "a%20b%2Fc%2Bd%3De%40f");
  CHECK(uri_encode("/a b/", /*encode_slash=*/false) == "/a%20b/");
  CHECK(uri_encode("\xc3\xa9") == "%C3%A9");
}

// --- RDS IAM tokens ---------------------------------------------------------------------------

TEST_CASE("RDS token: the AWS SDK for JavaScript's own test vector") {
  // aws-sdk-js (v2) test/services/rds.spec.js, 'AWS.RDS.Signer' getAuthToken: akid / secret,
  // db.us-east-1.amazonaws.com:8000, user test, us-east-1, clock at the epoch. The SDK prints
  // the parameters sorted; the signature (over the canonical, sorted query) is the same.
  const Credentials credentials{"akid", "secret", "", std::nullopt, "test"};
  const std::string token = rds_auth_token("db.us-east-1.amazonaws.com", 8000, "test", "us-east-1",
                                           credentials, system_clock::time_point{});
  CHECK(token.find("&X-Amz-Signature=6f2b4daa29668c1c264d7af7927d9d2a706768e35d92d76b461aedbaca"
                   "14b6ad") != std::string::npos);
  // The exact string `aws rds generate-db-auth-token` (botocore 1.29) prints for these inputs.
  CHECK(token ==
        "db.us-east-1.amazonaws.com:8000/?Action=connect&DBUser=test&X-Amz-Algorithm=AWS4-HMAC-"
        "SHA256&X-Amz-Credential=akid%2F19700101%2Fus-east-1%2Frds-db%2Faws4_request&X-Amz-Date="
        "19700101T000000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature="
        "6f2b4daa29668c1c264d7af7927d9d2a706768e35d92d76b461aedbaca14b6ad");
}

TEST_CASE("RDS token with a session token and a user name that needs encoding (botocore 1.29)") {
  // Computed with botocore's generate_db_auth_token (independent implementation) for these inputs.
  const Credentials credentials{"akid", "secret", "tok/en+=", std::nullopt, "test"};
  const std::string token = rds_auth_token("db.us-east-1.amazonaws.com", 8000, "te st@x",
                                           "us-east-1", credentials, system_clock::time_point{});
  CHECK(token ==
        "db.us-east-1.amazonaws.com:8000/?Action=connect&DBUser=te%20st%40x&X-Amz-Algorithm=AWS4-"
        "HMAC-SHA256&X-Amz-Credential=akid%2F19700101%2Fus-east-1%2Frds-db%2Faws4_request&X-Amz-"
        "Date=19700101T000000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Security-Token="
        "tok%2Fen%2B%3D&X-Amz-Signature="
        "f28d5698bf1cce93a57e6db25cde6d8f789c3166d3d6b15c2898503d45af3407");
}

TEST_CASE("region_from_rds_host") {
  CHECK(region_from_rds_host("mydb.abc123.eu-west-1.rds.amazonaws.com") == "eu-west-1");
  CHECK(region_from_rds_host("c.cluster-ro-x.us-east-2.RDS.amazonaws.com") == "us-east-2");
  CHECK(region_from_rds_host("db.x.cn-north-1.rds.amazonaws.com.cn") == "cn-north-1");
  CHECK(region_from_rds_host("db.internal") == "");
  CHECK(region_from_rds_host("rds.amazonaws.com") == "");
}

TEST_CASE("split_url: the Host header and the path signed for STS endpoints") {
  UrlParts parts = split_url("http://127.0.0.1:8080/sts?x=1");
  CHECK(parts.scheme == "http");
  CHECK(parts.authority == "127.0.0.1:8080");
  CHECK(parts.host == "127.0.0.1");
  CHECK(parts.path == "/sts?x=1");
  parts = split_url("https://sts.eu-west-1.amazonaws.com");
  CHECK(parts.authority == "sts.eu-west-1.amazonaws.com");
  CHECK(parts.path == "/");
  CHECK(split_url("http://[fd00:ec2::23]/v1/credentials").host == "fd00:ec2::23");
  CHECK(split_url("sts.amazonaws.com").scheme.empty());
}

// --- parsers ----------------------------------------------------------------------------------

TEST_CASE("parse_iso8601") {
  CHECK(parse_iso8601("1970-01-01T00:00:00Z") == system_clock::time_point{});
  CHECK(parse_iso8601("2026-12-04T19:00:00Z") == parse_iso8601("2026-12-04T19:00:00.123Z"));
  CHECK(parse_iso8601("2026-12-04T19:00:00+00:00").has_value());
  CHECK_FALSE(parse_iso8601("2026-12-04 19:00:00").has_value());
  CHECK_FALSE(parse_iso8601("2026-12-04T19:00:00+02:00").has_value());
  CHECK_FALSE(parse_iso8601("tomorrow").has_value());
}

TEST_CASE("STS answer: credentials, error response, malformed") {
  // Shape of the STS query API answer (AssumeRoleWithWebIdentity API reference, example).
  const std::string ok =
      "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
      "<AssumeRoleWithWebIdentityResult><Credentials>"
      "<SessionToken>AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE</SessionToken>"
      "<SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>"
      "<Expiration>2014-10-24T23:00:23Z</Expiration>"
      "<AccessKeyId>ASgeIAIOSFODNN7EXAMPLE</AccessKeyId>"
      "</Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>";
  const Credentials credentials = parse_sts_answer(ok);
  CHECK(credentials.access_key_id == "ASgeIAIOSFODNN7EXAMPLE");
  CHECK(credentials.secret_access_key == "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY");
  CHECK(credentials.session_token == "AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE");
  CHECK(credentials.expiration == parse_iso8601("2014-10-24T23:00:23Z"));

  const std::string error =
      "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>"
      "<Message>Token expired &amp; rejected</Message></Error></ErrorResponse>";
  CHECK_THROWS_WITH(parse_sts_answer(error), "InvalidIdentityToken: Token expired & rejected");
  CHECK_THROWS_WITH(parse_sts_answer("<html>gateway</html>"),
                    doctest::Contains("no Credentials element"));
  CHECK_THROWS_WITH(parse_sts_answer("<Credentials><AccessKeyId>a</AccessKeyId></Credentials>"),
                    doctest::Contains("missing"));
}

TEST_CASE("credentials JSON (container endpoint, instance metadata)") {
  const Credentials credentials = parse_credentials_json(
      R"({"Code":"Success","AccessKeyId":"ASIA1","SecretAccessKey":"s","Token":"t",)"
      R"("Expiration":"2026-12-04T20:00:00Z","Type":"AWS-HMAC"})");
  CHECK(credentials.access_key_id == "ASIA1");
  CHECK(credentials.session_token == "t");
  CHECK(credentials.expiration == parse_iso8601("2026-12-04T20:00:00Z"));
  CHECK_THROWS_WITH(parse_credentials_json("not json"), doctest::Contains("not a JSON object"));
  CHECK_THROWS_WITH(parse_credentials_json(R"({"AccessKeyId":"a","SecretAccessKey":"s"})"),
                    doctest::Contains("Token missing"));
  CHECK_THROWS_WITH(parse_credentials_json(R"({"Code":"Failure"})"),
                    doctest::Contains("Code Failure"));
  // A secret in a malformed answer is never quoted back.
  try {
    parse_credentials_json(R"({"AccessKeyId":"a","SecretAccessKey":"TOPSECRET","Token":"t",)"
                           R"("Expiration":"soon"})");
    FAIL("expected an exception");
  } catch (const std::exception& e) {
    CHECK(std::string(e.what()).find("TOPSECRET") == std::string::npos);
  }
}

TEST_CASE("shared files INI: profiles, comments, nested blocks") {
  const IniFile ini = parse_ini(
      "# comment\n[default]\naws_access_key_id = AKID\nAWS_Secret_Access_Key=SECRET \n"
      "[profile  prod]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = default\n"
      "s3 =\n  max_concurrent_requests = 2\n; other comment\n");
  CHECK(ini.at("default").at("aws_access_key_id") == "AKID");
  CHECK(ini.at("default").at("aws_secret_access_key") == "SECRET");
  CHECK(ini.at("profile prod").at("role_arn") == "arn:aws:iam::1:role/r");
  CHECK(ini.at("profile prod").count("max_concurrent_requests") == 0);
}

// --- caches -----------------------------------------------------------------------------------

TEST_CASE("CredentialsCache: reuses until the refresh window, then fetches again") {
  auto now = at("2026-01-01T00:00:00Z");
  CredentialsCache cache([&] { return now; });
  int fetches = 0;
  auto fetch = [&] {
    ++fetches;
    return Credentials{"AK" + std::to_string(fetches), "s", "t", now + std::chrono::hours(1),
                       "test"};
  };
  CHECK(cache.get("k", fetch).access_key_id == "AK1");
  now += std::chrono::minutes(49);
  CHECK(cache.get("k", fetch).access_key_id == "AK1");  // 11 minutes left
  now += std::chrono::minutes(2);
  CHECK(cache.get("k", fetch).access_key_id == "AK2");  // 9 minutes left: refreshed
  CHECK(fetches == 2);

  // A failing refresh keeps still-valid credentials; expired ones are not used.
  now += std::chrono::minutes(55);  // AK2 has 5 minutes left
  auto failing = []() -> Credentials { throw Error("auth", "endpoint down"); };
  CHECK(cache.get("k", failing).access_key_id == "AK2");
  now += std::chrono::minutes(5);
  CHECK_THROWS_WITH(cache.get("k", failing), "endpoint down");

  // Long-term keys (no expiration) are read again every 15 minutes (rotated files).
  int static_fetches = 0;
  auto static_fetch = [&] {
    ++static_fetches;
    return Credentials{"AKID", "s", "", std::nullopt, "env"};
  };
  cache.get("static", static_fetch);
  now += std::chrono::minutes(14);
  cache.get("static", static_fetch);
  CHECK(static_fetches == 1);
  now += std::chrono::minutes(2);
  cache.get("static", static_fetch);
  CHECK(static_fetches == 2);
}

TEST_CASE("RdsTokenProvider: token cached until shortly before expiry, roles assumed once") {
  auto now = at("2026-01-01T00:00:00Z");
  int base_fetches = 0;
  int assumed = 0;
  RdsTokenProvider provider(
      [&] { return now; },
      [&](const std::string&) {
        ++base_fetches;
        return Credentials{"AKID", "secret", "", std::nullopt, "env"};
      },
      [&](const Credentials& base, const std::string& role, const std::string&) {
        ++assumed;
        CHECK(base.access_key_id == "AKID");
        return Credentials{"ASIA" + role.substr(role.size() - 1), "s2", "session",
                           now + std::chrono::minutes(30), "role"};
      });
  const RdsTokenRequest request{"db.example", 5432, "driftwatch", "eu-west-1", ""};
  const std::string first = provider.token(request);
  CHECK(first.rfind("db.example:5432/?Action=connect&DBUser=driftwatch&", 0) == 0);
  CHECK(first.find("X-Amz-Date=20260101T000000Z") != std::string::npos);
  now += std::chrono::minutes(12);
  CHECK(provider.token(request) == first);  // 15 min validity - 2 min margin not reached
  now += std::chrono::minutes(1) + std::chrono::seconds(1);
  const std::string second = provider.token(request);
  CHECK(second != first);
  CHECK(second.find("X-Amz-Date=20260101T001301Z") != std::string::npos);
  CHECK(base_fetches == 1);

  // With a role: the assumed credentials sign; a token is limited by their expiry.
  const RdsTokenRequest with_role{"db.example", 5432, "driftwatch", "eu-west-1",
                                  "arn:aws:iam::123456789012:role/r"};
  const std::string role_token = provider.token(with_role);
  CHECK(role_token.find("X-Amz-Credential=ASIAr%2F") != std::string::npos);
  CHECK(role_token.find("X-Amz-Security-Token=session") != std::string::npos);
  CHECK(assumed == 1);
  now += std::chrono::minutes(5);
  CHECK(provider.token(with_role) == role_token);
  CHECK(assumed == 1);

  // A request without a region is a configuration error, not a guess.
  CHECK_THROWS_AS(provider.token(RdsTokenRequest{"h", 5432, "u", "", ""}), Error);
}

}  // namespace
}  // namespace driftwatch::aws
