/* Pages: shared helpers, the overview, a matrix with its history, the nightly changes. */
#include "reporter/dash_pages.h"
#include "reporter/dash_pages_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reporter/dash_table.h"
#include "util/xalloc.h"

#define LIST_RECENT 20
#define NIGHTLY_MAX 100
#define SAME_NAME_MAX 30

json_t *page_parse(const char *doc, const char *what, struct err *e)
{
    json_error_t je;
    json_t *j = json_loads(doc ? doc : "", 0, &je);

    if (!j)
        err_set(e, ERR_INTERNAL, "the stored document of %s is not JSON (%s); post it again", what,
                je.text);
    return j;
}

const char *page_str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

void page_value(const struct html *h, const json_t *v)
{
    char *s;

    switch (json_typeof(v)) {
    case JSON_STRING: html_text(h, json_string_value(v)); break;
    case JSON_INTEGER: html_fmt(h, "%lld", (long long)json_integer_value(v)); break;
    case JSON_REAL: html_fmt(h, "%g", json_real_value(v)); break;
    case JSON_TRUE: html_raw(h, "yes"); break;
    case JSON_FALSE: html_raw(h, "no"); break;
    case JSON_NULL: html_raw(h, "<span class=muted>–</span>"); break;
    default:
        s = json_dumps(v, JSON_COMPACT);
        html_raw(h, "<code>");
        html_text(h, s);
        html_raw(h, "</code>");
        free(s);
    }
}

void page_kv(const struct html *h, const json_t *o)
{
    const char *key;
    json_t *v;

    if (!json_is_object(o) || json_object_size(o) == 0) {
        html_raw(h, "<p class=muted>none</p>\n");
        return;
    }
    html_raw(h, "<dl class=kv>");
    json_object_foreach((json_t *)o, key, v)
    {
        page_dt(h, key);
        page_value(h, v);
        html_raw(h, "</dd>");
    }
    html_raw(h, "</dl>\n");
}

void page_dt(const struct html *h, const char *label)
{
    html_raw(h, "<dt>");
    html_text(h, label);
    html_raw(h, "</dt><dd>");
}

void page_result_link(const struct html *h, enum dash_kind kind, const char *lab, long long id)
{
    char n[32];

    snprintf(n, sizeof(n), "%lld", id);
    html_raw(h, "<a class=nw href=\"");
    html_url(h, ".html", dash_kind_name(kind), lab, n, NULL);
    html_raw(h, "\">");
    html_text(h, lab);
    html_fmt(h, "/%s/%lld</a>", dash_kind_name(kind), id);
}

void page_result_id_link(const struct html *h, const char *result_id)
{
    char lab[65];
    enum dash_kind k;
    long long id;

    if (result_id && dash_result_id_parse(result_id, lab, &k, &id) == 0)
        page_result_link(h, k, lab, id);
    else
        html_text(h, result_id ? result_id : "–");
}

void dash_page_error(const struct html *h, int status, const char *msg)
{
    char title[32];

    snprintf(title, sizeof(title), "Error %d", status);
    html_begin(h, title, 0);
    html_raw(h, "<p>");
    html_text(h, msg);
    html_raw(h, "</p>\n");
    html_end(h);
}

/* The counts of a matrix's changes as labels (only those that happened). */
static void changes_badges(const struct html *h, const char *changes_json)
{
    static const char *const order[] = { "REGRESSION", "FIXED",          "heisenbug",
                                         "never-pass", "could-not-test", "new" };
    json_t *c = changes_json ? json_loads(changes_json, 0, NULL) : NULL;
    int any = 0;

    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        json_int_t n = json_integer_value(json_object_get(c, order[i]));
        if (n <= 0)
            continue;
        html_change(h, order[i]);
        html_fmt(h, "&nbsp;%lld ", (long long)n);
        any = 1;
    }
    if (!any)
        html_raw(h, "<span class=muted>no change</span>");
    json_decref(c);
}

