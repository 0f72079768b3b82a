// What a check may cost the database it watches and how long it may take, against real servers:
// the whole-check deadline with a stalled backend, no lock queue behind a check on a large
// schema, connection errors classified by SQLSTATE on a server speaking German, and a target
// behind a real PgBouncer in transaction pooling mode.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <string>
#include <thread>

#include "driftwatch/check.hpp"
#include "driftwatch/error.hpp"
#include "pg/introspect.hpp"
#include "pg/session.hpp"
#include "pg_test_support.hpp"

using namespace driftwatch;

namespace {

using pgtest::error_of;
using pgtest::free_port;

// A directory under /tmp the postgres OS user can read (servers drop root privileges).
std::string shared_temp_dir(const std::string& prefix) {
  std::string pattern = "/tmp/" + prefix + ".XXXXXX";
  REQUIRE(::mkdtemp(pattern.data()) != nullptr);
  ::chmod(pattern.c_str(), 0777);
  return pattern;
}

// A PgBouncer (Debian's /usr/sbin/pgbouncer) on a free 127.0.0.1 port in transaction pooling
// mode in front of the test cluster; clients connect without a password (auth_type = any),
// PgBouncer logs in to PostgreSQL as the superuser.
class PgBouncer {
 public:
  PgBouncer() : dir_(shared_temp_dir("dw-pgbouncer")), port_(free_port()) {
    const auto server = pgtest::parse_url(pgtest::superuser_url());
    const std::string ini = dir_ + "/pgbouncer.ini";
    {
      std::ofstream out(ini);
      out << "[databases]\n* = host=" << server.host << " port=" << server.port
          << " user=" << server.user << " password=" << server.password << "\n"
          << "[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = " << port_
          << "\nauth_type = any\npool_mode = transaction\nunix_socket_dir =\n"
          << "logfile = " << dir_ << "/pgbouncer.log\n";
    }
    ::chmod(ini.c_str(), 0644);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      if (::getuid() == 0) {  // PgBouncer refuses to run as root
        ::execl("/usr/sbin/pgbouncer", "pgbouncer", "-q", "-u", "postgres", ini.c_str(), nullptr);
      } else {
        ::execl("/usr/sbin/pgbouncer", "pgbouncer", "-q", ini.c_str(), nullptr);
      }
      ::_exit(127);
    }
    // Ready when it accepts a query.
    for (int attempt = 0; attempt < 100; ++attempt) {
      try {
        pgtest::first_value(url("postgres"), "SELECT 1");
        return;
      } catch (const std::exception&) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
    FAIL("pgbouncer did not start; see " << dir_ << "/pgbouncer.log");
  }
  ~PgBouncer() {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
    std::remove((dir_ + "/pgbouncer.ini").c_str());
    std::remove((dir_ + "/pgbouncer.log").c_str());
    ::rmdir(dir_.c_str());
  }
  PgBouncer(const PgBouncer&) = delete;
  PgBouncer& operator=(const PgBouncer&) = delete;

  std::string url(const std::string& dbname) const {
    return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" + dbname;
  }

 private:
  std::string dir_;
  int port_;
  pid_t pid_ = -1;
};

// A cluster of its own (tests/harness/pg_cluster.sh), for server-wide settings that must not
// leak into the other tests.
class TempCluster {
 public:
  TempCluster() : dir_(shared_temp_dir("dw-cluster")) {
    const std::string command =
        std::string(DRIFTWATCH_HARNESS_DIR) + "/pg_cluster.sh start " + dir_ + " >/dev/null";
    REQUIRE(std::system(command.c_str()) == 0);
    std::ifstream in(dir_ + "/url");
    std::getline(in, url_);
  }
  ~TempCluster() {
    const std::string command =
        std::string(DRIFTWATCH_HARNESS_DIR) + "/pg_cluster.sh stop " + dir_ + " >/dev/null";
    if (std::system(command.c_str()) != 0) {
      MESSAGE("could not stop the cluster in " << dir_);
    }
  }
  const std::string& url() const { return url_; }
  // The cluster URL with another user, password and database.
  std::string url_as(const std::string& user, const std::string& password,
                     const std::string& dbname) const {
    auto parts = pgtest::parse_url(url_);
    parts.user = user;
    parts.password = password;
    parts.dbname = dbname;
    return pgtest::make_url(parts);
  }

 private:
  std::string dir_;
  std::string url_;
};

}  // namespace

