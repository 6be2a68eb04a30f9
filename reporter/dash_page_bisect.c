/* The bisection page (range, answer, the leading candidate's P over time, steps) and requests. */
#include "reporter/dash_pages.h"
#include "reporter/dash_pages_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reporter/dash_svg.h"
#include "util/xalloc.h"

static double num(const json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

/* "xen", "linux", "test command": what the bisection moved along. */
static const char *axis_of(const json_t *doc)
{
    const json_t *params = json_object_get(doc, "params");

    if (page_str(doc, "axis"))
        return page_str(doc, "axis");
    if (page_str(params, "axis"))
        return page_str(params, "axis");
    return page_str(params, "test_cmd") ? "test command" : "?";
}

static void range_header(const struct html *h, const json_t *doc, const char *alias)
{
    const json_t *params = json_object_get(doc, "params");
    int fix = page_str(doc, "find") && !strcmp(page_str(doc, "find"), "fix");

    html_raw(h, "<dl class=kv>");
    page_dt(h, "Status");
    html_state(h, page_str(doc, "status"));
    html_raw(h, "</dd>");
    page_dt(h, "Looking for");
    html_raw(h, fix ? "the commit that fixed the bug" : "the commit that brought the bug");
    html_raw(h, "</dd>");
    page_dt(h, "Repository");
    if (alias) {
        html_text(h, alias);
        html_raw(h, " ");
    }
    html_raw(h, "<code>");
    html_text(h, page_str(doc, "repo"));
    html_raw(h, "</code></dd>");
    page_dt(h, "Axis");
    html_text(h, axis_of(doc));
    if (page_str(params, "test_cmd")) {
        html_raw(h, " <code>");
        html_text(h, page_str(params, "test_cmd"));
        html_raw(h, "</code>");
    }
    html_raw(h, "</dd>");
    page_dt(h, "Range");
    html_raw(h, fix ? "bad (old) " : "good ");
    html_commit(h, alias, page_str(doc, fix ? "bad" : "good"));
    html_raw(h, " → ");
    html_raw(h, fix ? "good (new) " : "bad ");
    html_commit(h, alias, page_str(doc, fix ? "good" : "bad"));
    html_raw(h, "</dd>");
    if (page_str(doc, "created")) {
        page_dt(h, "Time");
        html_time(h, page_str(doc, "created"));
        html_raw(h, " → ");
        html_time(h, page_str(doc, "finished"));
        html_raw(h, "</dd>");
    }
    if (json_is_integer(json_object_get(doc, "request"))) {
        char id[32];
        snprintf(id, sizeof(id), "%lld",
                 (long long)json_integer_value(json_object_get(doc, "request")));
        page_dt(h, "Requested");
        html_raw(h, "<a href=\"");
        html_url(h, ".html", "request", id, NULL);
        html_fmt(h, "\">request %s</a></dd>", id);
    }
    html_raw(h, "</dl>\n<details><summary>Parameters</summary>");
    page_kv(h, params);
    html_raw(h, "</details>\n");
}

/* The credible set: the commits that together hold the stated probability. */
static void credible_set(const struct html *h, const json_t *cs, const char *alias)
{
    if (json_array_size(cs) == 0)
        return;
    html_raw(h, "<p>Credible set (the commits that together hold the confidence):</p>"
                "<div class=scroll><table class=list><thead><tr><th>Commit</th><th class=num>"
                "P</th></tr></thead><tbody>");
    for (size_t i = 0; i < json_array_size(cs); i++) {
        const json_t *c = json_array_get(cs, i);
        html_raw(h, "<tr><td>");
        html_commit(h, alias, page_str(c, "sha"));
        html_fmt(h, "</td><td class=num>%.3f</td></tr>", num(c, "prob"));
    }
    html_raw(h, "</tbody></table></div>\n");
}

static void answer(const struct html *h, const json_t *doc, const char *alias)
{
    const json_t *r = json_object_get(doc, "result");
    const json_t *v = json_object_get(r, "verify");
    const char *outcome = page_str(r, "outcome");
    int fix = page_str(doc, "find") && !strcmp(page_str(doc, "find"), "fix");

    html_raw(h, "<h2>Answer</h2>\n<div class=answer>");
    if (!json_is_object(r)) {
        html_raw(h, "<p>No answer yet: the bisection is still running (the chart shows where "
                    "it stands).</p></div>\n");
        return;
    }
    if (outcome && !strcmp(outcome, "found")) {
        html_raw(h, fix ? "<p><b>First fixed commit:</b> " : "<p><b>First bad commit:</b> ");
        html_commit(h, alias, page_str(r, "culprit"));
        html_raw(h, " ");
        html_text(h, page_str(r, "subject"));
        html_raw(h, "</p><p class=n>");
        html_text(h, page_str(r, "author"));
        html_fmt(h,
                 "</p><p>Probability <b>%.3f</b> (target %.2f) · P(miss) %.3g · %lld trials "
                 "over %lld candidates</p>",
                 num(r, "probability"), num(json_object_get(doc, "params"), "confidence"),
                 num(r, "p_miss"), (long long)num(r, "trials"), (long long)num(r, "candidates"));
        if (json_is_object(v))
            html_fmt(h,
                     "<p class=n>Verified: the answer failed %.0f of %.0f trials, its parent "
                     "%.0f of %.0f.</p>",
                     num(v, "answer_fails"), num(v, "answer_trials"), num(v, "parent_fails"),
                     num(v, "parent_trials"));
    } else {
        html_raw(h, "<p><b>Outcome:</b> ");
        html_text(h, outcome ? outcome : "?");
        if (page_str(r, "why")) {
            html_raw(h, " — ");
            html_text(h, page_str(r, "why"));
        }
        html_raw(h, "</p>");
    }
    credible_set(h, json_object_get(r, "credible_set"), alias);
    html_raw(h, "</div>\n");
}

static void chart(const struct html *h, const json_t *trials, const json_t *doc)
{
    size_t n = json_array_size(trials);
    double *p = xcalloc(n ? n : 1, sizeof(*p));
    long long *seq = xcalloc(n ? n : 1, sizeof(*seq));

    for (size_t i = 0; i < n; i++) {
        const json_t *t = json_array_get(trials, i);
        const json_t *bp = json_object_get(t, "best_prob");
        p[i] = json_is_number(bp) ? json_number_value(bp) : NAN;
        seq[i] = json_integer_value(json_object_get(t, "seq"));
    }
    html_raw(h, "<h2>Probability of the leading candidate</h2>\n<div class=chart>");
    svg_prob_chart(h->b, p, seq, n, num(json_object_get(doc, "params"), "confidence"),
                   "P of the most probable culprit after each trial; dashed: the confidence "
                   "the bisection stops at");
    html_raw(h, "</div>\n");
    free(p);
    free(seq);
}

static void steps(const struct html *h, const char *lab, const json_t *trials, const char *alias)
{
    html_raw(h, "<h2>Steps</h2>\n<div class=scroll><table class=list><thead><tr><th class=num>#"
                "</th><th>Phase</th><th>Commit</th><th>Outcome</th><th>Detail</th><th>Leading"
                "</th><th class=num>P</th><th class=num>Set</th><th class=num>Wall</th></tr>"
                "</thead><tbody>\n");
    for (size_t i = 0; i < json_array_size(trials); i++) {
        const json_t *t = json_array_get(trials, i);
        json_int_t run = json_integer_value(json_object_get(t, "run_id"));
        html_fmt(h, "<tr><td class=num>%lld</td><td>",
                 (long long)json_integer_value(json_object_get(t, "seq")));
        html_text(h, page_str(t, "phase"));
        html_raw(h, "</td><td>");
        html_commit(h, alias, page_str(t, "commit"));
        html_raw(h, "</td><td>");
        if (run > 0) {
            char id[32];
            snprintf(id, sizeof(id), "%lld", (long long)run);
            html_raw(h, "<a href=\"");
            html_url(h, ".html", "run", lab, id, NULL);
            html_raw(h, "\">");
            html_verdict(h, page_str(t, "outcome"));
            html_raw(h, "</a>");
        } else {
            html_verdict(h, page_str(t, "outcome"));
        }
        html_raw(h, "</td><td>");
        html_text(h, page_str(t, "detail"));
        html_raw(h, "</td><td>");
        if (page_str(t, "best"))
            html_commit(h, alias, page_str(t, "best"));
        else
            html_raw(h, "<span class=muted>flat</span>");
        html_fmt(h,
                 "</td><td class=num>%.3f</td><td class=num>%lld</td><td class=num>%.1f s"
                 "</td></tr>\n",
                 num(t, "best_prob"),
                 (long long)json_integer_value(json_object_get(t, "credible_set")),
                 num(t, "wall_ms") / 1000);
    }
    html_raw(h, "</tbody></table></div>\n");
}

int dash_page_bisect(const struct html *h, struct dash_db *db, const char *lab, long long id,
                     struct err *e)
{
    struct dash_row row = { 0 };
    char *text = NULL, *title = NULL;
    json_t *doc = NULL;
    const char *alias;
    int rc = -1;

    if (dash_db_get(db, DASH_BISECT, lab, id, &row, &text, e) < 0)
        goto out;
    doc = page_parse(text, "this bisection", e);
    if (!doc)
        goto out;
    alias = page_str(doc, "alias");
    title = xasprintf("Bisection %s/bisect/%lld", lab, id);
    html_begin(h, title, row.status && !strcmp(row.status, "running") ? 30 : 0);
    range_header(h, doc, alias);
    answer(h, doc, alias);
    chart(h, json_object_get(doc, "trials"), doc);
    steps(h, lab, json_object_get(doc, "trials"), alias);
    html_end(h);
    rc = 0;
out:
    dash_row_free(&row);
    json_decref(doc);
    free(text);
    free(title);
    return rc;
}

void page_requests_table(const struct html *h, const struct dash_request *v, size_t n)
{
    if (n == 0) {
        html_raw(h, "<p class=muted>No request yet. A lab's token can queue one with "
                    "<code>POST /api/v1/requests</code>.</p>\n");
        return;
    }
    html_raw(h, "<div class=scroll><table class=list><thead><tr><th>Request</th><th>Created"
                "</th><th>State</th><th>Repository</th><th>Axis</th><th>Range</th><th>Answer"
                "</th></tr></thead><tbody>\n");
    for (size_t i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof(id), "%lld", v[i].id);
        html_raw(h, "<tr><td><a href=\"");
        html_url(h, ".html", "request", id, NULL);
        html_fmt(h, "\">%lld</a></td><td>", v[i].id);
        html_time(h, v[i].created);
        html_raw(h, "</td><td>");
        html_state(h, v[i].state);
        html_raw(h, "</td><td>");
        html_text(h, v[i].alias);
        html_raw(h, "</td><td>");
        html_text(h, v[i].axis);
        html_raw(h, "</td><td class=mono>");
        html_text(h, v[i].good);
        html_raw(h, " … ");
        html_text(h, v[i].bad);
        html_raw(h, "</td><td>");
        if (v[i].bisect)
            page_result_id_link(h, v[i].bisect);
        else
            html_text(h, v[i].outcome ? v[i].outcome : v[i].reason);
        html_raw(h, "</td></tr>\n");
    }
    html_raw(h, "</tbody></table></div>\n");
}

