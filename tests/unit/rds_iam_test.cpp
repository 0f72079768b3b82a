// auth = "rds-iam" in the configuration (targets, reference database) and how a connection
// string is built from it (resolve_connection_url). Credentials come from the environment here;
// the other sources are tested end to end in tests/e2e/rds_iam_test.py.
#include <doctest/doctest.h>
#include <stdlib.h>

#include <string>

#include "app/url_source.hpp"
#include "driftwatch/config.hpp"
#include "driftwatch/error.hpp"

namespace driftwatch {
namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string all_errors(const ConfigParseResult& result) {
  std::string text;
  for (const ConfigError& error : result.errors) text += error.to_string() + "\n";
  return text;
}

const char* kMigrations = "[migrations.w]\nversions = [\"v\"]\n";

TEST_CASE("rds-iam target: host/user instead of a URL, every key read") {
  const auto result = parse_config(std::string(kMigrations) + R"(
[[targets]]
name = "prod"
auth = "rds-iam"
host = "prod.abc.eu-west-1.rds.amazonaws.com"
port = 5433
user = "driftwatch"
database = "warehouse"
region = "eu-west-1"
role_arn = "arn:aws:iam::123456789012:role/driftwatch"
ca_bundle = "certs/rds-global-bundle.pem"
)",
                                   "/etc/driftwatch/driftwatch.toml");
  REQUIRE_MESSAGE(result.config.has_value(), all_errors(result));
  const DbAuthConfig& auth = result.config->targets[0].auth;
  CHECK(auth.rds_iam());
  CHECK(auth.host == "prod.abc.eu-west-1.rds.amazonaws.com");
  CHECK(auth.port == 5433);
  CHECK(auth.user == "driftwatch");
  CHECK(auth.database == "warehouse");
  CHECK(auth.region == "eu-west-1");
  CHECK(auth.role_arn == "arn:aws:iam::123456789012:role/driftwatch");
  CHECK(auth.ca_bundle == "/etc/driftwatch/certs/rds-global-bundle.pem");
}

TEST_CASE("rds-iam target with a URL; auth = \"password\" is the default") {
  auto result = parse_config(std::string(kMigrations) + R"(
[[targets]]
name = "a"
auth = "rds-iam"
url_env = "A_URL"
[[targets]]
name = "b"
auth = "password"
url = "postgresql://u:p@h/db"
)",
                             "");
  REQUIRE_MESSAGE(result.config.has_value(), all_errors(result));
  CHECK(result.config->targets[0].auth.rds_iam());
  CHECK(result.config->targets[0].url.env == "A_URL");
  CHECK_FALSE(result.config->targets[1].auth.rds_iam());
}

TEST_CASE("rds-iam keys: wrong types, unknown method, keys without rds-iam, missing host") {
  const auto result = parse_config(std::string(kMigrations) + R"(
[[targets]]
name = "a"
auth = "iam"
url = "postgresql://h/db"
[[targets]]
name = "b"
url = "postgresql://h/db"
region = "eu-west-1"
[[targets]]
name = "c"
auth = "rds-iam"
host = "h"
port = "5432"
user = "u"
region = "EU West"
role_arn = "driftwatch"
ca_bundle = 1
sslmode = "disable"
[[targets]]
name = "d"
auth = "rds-iam"
host = "h"
[[targets]]
name = "e"
auth = "rds-iam"
url = "postgresql://u:secret@h/db"
)",
                                   "t.toml");
  REQUIRE_FALSE(result.config.has_value());
  const std::string errors = all_errors(result);
  CHECK(contains(errors, "t.toml:6: targets[0].auth: unknown method \"iam\""));
  CHECK(contains(errors, "t.toml:11: targets[1].region: only valid with auth = \"rds-iam\""));
  CHECK(contains(errors, "t.toml:16: targets[2].port: expected an integer, got a string"));
  CHECK(contains(errors, "t.toml:18: targets[2].region: invalid AWS region \"EU West\""));
  CHECK(contains(errors, "t.toml:19: targets[2].role_arn: expected an IAM role ARN"));
  CHECK(contains(errors, "t.toml:20: targets[2].ca_bundle: expected a string, got an integer"));
  CHECK(contains(errors, "t.toml:21: unknown key \"targets[2].sslmode\""));
  CHECK(contains(errors, "t.toml:22: targets[3]: auth = \"rds-iam\" needs host and user"));
  CHECK(contains(errors, "t.toml:29: targets[4].url: must not contain a password"));
  CHECK_FALSE(contains(errors, "secret"));
}

TEST_CASE("reference database with rds-iam: reference_* keys") {
  auto result = parse_config(R"(
[migrations.w]
versions = ["v"]
reference_auth = "rds-iam"
reference_host = "ref.abc.us-east-1.rds.amazonaws.com"
reference_user = "driftwatch"
reference_database = "warehouse"
[[targets]]
name = "a"
url = "postgresql://h/db"
)",
                             "");
  REQUIRE_MESSAGE(result.config.has_value(), all_errors(result));
  const DbAuthConfig& auth = result.config->migrations.at("w").reference_auth;
  CHECK(auth.rds_iam());
  CHECK(auth.host == "ref.abc.us-east-1.rds.amazonaws.com");
  CHECK(auth.database == "warehouse");

  result = parse_config(R"(
[migrations.w]
versions = ["v"]
reference_auth = "rds-iam"
reference_port = 70000
[[targets]]
name = "a"
url = "postgresql://h/db"
)",
                        "r.toml");
  const std::string errors = all_errors(result);
  CHECK(contains(errors, "r.toml:5: migrations.w.reference_port: must be between 1 and 65535"));
  CHECK(contains(errors, "migrations.w: reference_auth = \"rds-iam\" needs reference_host"));
}

