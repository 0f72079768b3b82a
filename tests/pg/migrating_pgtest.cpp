// Who holds the lock that defers a check: a migration (it has the version table open, as Alembic
// has) or anything else (an ETL's TRUNCATE), with the holder's application_name and statement.
#include <doctest/doctest.h>

#include <chrono>
#include <pqxx/pqxx>

#include "pg/session.hpp"
#include "pg/version_table.hpp"
#include "pg_test_support.hpp"

using namespace driftwatch;

namespace {

IntrospectOptions options() {
  IntrospectOptions o;
  o.timeout = std::chrono::seconds(10);
  o.schemas = {"public"};
  return o;
}

VersionTableRead read(const std::string& url) {
  PgSession session(url, options());
  return read_version_table(session, options());
}

bool mentions(const std::vector<std::string>& evidence, const std::string& needle) {
  for (const auto& e : evidence) {
    if (e.find(needle) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("a migration: alembic_version read, then DDL in the same transaction") {
  pgtest::TempDatabase db;
  db.exec(
      "CREATE TABLE public.alembic_version (version_num varchar(32) PRIMARY KEY);"
      "INSERT INTO public.alembic_version VALUES ('0001_a'); CREATE TABLE public.t (id int)");
  pqxx::connection migration(db.url() + "?application_name=alembic");
  pqxx::work tx(migration);
  tx.exec("SELECT version_num FROM public.alembic_version");
  tx.exec("ALTER TABLE public.t ADD COLUMN slow int");
  const VersionTableRead r = read(db.url());
  CHECK(r.locked);
  CHECK(r.by_migration);
  CHECK(mentions(r.lock_evidence, "application_name 'alembic'"));
  CHECK(mentions(r.lock_evidence, "AccessExclusiveLock on public.t"));
  CHECK(mentions(r.lock_evidence, "ALTER TABLE public.t ADD COLUMN slow int"));
}

TEST_CASE("an ETL's TRUNCATE defers the check but is not a migration") {
  pgtest::TempDatabase db;
  db.exec(
      "CREATE TABLE public.alembic_version (version_num varchar(32) PRIMARY KEY);"
      "INSERT INTO public.alembic_version VALUES ('0001_a'); CREATE TABLE public.facts (id int)");
  pqxx::connection etl(db.url() + "?application_name=nightly-etl");
  pqxx::work tx(etl);
  tx.exec("TRUNCATE public.facts");
  const VersionTableRead r = read(db.url());
  CHECK(r.locked);
  CHECK_FALSE(r.by_migration);
  CHECK(mentions(r.lock_evidence, "application_name 'nightly-etl'"));
  CHECK(mentions(r.lock_evidence, "TRUNCATE public.facts"));
}
