// Status pages: everything is escaped, states read well, links are encoded.
#include "driftwatch/status_page.hpp"

#include <doctest/doctest.h>

using namespace driftwatch;

namespace {

// The scheduler shares results read-only; a test edits its own copy.
TargetResult& edit_result(TargetStatus& status) {
  auto copy = std::make_shared<TargetResult>(*status.last_result);
  status.last_result = copy;
  return *copy;
}

TargetStatus hostile() {
  TargetStatus s;
  s.config.name = "<script>alert(1)</script>";
  s.config.migrations = "m&m";
  TargetResult r;
  r.name = s.config.name;
  r.status = "drift";
  r.revision.state = "behind";
  r.revision.behind_by = 3;
  r.revision.current = {"\"><img src=x>"};
  r.revision.expected_heads = {"head1"};
  r.checked_at = std::chrono::system_clock::now();
  Finding f;
  f.kind = "changed";
  f.object_type = ObjectType::kColumn;
  f.object = "public.t.<b>";
  f.attribute = "default";
  f.severity = Severity::kCritical;
  f.risk = "not_null_violation";
  f.expected = "'a' || 'b'";
  f.actual = "<null>";
  f.message = "default of <b> & co differs";
  f.fix_sql = "ALTER TABLE public.t ALTER COLUMN \"<b>\" SET DEFAULT ('a' || 'b');";
  r.findings.push_back(f);
  s.last_result = std::make_shared<const TargetResult>(r);
  return s;
}

}  // namespace

TEST_CASE("html_escape escapes the five specials") {
  CHECK(html_escape("<a href=\"x\">&'</a>") == "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
  CHECK(html_escape("plain") == "plain");
}

TEST_CASE("url_encode_segment keeps unreserved characters only") {
  CHECK(url_encode_segment("dev-alice_1.x~") == "dev-alice_1.x~");
  CHECK(url_encode_segment("a b/c?\"") == "a%20b%2Fc%3F%22");
}

TEST_CASE("fleet page escapes every value") {
  const std::string html =
      render_status_page({hostile()}, true, false, std::chrono::system_clock::now());
  CHECK(html.find("<script>") == std::string::npos);
  CHECK(html.find("<img") == std::string::npos);
  CHECK(html.find("&lt;script&gt;alert(1)&lt;/script&gt;") != std::string::npos);
  CHECK(html.find("href=\"/targets/%3Cscript%3Ealert%281%29%3C%2Fscript%3E\"") !=
        std::string::npos);
  CHECK(html.find("behind 3; drift: 1 critical, 0 warning, 0 info") != std::string::npos);
  CHECK(html.find("<table>") != std::string::npos);
}

TEST_CASE("target page escapes findings and shows fix SQL in pre") {
  const std::string html = render_target_page(hostile(), std::chrono::system_clock::now());
  CHECK(html.find("<script>") == std::string::npos);
  CHECK(html.find("<b>") == std::string::npos);
  CHECK(html.find("<img") == std::string::npos);
  CHECK(html.find("default of &lt;b&gt; &amp; co differs") != std::string::npos);
  CHECK(html.find("<pre>ALTER TABLE public.t ALTER COLUMN &quot;&lt;b&gt;&quot; SET DEFAULT "
                  "(&#39;a&#39; || &#39;b&#39;);</pre>") != std::string::npos);
  CHECK(html.find("m&amp;m") != std::string::npos);
  CHECK(html.find("not_null_violation") != std::string::npos);
}

TEST_CASE("describe_state covers the states") {
  TargetStatus s;
  s.config.name = "x";
  CHECK(describe_state(s) == "not checked yet");
  TargetResult r;
  r.status = "ok";
  r.revision.state = "at_head";
  s.last_result = std::make_shared<const TargetResult>(r);
  CHECK(describe_state(s) == "at head");
  edit_result(s).revision.state = "unknown_revision";
  CHECK(describe_state(s) == "unknown revision");
  edit_result(s).status = "migrating";
  CHECK(describe_state(s) == "migrating");
  edit_result(s).status = "error";
  edit_result(s).error = CheckError{"timeout", "slow"};
  CHECK(describe_state(s) == "error (timeout)");
}

TEST_CASE("error message appears escaped in the fleet table") {
  TargetStatus s;
  s.config.name = "down";
  TargetResult r;
  r.name = "down";
  r.status = "error";
  r.error = CheckError{"connect", "could not connect to <host> & port"};
  s.last_result = std::make_shared<const TargetResult>(r);
  const std::string html = render_status_page({s}, false, true, std::chrono::system_clock::now());
  CHECK(html.find("could not connect to &lt;host&gt; &amp; port") != std::string::npos);
  CHECK(html.find("draining") != std::string::npos);
}
