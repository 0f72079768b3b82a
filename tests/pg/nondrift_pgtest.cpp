// Changes that are NOT drift (DESIGN.md "Not drift"): row data, statistics, maintenance,
// sequence values, physical column order, objects dropped and recreated identically, and SQL
// spellings that PostgreSQL stores identically. Each must produce no finding.
//
// The equal-spelling pairs below were verified against PostgreSQL 15 (pg_get_expr /
// format_type / pg_get_constraintdef print them identically); pairs that PostgreSQL stores
// differently (now() vs CURRENT_TIMESTAMP, (1 + 1) vs 2, '5'::bigint vs 5) are drift and
// serve as the negative control that shows the comparison is not vacuous.
#include <doctest/doctest.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "driftwatch/check.hpp"
#include "driftwatch/diff.hpp"
#include "pg/introspect.hpp"
#include "pg_test_support.hpp"
#include "warehouse_support.hpp"

namespace driftwatch {
namespace {

using pgtest::exec_sql;
using pgtest::run_alembic;
using pgtest::ScratchDatabase;
using pgtest::superuser_url;
using pgtest::unique_name;
using pgtest::url_for_database;

const ScratchDatabase& head_template() {
  static const std::unique_ptr<ScratchDatabase> head = [] {
    auto db = std::make_unique<ScratchDatabase>("dw_nondrift_head");
    if (run_alembic(db->url(), "upgrade head", "alembic-nondrift.err") != 0) {
      throw std::runtime_error("alembic upgrade head failed (see alembic-nondrift.err)");
    }
    return db;
  }();
  return *head;
}

// Compares everything the tool can compare, privileges and comments included.
IntrospectOptions full_options() {
  IntrospectOptions options;
  options.privileges = true;
  options.comments = true;
  return options;
}

DiffOptions full_diff() {
  DiffOptions options;
  options.compare_privileges = true;
  options.compare_comments = true;
  return options;
}

SchemaSnapshot introspect(const std::string& url) {
  LiveRead read = read_live_schema(url, full_options(), "nondrift");
  REQUIRE_FALSE(read.version.locked);
  return std::move(read.snapshot);
}

std::string render_all(const std::vector<Finding>& findings) {
  std::string out;
  for (const auto& f : findings) {
    out += f.kind + " " + to_string(f.object_type) + " " + f.object +
           (f.attribute.empty() ? "" : " [" + f.attribute + "]") + "\n";
  }
  return out;
}

const SchemaSnapshot& expected_head() {
  static const SchemaSnapshot snapshot = [] {
    ScratchDatabase copy("dw_nondrift_exp", head_template().name());
    return introspect(copy.url());
  }();
  return snapshot;
}

// Findings of the head schema against a copy of head changed by `statements`.
std::string findings_after(const std::vector<std::string>& statements) {
  const SchemaSnapshot& expected = expected_head();
  ScratchDatabase copy("dw_nondrift", head_template().name());
  copy.exec(statements);
  return render_all(diff_schemas(expected, introspect(copy.url()), full_diff()));
}

// Findings between two fresh databases built by different SQL.
std::string findings_between(const std::vector<std::string>& expected_sql,
                             const std::vector<std::string>& actual_sql) {
  ScratchDatabase expected_db("dw_nondrift_e");
  ScratchDatabase actual_db("dw_nondrift_a");
  expected_db.exec(expected_sql);
  actual_db.exec(actual_sql);
  return render_all(
      diff_schemas(introspect(expected_db.url()), introspect(actual_db.url()), full_diff()));
}

const std::vector<std::string> kSomeRows = {
    "INSERT INTO public.warehouse (code, name, capacity) VALUES ('STO1', 'Stockholm', 1000)",
    "INSERT INTO public.product (sku, name, unit_price) VALUES ('SKU-1', 'Blue widget', 9.90), "
    "('SKU-2', 'Red widget', 12.50)",
    "INSERT INTO public.customer (email, display_name) VALUES ('Ada@example.com', 'Ada')",
    "INSERT INTO public.orders (customer_id, total) SELECT id, 22.40 FROM public.customer",
    "INSERT INTO public.order_line (order_id, product_id, quantity, unit_price) "
    "SELECT o.id, p.id, 2, p.unit_price FROM public.orders o CROSS JOIN public.product p",
    "INSERT INTO public.stock_level (warehouse_id, product_id, quantity) "
    "SELECT w.id, p.id, 5 FROM public.warehouse w CROSS JOIN public.product p "
    "ON CONFLICT ON CONSTRAINT stock_level_warehouse_product_key "
    "DO UPDATE SET quantity = public.stock_level.quantity + EXCLUDED.quantity",
    "INSERT INTO public.stock_movement (warehouse_id, product_id, delta, moved_at) "
    "SELECT id, 1, 3, '2024-04-15' FROM public.warehouse",
    "INSERT INTO public.invoice (order_id, amount) SELECT id, total FROM public.orders",
    "INSERT INTO middleman.supplier (name, db_role) VALUES ('Acme', 'warehouse_feed_reader')",
    "INSERT INTO middleman.supplier_feed (supplier_id, sku, price) "
    "SELECT id, 'SKU-1', 9.00 FROM middleman.supplier",
};

}  // namespace

TEST_CASE("not drift: row data inserted, updated and deleted") {
  std::vector<std::string> statements = kSomeRows;
  statements.push_back("UPDATE public.product SET name = name || ' (new)'");  // fires the trigger
  statements.push_back("DELETE FROM public.order_line WHERE quantity > 1");
  CHECK(findings_after(statements) == "");
}

TEST_CASE("not drift: statistics and maintenance") {
  std::vector<std::string> statements = kSomeRows;
  for (const char* sql :
       {"ANALYZE", "VACUUM", "VACUUM (FULL) public.orders", "REINDEX TABLE public.orders",
        "REINDEX INDEX public.product_name_trgm_idx",
        "REFRESH MATERIALIZED VIEW public.daily_sales",
        "CLUSTER public.orders USING orders_pkey"}) {
    statements.emplace_back(sql);
  }
  CHECK(findings_after(statements) == "");
}

TEST_CASE("not drift: sequence values advanced") {
  CHECK(findings_after({"SELECT nextval('public.invoice_number_seq') FROM generate_series(1, 50)",
                        "SELECT setval('public.invoice_number_seq', 123456)",
                        "SELECT nextval(pg_get_serial_sequence('public.orders', 'id'))"}) == "");
}

TEST_CASE("not drift: index and constraints dropped and recreated identically") {
  CHECK(findings_after(
            {"DROP INDEX public.orders_customer_id_idx",
             "CREATE INDEX orders_customer_id_idx ON public.orders USING btree (customer_id) "
             "INCLUDE (status, created_at)",
             "DROP INDEX public.customer_email_lower_key",
             "CREATE UNIQUE INDEX customer_email_lower_key ON public.customer (lower(email))",
             "DROP INDEX public.product_name_trgm_idx",
             "CREATE INDEX product_name_trgm_idx ON public.product USING gin (name gin_trgm_ops)",
             "ALTER TABLE public.orders DROP CONSTRAINT orders_total_check",
             "ALTER TABLE public.orders ADD CONSTRAINT orders_total_check CHECK (total>=0)",
             "ALTER TABLE public.orders DROP CONSTRAINT orders_customer_id_fkey",
             "ALTER TABLE public.orders ADD CONSTRAINT orders_customer_id_fkey FOREIGN KEY "
             "(customer_id) REFERENCES public.customer(id) ON DELETE CASCADE",
             "ALTER TABLE public.stock_level DROP CONSTRAINT stock_level_warehouse_product_key",
             "ALTER TABLE public.stock_level ADD CONSTRAINT stock_level_warehouse_product_key "
             "UNIQUE (warehouse_id, product_id)"}) == "");
}

TEST_CASE("not drift: views, functions, triggers and policies recreated identically") {
  CHECK(findings_after(
            {// Different whitespace and line breaks: PostgreSQL stores the parsed query.
             "CREATE OR REPLACE VIEW public.open_orders AS SELECT o.id,o.customer_id,c.email,"
             "o.status,o.total,o.created_at FROM public.orders o JOIN public.customer c "
             "ON c.id=o.customer_id WHERE o.status IN ('pending','paid')",
             "DROP TRIGGER product_touch_updated_at ON public.product",
             "CREATE TRIGGER product_touch_updated_at BEFORE UPDATE ON public.product "
             "FOR EACH ROW EXECUTE PROCEDURE public.touch_updated_at()",
             "DROP POLICY supplier_feed_own_rows ON middleman.supplier_feed",
             "CREATE POLICY supplier_feed_own_rows ON middleman.supplier_feed AS PERMISSIVE "
             "FOR SELECT TO warehouse_feed_reader USING (supplier_id IN (SELECT s.id FROM "
             "middleman.supplier s WHERE s.db_role = current_user))"}) == "");
}

TEST_CASE("not drift: a table renamed away and back") {
  CHECK(findings_after({"ALTER TABLE public.orders RENAME TO orders_old",
                        "ALTER TABLE public.orders_old RENAME TO orders"}) == "");
}

TEST_CASE("not drift: physical column order") {
  // Expected (a, b, c); actual has b dropped and re-added, so its physical order is a, c, b.
  const std::vector<std::string> create = {"CREATE TABLE public.t (a integer, b text, c integer)"};
  std::vector<std::string> reordered = create;
  reordered.push_back("ALTER TABLE public.t DROP COLUMN b");
  reordered.push_back("ALTER TABLE public.t ADD COLUMN b text");
  CHECK(findings_between(create, reordered) == "");
  // The same on the warehouse: a column dropped and re-added with the same definition.
  CHECK(findings_after({"ALTER TABLE public.product DROP COLUMN description",
                        "ALTER TABLE public.product ADD COLUMN description text"}) == "");
}

TEST_CASE("not drift: type aliases and defaults PostgreSQL stores identically") {
  const std::vector<std::string> canonical = {
      "CREATE TABLE public.t ("
      "  a integer DEFAULT 0,"
      "  b character varying(10) DEFAULT 'x'::character varying,"
      "  c boolean DEFAULT true,"
      "  d timestamp with time zone,"
      "  e numeric(12,2) DEFAULT 1.50,"
      "  f double precision,"
      "  g bigint,"
      "  h text DEFAULT 'x',"
      "  i smallint,"
      "  j character(2),"
      "  CONSTRAINT t_a_check CHECK ((a > 0)))"};
  const std::vector<std::string> aliases = {
      "CREATE TABLE public.t ("
      "  a int4 DEFAULT '0'::integer,"
      "  b varchar(10) DEFAULT 'x',"
      "  c bool DEFAULT 't'::boolean,"
      "  d timestamptz,"
      "  e decimal(12,2) DEFAULT '1.50',"
      "  f float8,"
      "  g int8,"
      "  h text DEFAULT 'x'::text,"
      "  i int2,"
      "  j char(2),"
      "  CONSTRAINT t_a_check CHECK (a>0))"};
  CHECK(findings_between(canonical, aliases) == "");
}

TEST_CASE("negative control: spellings PostgreSQL stores differently are drift") {
  CHECK(findings_between({"CREATE TABLE public.t (d timestamptz DEFAULT now(), g integer "
                          "DEFAULT (1 + 1))"},
                         {"CREATE TABLE public.t (d timestamptz DEFAULT CURRENT_TIMESTAMP, g "
                          "integer DEFAULT 2)"}) ==
        "changed column public.t.d [default]\nchanged column public.t.g [default]\n");
  CHECK(findings_after({"ALTER TABLE public.product ALTER COLUMN description TYPE varchar(200)"}) ==
        "changed column public.product.description [type]\n");
}

}  // namespace driftwatch
