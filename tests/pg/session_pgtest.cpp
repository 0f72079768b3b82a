// PgSession against a real PostgreSQL: session settings, read-only enforcement, error mapping,
// and the minimal grants needed for a full introspection.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>

#include "driftwatch/check.hpp"
#include "driftwatch/error.hpp"
#include "pg/errors.hpp"
#include "pg/introspect.hpp"
#include "pg/session.hpp"
#include "pg/version_table.hpp"
#include "pg_test_support.hpp"

using namespace driftwatch;

namespace {

IntrospectOptions quick_options(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  IntrospectOptions options;
  options.timeout = timeout;
  return options;
}

using pgtest::error_of;

}  // namespace

TEST_CASE("session settings: application_name, read-only, timeouts, empty search_path") {
  pgtest::TempDatabase db;
  PgSession session(db.url(), quick_options(std::chrono::seconds(5)), "t1");
  const auto rows = session.query(
      "SELECT current_setting('application_name'), "
      "current_setting('default_transaction_read_only'), current_setting('statement_timeout'), "
      "current_setting('lock_timeout'), current_setting('search_path'), "
      "current_setting('transaction_isolation'), current_setting('transaction_read_only')");
  REQUIRE(rows.size() == 1);
  CHECK(rows[0][0].value() == "driftwatch");
  CHECK(rows[0][1].value() == "on");
  CHECK(rows[0][2].value() == "5s");
  CHECK(rows[0][3].value() == "2s");
  CHECK(rows[0][4].value() == "");
  CHECK(rows[0][5].value() == "repeatable read");
  CHECK(rows[0][6].value() == "on");
  CHECK(session.query_count() == 1);
  CHECK(session.server_version().rfind("15.", 0) == 0);

  // Another session sees us under our application_name.
  const std::string seen =
      pgtest::first_value(db.url(), "SELECT application_name FROM pg_stat_activity WHERE pid = " +
                                        std::to_string(session.backend_pid()));
  CHECK(seen == "driftwatch");
}

TEST_CASE("a short timeout gives a lock_timeout below 2s") {
  pgtest::TempDatabase db;
  PgSession session(db.url(), quick_options(std::chrono::milliseconds(1500)));
  const auto rows =
      session.query("SELECT current_setting('lock_timeout'), current_setting('statement_timeout')");
  CHECK(rows[0][0].value() == "1500ms");
  CHECK(rows[0][1].value() == "1500ms");
}

TEST_CASE("the session cannot write, even when the URL asks for read-write") {
  pgtest::TempDatabase db;
  db.exec("CREATE TABLE t (id int)");
  // A URL that tries to switch read-only off: our -c flags come later and win.
  const std::string url = db.url() + "?options=-c%20default_transaction_read_only%3Doff";
  PgSession session(url, quick_options());
  const Error insert = error_of([&] { session.query("INSERT INTO public.t VALUES (1)"); });
  CHECK(insert.sqlstate() == "25006");
  CHECK(insert.reason() == error_reason::kQuery);
  CHECK(std::string(insert.what()).find("read-only transaction") != std::string::npos);
  // The failed transaction is gone; the next statement runs in a fresh read-only one.
  const Error create = error_of([&] { session.query("CREATE TABLE public.u (id int)"); });
  CHECK(create.sqlstate() == "25006");
  CHECK(pgtest::first_value(db.url(), "SELECT count(*) FROM t") == "0");
  CHECK(pgtest::first_value(db.url(), "SELECT count(*) FROM pg_class WHERE relname = 'u'") == "0");
}

TEST_CASE("all reads of a check see one snapshot") {
  pgtest::TempDatabase db;
  db.exec("CREATE TABLE t (id int)");
  PgSession session(db.url(), quick_options());
  CHECK(session.query("SELECT count(*) FROM pg_class WHERE relname = 'late'")[0][0] == "0");
  db.exec("CREATE TABLE late (id int)");
  // Same transaction: the table created meanwhile is not visible (REPEATABLE READ).
  CHECK(session.query("SELECT count(*) FROM pg_class WHERE relname = 'late'")[0][0] == "0");
  session.end_transaction();
  CHECK(session.query("SELECT count(*) FROM pg_class WHERE relname = 'late'")[0][0] == "1");
}

