/* reporter/: HTML escaping, site links, the SVG chart, the compatibility table, UTF-8 repair. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "reporter/dash_html.h"
#include "reporter/dash_ingest.h"
#include "reporter/dash_svg.h"
#include "reporter/dash_table.h"
#include "util/buf.h"

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;

    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* Every character that means something in HTML is replaced; nothing else changes. */
static void test_escape(void **state)
{
    struct buf b = BUF_INIT;

    html_esc(&b, "<script>alert(\"x\" & 'y')</script>");
    assert_string_equal(b.data, "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)"
                                "&lt;/script&gt;");
    buf_reset(&b);
    /* control characters become U+FFFD, CR of CR LF goes, tab and newline stay; UTF-8 stays */
    html_esc(&b, "a\x1b[31mb\r\nc\td\x7f é");
    assert_string_equal(b.data, "a\xef\xbf\xbd[31mb\nc\td\xef\xbf\xbd é");
    buf_reset(&b);
    html_esc(&b, NULL);
    html_esc(&b, "plain text 1.2.3");
    assert_string_equal(b.data, "plain text 1.2.3");
    buf_reset(&b);
    html_escn(&b, "<<<", 2);
    assert_string_equal(b.data, "&lt;&lt;");
    buf_release(&b);
}

/* Site links: served absolute, static relative with extensions; segments percent-encoded. */
static void test_urls(void **state)
{
    struct buf b = BUF_INIT;
    struct html served = { &b, 0, 0, NULL }, stat = { &b, 1, 2, NULL };

    html_url(&served, ".html", "run", "lab1", "3", NULL);
    assert_string_equal(b.data, "/run/lab1/3");
    buf_reset(&b);
    html_url(&served, ".html", NULL);
    assert_string_equal(b.data, "/");
    buf_reset(&b);
    html_url(&stat, ".html", "run", "lab1", "3", NULL);
    assert_string_equal(b.data, "../../run/lab1/3.html");
    buf_reset(&b);
    html_url(&stat, ".html", NULL);
    assert_string_equal(b.data, "../../index.html");
    buf_reset(&b);
    html_url(&served, ".html", "matrix", "x", "latest", "a/../b\"<", NULL);
    assert_string_equal(b.data, "/matrix/x/latest/a%2F..%2Fb%22%3C");
    buf_reset(&b);
    assert_true(dash_name_safe("nightly-4.17_x.y"));
    assert_false(dash_name_safe(".."));
    assert_false(dash_name_safe("a/b"));
    assert_false(dash_name_safe(""));
    assert_false(dash_name_safe("-x"));
    buf_release(&b);
}

/* The chart of a known series: exact points, the confidence line, missing values skipped. */
static void test_svg_chart(void **state)
{
    double p[] = { 0.05, 0.1, NAN, 0.5, 1.0 };
    long long seq[] = { 1, 2, 3, 4, 5 };
    struct buf b = BUF_INIT;

    svg_prob_chart(&b, p, seq, 5, 0.95, "P <of> \"x\"");
    /* x = 44 + i * 584 / 4, y = 12 + (1 - p) * 174 */
    assert_non_null(strstr(b.data, "points=\"44.0,177.3 190.0,168.6 482.0,99.0 628.0,12.0\""));
    assert_non_null(strstr(b.data, "<title>P &lt;of&gt; &quot;x&quot;</title>"));
    assert_non_null(strstr(b.data, "class=\"level\" x1=\"44\" y1=\"20.7\""));
    assert_int_equal(count(b.data, "<circle"), 4);
    assert_non_null(strstr(b.data, "<title>trial 4: P = 0.500</title>"));
    assert_true(!strncmp(b.data, "<svg", 4));
    assert_non_null(strstr(b.data, "</svg>"));
    /* a single point sits in the middle; no level line when level is 0 */
    buf_reset(&b);
    svg_prob_chart(&b, p, NULL, 1, 0, "one");
    assert_non_null(strstr(b.data, "points=\"336.0,177.3\""));
    assert_null(strstr(b.data, "class=\"level\""));
    buf_release(&b);
}

