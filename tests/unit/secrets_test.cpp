// Secrets in connection strings: for every awkward password shape and every way of writing a
// URL, libpq gets exactly the password written, and no printed form (redacted URL, parse
// error, cleaned libpq message) contains it. Regressions of issue 15 ("Passwords leak").
#include <doctest/doctest.h>
#include <libpq-fe.h>

#include <cctype>
#include <string>
#include <vector>

#include "driftwatch/config.hpp"
#include "driftwatch/error.hpp"
#include "driftwatch/introspect.hpp"
#include "pg/errors.hpp"
#include "pg/session.hpp"

namespace driftwatch {
namespace {

// Password shapes people really write (issue 15): an invalid % escape, unescaped @ : / and
// spaces, quotes, 1-3 characters, unicode.
const std::vector<std::string> kPasswords = {
    "100%sure",   "p@ss",      "p@ss@word",   "a:b:c", "pa/ss",       "a@b/c",
    "with space", "qu'ote\"s", "back\\slash", "x",     "ab",          "x9z",
    "päßwörd",    "日本語",    "a?b#c",       "%zz%",  "s3cr3t-P4ss!"};

// The URL forms that reach libpq: every scheme spelling, the password raw (as typed).
std::vector<std::string> url_forms(const std::string& password) {
  return {"postgresql://app:" + password + "@db.internal:5432/warehouse",
          "postgres://app:" + password + "@db.internal/warehouse?sslmode=disable",
          "POSTGRESQL://app:" + password + "@db.internal/warehouse",
          "postgresql+psycopg2://app:" + password + "@db.internal/warehouse",
          "postgresql+asyncpg://app:" + password + "@db.internal:5433/warehouse"};
}

std::string conninfo_quote(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\\' || c == '\'') out += '\\';
    out += c;
  }
  return out + "'";
}

// The password libpq reads from the conninfo driftwatch builds.
std::string libpq_password(const std::string& url) {
  IntrospectOptions options;
  const std::string conninfo = build_session_conninfo(url, options);
  char* error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(conninfo.c_str(), &error);
  if (error != nullptr) PQfreemem(error);
  REQUIRE(parsed != nullptr);
  std::string password;
  std::string host;
  for (PQconninfoOption* o = parsed; o->keyword != nullptr; ++o) {
    if (o->val != nullptr && std::string(o->keyword) == "password") password = o->val;
    if (o->val != nullptr && std::string(o->keyword) == "host") host = o->val;
  }
  PQconninfoFree(parsed);
  CHECK(host == "db.internal");
  return password;
}

// Whether `text` shows the password: anywhere for 4+ characters, for shorter ones where it
// stands alone (a 2-letter password is inside many ordinary words).
bool leaks(const std::string& text, const std::string& password) {
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  for (auto pos = text.find(password); pos != std::string::npos;
       pos = text.find(password, pos + 1)) {
    const auto end = pos + password.size();
    if (password.size() >= 4 ||
        ((pos == 0 || !word(text[pos - 1])) && (end == text.size() || !word(text[end])))) {
      return true;
    }
  }
  return false;
}

}  // namespace

TEST_CASE("every password shape in every URL form: libpq gets it whole, printing masks it") {
  for (const std::string& password : kPasswords) {
    for (const std::string& url : url_forms(password)) {
      CAPTURE(url);
      CHECK(is_database_url(url));
      CHECK(libpq_password(url) == password);
      const std::string shown = redact_url(url);
      CHECK(shown.find("***") != std::string::npos);
      CHECK_FALSE(leaks(shown, password));
      // Short passwords: the text before the host is exactly "scheme://app:***@".
      CHECK(shown.find("app:***@db.internal") != std::string::npos);
      // The same URL quoted inside a message (as libpq or a snapshot error would) is masked.
      const std::string message = "cannot read snapshot file " + url + ": not found";
      CHECK(redact_url(message).find("app:***@db.internal") != std::string::npos);
    }
    const std::string conninfo =
        "host=db.internal user=app password=" + conninfo_quote(password) + " dbname=warehouse";
    CAPTURE(conninfo);
    CHECK(libpq_password(conninfo) == password);
    CHECK(redact_url(conninfo) == "host=db.internal user=app password=*** dbname=warehouse");
    const std::string query = "postgresql://db.internal/warehouse?user=app&password=" + password;
    if (password.find_first_of("&#%") == std::string::npos) {
      CHECK(redact_url(query) == "postgresql://db.internal/warehouse?user=app&password=***");
    }
  }
}

TEST_CASE("URL-like text that is not a libpq URL is still masked when printed") {
  CHECK(redact_url("postgresql:/app:pw@db/x") == "postgresql:/app:***@db/x");
  CHECK(redact_url("cannot read snapshot file postgresql:/app:a@db/x: No such file") ==
        "cannot read snapshot file postgresql:/app:***@db/x: No such file");
  CHECK(redact_url("postgresq://app:a1@db/x") == "postgresq://app:***@db/x");
  CHECK_FALSE(is_database_url("postgresql:/app:pw@db/x"));
  CHECK_FALSE(is_database_url("mysql://app:pw@db/x"));
  CHECK(is_database_url("Postgres+pg8000://app@db/x"));
}

TEST_CASE("libpq's parse error detail is never forwarded") {
  for (const std::string& password : kPasswords) {
    // Invalid conninfo: an unterminated quote right after the password.
    const std::string bad = "host=db user=app password='" + password;
    CAPTURE(bad);
    try {
      (void)build_session_conninfo(bad, IntrospectOptions{});
      FAIL("accepted");
    } catch (const Error& e) {
      CHECK_FALSE(leaks(e.what(), password));
    }
  }
}

TEST_CASE("a short password is masked where it stands alone in a libpq message") {
  CHECK(clean_pg_message("could not translate host name \"ab\" to address", "ab") ==
        "could not translate host name \"***\" to address");
  // Inside longer words it stays (no way to tell it from ordinary text).
  CHECK(clean_pg_message("FATAL:  database \"abc\" does not exist", "ab") ==
        "database \"abc\" does not exist");
}

TEST_CASE("normalize_database_url leaves correct URLs alone") {
  for (const char* url :
       {"postgresql://app:s%40cret@db/x", "postgresql://db:5432/x?sslmode=require",
        "postgresql:///x?host=/run/postgresql", "postgresql://app@h1:5432,h2:5433/x",
        "host=db user=app", "/path/to/snapshot.json"}) {
    CAPTURE(url);
    CHECK(normalize_database_url(url) == url);
  }
  // A valid escape keeps its meaning: %41 is "A".
  CHECK(libpq_password("postgresql://app:%41@db.internal/x") == "A");
  CHECK(normalize_database_url("postgres://a:b@h/x") == "postgresql://a:b@h/x");
}

}  // namespace driftwatch