int dash_page_requests(const struct html *h, struct dash_db *db, struct err *e)
{
    struct dash_request *v = NULL;
    size_t n = 0;
    int live = 0;

    if (dash_db_request_list(db, 200, &v, &n, e) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        live |= !strcmp(v[i].state, "queued") || !strcmp(v[i].state, "running");
    html_begin(h, "On-demand bisection requests", live ? 15 : 0);
    html_raw(h, "<p>Requests name a repository alias the dashboard knows, a good and a bad "
                "revision (checked before they are queued), and the fixed side of the boot; "
                "a lab's <code>pvlab worker</code> claims them, reports progress and posts "
                "the bisection.</p>\n");
    page_requests_table(h, v, n);
    html_end(h);
    dash_requests_free(v, n);
    return 0;
}

/* The bisections posted for request id, newest first, with their state. */
static int request_bisects(const struct html *h, struct dash_db *db, long long id, struct err *e)
{
    struct dash_query q = { .request_id = id, .limit = 20 };
    struct dash_row *v = NULL;
    size_t n = 0;

    if (dash_db_list(db, DASH_BISECT, &q, &v, &n, e) < 0)
        return -1;
    if (n) {
        html_raw(h, "<h2>Bisections posted for this request</h2>\n<ul>");
        for (size_t i = 0; i < n; i++) {
            html_raw(h, "<li>");
            page_result_link(h, DASH_BISECT, v[i].lab, v[i].local_id);
            html_raw(h, " ");
            html_state(h, v[i].status);
            html_raw(h, " ");
            html_text(h, v[i].summary);
            html_raw(h, "</li>");
        }
        html_raw(h, "</ul>\n");
    }
    dash_rows_free(v, n);
    return 0;
}

/* The answer of a done request: its bisection's one-line summary, when the dashboard has it. */
static void request_answer(const struct html *h, struct dash_db *db, const char *bisect)
{
    struct dash_row row = { 0 };
    struct err e = ERR_INIT;
    enum dash_kind k;
    char lab[65];
    long long id;

    html_raw(h, " · ");
    page_result_id_link(h, bisect);
    if (dash_result_id_parse(bisect, lab, &k, &id) == 0 &&
        dash_db_get(db, k, lab, id, &row, NULL, &e) == 0) {
        html_raw(h, "</p><p>");
        html_text(h, row.summary);
        dash_row_free(&row);
    }
}

static void request_state(const struct html *h, struct dash_db *db, const struct dash_request *r)
{
    html_raw(h, "<h2>State</h2>\n<div class=answer>");
    if (!strcmp(r->state, "queued")) {
        html_raw(h, "<p>Queued: waiting for a worker to claim it.</p>");
    } else if (!strcmp(r->state, "running")) {
        json_t *p = r->progress_json ? json_loads(r->progress_json, 0, NULL) : NULL;
        html_raw(h, "<p>Running on ");
        html_text(h, r->worker);
        html_raw(h, " since ");
        html_time(h, r->claimed);
        html_raw(h, ".</p>");
        if (p) {
            html_raw(h, "<p>Last progress, ");
            html_time(h, r->progress_at);
            html_raw(h, ":</p>");
            page_kv(h, p);
            json_decref(p);
        }
    } else if (!strcmp(r->state, "refused")) {
        html_raw(h, "<p><b>Refused:</b> ");
        html_text(h, r->reason ? r->reason : "no reason given");
        html_raw(h, "</p>");
    } else {
        html_raw(h, "<p><b>Done:</b> ");
        html_text(h, r->outcome);
        if (r->bisect)
            request_answer(h, db, r->bisect);
        html_raw(h, "</p>");
        if (r->reason) {
            html_raw(h, "<p>");
            html_text(h, r->reason);
            html_raw(h, "</p>");
        }
    }
    html_raw(h, "</div>\n");
}

int dash_page_request(const struct html *h, struct dash_db *db, long long id, struct err *e)
{
    struct dash_request r;
    json_t *spec = NULL;
    char *title = NULL;
    int rc = -1, live;

    if (dash_db_request_get(db, id, &r, e) < 0)
        return -1;
    live = !strcmp(r.state, "queued") || !strcmp(r.state, "running");
    title = xasprintf("Request %lld", id);
    html_begin(h, title, live ? 15 : 0);
    html_raw(h, "<dl class=kv>");
    page_dt(h, "State");
    html_state(h, r.state);
    html_raw(h, "</dd>");
    page_dt(h, "Created");
    html_time(h, r.created);
    html_raw(h, " by ");
    html_text(h, r.by);
    html_raw(h, "</dd>");
    page_dt(h, "Repository");
    html_text(h, r.alias);
    html_raw(h, "</dd>");
    page_dt(h, "Axis");
    html_text(h, r.axis);
    html_raw(h, " · find ");
    html_text(h, r.find);
    html_raw(h, "</dd></dl>\n");
    request_state(h, db, &r);
    html_raw(h, "<h2>Request</h2>\n");
    spec = r.spec_json ? json_loads(r.spec_json, 0, NULL) : NULL;
    page_kv(h, spec);
    if (request_bisects(h, db, id, e) < 0)
        goto out;
    html_end(h);
    rc = 0;
out:
    json_decref(spec);
    free(title);
    dash_request_free(&r);
    return rc;
}