// Sets an environment variable for one test case.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = getenv(name)) old_ = old, had_ = true;
    if (value) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (had_) {
      setenv(name_.c_str(), old_.c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }

 private:
  std::string name_;
  std::string old_;
  bool had_ = false;
};

TEST_CASE("resolve_connection_url: token as password, verify-full, CA bundle, URL options kept") {
  ScopedEnv key("AWS_ACCESS_KEY_ID", "AKIDUNITTEST");
  ScopedEnv secret("AWS_SECRET_ACCESS_KEY", "unit-test-secret");
  ScopedEnv token("AWS_SESSION_TOKEN", nullptr);
  ScopedEnv region_env("AWS_REGION", nullptr);
  ScopedEnv default_region("AWS_DEFAULT_REGION", nullptr);
  UrlSource source;
  source.url = "postgresql://olduser:oldpass@old.host:6000/olddb?sslmode=disable&connect_timeout=7";
  DbAuthConfig auth;
  auth.method = "rds-iam";
  auth.host = "db.abc.eu-central-1.rds.amazonaws.com";
  auth.user = "driftwatch";
  auth.ca_bundle = "/etc/ssl/rds.pem";
  const std::string conninfo = resolve_connection_url(source, auth);
  CHECK(contains(conninfo, "connect_timeout='7'"));
  CHECK(contains(conninfo, "host='db.abc.eu-central-1.rds.amazonaws.com' port=6000"));
  CHECK(contains(conninfo, "user='driftwatch' dbname='olddb'"));
  CHECK(contains(conninfo, "sslmode=verify-full sslrootcert='/etc/ssl/rds.pem'"));
  CHECK_FALSE(contains(conninfo, "oldpass"));
  CHECK_FALSE(contains(conninfo, "sslmode=disable"));
  CHECK(contains(conninfo,
                 "password='db.abc.eu-central-1.rds.amazonaws.com:6000/?Action=connect&"
                 "DBUser=driftwatch&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
                 "AKIDUNITTEST%2F"));
  CHECK(contains(conninfo, "%2Feu-central-1%2Frds-db%2Faws4_request"));  // region from host
  // The password (token) is what redact_url hides.
  CHECK_FALSE(contains(redact_url(conninfo), "X-Amz-Signature"));

  // No URL at all, region from AWS_REGION, default port and database.
  ScopedEnv region2("AWS_REGION", "ap-south-1");
  DbAuthConfig bare;
  bare.method = "rds-iam";
  bare.host = "10.0.0.5";
  bare.user = "u";
  const std::string bare_conninfo = resolve_connection_url(UrlSource{}, bare);
  CHECK(contains(bare_conninfo, "host='10.0.0.5' port=5432 user='u' sslmode=verify-full"));
  CHECK(contains(bare_conninfo, "%2Fap-south-1%2Frds-db%2F"));

  // hostaddr stays with the URL's host (TLS verifies the name, libpq connects to the address).
  UrlSource with_hostaddr;
  with_hostaddr.url = "host=db.abc.eu-central-1.rds.amazonaws.com hostaddr=10.1.2.3 user=u";
  DbAuthConfig from_url;
  from_url.method = "rds-iam";
  const std::string kept = resolve_connection_url(with_hostaddr, from_url);
  CHECK(contains(kept, "hostaddr='10.1.2.3'"));
  CHECK(contains(kept, "host='db.abc.eu-central-1.rds.amazonaws.com' port=5432 user='u'"));
  from_url.host = "other.abc.eu-central-1.rds.amazonaws.com";
  CHECK_FALSE(contains(resolve_connection_url(with_hostaddr, from_url), "hostaddr"));

  // Without rds-iam the URL source is returned unchanged.
  CHECK(resolve_connection_url(source, DbAuthConfig{}) == source.url);
}

TEST_CASE("resolve_connection_url: no region, socket directory, no credentials") {
  ScopedEnv region_env("AWS_REGION", nullptr);
  ScopedEnv default_region("AWS_DEFAULT_REGION", nullptr);
  DbAuthConfig auth;
  auth.method = "rds-iam";
  auth.host = "db.internal";
  auth.user = "u";
  try {
    resolve_connection_url(UrlSource{}, auth);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.reason() == "config");
    CHECK(contains(e.what(), "no region"));
  }
  auth.host = "/var/run/postgresql";
  CHECK_THROWS_WITH_AS(resolve_connection_url(UrlSource{}, auth),
                       doctest::Contains("one host name"), Error);

  ScopedEnv key("AWS_ACCESS_KEY_ID", nullptr);
  ScopedEnv secret("AWS_SECRET_ACCESS_KEY", "only-the-secret");
  auth.host = "db.internal";
  auth.region = "eu-west-1";
  try {
    resolve_connection_url(UrlSource{}, auth);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.reason() == "auth");
    CHECK(contains(e.what(), "environment"));
    CHECK_FALSE(contains(e.what(), "only-the-secret"));
  }
}

}  // namespace
}  // namespace driftwatch