/* A list of results of one kind (runs, matrices or bisections). */
static void rows_table(const struct html *h, const struct dash_row *v, size_t n, int matrix)
{
    if (n == 0) {
        html_raw(h, "<p class=muted>None yet.</p>\n");
        return;
    }
    html_raw(h, "<div class=scroll><table class=list><thead><tr><th>Result</th><th>Created</th>"
                "<th>Status</th>");
    html_raw(h, matrix ? "<th>Name</th><th>Changes</th>" : "<th>Verdict</th>");
    html_raw(h, "<th>Summary</th></tr></thead><tbody>\n");
    for (size_t i = 0; i < n; i++) {
        html_raw(h, "<tr><td>");
        page_result_link(h, v[i].kind, v[i].lab, v[i].local_id);
        html_raw(h, "</td><td>");
        html_time(h, v[i].created);
        html_raw(h, "</td><td>");
        html_state(h, v[i].status);
        html_raw(h, "</td><td>");
        if (matrix) {
            if (dash_name_safe(v[i].name) && dash_name_safe(v[i].lab)) {
                html_raw(h, "<a href=\"");
                html_url(h, ".html", "matrix", v[i].lab, "latest", v[i].name, NULL);
                html_raw(h, "\">");
                html_text(h, v[i].name);
                html_raw(h, "</a>");
            } else {
                html_text(h, v[i].name);
            }
            html_raw(h, "</td><td>");
            changes_badges(h, v[i].changes_json);
        } else {
            html_verdict(h, v[i].verdict);
        }
        html_raw(h, "</td><td>");
        html_text(h, v[i].summary);
        html_raw(h, "</td></tr>\n");
    }
    html_raw(h, "</tbody></table></div>\n");
}

int dash_page_index(const struct html *h, struct dash_db *db, struct err *e)
{
    struct dash_row *names = NULL, *runs = NULL, *bis = NULL;
    struct dash_request *req = NULL;
    size_t nn = 0, nr = 0, nb = 0, nq = 0;
    struct dash_query q = { .limit = LIST_RECENT };
    int rc = -1;

    if (dash_db_latest_names(db, &names, &nn, e) < 0 ||
        dash_db_list(db, DASH_RUN, &q, &runs, &nr, e) < 0 ||
        dash_db_list(db, DASH_BISECT, &q, &bis, &nb, e) < 0 ||
        dash_db_request_list(db, LIST_RECENT, &req, &nq, e) < 0)
        goto out;
    html_begin(h, "Overview", 0);
    html_raw(h, "<h2>Latest matrix of each name</h2>\n");
    rows_table(h, names, nn, 1);
    html_raw(h, "<p><a href=\"");
    html_url(h, ".html", "nightly", NULL);
    html_raw(h, "\">Every night's regressions and fixes</a></p>\n<h2>Recent runs</h2>\n");
    rows_table(h, runs, nr, 0);
    html_raw(h, "<h2>Bisections</h2>\n");
    rows_table(h, bis, nb, 0);
    html_raw(h, "<h2>On-demand requests</h2>\n");
    page_requests_table(h, req, nq);
    html_end(h);
    rc = 0;
out:
    dash_rows_free(names, nn);
    dash_rows_free(runs, nr);
    dash_rows_free(bis, nb);
    dash_requests_free(req, nq);
    return rc;
}

struct hist_ctx {
    struct dash_hist *hist;
    size_t night;
};

static void hist_cell(void *ctx, const struct dash_cell *c)
{
    struct hist_ctx *hc = ctx;
    dash_hist_set(hc->hist, hc->night, c->xen, c->linux_, c->repro, c->verdict);
}

/* The history of m's cells over the last DASH_HIST_NIGHTS runs of its name. */
static struct dash_hist *load_hist(struct dash_db *db, const struct dash_row *m,
                                   const json_t *cells, char ***titles_r, size_t *nn_r,
                                   struct err *e)
{
    struct dash_row *nights = NULL;
    struct hist_ctx hc = { NULL, 0 };
    char **titles = NULL;
    size_t nn = 0;

    if (dash_db_nights(db, m, DASH_HIST_NIGHTS, &nights, &nn, e) < 0)
        return NULL;
    hc.hist = dash_hist_new(cells, nn);
    titles = xcalloc(nn + 1, sizeof(*titles));
    for (hc.night = 0; hc.night < nn; hc.night++) {
        const struct dash_row *n = &nights[hc.night];
        titles[hc.night] = xstrndup(n->created ? n->created : "?", 10);
        if (dash_db_cells_each(db, n->lab, n->local_id, 0, hist_cell, &hc, e) < 0) {
            dash_hist_free(hc.hist);
            hc.hist = NULL;
            break;
        }
    }
    dash_rows_free(nights, nn);
    *titles_r = titles;
    *nn_r = nn;
    return hc.hist;
}