TEST_CASE("a backend that stops answering mid-check: timeout at the deadline, not a hang") {
  pgtest::TempDatabase db;
  IntrospectOptions options;
  options.timeout = std::chrono::seconds(2);
  PgSession session(db.url(), options, "stalled");
  const int pid = session.backend_pid();
  session.query("SELECT 1");
  // The backend process is stopped: the server neither answers nor runs statement_timeout.
  REQUIRE(::kill(pid, SIGSTOP) == 0);
  auto read = std::async(std::launch::async, [&session] {
    try {
      session.query("SELECT count(*) FROM pg_catalog.pg_class");
    } catch (const Error& error) {
      return error;
    }
    return Error("", "no error");
  });
  // Generous bound so that the old code (no deadline) fails here instead of hanging the test.
  const bool returned = read.wait_for(std::chrono::seconds(15)) == std::future_status::ready;
  ::kill(pid, SIGCONT);
  REQUIRE_MESSAGE(returned, "the query did not return at the check's deadline");
  const Error error = read.get();
  CHECK(error.reason() == error_reason::kTimeout);
  CHECK(std::string(error.what()).find("timeout of 2s") != std::string::npos);
  // The session stays unusable, and says why.
  CHECK(error_of([&] { session.query("SELECT 1"); }).reason() == error_reason::kTimeout);
}

TEST_CASE("the deadline covers connect + all queries, across statements") {
  pgtest::TempDatabase db;
  IntrospectOptions options;
  options.timeout = std::chrono::milliseconds(1500);  // statement_timeout 1.5s per statement
  PgSession session(db.url(), options, "slow");
  session.query("SELECT pg_sleep(0.9)");
  // Each statement is under statement_timeout; together they exceed the check's timeout.
  const Error error = error_of([&] { session.query("SELECT pg_sleep(0.9)"); });
  CHECK(error.reason() == error_reason::kTimeout);
  CHECK(std::string(error.what()).find("timeout of 1500ms") != std::string::npos);
}