static json_t *load_fixture(const char *name)
{
    char path[512];
    json_error_t je;
    json_t *j;

    snprintf(path, sizeof(path), "%s/tests/fixtures/dashboard/%s", PVLAB_TOP, name);
    j = json_load_file(path, 0, &je);
    assert_non_null(j);
    return j;
}

/* The sample matrix (2 x 2, one REGRESSION): cells, labels, bounds, links, history. */
static void test_table_sample(void **state)
{
    json_t *doc = load_fixture("matrix-2.json");
    struct dash_hist *hist = dash_hist_new(json_object_get(doc, "cells"), 3);
    const char *titles[] = { "2026-12-04", "2026-12-03", "2026-12-02" };
    struct dash_table_opts o = { "lab1", hist, titles };
    struct buf b = BUF_INIT;
    struct html h = { &b, 0, 0, NULL };

    dash_hist_set(hist, 0, "4.17", "6.1", "fpu-leak", "fail");
    dash_hist_set(hist, 1, "4.17", "6.1", "fpu-leak", "pass");
    dash_hist_set(hist, 2, "4.17", "6.1", "fpu-leak", "infra");
    dash_hist_set(hist, 0, "4.20", "6.12", "fpu-leak", "pass");
    dash_hist_set(hist, 0, "9.99", "6.12", "fpu-leak", "fail"); /* not a cell: ignored */
    assert_string_equal(dash_hist_cell(hist, 0), "fpi");
    assert_string_equal(dash_hist_cell(hist, 3), "p--");
    dash_table_render(&h, doc, &o);
    /* one table, Xen across (2 columns), Linux down (2 rows) */
    assert_int_equal(count(b.data, "<table class=compat>"), 1);
    assert_non_null(strstr(b.data, "<th>Xen 4.17</th><th>Xen 4.20</th>"));
    assert_non_null(strstr(b.data, "<th class=row>Linux 6.1</th>"));
    assert_non_null(strstr(b.data, "<th class=row>Linux 6.12</th>"));
    assert_int_equal(count(b.data, "<td class=\"c c-"), 4);
    /* verdicts as text and colour; the change; the run link of each cell */
    assert_int_equal(count(b.data, "c c-fail"), 1);
    assert_int_equal(count(b.data, "c c-pass"), 3);
    assert_non_null(
        strstr(b.data, "<a href=\"/run/lab1/16\"><span class=\"v v-fail\">FAIL</span>"));
    for (int id = 16; id <= 19; id++) {
        char want[64];
        snprintf(want, sizeof(want), "href=\"/run/lab1/%d\"", id);
        assert_non_null(strstr(b.data, want));
    }
    assert_int_equal(count(b.data, "<span class=\"ch ch-REGRESSION\">REGRESSION</span>"), 1);
    /* clean cells state their 95% upper bound; the failing one its rate and interval */
    assert_int_equal(count(b.data, "rate ≤ 2.95% (95%)"), 3);
    assert_non_null(strstr(b.data, "rate 10% [4.9%, 17.6%]"));
    assert_non_null(strstr(b.data, "1 boot (1 corrupt) · 100 iter · 10 corr"));
    /* history strips, newest first */
    assert_non_null(strstr(b.data, "<div class=hs><b class=hf>F</b><b class=hp>P</b>"
                                   "<b class=hi>I</b></div>"));
    assert_non_null(strstr(b.data, "2026-12-04 … 2026-12-02"));
    buf_release(&b);
    dash_hist_free(hist);
    json_decref(doc);
}

