#include "reporter/dash_table.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

struct dash_hist {
    const json_t *cells;
    size_t ncells, nnights;
    char *letters; /* ncells rows of nnights letters + NUL */
    size_t *slots; /* open addressing: cell index + 1, 0 = empty */
    size_t nslots; /* a power of two >= 2 * ncells */
};

static const char *cell_str(const json_t *cell, const char *key)
{
    const char *s = json_string_value(json_object_get(cell, key));
    return s ? s : "?";
}

static uint64_t hash3(const char *a, const char *b, const char *c)
{
    const char *parts[3] = { a, b, c };
    uint64_t h = 1469598103934665603ULL;

    for (int k = 0; k < 3; k++) {
        for (const char *p = parts[k]; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ULL;
        h = (h ^ 0x1f) * 1099511628211ULL;
    }
    return h;
}

/* The slot holding the cell with these labels, or the empty slot where it would go. */
static size_t *find_slot(const struct dash_hist *h, const char *x, const char *l, const char *r)
{
    size_t i = (size_t)hash3(x, l, r) & (h->nslots - 1);

    for (;; i = (i + 1) & (h->nslots - 1)) {
        const json_t *c;
        if (!h->slots[i])
            return &h->slots[i];
        c = json_array_get(h->cells, h->slots[i] - 1);
        if (!strcmp(cell_str(c, "xen"), x) && !strcmp(cell_str(c, "linux"), l) &&
            !strcmp(cell_str(c, "repro"), r))
            return &h->slots[i];
    }
}

struct dash_hist *dash_hist_new(const json_t *cells, size_t nnights)
{
    struct dash_hist *h = xcalloc(1, sizeof(*h));

    h->cells = cells;
    h->ncells = json_is_array(cells) ? json_array_size(cells) : 0;
    h->nnights = nnights;
    h->letters = xmalloc(h->ncells * (nnights + 1) + 1);
    for (size_t i = 0; i < h->ncells; i++) {
        memset(h->letters + i * (nnights + 1), '-', nnights);
        h->letters[i * (nnights + 1) + nnights] = '\0';
    }
    for (h->nslots = 16; h->nslots < 2 * h->ncells; h->nslots *= 2)
        ;
    h->slots = xcalloc(h->nslots, sizeof(h->slots[0]));
    for (size_t i = 0; i < h->ncells; i++) {
        const json_t *c = json_array_get(cells, i);
        size_t *s = find_slot(h, cell_str(c, "xen"), cell_str(c, "linux"), cell_str(c, "repro"));
        if (!*s)
            *s = i + 1; /* a duplicate cell keeps the first */
    }
    return h;
}

void dash_hist_set(struct dash_hist *h, size_t night, const char *xen, const char *linux_,
                   const char *repro, const char *verdict)
{
    size_t *s;
    char letter = '-';

    if (!h || night >= h->nnights || !xen || !linux_ || !repro)
        return;
    s = find_slot(h, xen, linux_, repro);
    if (!*s)
        return;
    if (verdict && !strcmp(verdict, "pass"))
        letter = 'p';
    else if (verdict && !strcmp(verdict, "fail"))
        letter = 'f';
    else if (verdict && !strcmp(verdict, "infra"))
        letter = 'i';
    else if (verdict && !strcmp(verdict, "skip"))
        letter = 's';
    h->letters[(*s - 1) * (h->nnights + 1) + night] = letter;
}

const char *dash_hist_cell(const struct dash_hist *h, size_t i)
{
    return i < h->ncells ? h->letters + i * (h->nnights + 1) : "";
}

size_t dash_hist_nights(const struct dash_hist *h)
{
    return h->nnights;
}

void dash_hist_free(struct dash_hist *h)
{
    if (!h)
        return;
    free(h->letters);
    free(h->slots);
    free(h);
}

/* Labels in order of first appearance. */
struct labels {
    const char **v;
    size_t n;
};

static size_t label_index(struct labels *l, const char *s, int add)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i], s))
            return i;
    if (!add)
        return (size_t)-1;
    l->v = xrealloc(l->v, (l->n + 1) * sizeof(l->v[0]));
    l->v[l->n] = s;
    return l->n++;
}

