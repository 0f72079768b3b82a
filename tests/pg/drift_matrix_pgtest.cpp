// The drift matrix: for every object type, a missing, an extra and a changed object applied by
// SQL to a copy of a database that real Alembic migrated to head (tests/fixtures/warehouse),
// introspected by the pg adapter and diffed against the untouched head. Each case asserts the
// exact set of findings (kind, object_type, object, attribute, severity, risk).
//
// One database is migrated per process; every case copies it with CREATE DATABASE ... TEMPLATE
// (a file copy, far cheaper than replaying the migrations).
#include <doctest/doctest.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "convergence_support.hpp"
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

const std::string kHead = "0011_invoices";

// The warehouse project migrated to head once per process; never connected to after that, so
// it stays usable as a template.
const ScratchDatabase& head_template() {
  static const std::unique_ptr<ScratchDatabase> head = [] {
    auto db = std::make_unique<ScratchDatabase>("dw_matrix_head");
    if (run_alembic(db->url(), "upgrade head", "alembic-matrix.err") != 0) {
      throw std::runtime_error("alembic upgrade head failed (see alembic-matrix.err)");
    }
    return db;
  }();
  return *head;
}

IntrospectOptions options_for(bool all_schemas = false, bool privileges = false,
                              bool comments = false) {
  IntrospectOptions options;
  if (!all_schemas) options.schemas = {"public", "middleman"};
  options.privileges = privileges;
  options.comments = comments;
  options.timeout = std::chrono::seconds(30);
  return options;
}

SchemaSnapshot introspect(const std::string& url, const IntrospectOptions& options) {
  LiveRead read = read_live_schema(url, options, "matrix");
  REQUIRE_FALSE(read.version.locked);
  return std::move(read.snapshot);
}

std::string render(const Finding& f) {
  std::string line = f.kind + " " + to_string(f.object_type) + " " + f.object;
  if (!f.attribute.empty()) line += " [" + f.attribute + "]";
  return line + " " + to_string(f.severity) + " " + f.risk;
}

std::string render_all(const std::vector<Finding>& findings) {
  std::vector<std::string> lines;
  for (const auto& f : findings) lines.push_back(render(f));
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& line : lines) out += line + "\n";
  return out;
}

// Expected findings written as render() lines, in any order.
std::string lines(std::vector<std::string> wanted) {
  std::sort(wanted.begin(), wanted.end());
  std::string out;
  for (const auto& line : wanted) out += line + "\n";
  return out;
}

struct DriftRun {
  std::vector<Finding> findings;
  SchemaSnapshot actual;
};

// Copies head, applies `sql`, introspects both the untouched head (a second copy, so the
// template keeps no session) and the drifted copy with the same options, and diffs them.
DriftRun drift(const std::string& sql, const IntrospectOptions& options = options_for(),
               const DiffOptions& diff_options = {}) {
  static std::map<std::tuple<bool, bool, bool>, SchemaSnapshot> expected_cache;
  const auto key = std::make_tuple(options.schemas.empty(), options.privileges, options.comments);
  auto cached = expected_cache.find(key);
  if (cached == expected_cache.end()) {
    ScratchDatabase expected_db("dw_matrix_exp", head_template().name());
    cached = expected_cache.emplace(key, introspect(expected_db.url(), options)).first;
  }
  ScratchDatabase actual_db("dw_matrix", head_template().name());
  actual_db.exec(sql);
  DriftRun run;
  run.actual = introspect(actual_db.url(), options);
  run.findings = diff_schemas(cached->second, run.actual, diff_options);
  // Every scenario: adopting the drift (fix-forward) leaves the drifted database alone and
  // converges a clean copy, and the fix script, run by psql, converges the drifted database
  // (convergence_support.hpp). The clean copy is the drifted database once its fix script has
  // brought it exactly to head (a fresh copy only when leftovers remain): one database copy
  // less per scenario.
  std::unique_ptr<ScratchDatabase> clean_db;
  std::string clean_url;
  bool converged_checked = false;
  auto converge = [&] {
    converged_checked = true;
    return pgtest::check_convergence(sql, actual_db.url(), cached->second, run.findings,
                                     diff_options,
                                     [&] { return introspect(actual_db.url(), options); });
  };
  pgtest::check_adoption(
      sql, actual_db.url(),
      [&] {
        if (converge()) {
          clean_url = actual_db.url();
        } else {
          clean_db = std::make_unique<ScratchDatabase>("dw_matrix_clean", head_template().name());
          clean_url = clean_db->url();
        }
        return clean_url;
      },
      run.actual, cached->second, diff_options,
      [&] { return introspect(actual_db.url(), options); },
      [&] { return introspect(clean_url, options); });
  if (!converged_checked) converge();
  return run;
}