static void matrix_header(const struct html *h, const struct dash_row *m, const json_t *doc)
{
    const json_t *jobs = json_object_get(doc, "jobs");
    char id[32];

    html_raw(h, "<dl class=kv>");
    page_dt(h, "Result");
    html_text(h, m->lab);
    html_fmt(h, "/matrix/%lld · <a href=\"", m->local_id);
    snprintf(id, sizeof(id), "%lld", m->local_id);
    html_url(h, ".json", "api", "v1", "matrices", m->lab, id, NULL);
    html_raw(h, "\">JSON</a></dd>");
    page_dt(h, "Status");
    html_state(h, m->status);
    if (json_is_object(jobs))
        html_fmt(h, " <span class=n>jobs: %lld queued, %lld leased, %lld done</span>",
                 (long long)json_integer_value(json_object_get(jobs, "queued")),
                 (long long)json_integer_value(json_object_get(jobs, "leased")),
                 (long long)json_integer_value(json_object_get(jobs, "done")));
    html_raw(h, "</dd>");
    page_dt(h, "Started");
    html_time(h, page_str(doc, "created"));
    html_raw(h, " · finished ");
    html_time(h, page_str(doc, "finished"));
    html_raw(h, "</dd>");
    page_dt(h, "Changes");
    changes_badges(h, m->changes_json);
    if (json_is_integer(json_object_get(doc, "against"))) {
        html_raw(h, " <span class=n>against ");
        page_result_link(h, DASH_MATRIX, m->lab,
                         (long long)json_integer_value(json_object_get(doc, "against")));
        html_raw(h, "</span>");
    }
    html_raw(h, "</dd>");
    if (page_str(doc, "file")) {
        page_dt(h, "Matrix file");
        html_raw(h, "<code>");
        html_text(h, page_str(doc, "file"));
        html_raw(h, "</code> <span class=\"muted mono\">sha256 ");
        html_text(h, page_str(doc, "file_sha256"));
        html_raw(h, "</span></dd>");
    }
    html_raw(h, "</dl>\n<details><summary>Parameters</summary>");
    page_kv(h, json_object_get(doc, "params"));
    html_raw(h, "</details>\n");
}

/* The other runs of the matrix's name, newest first. */
static int same_name_list(const struct html *h, struct dash_db *db, const struct dash_row *m,
                          struct err *e)
{
    struct dash_query q = { .lab = m->lab, .name = m->name, .limit = SAME_NAME_MAX };
    struct dash_row *v = NULL;
    size_t n = 0;

    if (!m->name)
        return 0;
    if (dash_db_list(db, DASH_MATRIX, &q, &v, &n, e) < 0)
        return -1;
    html_raw(h, "<h2>Runs of this name</h2>\n");
    rows_table(h, v, n, 1);
    if (dash_name_safe(m->lab) && dash_name_safe(m->name)) {
        html_raw(h, "<p><a href=\"");
        html_url(h, ".html", "nightly", m->lab, m->name, NULL);
        html_raw(h, "\">Regressions and fixes of this name, night by night</a></p>\n");
    }
    dash_rows_free(v, n);
    return 0;
}

/* The page of one matrix result (row and document already read). */
static int matrix_page(const struct html *h, struct dash_db *db, const struct dash_row *m,
                       const char *doctext, struct err *e)
{
    json_t *doc = NULL;
    struct dash_hist *hist = NULL;
    char **titles = NULL, *title = NULL;
    size_t nn = 0;
    int rc = -1;

    doc = page_parse(doctext, "this matrix", e);
    if (!doc)
        goto out;
    hist = load_hist(db, m, json_object_get(doc, "cells"), &titles, &nn, e);
    if (!hist)
        goto out;
    title =
        xasprintf("Matrix %s · %.10s %.5s", m->name ? m->name : "?", m->created ? m->created : "",
                  m->created && strlen(m->created) >= 16 ? m->created + 11 : "");
    html_begin(h, title, m->status && !strcmp(m->status, "running") ? 60 : 0);
    matrix_header(h, m, doc);
    {
        struct dash_table_opts o = { m->lab, hist, (const char *const *)titles };
        html_raw(h, "<h2>Compatibility</h2>\n");
        dash_table_render(h, doc, &o);
    }
    if (same_name_list(h, db, m, e) < 0)
        goto out;
    html_end(h);
    rc = 0;
out:
    for (size_t i = 0; titles && i < nn; i++)
        free(titles[i]);
    free(titles);
    free(title);
    dash_hist_free(hist);
    json_decref(doc);
    return rc;
}