TEST_CASE("unreachable port -> reason connect, plain message, no password") {
  auto parts = pgtest::parse_url(pgtest::superuser_url());
  parts.port = std::to_string(pgtest::free_port());
  parts.password = "s3cret-unreachable";
  const auto started = std::chrono::steady_clock::now();
  const Error error =
      error_of([&] { PgSession session(pgtest::make_url(parts), quick_options()); });
  CHECK(error.reason() == error_reason::kConnect);
  const std::string message = error.what();
  CHECK(message == "connection to 127.0.0.1:" + parts.port + "/postgres refused");
  CHECK(message.find("s3cret-unreachable") == std::string::npos);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(3));
}

TEST_CASE("unknown host -> reason connect") {
  const Error error = error_of([&] {
    PgSession session("postgresql://u:pw-unknown-host@no-such-host.invalid:5432/db",
                      quick_options(std::chrono::seconds(2)));
  });
  CHECK(error.reason() == error_reason::kConnect);
  CHECK(std::string(error.what()).find("pw-unknown-host") == std::string::npos);
}

TEST_CASE("a host name is resolved within the check's deadline and still connects") {
  // driftwatch resolves the name itself (libpq's lookup has no deadline) and passes the
  // addresses as hostaddr, keeping host for TLS and the password file.
  auto parts = pgtest::parse_url(pgtest::superuser_url());
  REQUIRE(parts.host == "127.0.0.1");
  parts.host = "localhost";
  PgSession session(pgtest::make_url(parts), quick_options(std::chrono::seconds(5)), "by-name");
  const auto rows = session.query("SELECT host(inet_server_addr())");
  REQUIRE(rows.size() == 1);
  CHECK(rows[0][0].value() == "127.0.0.1");
}

TEST_CASE("malformed URL -> reason config without echoing it") {
  const Error error = error_of([&] {
    PgSession session("postgresql://u:pw-malformed@host:notaport:1/db?bogus_key=1",
                      quick_options());
  });
  CHECK(error.reason() == error_reason::kConfig);
  CHECK(std::string(error.what()).find("pw-malformed") == std::string::npos);
}

TEST_CASE("wrong password -> reason auth; the password is not in the message") {
  pgtest::TempDatabase db;
  const std::string wrong = "wrong-password-4711";
  const Error error =
      error_of([&] { PgSession session(db.url_as("postgres", wrong), quick_options()); });
  CHECK(error.reason() == error_reason::kAuth);
  const std::string message = error.what();
  CHECK(message == "password authentication failed for user \"postgres\"");
  CHECK(message.find(wrong) == std::string::npos);
}

TEST_CASE("database that does not exist -> reason connect naming it") {
  auto parts = pgtest::parse_url(pgtest::superuser_url());
  parts.dbname = "no_such_db_dw";
  const Error error =
      error_of([&] { PgSession session(pgtest::make_url(parts), quick_options()); });
  CHECK(error.reason() == error_reason::kConnect);
  CHECK(std::string(error.what()).find("no_such_db_dw") != std::string::npos);
  CHECK(std::string(error.what()).find(parts.password) == std::string::npos);
}

TEST_CASE("permission denied on a schema as a limited role -> reason permission") {
  pgtest::TempRole role("dwlimited");
  pgtest::TempDatabase db;
  db.exec(
      "CREATE SCHEMA hidden; CREATE TABLE hidden.t (id int);"
      "CREATE TABLE hidden.alembic_version (version_num varchar(32) PRIMARY KEY)");
  const std::string url = db.url_as(role.name(), role.password());

  SUBCASE("watched schema without USAGE") {
    IntrospectOptions options = quick_options();
    options.schemas = {"hidden"};
    PgSession session(url, options, "limited");
    const Error error = error_of([&] { introspect_schema(session, options); });
    CHECK(error.reason() == error_reason::kPermission);
    CHECK(error.target() == "limited");
    CHECK(std::string(error.what()).find("permission denied for schema hidden") == 0);
  }
  SUBCASE("version table in a schema without USAGE") {
    IntrospectOptions options = quick_options();
    options.version_table_schema = "hidden";
    PgSession session(url, options, "limited");
    const Error error = error_of([&] { read_version_table(session, options); });
    CAPTURE(std::string(error.what()));
    CHECK(error.reason() == error_reason::kPermission);
    CHECK(error.sqlstate() == "42501");
    CHECK(std::string(error.what()).find("permission denied for schema hidden") == 0);
  }
}

