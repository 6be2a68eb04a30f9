/* The run page (what booted, the host, each trial's verdict, evidence and console) and its logs. */
#include "reporter/dash_pages.h"
#include "reporter/dash_pages_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

/* The first trial of doc whose idx is idx, or NULL. */
static const json_t *find_trial(const json_t *doc, long long idx)
{
    const json_t *trials = json_object_get(doc, "trials");

    for (size_t i = 0; i < json_array_size(trials); i++) {
        const json_t *t = json_array_get(trials, i);
        if (json_integer_value(json_object_get(t, "idx")) == idx)
            return t;
    }
    return NULL;
}

int dash_run_log(struct dash_db *db, const char *lab, long long id, long long idx, struct buf *out,
                 struct err *e)
{
    char *text = NULL;
    json_t *doc = NULL;
    const json_t *t;
    int rc = -1;

    if (dash_db_get(db, DASH_RUN, lab, id, NULL, &text, e) < 0)
        goto out;
    doc = page_parse(text, "this run", e);
    if (!doc)
        goto out;
    t = find_trial(doc, idx);
    if (!t || !json_is_string(json_object_get(t, "console"))) {
        err_set(e, ERR_NOTFOUND, "run %s/run/%lld has no console of trial %lld here", lab, id, idx);
        goto out;
    }
    buf_add(out, json_string_value(json_object_get(t, "console")),
            json_string_length(json_object_get(t, "console")));
    rc = 0;
out:
    json_decref(doc);
    free(text);
    return rc;
}

/* One row of the "what booted" table. */
static void artifact_row(const struct html *h, const char *what, const json_t *a, const char *sha)
{
    html_raw(h, "<tr><th>");
    html_text(h, what);
    html_raw(h, "</th><td>");
    html_text(h, page_str(a, "spec"));
    html_raw(h, "</td><td>");
    html_text(h, page_str(a, "package"));
    html_raw(h, "</td><td>");
    html_text(h, page_str(a, "version"));
    html_raw(h, "</td><td class=mono>");
    html_text(h, sha ? sha : page_str(a, "sha256"));
    html_raw(h, "</td></tr>\n");
}

