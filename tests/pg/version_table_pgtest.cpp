// read_version_table against a real PostgreSQL: absent, empty, one and two rows, a custom
// table, and the `migrating` detection (locks held by another session).
#include <doctest/doctest.h>

#include <chrono>

#include "driftwatch/error.hpp"
#include "pg/introspect.hpp"
#include "pg/session.hpp"
#include "pg/version_table.hpp"
#include "pg_test_support.hpp"

using namespace driftwatch;

namespace {

const char* const kCreateVersionTable =
    "CREATE TABLE public.alembic_version (version_num varchar(32) NOT NULL, "
    "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))";

IntrospectOptions options_for(const std::string& schema = "public",
                              const std::string& table = "alembic_version") {
  IntrospectOptions options;
  options.version_table_schema = schema;
  options.version_table = table;
  options.timeout = std::chrono::seconds(10);
  return options;
}

VersionTableRead read(const std::string& url, const IntrospectOptions& options) {
  PgSession session(url, options);
  return read_version_table(session, options);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TEST_CASE("version table absent") {
  pgtest::TempDatabase db;
  const VersionTableRead r = read(db.url(), options_for());
  CHECK_FALSE(r.exists);
  CHECK(r.rows.empty());
  CHECK_FALSE(r.locked);
}

TEST_CASE("version table empty, one row, two rows (sorted)") {
  pgtest::TempDatabase db;
  db.exec(kCreateVersionTable);
  VersionTableRead r = read(db.url(), options_for());
  CHECK(r.exists);
  CHECK(r.rows.empty());
  CHECK_FALSE(r.locked);

  db.exec("INSERT INTO public.alembic_version VALUES ('0003_c')");
  r = read(db.url(), options_for());
  CHECK(r.rows == std::vector<std::string>{"0003_c"});

  db.exec("INSERT INTO public.alembic_version VALUES ('0002_b')");
  r = read(db.url(), options_for());
  CHECK(r.rows == std::vector<std::string>{"0002_b", "0003_c"});
  CHECK_FALSE(r.locked);

  // The snapshot carries the same rows; the table itself is not an object of the schema.
  PgSession session(db.url(), options_for());
  const SchemaSnapshot snapshot = introspect_schema(session, options_for());
  CHECK(snapshot.has_version_table);
  CHECK(snapshot.alembic_version == std::vector<std::string>{"0002_b", "0003_c"});
  CHECK(snapshot.find(ObjectType::kTable, "public.alembic_version") == nullptr);
  CHECK(snapshot.find(ObjectType::kColumn, "public.alembic_version.version_num") == nullptr);
}

TEST_CASE("custom version table name and schema") {
  pgtest::TempDatabase db;
  db.exec(kCreateVersionTable);
  db.exec(
      "INSERT INTO public.alembic_version VALUES ('public_rev');"
      "CREATE SCHEMA \"Meta\";"
      "CREATE TABLE \"Meta\".\"Versions\" (version_num varchar(32) PRIMARY KEY);"
      "INSERT INTO \"Meta\".\"Versions\" VALUES ('meta_rev')");
  const VersionTableRead custom = read(db.url(), options_for("Meta", "Versions"));
  CHECK(custom.exists);
  CHECK(custom.rows == std::vector<std::string>{"meta_rev"});
  const VersionTableRead other_name = read(db.url(), options_for("public", "versions"));
  CHECK_FALSE(other_name.exists);

  // With a custom version table, public.alembic_version is an ordinary table.
  PgSession session(db.url(), options_for("Meta", "Versions"));
  const SchemaSnapshot snapshot = introspect_schema(session, options_for("Meta", "Versions"));
  CHECK(snapshot.alembic_version == std::vector<std::string>{"meta_rev"});
  CHECK(snapshot.find(ObjectType::kTable, "public.alembic_version") != nullptr);
  CHECK(snapshot.find(ObjectType::kTable, "Meta.Versions") == nullptr);
}

TEST_CASE("a migration holding ACCESS EXCLUSIVE on alembic_version -> locked, quickly") {
  pgtest::TempDatabase db;
  db.exec(kCreateVersionTable);
  db.exec("INSERT INTO public.alembic_version VALUES ('0001_a')");
  pqxx::connection migration(db.url());
  pqxx::work migration_tx(migration);
  migration_tx.exec("LOCK TABLE public.alembic_version IN ACCESS EXCLUSIVE MODE");

  const auto started = std::chrono::steady_clock::now();
  const VersionTableRead r = read(db.url(), options_for());
  CHECK(r.exists);
  CHECK(r.locked);
  CHECK(r.rows.empty());
  CHECK(seconds_since(started) < 1.0);  // well below lock_timeout: pg_locks never blocks

  // The one-shot read reports it without touching the catalog functions that would block.
  const LiveRead live = read_live_schema(db.url(), options_for());
  CHECK(live.version.locked);
  CHECK(live.snapshot.objects.empty());
  CHECK(live.queries == 1);

  migration_tx.abort();
  CHECK_FALSE(read(db.url(), options_for()).locked);
}

TEST_CASE("an UPDATE of alembic_version in an open transaction -> locked") {
  pgtest::TempDatabase db;
  db.exec(kCreateVersionTable);
  db.exec("INSERT INTO public.alembic_version VALUES ('0001_a')");
  pqxx::connection migration(db.url());
  pqxx::work migration_tx(migration);
  migration_tx.exec("UPDATE public.alembic_version SET version_num = '0002_b'");
  CHECK(read(db.url(), options_for()).locked);
}

TEST_CASE("DDL on a watched table in an open transaction -> locked; elsewhere -> not") {
  pgtest::TempDatabase db;
  db.exec(kCreateVersionTable);
  db.exec(
      "INSERT INTO public.alembic_version VALUES ('0001_a');"
      "CREATE TABLE public.t (id int); CREATE SCHEMA other; CREATE TABLE other.t (id int)");
  IntrospectOptions public_only = options_for();
  public_only.schemas = {"public"};

  SUBCASE("watched table") {
    pqxx::connection migration(db.url());
    pqxx::work migration_tx(migration);
    migration_tx.exec("ALTER TABLE public.t ADD COLUMN x int");
    const VersionTableRead r = read(db.url(), public_only);
    CHECK(r.locked);
  }
  SUBCASE("table outside the watched schemas") {
    pqxx::connection migration(db.url());
    pqxx::work migration_tx(migration);
    migration_tx.exec("ALTER TABLE other.t ADD COLUMN x int");
    const VersionTableRead r = read(db.url(), public_only);
    CHECK_FALSE(r.locked);
    CHECK(r.rows == std::vector<std::string>{"0001_a"});
  }
}

TEST_CASE("readers of alembic_version (another driftwatch, the app) do not mean migrating") {
  pgtest::TempDatabase db;
  db.exec(kCreateVersionTable);
  db.exec("INSERT INTO public.alembic_version VALUES ('0001_a')");
  // Another driftwatch in the middle of its check: it holds AccessShareLock.
  PgSession other(db.url(), options_for());
  REQUIRE(read_version_table(other, options_for()).rows.size() == 1);
  const VersionTableRead r = read(db.url(), options_for());
  CHECK_FALSE(r.locked);
  CHECK(r.rows == std::vector<std::string>{"0001_a"});
}