TEST_CASE(
    "no lock queue: an ALTER TABLE does not wait for a check of a 10,000-table schema with "
    "2,000 views") {
  pgtest::TempDatabase db;
  db.exec(
      "DO $$ BEGIN FOR i IN 1..10000 LOOP EXECUTE format('CREATE TABLE t%s (id int, a text, b "
      "int, c timestamptz, d numeric)', i); END LOOP; END $$;"
      "CREATE TABLE hot (id int); CREATE VIEW hot_view AS SELECT id FROM hot;"
      // Every view's deparse locks `hot` (pg_get_viewdef takes AccessShareLock on the relations
      // a view reads, until its subtransaction ends).
      "DO $$ BEGIN FOR i IN 1..2000 LOOP EXECUTE format('CREATE VIEW v%s AS SELECT id, %s AS n "
      "FROM hot', i, i); END LOOP; END $$;"
      "CREATE FUNCTION hot_count() RETURNS bigint LANGUAGE sql BEGIN ATOMIC SELECT count(*) FROM "
      "hot; END;"
      "CREATE TABLE public.alembic_version (version_num varchar(32) PRIMARY KEY);"
      "INSERT INTO public.alembic_version VALUES ('abc')");
  IntrospectOptions options;
  options.timeout = std::chrono::seconds(60);
  std::atomic<bool> done{false};
  const auto check_started = std::chrono::steady_clock::now();
  auto check = std::async(std::launch::async, [&] {
    struct MarkDone {
      std::atomic<bool>& done;
      ~MarkDone() { done = true; }
    } mark{done};
    return read_live_schema(db.url(), options, "big");
  });
  // Throughout the check: a lock on a relation of the application is held only by the
  // statements that release it at once (the deparse batches and the version table read, each in
  // a savepoint). Seen twice during the same other statement, it would be held to the end.
  std::string held_across;
  std::thread sampler([&] {
    pqxx::connection watcher(db.url());
    std::map<std::string, int> sightings;  // pid + query_start -> samples showing a lock
    while (!done && held_across.empty()) {
      pqxx::nontransaction tx(watcher);
      const pqxx::result rows = tx.exec(
          "SELECT a.pid || ' ' || a.query_start, left(a.query, 80), "
          "string_agg(c.relname || ' ' || l.mode, ', ') "
          "FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
          "JOIN pg_stat_activity a ON a.pid = l.pid "
          "WHERE a.application_name = 'driftwatch' AND l.granted "
          "AND c.relnamespace = 'public'::regnamespace "
          "AND a.query !~ '(pg_get_viewdef|pg_get_functiondef|version_num)' "
          "GROUP BY 1, 2");
      for (const auto& row : rows) {
        if (++sightings[row[0].c_str()] == 2) {
          held_across = std::string(row[2].c_str()) + " during: " + row[1].c_str();
        }
      }
    }
  });
  struct Join {
    std::thread& thread;
    ~Join() {
      if (thread.joinable()) thread.join();  // ends with the check, even after a failed REQUIRE
    }
  } join_sampler{sampler};
  // Wait until the check has read the view definitions (pg_get_viewdef locked `hot` and the
  // view) and the version table, and is on to the columns.
  pqxx::connection observer(db.url());
  bool seen = false;
  while (!seen && !done) {
    pqxx::nontransaction tx(observer);
    seen = tx.exec(
                 "SELECT 1 FROM pg_stat_activity WHERE application_name = 'driftwatch' "
                 "AND state = 'active' AND query LIKE '%SELECT c.oid, a.attnum%'")
               .size() > 0;
  }
  REQUIRE_MESSAGE(seen, "the check ended before the columns query was seen");
  // What the check holds now, on tables of the application.
  std::string held;
  {
    pqxx::nontransaction tx(observer);
    held = tx.exec(
                 "SELECT coalesce(string_agg(c.relname || ' ' || l.mode, ', '), '') "
                 "FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                 "JOIN pg_stat_activity a ON a.pid = l.pid "
                 "WHERE a.application_name = 'driftwatch' AND c.relnamespace = "
                 "'public'::regnamespace")[0][0]
               .c_str();
  }
  CHECK_MESSAGE(held.empty(), "the check holds: " << held);
  // A migration's ALTER (no lock_timeout: it would queue, and the application behind it) ...
  pqxx::connection migration(db.url());
  const auto alter_started = std::chrono::steady_clock::now();
  {
    pqxx::work tx(migration);
    tx.exec("SET lock_timeout = 0");
    tx.exec("ALTER TABLE hot ADD COLUMN added int");
    tx.exec("ALTER TABLE public.alembic_version ALTER COLUMN version_num TYPE varchar(64)");
    tx.commit();
  }
  const auto alter_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - alter_started).count();
  // ... went through while the check's transaction is still open.
  int open = 0;
  {
    pqxx::nontransaction tx(observer);
    open = tx.exec(
                 "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'driftwatch' "
                 "AND xact_start IS NOT NULL")[0][0]
               .as<int>();
  }
  const bool finished_first = done.load();
  CHECK_MESSAGE(!finished_first, "the ALTER had to wait until the check was over");
  CHECK(open >= 1);
  // The view definitions: read in short batches, so another ALTER of `hot` (which every view
  // reads) goes through between two batches and the check goes on deparsing views after it.
  auto deparsing = [&] {
    pqxx::nontransaction tx(observer);
    return tx.exec(
                 "SELECT 1 FROM pg_stat_activity WHERE application_name = 'driftwatch' "
                 "AND state = 'active' AND query LIKE '%pg_get_viewdef%'")
               .size() > 0;
  };
  bool deparse_seen = false;
  while (!deparse_seen && !done) {
    deparse_seen = deparsing();
  }
  REQUIRE_MESSAGE(deparse_seen, "no view definitions were read after the columns");
  {
    pqxx::work tx(migration);
    tx.exec("SET lock_timeout = 0");
    tx.exec("ALTER TABLE hot ADD COLUMN added_again int");
    tx.commit();
  }
  bool deparse_after_alter = false;
  while (!deparse_after_alter && !done) {
    deparse_after_alter = deparsing();
  }
  CHECK_MESSAGE(deparse_after_alter, "the ALTER waited until every view definition was read");
  const LiveRead read = check.get();
  sampler.join();
  CHECK_MESSAGE(held_across.empty(), "a lock outlived its statement: " << held_across);
  const auto check_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - check_started).count();
  MESSAGE("the ALTERs took " << alter_seconds << " s (lock wait included) during a check of "
                             << check_seconds << " s");
  CHECK(read.snapshot.find(ObjectType::kView, "public.hot_view") != nullptr);
  const SchemaObject* last_view = read.snapshot.find(ObjectType::kView, "public.v2000");
  REQUIRE(last_view != nullptr);
  CHECK(last_view->attrs.at("definition").find("2000 AS n") != std::string::npos);
  const SchemaObject* function = read.snapshot.find(ObjectType::kFunction, "public.hot_count()");
  REQUIRE(function != nullptr);
  CHECK(function->attrs.count("sql_body") == 1);
  CHECK(read.snapshot.objects.size() > 50000);
}