TEST_CASE("statement timeout -> reason timeout") {
  pgtest::TempDatabase db;
  // The check's own deadline is further away: the server's statement_timeout ends the query.
  IntrospectOptions options = quick_options(std::chrono::milliseconds(1000));
  options.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  PgSession session(db.url(), options);
  const auto started = std::chrono::steady_clock::now();
  const Error error = error_of([&] { session.query("SELECT pg_sleep(5)"); });
  CHECK(error.reason() == error_reason::kTimeout);
  CHECK(error.sqlstate() == "57014");
  CHECK(std::string(error.what()).find("statement timeout") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(3));
}

TEST_CASE("a lock held on a table the catalog reads need -> reason timeout, not a hang") {
  pgtest::TempDatabase db;
  db.exec("CREATE TABLE t (id int); CREATE VIEW v AS SELECT id FROM t");
  pqxx::connection holder(db.url());
  pqxx::work lock_tx(holder);
  lock_tx.exec("LOCK TABLE t IN ACCESS EXCLUSIVE MODE");

  IntrospectOptions options = quick_options(std::chrono::seconds(5));
  PgSession session(db.url(), options);
  // The version-table read notices the lock (that is the `migrating` state)...
  CHECK(read_version_table(session, options).locked);
  // ...and a caller that introspects anyway gets a timeout after lock_timeout (2s):
  // pg_get_viewdef locks the tables a view reads.
  const auto started = std::chrono::steady_clock::now();
  const Error error = error_of([&] { introspect_schema(session, options, VersionTableRead{}); });
  CHECK(error.reason() == error_reason::kTimeout);
  CHECK(error.sqlstate() == "55P03");
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(4));
}

TEST_CASE("minimal grants: CONNECT, USAGE on the schemas, SELECT on alembic_version") {
  pgtest::TempRole role("dwminimal");
  pgtest::TempDatabase db;
  db.exec(R"sql(
    REVOKE ALL ON DATABASE )sql" +
          db.name() + R"sql( FROM PUBLIC;
    REVOKE ALL ON SCHEMA public FROM PUBLIC;
    CREATE EXTENSION pg_trgm;
    CREATE SCHEMA app;
    CREATE TYPE app.status AS ENUM ('a', 'b');
    CREATE TABLE app.t (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, s app.status,
                        label text DEFAULT 'x', parent int REFERENCES app.t (id));
    CREATE INDEX t_label ON app.t USING gin (label gin_trgm_ops);
    CREATE VIEW app.v AS SELECT id, label FROM app.t;
    CREATE MATERIALIZED VIEW app.mv AS SELECT count(*) AS n FROM app.t;
    CREATE SEQUENCE app.seq;
    CREATE FUNCTION app.f(x int) RETURNS int LANGUAGE plpgsql SECURITY DEFINER
      AS $$BEGIN RETURN x + 1; END$$;
    REVOKE ALL ON FUNCTION app.f(int) FROM PUBLIC;
    CREATE FUNCTION app.trg() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
    CREATE TRIGGER t_trg BEFORE INSERT ON app.t FOR EACH ROW EXECUTE FUNCTION app.trg();
    ALTER TABLE app.t ENABLE ROW LEVEL SECURITY;
    CREATE POLICY p ON app.t USING (id > 0);
    COMMENT ON TABLE app.t IS 'tee';
    CREATE TABLE public.alembic_version (version_num varchar(32) PRIMARY KEY);
    INSERT INTO public.alembic_version VALUES ('0001');
  )sql");
  db.exec("GRANT CONNECT ON DATABASE " + db.name() + " TO " + role.name() +
          "; GRANT USAGE ON SCHEMA public, app TO " + role.name() +
          "; GRANT SELECT ON public.alembic_version TO " + role.name());

  IntrospectOptions options = quick_options();
  options.privileges = true;
  options.comments = true;
  PgSession as_superuser(db.url(), options);
  const SchemaSnapshot expected = introspect_schema(as_superuser, options);
  PgSession as_role(db.url_as(role.name(), role.password()), options);
  const SchemaSnapshot actual = introspect_schema(as_role, options);

  CHECK(actual.alembic_version == std::vector<std::string>{"0001"});
  CHECK(actual.schemas == std::vector<std::string>{"app", "public"});
  REQUIRE(actual.objects.size() == expected.objects.size());
  for (size_t i = 0; i < actual.objects.size(); ++i) {
    CAPTURE(actual.objects[i].name);
    CHECK(actual.objects[i].name == expected.objects[i].name);
    CHECK(actual.objects[i].attrs == expected.objects[i].attrs);
    CHECK(actual.objects[i].info == expected.objects[i].info);
  }
  // Non-trivial content was read through those grants.
  CHECK(actual.find(ObjectType::kView, "app.v") != nullptr);
  CHECK(actual.find(ObjectType::kFunction, "app.f(integer)") != nullptr);

  SUBCASE("without SELECT on the version table the check fails with permission") {
    db.exec("REVOKE SELECT ON public.alembic_version FROM " + role.name());
    PgSession again(db.url_as(role.name(), role.password()), options);
    const Error error = error_of([&] { read_version_table(again, options); });
    CHECK(error.reason() == error_reason::kPermission);
  }
}