static double num(const json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

/* Verdict, counts and the rates that respect boots. */
static void run_summary(const struct html *h, const json_t *doc)
{
    const json_t *counts = json_object_get(doc, "counts");
    const json_t *r = json_object_get(doc, "rates");

    html_raw(h, "<dl class=kv>");
    page_dt(h, "Verdict");
    html_verdict(h, page_str(doc, "verdict"));
    html_raw(h, " ");
    html_state(h, page_str(doc, "status"));
    html_raw(h, "</dd>");
    page_dt(h, "Reproducer");
    html_raw(h, "<code>");
    html_text(h, page_str(doc, "repro"));
    html_raw(h, "</code></dd>");
    page_dt(h, "Time");
    html_time(h, page_str(doc, "created"));
    html_raw(h, " → ");
    html_time(h, page_str(doc, "finished"));
    html_raw(h, "</dd>");
    page_dt(h, "Trials");
    html_fmt(h, "%lld planned: %lld pass, %lld fail, %lld infra, %lld skip",
             (long long)json_integer_value(json_object_get(doc, "trials_planned")),
             (long long)json_integer_value(json_object_get(counts, "pass")),
             (long long)json_integer_value(json_object_get(counts, "fail")),
             (long long)json_integer_value(json_object_get(counts, "infra")),
             (long long)json_integer_value(json_object_get(counts, "skip")));
    html_raw(h, "</dd>");
    page_dt(h, "Iterations");
    html_fmt(h, "%.0f, %.0f corruptions</dd>", num(counts, "iterations"),
             num(counts, "corruptions"));
    if (json_is_object(r)) {
        page_dt(h, "Corrupt boots");
        html_fmt(h, "%.0f of %.0f (95%%: ", num(r, "boots_corrupt"), num(r, "boots"));
        html_pct(h, num(r, "boot_share_lo95"));
        html_raw(h, " – ");
        html_pct(h, num(r, "boot_share_hi95"));
        html_raw(h, ")</dd>");
        page_dt(h, "Rate per iteration");
        if (num(counts, "corruptions") == 0) {
            html_raw(h, "≤ ");
            html_pct(h, num(r, "rate_hi95"));
            html_raw(h, " (95% upper bound)");
        } else {
            html_pct(h, num(r, "rate"));
            html_raw(h, " (95%: ");
            html_pct(h, num(r, "rate_lo95"));
            html_raw(h, " – ");
            html_pct(h, num(r, "rate_hi95"));
            html_fmt(h, "; dispersion %.3g)", num(r, "dispersion"));
        }
        html_raw(h, "</dd>");
    }
    html_raw(h, "</dl>\n");
}

/* The end of a console, at most DASH_CONSOLE_SHOWN bytes, from a line start when it can. */
static void console_tail(const struct html *h, const char *s, size_t n)
{
    size_t from = 0;

    if (n > DASH_CONSOLE_SHOWN) {
        const char *nl;
        from = n - DASH_CONSOLE_SHOWN;
        nl = memchr(s + from, '\n', n - from);
        if (nl && (size_t)(nl - s) < from + 4096)
            from = (size_t)(nl - s) + 1;
        while (from < n && ((unsigned char)s[from] & 0xc0) == 0x80)
            from++; /* never start inside a UTF-8 sequence */
    }
    html_raw(h, "<div class=tail><pre class=log>");
    html_escn(h->b, s + from, n - from);
    html_raw(h, "</pre></div>\n");
}

static void trial_section(const struct html *h, const char *lab, long long run, const json_t *t)
{
    const char *verdict = page_str(t, "verdict");
    const json_t *ev = json_object_get(t, "evidence");
    const json_t *con = json_object_get(t, "console");
    long long idx = json_integer_value(json_object_get(t, "idx"));
    char ids[32], runs[32];

    html_fmt(h, "<h3 id=\"trial-%lld\">Trial %lld ", idx, idx);
    html_verdict(h, verdict);
    html_raw(h, "</h3>\n<p>");
    html_text(h, page_str(t, "reason"));
    html_fmt(h,
             "</p>\n<p class=n>%lld iterations · %lld corruptions · %lld mismatches · %lld "
             "deaths · %lld kernel faults · boot %.1f s · wall %.1f s",
             (long long)json_integer_value(json_object_get(t, "iterations")),
             (long long)json_integer_value(json_object_get(t, "corruptions")),
             (long long)json_integer_value(json_object_get(t, "mismatches")),
             (long long)json_integer_value(json_object_get(t, "deaths")),
             (long long)json_integer_value(json_object_get(t, "klog_faults")),
             num(t, "boot_ms") / 1000, num(t, "wall_ms") / 1000);
    if (page_str(t, "host")) {
        html_raw(h, " · on ");
        html_text(h, page_str(t, "host"));
    }
    html_raw(h, "</p>\n");
    if (json_array_size(ev) > 0) {
        html_raw(h, "<p><b>Evidence</b></p><ul class=ev>");
        for (size_t i = 0; i < json_array_size(ev); i++) {
            html_raw(h, "<li class=mono>");
            page_value(h, json_array_get(ev, i));
            html_raw(h, "</li>");
        }
        html_raw(h, "</ul>\n");
    }
    if (!json_is_string(con)) {
        html_raw(h, "<p class=n>No console was posted with this trial (the lab keeps it at "
                    "<code>");
        html_text(h, page_str(t, "log"));
        html_raw(h, "</code>).</p>\n");
        return;
    }
    snprintf(ids, sizeof(ids), "%lld", idx);
    snprintf(runs, sizeof(runs), "%lld", run);
    html_fmt(h,
             "<details%s><summary>Console: ", verdict && !strcmp(verdict, "pass") ? "" : " open");
    if (json_string_length(con) > DASH_CONSOLE_SHOWN)
        html_fmt(h, "the last %u KiB of %zu KiB", DASH_CONSOLE_SHOWN >> 10,
                 json_string_length(con) >> 10);
    else
        html_fmt(h, "%zu bytes", json_string_length(con));
    html_raw(h, "</summary> <a href=\"");
    html_url(h, ".txt", "run", lab, runs, "log", ids, NULL);
    html_raw(h, "\" download>download the log</a>\n");
    console_tail(h, json_string_value(con), json_string_length(con));
    html_raw(h, "</details>\n");
}

int dash_page_run(const struct html *h, struct dash_db *db, const char *lab, long long id,
                  struct err *e)
{
    struct dash_row row = { 0 };
    char *text = NULL, *title = NULL, ids[32];
    json_t *doc = NULL;
    const json_t *host, *trials;
    int rc = -1;

    if (dash_db_get(db, DASH_RUN, lab, id, &row, &text, e) < 0)
        goto out;
    doc = page_parse(text, "this run", e);
    if (!doc)
        goto out;
    title = xasprintf("Run %s/run/%lld", lab, id);
    html_begin(h, title, row.status && !strcmp(row.status, "running") ? 30 : 0);
    snprintf(ids, sizeof(ids), "%lld", id);
    html_raw(h, "<p class=n>");
    html_text(h, row.summary);
    html_raw(h, " · <a href=\"");
    html_url(h, ".json", "api", "v1", "runs", lab, ids, NULL);
    html_raw(h, "\">JSON</a></p>\n");
    run_summary(h, doc);
    html_raw(h, "<h2>What booted</h2>\n<div class=scroll><table class=list><thead><tr><th></th>"
                "<th>Spec</th><th>Package</th><th>Version</th><th>sha256</th></tr></thead>"
                "<tbody>\n");
    artifact_row(h, "Xen", json_object_get(doc, "xen"), NULL);
    artifact_row(h, "Linux", json_object_get(doc, "linux"), NULL);
    artifact_row(h, "initramfs", NULL, page_str(doc, "initramfs_sha256"));
    html_raw(h, "</tbody></table></div>\n<h2>Host stack</h2>\n");
    host = json_object_get(doc, "host");
    page_kv(h, host);
    if (page_str(doc, "qemu_cmd")) {
        html_raw(h, "<details><summary>QEMU command line</summary><pre class=log>");
        html_text(h, page_str(doc, "qemu_cmd"));
        html_raw(h, "</pre></details>\n");
    }
    html_raw(h, "<h2>Parameters</h2>\n");
    page_kv(h, json_object_get(doc, "params"));
    html_raw(h, "<h2>Trials</h2>\n");
    trials = json_object_get(doc, "trials");
    if (json_array_size(trials) == 0)
        html_raw(h, "<p class=muted>No trial has finished yet.</p>\n");
    for (size_t i = 0; i < json_array_size(trials); i++)
        trial_section(h, lab, id, json_array_get(trials, i));
    html_end(h);
    rc = 0;
out:
    dash_row_free(&row);
    json_decref(doc);
    free(text);
    free(title);
    return rc;
}