/* Labels from a document are escaped; a missing cell of the grid says so. */
static void test_table_escapes(void **state)
{
    json_t *doc = json_pack("{s[{ssssssssss}{ssssssss}]}", "cells", "xen", "<b>x</b>", "linux",
                            "6.1", "repro", "r\"'&", "verdict", "pass", "change", "<i>new</i>",
                            "xen", "4.20", "linux", "6.12", "repro", "r\"'&", "verdict", "infra");
    struct dash_table_opts o = { "lab1", NULL, NULL };
    struct buf b = BUF_INIT;
    struct html h = { &b, 0, 0, NULL };

    assert_non_null(doc);
    dash_table_render(&h, doc, &o);
    assert_null(strstr(b.data, "<b>x</b>"));
    assert_null(strstr(b.data, "<i>new"));
    assert_non_null(strstr(b.data, "Xen &lt;b&gt;x&lt;/b&gt;"));
    assert_non_null(strstr(b.data, "r&quot;&#39;&amp;"));
    assert_non_null(strstr(b.data, "&lt;i&gt;new&lt;/i&gt;"));
    /* 2 x 2 grid with 2 cells: 2 "not in the matrix" */
    assert_int_equal(count(b.data, "not in the matrix"), 2);
    assert_int_equal(count(b.data, "c c-infra"), 1);
    assert_null(strstr(b.data, "class=hs"));
    buf_release(&b);
    json_decref(doc);
}

/* A cell whose kernel did not build: its own class and the build's reason, escaped. */
static void test_table_untestable(void **state)
{
    json_t *doc =
        json_pack("{s[{ssssssssss}{ssssssss}]}", "cells", "xen", "4.17", "linux", "2.6.32", "repro",
                  "r", "verdict", "skip", "untestable", "Linux 'git:x': <b> does not build", "xen",
                  "4.17", "linux", "6.1", "repro", "r", "verdict", "pass");
    struct dash_table_opts o = { "lab1", NULL, NULL };
    struct buf b = BUF_INIT;
    struct html h = { &b, 0, 0, NULL };

    assert_non_null(doc);
    dash_table_render(&h, doc, &o);
    assert_int_equal(count(b.data, "c c-skip"), 1);
    assert_int_equal(count(b.data, "c c-pass"), 1);
    assert_non_null(strstr(b.data, "<div class=n>Linux &#39;git:x&#39;: &lt;b&gt; does not build"));
    assert_int_equal(count(b.data, "does not build"), 1); /* the passing cell says nothing */
    buf_release(&b);
    json_decref(doc);
}

/* Invalid UTF-8 becomes U+FFFD so jansson takes a console with stray bytes. */
static void test_utf8_fix(void **state)
{
    struct buf b = BUF_INIT;
    struct err e = ERR_INIT;
    json_t *j;
    const char bad[] =
        "{\"c\":\"ok \xc3\xa9 \xff\xfe \xe2\x82 \xed\xa0\x80 \xf4\x90\x80\x80 end\"}";

    assert_int_equal(dash_utf8_fix("plain é €", strlen("plain é €"), &b), 0);
    assert_string_equal(b.data, "plain é €");
    buf_reset(&b);
    assert_true(dash_utf8_fix(bad, sizeof(bad) - 1, &b) >= 5);
    assert_non_null(strstr(b.data, "ok \xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd"));
    buf_release(&b);
    /* parsing repairs, then parses */
    j = dash_json_parse(bad, sizeof(bad) - 1, &e);
    assert_non_null(j);
    assert_non_null(strstr(json_string_value(json_object_get(j, "c")), " end"));
    json_decref(j);
    /* malformed JSON says what and where */
    assert_null(dash_json_parse("{\"a\": [1, 2}", 12, &e));
    assert_int_equal(e.code, ERR_USAGE);
    assert_non_null(strstr(e.msg, "malformed JSON"));
    assert_non_null(strstr(e.msg, "line 1, column"));
    assert_null(dash_json_parse("[1]", 3, &e));
    assert_non_null(strstr(e.msg, "JSON object"));
    assert_null(dash_json_parse("", 0, &e));
    assert_non_null(strstr(e.msg, "empty"));
    assert_null(dash_json_parse("{\"a\":1,\"a\":2}", 13, &e));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_svg_chart),     cmocka_unit_test(test_table_sample),
        cmocka_unit_test(test_table_escapes), cmocka_unit_test(test_table_untestable),
        cmocka_unit_test(test_utf8_fix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