// Pure rules of the adapter (no server needed; they live here with the rest of daemon/pg's
// tests).
TEST_CASE("conninfo keeps the caller's parameters and adds the read-only session settings") {
  IntrospectOptions options;
  options.timeout = std::chrono::milliseconds(2500);
  const std::string conninfo = build_session_conninfo(
      "postgresql://u:p%20w@db.example:6432/app?sslmode=require&application_name=evil", options);
  CHECK(conninfo.find("host='db.example'") != std::string::npos);
  CHECK(conninfo.find("port='6432'") != std::string::npos);
  CHECK(conninfo.find("sslmode='require'") != std::string::npos);
  CHECK(conninfo.find("password='p w'") != std::string::npos);
  CHECK(conninfo.find("application_name='driftwatch'") != std::string::npos);
  CHECK(conninfo.find("evil") == std::string::npos);
  CHECK(conninfo.find("connect_timeout=3") != std::string::npos);
  CHECK(conninfo.find("-c default_transaction_read_only=on") != std::string::npos);
  CHECK(conninfo.find("-c statement_timeout=2500") != std::string::npos);
  CHECK(conninfo.find("-c lock_timeout=2000") != std::string::npos);
  CHECK(conninfo.find("-c search_path=") != std::string::npos);
  // Keepalives and tcp_user_timeout from the timeout: a dead peer is noticed in about 2.5 s.
  CHECK(conninfo.find("keepalives=1") != std::string::npos);
  CHECK(conninfo.find("keepalives_idle=1 ") != std::string::npos);
  CHECK(conninfo.find("keepalives_interval=1 ") != std::string::npos);
  CHECK(conninfo.find("keepalives_count=2") != std::string::npos);
  CHECK(conninfo.find("tcp_user_timeout=2500") != std::string::npos);
  // Without the server options (PgBouncer refuses them): the settings go in SET LOCAL instead.
  const std::string bare = build_session_conninfo("postgresql://u@h/app", options, false);
  CHECK(bare.find("options=") == std::string::npos);
  CHECK(bare.find("tcp_user_timeout=2500") != std::string::npos);
  CHECK(session_local_settings(options).find("'statement_timeout', '2500', true") !=
        std::string::npos);
  // The URL's own transport settings win.
  CHECK(build_session_conninfo("postgresql://u@h/app?tcp_user_timeout=9000", options)
            .find("tcp_user_timeout=2500") == std::string::npos);

  const std::string from_keywords =
      build_session_conninfo("host=/tmp dbname=app options='-c work_mem=64MB'", options);
  CHECK(from_keywords.find("host='/tmp'") != std::string::npos);
  // The caller's server options stay, ours follow (later -c wins).
  CHECK(from_keywords.find("options='-c work_mem=64MB -c default_transaction_read_only=on") !=
        std::string::npos);
}