std::string findings_after(const std::string& sql) { return render_all(drift(sql).findings); }

const Finding* find(const std::vector<Finding>& findings, const std::string& kind,
                    const std::string& object, const std::string& attribute = "") {
  for (const auto& f : findings) {
    if (f.kind == kind && f.object == object && f.attribute == attribute) return &f;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("two databases migrated separately by Alembic have no drift") {
  // Independent migrations: different OIDs, different generated sequence states; same schema.
  ScratchDatabase first("dw_matrix_a");
  ScratchDatabase second("dw_matrix_b");
  REQUIRE(run_alembic(first.url(), "upgrade head", "alembic-matrix.err") == 0);
  REQUIRE(run_alembic(second.url(), "upgrade head", "alembic-matrix.err") == 0);
  const auto options = options_for(/*all_schemas=*/true, /*privileges=*/true, /*comments=*/true);
  SchemaSnapshot a = introspect(first.url(), options);
  SchemaSnapshot b = introspect(second.url(), options);
  CHECK(a.alembic_version == std::vector<std::string>{kHead});
  CHECK(b.alembic_version == std::vector<std::string>{kHead});
  CHECK(a.has_version_table);
  // The fixture really has every object type the matrix below relies on.
  for (ObjectType type : {ObjectType::kSchema, ObjectType::kTable, ObjectType::kColumn,
                          ObjectType::kIndex, ObjectType::kConstraint, ObjectType::kEnum,
                          ObjectType::kView, ObjectType::kMaterializedView, ObjectType::kFunction,
                          ObjectType::kTrigger, ObjectType::kSequence, ObjectType::kExtension,
                          ObjectType::kPolicy, ObjectType::kPrivilege}) {
    const bool present = std::any_of(a.objects.begin(), a.objects.end(),
                                     [&](const SchemaObject& o) { return o.type == type; });
    CHECK_MESSAGE(present, "no object of type " << to_string(type));
  }
  CHECK(a.objects.size() == b.objects.size());
  DiffOptions everything;
  everything.compare_privileges = true;
  everything.compare_comments = true;
  CHECK(render_all(diff_schemas(a, b, everything)) == "");
  CHECK(render_all(diff_schemas(b, a, everything)) == "");
}

TEST_CASE("drift matrix: schema") {
  CHECK(render_all(drift("DROP SCHEMA middleman CASCADE").findings) ==
        lines({"missing schema middleman critical undefined_object",
               "missing table middleman.supplier critical undefined_table",
               "missing table middleman.supplier_feed critical undefined_table"}));
  CHECK(render_all(drift("CREATE SCHEMA scratch", options_for(/*all_schemas=*/true)).findings) ==
        lines({"extra schema scratch info none"}));
  DiffOptions with_comments;
  with_comments.compare_comments = true;
  CHECK(render_all(drift("COMMENT ON SCHEMA middleman IS 'hand-written'",
                         options_for(false, false, /*comments=*/true), with_comments)
                       .findings) == lines({"changed schema middleman [comment] info none"}));
}

TEST_CASE("drift matrix: table") {
  CHECK(findings_after("DROP TABLE public.invoice") ==
        lines({"missing table public.invoice critical undefined_table"}));
  CHECK(findings_after("CREATE TABLE public.scratch (id integer)") ==
        lines({"extra table public.scratch info none"}));
  DriftRun rls = drift("ALTER TABLE middleman.supplier_feed DISABLE ROW LEVEL SECURITY");
  CHECK(render_all(rls.findings) ==
        lines({"changed table middleman.supplier_feed [row_security] warning none"}));
  const Finding* f = find(rls.findings, "changed", "middleman.supplier_feed", "row_security");
  REQUIRE(f != nullptr);
  CHECK(f->expected.value_or("") == "on");
  CHECK(f->actual.value_or("") == "off");
  CHECK(f->fix_sql.value_or("").find("ENABLE ROW LEVEL SECURITY") != std::string::npos);
}

TEST_CASE("drift matrix: column") {
  CHECK(findings_after("ALTER TABLE public.customer DROP COLUMN display_name") ==
        lines({"missing column public.customer.display_name critical undefined_column"}));
  // The classic: a column added by hand, NOT NULL without default. The code never sets it.
  DriftRun extra = drift("ALTER TABLE public.orders ADD COLUMN reviewed_by text NOT NULL");
  CHECK(render_all(extra.findings) ==
        lines({"extra column public.orders.reviewed_by critical not_null_violation"}));
  CHECK(findings_after("ALTER TABLE public.orders ADD COLUMN reviewed_by text") ==
        lines({"extra column public.orders.reviewed_by info none"}));
  CHECK(findings_after("ALTER TABLE public.orders ADD COLUMN reviewed_by text NOT NULL "
                       "DEFAULT 'nobody'") ==
        lines({"extra column public.orders.reviewed_by info none"}));
  CHECK(findings_after("ALTER TABLE public.customer ALTER COLUMN display_name SET NOT NULL") ==
        lines({"changed column public.customer.display_name [nullable] critical "
               "not_null_violation"}));
  CHECK(findings_after("ALTER TABLE public.customer ALTER COLUMN country DROP NOT NULL") ==
        lines({"changed column public.customer.country [nullable] warning none"}));
  DriftRun narrowed = drift("ALTER TABLE public.product ALTER COLUMN sku TYPE varchar(16)");
  CHECK(render_all(narrowed.findings) ==
        lines({"changed column public.product.sku [type] critical type_mismatch"}));
  const Finding* f = find(narrowed.findings, "changed", "public.product.sku", "type");
  REQUIRE(f != nullptr);
  CHECK(f->expected.value_or("") == "character varying(32)");
  CHECK(f->actual.value_or("") == "character varying(16)");
  CHECK(findings_after("ALTER TABLE public.customer ALTER COLUMN display_name TYPE text") ==
        lines({"changed column public.customer.display_name [type] warning type_mismatch"}));
  // now() and CURRENT_TIMESTAMP are different expressions to PostgreSQL (stored differently).
  CHECK(findings_after(
            "ALTER TABLE public.warehouse ALTER COLUMN created_at SET DEFAULT CURRENT_TIMESTAMP") ==
        lines({"changed column public.warehouse.created_at [default] warning none"}));
  // Type and default both changed: the fix changes the type first (dropping the default that
  // does not cast, then setting the expected one); SET DEFAULT now() first, then TYPE
  // timestamptz, would fail ("default cannot be cast automatically"). Convergence checks it.
  CHECK(findings_after("ALTER TABLE public.warehouse ALTER COLUMN created_at TYPE text, "
                       "ALTER COLUMN created_at SET DEFAULT 'never'") ==
        lines({"changed column public.warehouse.created_at [type] warning type_mismatch",
               "changed column public.warehouse.created_at [default] warning none"}));
  // The application relies on the server default of a NOT NULL column.
  CHECK(findings_after("ALTER TABLE public.orders ALTER COLUMN created_at DROP DEFAULT") ==
        lines({"changed column public.orders.created_at [default] critical not_null_violation"}));
  CHECK(findings_after("ALTER TABLE public.warehouse ALTER COLUMN id SET GENERATED ALWAYS") ==
        lines({"changed column public.warehouse.id [identity] warning none"}));
  CHECK(findings_after("ALTER TABLE public.order_line ALTER COLUMN line_total DROP EXPRESSION") ==
        lines({"changed column public.order_line.line_total [generated] warning none"}));
}

TEST_CASE("drift matrix: index") {
  CHECK(findings_after("DROP INDEX public.orders_pending_created_at_idx") ==
        lines({"missing index public.orders_pending_created_at_idx warning none"}));
  // The expression index is the uniqueness the e-mail upsert relies on.
  CHECK(findings_after("DROP INDEX public.customer_email_lower_key") ==
        lines({"missing index public.customer_email_lower_key warning unique_violation"}));
  CHECK(findings_after("CREATE INDEX orders_note_idx ON public.orders (note)") ==
        lines({"extra index public.orders_note_idx info none"}));
  CHECK(findings_after("CREATE UNIQUE INDEX orders_note_key ON public.orders (note)") ==
        lines({"extra index public.orders_note_key warning unique_violation"}));
  // The covering index lost its INCLUDE columns.
  CHECK(findings_after("DROP INDEX public.orders_customer_id_idx; "
                       "CREATE INDEX orders_customer_id_idx ON public.orders (customer_id)") ==
        lines({"changed index public.orders_customer_id_idx [definition] warning none"}));
  // The partial index's predicate changed.
  CHECK(findings_after("DROP INDEX public.orders_pending_created_at_idx; "
                       "CREATE INDEX orders_pending_created_at_idx ON public.orders (created_at) "
                       "WHERE status = 'paid'") ==
        lines({"changed index public.orders_pending_created_at_idx [definition] warning none"}));
}

TEST_CASE("drift matrix: constraint") {
  // The ON CONFLICT target of the stock upsert.
  CHECK(findings_after("ALTER TABLE public.stock_level "
                       "DROP CONSTRAINT stock_level_warehouse_product_key") ==
        lines({"missing constraint public.stock_level.stock_level_warehouse_product_key warning "
               "unique_violation"}));
  CHECK(findings_after("ALTER TABLE public.orders DROP CONSTRAINT orders_total_check") ==
        lines({"missing constraint public.orders.orders_total_check warning none"}));
  CHECK(findings_after("ALTER TABLE public.customer ADD CONSTRAINT customer_country_check "
                       "CHECK (country <> '')") ==
        lines({"extra constraint public.customer.customer_country_check warning none"}));
  CHECK(findings_after("ALTER TABLE public.customer ADD CONSTRAINT customer_display_name_check "
                       "CHECK (display_name IS NOT NULL)") ==
        lines({"extra constraint public.customer.customer_display_name_check warning "
               "not_null_violation"}));
  CHECK(findings_after("ALTER TABLE public.orders ADD CONSTRAINT orders_note_key UNIQUE (note)") ==
        lines({"extra constraint public.orders.orders_note_key warning unique_violation"}));
  DriftRun fk = drift(
      "ALTER TABLE public.orders DROP CONSTRAINT orders_customer_id_fkey; "
      "ALTER TABLE public.orders ADD CONSTRAINT orders_customer_id_fkey "
      "FOREIGN KEY (customer_id) REFERENCES public.customer (id)");
  CHECK(render_all(fk.findings) ==
        lines({"changed constraint public.orders.orders_customer_id_fkey [on_delete] warning "
               "none"}));
  const Finding* f =
      find(fk.findings, "changed", "public.orders.orders_customer_id_fkey", "on_delete");
  REQUIRE(f != nullptr);
  CHECK(f->expected.value_or("") == "cascade");
  CHECK(f->actual.value_or("") == "no action");
  CHECK(findings_after("ALTER TABLE public.warehouse DROP CONSTRAINT warehouse_capacity_check; "
                       "ALTER TABLE public.warehouse ADD CONSTRAINT warehouse_capacity_check "
                       "CHECK (capacity IS NULL OR capacity >= 0)") ==
        lines({"changed constraint public.warehouse.warehouse_capacity_check [definition] "
               "warning none"}));
}

TEST_CASE("drift matrix: enum") {
  DriftRun added = drift("ALTER TYPE public.order_status ADD VALUE 'refunded'");
  CHECK(render_all(added.findings) ==
        lines({"changed enum public.order_status [labels] info none"}));
  const Finding* f = find(added.findings, "changed", "public.order_status", "labels");
  REQUIRE(f != nullptr);
  CHECK(f->actual.value_or("").find("refunded") != std::string::npos);
  CHECK(f->expected.value_or("").find("refunded") == std::string::npos);
  // A renamed label is an expected label gone: writes of 'cancelled' fail. The materialized
  // view's stored predicate prints the new label.
  CHECK(findings_after("ALTER TYPE public.order_status RENAME VALUE 'cancelled' TO 'canceled'") ==
        lines({"changed enum public.order_status [labels] critical undefined_object",
               "changed materialized_view public.daily_sales [definition] warning none"}));
  CHECK(findings_after("CREATE TYPE public.shipment_kind AS ENUM ('parcel', 'pallet')") ==
        lines({"extra enum public.shipment_kind info none"}));
  // A renamed type: the expected one is missing, everything typed by it now names the new one.
  CHECK(findings_after("ALTER TYPE public.order_status RENAME TO order_state") ==
        lines({"missing enum public.order_status critical undefined_object",
               "extra enum public.order_state info none",
               "changed column public.orders.status [type] warning type_mismatch",
               "changed column public.orders.status [default] warning none",
               "changed index public.orders_pending_created_at_idx [definition] warning none",
               "changed view public.open_orders [definition] warning none",
               "changed materialized_view public.daily_sales [definition] warning none"}));
}

TEST_CASE("drift matrix: view and materialized view") {
  CHECK(findings_after("DROP VIEW public.open_orders") ==
        lines({"missing view public.open_orders critical undefined_object"}));
  CHECK(findings_after("CREATE VIEW public.big_orders AS SELECT id FROM public.orders "
                       "WHERE total > 1000") == lines({"extra view public.big_orders info none"}));
  CHECK(findings_after("CREATE OR REPLACE VIEW public.open_orders AS "
                       "SELECT o.id, o.customer_id, c.email, o.status, o.total, o.created_at "
                       "FROM public.orders o JOIN public.customer c ON c.id = o.customer_id "
                       "WHERE o.status = 'pending'") ==
        lines({"changed view public.open_orders [definition] warning none"}));
  CHECK(findings_after("DROP MATERIALIZED VIEW public.daily_sales") ==
        lines({"missing materialized_view public.daily_sales critical undefined_object",
               "missing index public.daily_sales_day_key warning unique_violation"}));
  CHECK(findings_after("CREATE MATERIALIZED VIEW public.customer_count AS "
                       "SELECT count(*) AS n FROM public.customer WITH NO DATA") ==
        lines({"extra materialized_view public.customer_count info none"}));
  CHECK(findings_after("DROP MATERIALIZED VIEW public.daily_sales; "
                       "CREATE MATERIALIZED VIEW public.daily_sales AS "
                       "SELECT date_trunc('day', o.created_at) AS day, count(*) AS orders, "
                       "sum(o.total) AS revenue FROM public.orders o GROUP BY 1 WITH NO DATA; "
                       "CREATE UNIQUE INDEX daily_sales_day_key ON public.daily_sales (day)") ==
        lines({"changed materialized_view public.daily_sales [definition] warning none"}));
}

TEST_CASE("drift matrix: function and trigger") {
  DriftRun body = drift(
      "CREATE OR REPLACE FUNCTION public.touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS "
      "$$ BEGIN NEW.updated_at := clock_timestamp(); RETURN NEW; END $$");
  CHECK(render_all(body.findings) ==
        lines({"changed function public.touch_updated_at() [body] warning none"}));
  const Finding* f = find(body.findings, "changed", "public.touch_updated_at()", "body");
  REQUIRE(f != nullptr);
  CHECK(f->actual.value_or("").find("clock_timestamp") != std::string::npos);
  CHECK(findings_after("DROP FUNCTION public.touch_updated_at() CASCADE") ==
        lines({"missing function public.touch_updated_at() critical undefined_object",
               "missing trigger public.product.product_touch_updated_at warning none"}));
  CHECK(findings_after("CREATE FUNCTION public.order_count(bigint, text) RETURNS bigint "
                       "LANGUAGE sql STABLE AS 'SELECT count(*) FROM public.orders "
                       "WHERE customer_id = $1 AND note = $2'") ==
        lines({"extra function public.order_count(bigint, text) info none"}));
  // SECURITY DEFINER without a search_path setting: callers control name resolution.
  CHECK(findings_after("ALTER FUNCTION public.touch_updated_at() SECURITY DEFINER") ==
        lines({"changed function public.touch_updated_at() [security_definer] critical "
               "security_definer_search_path"}));

  CHECK(findings_after("ALTER TABLE public.product DISABLE TRIGGER product_touch_updated_at") ==
        lines({"changed trigger public.product.product_touch_updated_at [enabled] warning none"}));
  CHECK(findings_after("DROP TRIGGER product_touch_updated_at ON public.product") ==
        lines({"missing trigger public.product.product_touch_updated_at warning none"}));
  CHECK(findings_after(
            "CREATE TRIGGER stock_level_touch_updated_at BEFORE UPDATE ON "
            "public.stock_level FOR EACH ROW EXECUTE FUNCTION public.touch_updated_at()") ==
        lines({"extra trigger public.stock_level.stock_level_touch_updated_at warning none"}));
  CHECK(findings_after("DROP TRIGGER product_touch_updated_at ON public.product; "
                       "CREATE TRIGGER product_touch_updated_at AFTER UPDATE ON public.product "
                       "FOR EACH ROW EXECUTE FUNCTION public.touch_updated_at()") ==
        lines({"changed trigger public.product.product_touch_updated_at [definition] warning "
               "none"}));
}

TEST_CASE("drift matrix: sequence") {
  DriftRun increment = drift("ALTER SEQUENCE public.invoice_number_seq INCREMENT BY 10");
  CHECK(render_all(increment.findings) ==
        lines({"changed sequence public.invoice_number_seq [increment] warning none"}));
  const Finding* f = find(increment.findings, "changed", "public.invoice_number_seq", "increment");
  REQUIRE(f != nullptr);
  CHECK(f->expected.value_or("") == "1");
  CHECK(f->actual.value_or("") == "10");
  // Dropping the sequence also drops the default that used it: invoice numbers stop coming.
  CHECK(findings_after("DROP SEQUENCE public.invoice_number_seq CASCADE") ==
        lines({"missing sequence public.invoice_number_seq critical undefined_object",
               "changed column public.invoice.number [default] critical not_null_violation"}));
  CHECK(findings_after("CREATE SEQUENCE public.scratch_seq") ==
        lines({"extra sequence public.scratch_seq info none"}));
  CHECK(findings_after("ALTER SEQUENCE public.invoice_number_seq AS integer") ==
        lines({"changed sequence public.invoice_number_seq [data_type] warning type_mismatch",
               "changed sequence public.invoice_number_seq [max] warning none"}));
}

TEST_CASE("drift matrix: extension") {
  // Its members are compared as the extension; the index that used its operator class went
  // with it.
  CHECK(findings_after("DROP EXTENSION pg_trgm CASCADE") ==
        lines({"missing extension pg_trgm critical undefined_object",
               "missing index public.product_name_trgm_idx warning none"}));
  CHECK(findings_after("CREATE EXTENSION citext") == lines({"extra extension citext info none"}));
  DriftRun older = drift(
      "DROP EXTENSION pg_trgm CASCADE; CREATE EXTENSION pg_trgm VERSION '1.5'; "
      "CREATE INDEX product_name_trgm_idx ON public.product USING gin (name gin_trgm_ops)");
  CHECK(render_all(older.findings) == lines({"changed extension pg_trgm [version] warning none"}));
  const Finding* f = find(older.findings, "changed", "pg_trgm", "version");
  REQUIRE(f != nullptr);
  CHECK(f->actual.value_or("") == "1.5");
}

TEST_CASE("drift matrix: policy and row level security") {
  CHECK(findings_after("ALTER POLICY supplier_feed_own_rows ON middleman.supplier_feed "
                       "TO PUBLIC") ==
        lines({"changed policy middleman.supplier_feed.supplier_feed_own_rows [roles] warning "
               "none"}));
  CHECK(findings_after("ALTER POLICY supplier_feed_own_rows ON middleman.supplier_feed "
                       "USING (true)") ==
        lines({"changed policy middleman.supplier_feed.supplier_feed_own_rows [using] warning "
               "none"}));
  CHECK(findings_after("DROP POLICY supplier_feed_own_rows ON middleman.supplier_feed") ==
        lines({"missing policy middleman.supplier_feed.supplier_feed_own_rows warning none"}));
  CHECK(findings_after("CREATE POLICY supplier_feed_admin ON middleman.supplier_feed "
                       "FOR ALL TO PUBLIC USING (true)") ==
        lines({"extra policy middleman.supplier_feed.supplier_feed_admin warning none"}));
  CHECK(findings_after("ALTER TABLE middleman.supplier_feed FORCE ROW LEVEL SECURITY") ==
        lines({"changed table middleman.supplier_feed [force_row_security] warning none"}));
}

TEST_CASE("drift matrix: privilege") {
  const auto options = options_for(false, /*privileges=*/true);
  DiffOptions with_privileges;
  with_privileges.compare_privileges = true;
  CHECK(render_all(drift("GRANT SELECT ON public.orders TO warehouse_feed_reader", options,
                         with_privileges)
                       .findings) ==
        lines({"extra privilege public.orders:warehouse_feed_reader:SELECT info none"}));
  // PostgreSQL 15 grants USAGE on schema public to PUBLIC.
  CHECK(render_all(drift("REVOKE USAGE ON SCHEMA public FROM PUBLIC", options, with_privileges)
                       .findings) == lines({"missing privilege public:PUBLIC:USAGE warning none"}));
  // Privileges are not compared unless asked for.
  CHECK(render_all(drift("GRANT SELECT ON public.orders TO warehouse_feed_reader").findings) == "");
}

TEST_CASE("drift matrix: partially applied head migration") {
  // alembic_version says head, but the last migration's effect was undone by hand.
  DriftRun run = drift("DROP TABLE public.invoice; DROP SEQUENCE public.invoice_number_seq");
  CHECK(run.actual.alembic_version == std::vector<std::string>{kHead});
  CHECK(render_all(run.findings) ==
        lines({"missing table public.invoice critical undefined_table",
               "missing sequence public.invoice_number_seq critical undefined_object"}));
  const Finding* table = find(run.findings, "missing", "public.invoice");
  REQUIRE(table != nullptr);
  // The fix recreates the table (children folded into it), foreign key included.
  CHECK(table->fix_sql.value_or("").find("CREATE TABLE") != std::string::npos);
  CHECK(table->fix_sql.value_or("").find("invoice_order_id_fkey") != std::string::npos);
}

TEST_CASE("drift matrix: a database left one migration behind differs by that migration") {
  ScratchDatabase behind("dw_matrix_behind", head_template().name());
  REQUIRE(run_alembic(behind.url(), "downgrade -1", "alembic-matrix.err") == 0);
  ScratchDatabase head("dw_matrix_exp", head_template().name());
  SchemaSnapshot expected = introspect(head.url(), options_for());
  SchemaSnapshot actual = introspect(behind.url(), options_for());
  CHECK(actual.alembic_version == std::vector<std::string>{"0010_movements"});
  CHECK(render_all(diff_schemas(expected, actual)) ==
        lines({"missing table public.invoice critical undefined_table",
               "missing sequence public.invoice_number_seq critical undefined_object"}));
}

}  // namespace driftwatch