TEST_CASE("connection errors are classified by SQLSTATE, whatever the server's language") {
  TempCluster cluster;
  pgtest::exec_sql(cluster.url(), "ALTER SYSTEM SET lc_messages = 'de_DE.UTF-8'");
  pgtest::exec_sql(cluster.url(), "SELECT pg_reload_conf()");
  // The reload reaches new backends at once; wait until one answers in German.
  for (int i = 0; i < 50; ++i) {
    try {
      pgtest::first_value(cluster.url(), "SELECT 1/0");
    } catch (const std::exception& e) {
      if (std::string(e.what()).find("Division durch Null") != std::string::npos) {
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  REQUIRE_MESSAGE(pgtest::first_value(cluster.url(), "SHOW lc_messages") == "de_DE.UTF-8",
                  "locale de_DE.UTF-8 missing: run scripts/install-deps.sh");
  pgtest::exec_sql(cluster.url(), "CREATE ROLE dwnoconnect LOGIN PASSWORD 'pw-noconnect'");
  pgtest::exec_sql(cluster.url(), "CREATE DATABASE closed");
  pgtest::exec_sql(cluster.url(), "REVOKE CONNECT ON DATABASE closed FROM PUBLIC");
  IntrospectOptions options;
  options.timeout = std::chrono::seconds(5);

  {  // wrong password -> auth (28P01)
    const Error error = error_of(
        [&] { PgSession s(cluster.url_as("postgres", "wrong-pw-1234", "postgres"), options); });
    CAPTURE(std::string(error.what()));
    CHECK(error.reason() == error_reason::kAuth);
    CHECK(error.sqlstate() == "28P01");
    CHECK(std::string(error.what()).find("Passwort") != std::string::npos);  // German text
    CHECK(std::string(error.what()).find("wrong-pw-1234") == std::string::npos);
  }
  {  // unknown role -> auth (28P01 or 28000)
    const Error error = error_of(
        [&] { PgSession s(cluster.url_as("nobody_dw", "pw-x-y-z", "postgres"), options); });
    CAPTURE(std::string(error.what()));
    CHECK(error.reason() == error_reason::kAuth);
  }
  {  // role without CONNECT on the database -> permission (42501)
    const Error error = error_of(
        [&] { PgSession s(cluster.url_as("dwnoconnect", "pw-noconnect", "closed"), options); });
    CAPTURE(std::string(error.what()));
    CHECK(error.reason() == error_reason::kPermission);
    CHECK(error.sqlstate() == "42501");
    CHECK(std::string(error.what()).find("pw-noconnect") == std::string::npos);
  }
  {  // database that does not exist -> connect (3D000)
    const Error error = error_of([&] {
      PgSession s(
          cluster.url_as("postgres", pgtest::parse_url(cluster.url()).password, "no_such_db"),
          options);
    });
    CAPTURE(std::string(error.what()));
    CHECK(error.reason() == error_reason::kConnect);
  }
}

TEST_CASE("behind PgBouncer (transaction pooling): the session settings hold") {
  pgtest::TempDatabase db;
  db.exec(
      "CREATE TABLE item (id int PRIMARY KEY, label text); CREATE INDEX item_label ON item "
      "(label); CREATE VIEW item_view AS SELECT id FROM item;"
      "CREATE TABLE public.alembic_version (version_num varchar(32) PRIMARY KEY);"
      "INSERT INTO public.alembic_version VALUES ('abc')");
  PgBouncer bouncer;
  IntrospectOptions options;
  options.timeout = std::chrono::seconds(3);
  options.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);

  SUBCASE("settings in force inside the check's transaction") {
    PgSession session(bouncer.url(db.name()), options, "bounced");
    const auto rows = session.query(
        "SELECT current_setting('statement_timeout'), current_setting('lock_timeout'), "
        "current_setting('search_path'), current_setting('transaction_read_only'), "
        "current_setting('transaction_isolation'), current_setting('application_name')");
    REQUIRE(rows.size() == 1);
    CHECK(rows[0][0].value() == "3s");
    CHECK(rows[0][1].value() == "2s");
    CHECK(rows[0][2].value() == "");
    CHECK(rows[0][3].value() == "on");
    CHECK(rows[0][4].value() == "repeatable read");
    CHECK(rows[0][5].value() == "driftwatch");
  }
  SUBCASE("a statement over statement_timeout is cancelled by the server") {
    PgSession session(bouncer.url(db.name()), options, "bounced");
    const Error error = error_of([&] { session.query("SELECT pg_sleep(10)"); });
    CHECK(error.reason() == error_reason::kTimeout);
    CHECK(error.sqlstate() == "57014");
  }
  SUBCASE("a whole check, on two connections in one exported snapshot") {
    options.second_connection_min_tables = 1;
    const LiveRead direct = read_live_schema(db.url(), options, "direct");
    const LiveRead bounced = read_live_schema(bouncer.url(db.name()), options, "bounced");
    CHECK(bounced.version.rows == std::vector<std::string>{"abc"});
    CHECK(bounced.snapshot.objects.size() == direct.snapshot.objects.size());
    CHECK(bounced.snapshot.find(ObjectType::kIndex, "public.item_label") != nullptr);
    CHECK(bounced.snapshot.find(ObjectType::kView, "public.item_view") != nullptr);
  }
}