TEST_CASE("libpq connection failures are classified and scrubbed") {
  const std::string endpoint = "db.example:5432/app";
  auto timeout = describe_connect_failure(
      "connection to server at \"10.0.0.1\", port 5432 failed: timeout expired\n", endpoint, 7,
      "hunter22");
  CHECK(timeout.reason == error_reason::kConnect);
  CHECK(timeout.message == "connection to db.example:5432/app timed out after 7s");

  auto dns = describe_connect_failure(
      "could not translate host name \"db.example\" to address: Name or service not known\n",
      endpoint, 5, "hunter22");
  CHECK(dns.reason == error_reason::kConnect);
  CHECK(dns.message == "unknown host db.example");

  // Auth wins over a refusal from another address of the same host name.
  auto auth = describe_connect_failure(
      "connection to server at \"localhost\" (::1), port 5432 failed: Connection refused\n"
      "connection to server at \"localhost\" (127.0.0.1), port 5432 failed: FATAL:  password "
      "authentication failed for user \"hunter22\"\n",
      endpoint, 5, "hunter22");
  CHECK(auth.reason == error_reason::kAuth);
  CHECK(auth.message == "password authentication failed for user \"***\"");

  auto no_password =
      describe_connect_failure("fe_sendauth: no password supplied\n", endpoint, 5, "");
  CHECK(no_password.reason == error_reason::kAuth);

  CHECK(clean_pg_message("ERROR:  x postgresql://u:topsecret@h/db y\nLINE 1: ...", "") ==
        "x postgresql://u:***@h/db y");
}

TEST_CASE("SQLSTATE -> reason") {
  CHECK(std::string(reason_for_sqlstate("28P01")) == error_reason::kAuth);
  CHECK(std::string(reason_for_sqlstate("28000")) == error_reason::kAuth);
  CHECK(std::string(reason_for_sqlstate("42501")) == error_reason::kPermission);
  CHECK(std::string(reason_for_sqlstate("57014")) == error_reason::kTimeout);
  CHECK(std::string(reason_for_sqlstate("55P03")) == error_reason::kTimeout);
  CHECK(std::string(reason_for_sqlstate("08006")) == error_reason::kConnect);
  CHECK(std::string(reason_for_sqlstate("57P01")) == error_reason::kConnect);
  CHECK(std::string(reason_for_sqlstate("42P01")) == error_reason::kQuery);
  CHECK(std::string(reason_for_sqlstate("")) == error_reason::kQuery);
}

TEST_CASE("constraint definitions lose the parts that are attributes of their own") {
  CHECK(strip_constraint_definition(
            "FOREIGN KEY (a) REFERENCES s.t(id) MATCH FULL ON UPDATE CASCADE ON DELETE SET NULL "
            "DEFERRABLE INITIALLY DEFERRED NOT VALID",
            true) == "FOREIGN KEY (a) REFERENCES s.t(id) MATCH FULL");
  CHECK(strip_constraint_definition("FOREIGN KEY (a) REFERENCES s.t(id) ON DELETE CASCADE", true) ==
        "FOREIGN KEY (a) REFERENCES s.t(id)");
  CHECK(strip_constraint_definition("UNIQUE (a) DEFERRABLE", false) == "UNIQUE (a)");
  CHECK(strip_constraint_definition("CHECK ((a > 0)) NOT VALID", false) == "CHECK ((a > 0))");
  // Only trailing clauses go: text inside the expression stays.
  CHECK(strip_constraint_definition("CHECK ((note <> ' ON DELETE '::text))", false) ==
        "CHECK ((note <> ' ON DELETE '::text))");
}