static double num(const json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

/* The strip of past verdicts of one cell, newest first. */
static void hist_strip(const struct html *h, const char *letters)
{
    html_raw(h, "<div class=hs>");
    for (const char *p = letters; *p; p++) {
        switch (*p) {
        case 'p': html_raw(h, "<b class=hp>P</b>"); break;
        case 'f': html_raw(h, "<b class=hf>F</b>"); break;
        case 'i': html_raw(h, "<b class=hi>I</b>"); break;
        case 's': html_raw(h, "<b class=hn>S</b>"); break;
        default: html_raw(h, "<b class=hn>·</b>");
        }
    }
    html_raw(h, "</div>");
}

/* One cell: verdict (linked to its run), change, counts, rate, history. */
static void render_cell(const struct html *h, const json_t *c, size_t idx,
                        const struct dash_table_opts *o)
{
    const char *verdict = json_string_value(json_object_get(c, "verdict"));
    const json_t *rates = json_object_get(c, "rates");
    json_int_t run_id = json_integer_value(json_object_get(c, "run_id"));
    const char *cls = "none";
    double boots = num(rates, "boots"), corrupt_boots = num(rates, "boots_corrupt");
    double corr = num(rates, "corruptions");
    char id[32];

    if (html_verdict_known(verdict))
        cls = verdict;
    html_fmt(h, "<td class=\"c c-%s\">", cls);
    if (run_id > 0 && o->lab) {
        snprintf(id, sizeof(id), "%lld", (long long)run_id);
        html_raw(h, "<a href=\"");
        html_url(h, ".html", "run", o->lab, id, NULL);
        html_raw(h, "\">");
        html_verdict(h, verdict);
        html_raw(h, "</a>");
    } else {
        html_verdict(h, verdict);
    }
    if (json_is_string(json_object_get(c, "change")) &&
        strcmp(json_string_value(json_object_get(c, "change")), "pass")) {
        html_raw(h, " ");
        html_change(h, json_string_value(json_object_get(c, "change")));
    }
    if (json_is_string(json_object_get(c, "untestable"))) { /* why nothing booted */
        html_raw(h, "<div class=n>");
        html_text(h, json_string_value(json_object_get(c, "untestable")));
        html_raw(h, "</div>");
    }
    html_fmt(h, "<div class=n>%.0f boot%s", boots, boots == 1 ? "" : "s");
    if (corrupt_boots > 0)
        html_fmt(h, " (%.0f corrupt)", corrupt_boots);
    html_fmt(h, " · %.0f iter · %.0f corr</div>", num(rates, "iterations"), corr);
    if (json_is_object(rates) && num(rates, "iterations") > 0) {
        if (corr == 0 && corrupt_boots == 0) {
            html_raw(h, "<div class=n>rate ≤ ");
            html_pct(h, num(rates, "rate_hi95"));
            html_raw(h, " (95%)</div>");
        } else {
            html_raw(h, "<div class=n>rate ");
            html_pct(h, num(rates, "rate"));
            html_raw(h, " [");
            html_pct(h, num(rates, "rate_lo95"));
            html_raw(h, ", ");
            html_pct(h, num(rates, "rate_hi95"));
            html_raw(h, "]</div>");
        }
    }
    if (o->hist)
        hist_strip(h, dash_hist_cell(o->hist, idx));
    html_raw(h, "</td>");
}

/* The legend of the history strip: what the letters are and which nights they show. */
static void legend(const struct html *h, const struct dash_table_opts *o)
{
    size_t n = o->hist ? dash_hist_nights(o->hist) : 0;

    html_raw(h, "<p class=legend>Cell: verdict (links to its run), change against the previous "
                "run, boots, iterations, corruptions, rate per iteration (clean: its 95% upper "
                "bound).");
    if (n) {
        if (n == 1)
            html_raw(h, " Strip: this run only (the name has no earlier run here)");
        else
            html_fmt(h, " Strip: the last %zu runs of this name, newest first", n);
        html_raw(h, " ("
                    "<b class=hp>&nbsp;P&nbsp;</b> pass <b class=hf>&nbsp;F&nbsp;</b> fail "
                    "<b class=hi>&nbsp;I&nbsp;</b> infra <b class=hn>&nbsp;S&nbsp;</b> untestable "
                    "<b class=hn>&nbsp;·&nbsp;</b> not run)");
        if (o->night_titles && n > 1) {
            html_raw(h, ": ");
            html_text(h, o->night_titles[0]);
            html_raw(h, " … ");
            html_text(h, o->night_titles[n - 1]);
        }
        html_raw(h, ".");
    }
    html_raw(h, "</p>\n");
}

void dash_table_render(const struct html *h, const json_t *doc, const struct dash_table_opts *o)
{
    const json_t *cells = json_object_get(doc, "cells");
    struct labels xs = { NULL, 0 }, ls = { NULL, 0 }, rs = { NULL, 0 };
    size_t n = json_is_array(cells) ? json_array_size(cells) : 0;
    size_t *grid = NULL;

    for (size_t i = 0; i < n; i++) {
        const json_t *c = json_array_get(cells, i);
        label_index(&xs, cell_str(c, "xen"), 1);
        label_index(&ls, cell_str(c, "linux"), 1);
        label_index(&rs, cell_str(c, "repro"), 1);
    }
    if (n == 0) {
        html_raw(h, "<p class=muted>This matrix has no cells.</p>\n");
        return;
    }
    /* grid[(r * nl + l) * nx + x] = cell index + 1 (0: excluded from the matrix) */
    grid = xcalloc(rs.n * ls.n * xs.n, sizeof(*grid));
    for (size_t i = 0; i < n; i++) {
        const json_t *c = json_array_get(cells, i);
        size_t x = label_index(&xs, cell_str(c, "xen"), 0);
        size_t l = label_index(&ls, cell_str(c, "linux"), 0);
        size_t r = label_index(&rs, cell_str(c, "repro"), 0);
        if (!grid[(r * ls.n + l) * xs.n + x])
            grid[(r * ls.n + l) * xs.n + x] = i + 1;
    }
    legend(h, o);
    for (size_t r = 0; r < rs.n; r++) {
        html_raw(h, "<h3>Reproducer <code>");
        html_text(h, rs.v[r]);
        html_raw(h, "</code></h3>\n<div class=scroll><table class=compat><thead><tr>"
                    "<th class=row>Linux ↓ · Xen →</th>");
        for (size_t x = 0; x < xs.n; x++) {
            html_raw(h, "<th>Xen ");
            html_text(h, xs.v[x]);
            html_raw(h, "</th>");
        }
        html_raw(h, "</tr></thead><tbody>\n");
        for (size_t l = 0; l < ls.n; l++) {
            html_raw(h, "<tr><th class=row>Linux ");
            html_text(h, ls.v[l]);
            html_raw(h, "</th>");
            for (size_t x = 0; x < xs.n; x++) {
                size_t g = grid[(r * ls.n + l) * xs.n + x];
                if (g)
                    render_cell(h, json_array_get(cells, g - 1), g - 1, o);
                else
                    html_raw(h, "<td class=\"c c-none\">not in the matrix</td>");
            }
            html_raw(h, "</tr>\n");
        }
        html_raw(h, "</tbody></table></div>\n");
    }
    free(grid);
    free(xs.v);
    free(ls.v);
    free(rs.v);
}