int dash_page_matrix(const struct html *h, struct dash_db *db, const char *lab, long long id,
                     struct err *e)
{
    struct dash_row m = { 0 };
    char *doc = NULL;
    int rc = -1;

    if (dash_db_get(db, DASH_MATRIX, lab, id, &m, &doc, e) == 0)
        rc = matrix_page(h, db, &m, doc, e);
    dash_row_free(&m);
    free(doc);
    return rc;
}

int dash_page_matrix_latest(const struct html *h, struct dash_db *db, const char *lab,
                            const char *name, struct err *e)
{
    struct dash_row m = { 0 };
    char *doc = NULL;
    int rc = -1;

    if (dash_db_latest(db, lab, name, &m, &doc, e) == 0)
        rc = matrix_page(h, db, &m, doc, e);
    dash_row_free(&m);
    free(doc);
    return rc;
}

/* One night of the nightly page: its notable cells. */
static int nightly_row(const struct html *h, struct dash_db *db, const struct dash_row *m,
                       struct err *e)
{
    struct dash_cell *c = NULL;
    size_t nc = 0;
    char id[32];

    if (dash_db_cells(db, m->lab, m->local_id, 1, &c, &nc, e) < 0)
        return -1;
    html_raw(h, "<tr><td>");
    html_time(h, m->created);
    html_raw(h, "</td><td>");
    html_text(h, m->name);
    html_raw(h, " <span class=n>");
    page_result_link(h, DASH_MATRIX, m->lab, m->local_id);
    html_raw(h, "</span></td><td>");
    changes_badges(h, m->changes_json);
    html_raw(h, "</td><td>");
    for (size_t i = 0; i < nc; i++) {
        html_raw(h, "<div>");
        html_change(h, c[i].change);
        html_raw(h, " Xen ");
        html_text(h, c[i].xen);
        html_raw(h, " · Linux ");
        html_text(h, c[i].linux_);
        html_raw(h, " · ");
        html_text(h, c[i].repro);
        html_raw(h, " ");
        if (c[i].run_id > 0) {
            snprintf(id, sizeof(id), "%lld", c[i].run_id);
            html_raw(h, "<a href=\"");
            html_url(h, ".html", "run", m->lab, id, NULL);
            html_raw(h, "\">");
            html_verdict(h, c[i].verdict);
            html_raw(h, "</a>");
        } else {
            html_verdict(h, c[i].verdict);
        }
        html_raw(h, "</div>");
    }
    html_raw(h, "</td></tr>\n");
    dash_cells_free(c, nc);
    return 0;
}

int dash_page_nightly(const struct html *h, struct dash_db *db, const char *lab, const char *name,
                      struct err *e)
{
    struct dash_query q = { .lab = lab, .name = name, .limit = NIGHTLY_MAX };
    struct dash_row *v = NULL;
    size_t n = 0;
    char *title = NULL;
    int rc = -1;

    if (dash_db_list(db, DASH_MATRIX, &q, &v, &n, e) < 0)
        goto out;
    if (lab && n == 0) {
        err_set(e, ERR_NOTFOUND, "no matrix named '%s' from lab '%s' on this dashboard", name, lab);
        goto out;
    }
    title = name ? xasprintf("Nightly: %s (%s)", name, lab) : xstrdup("Nightly changes");
    html_begin(h, title, 0);
    html_raw(h, "<p>Each night's cells that changed against the previous complete run of the "
                "same name: <b>REGRESSION</b> and <b>FIXED</b> when the boots say so with 95% "
                "confidence, <b>heisenbug</b> when the verdict flipped without that evidence. "
                "Newest night first.</p>\n");
    if (n == 0) {
        html_raw(h, "<p class=muted>No matrix has been posted yet.</p>\n");
    } else {
        html_raw(h, "<div class=scroll><table class=list><thead><tr><th>Night</th>"
                    "<th>Matrix</th><th>Changes</th><th>Cells</th></tr></thead><tbody>\n");
        for (size_t i = 0; i < n; i++)
            if (nightly_row(h, db, &v[i], e) < 0)
                goto out;
        html_raw(h, "</tbody></table></div>\n");
    }
    html_end(h);
    rc = 0;
out:
    dash_rows_free(v, n);
    free(title);
    return rc;
}
