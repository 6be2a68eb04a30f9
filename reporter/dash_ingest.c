#include "reporter/dash_ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf; /* range of the second byte */

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0; /* overlong */
        if (c == 0xed)
            hi = 0x9f; /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;
        if (c == 0xf4)
            hi = 0x8f; /* > U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return len;
}

size_t dash_utf8_fix(const char *s, size_t n, struct buf *out)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t fixed = 0, run = 0, i = 0;

    while (i < n) {
        size_t len = utf8_len(u + i, n - i);
        if (len) {
            i += len;
            continue;
        }
        buf_add(out, s + run, i - run);
        buf_adds(out, "\xef\xbf\xbd");
        fixed++;
        run = ++i;
    }
    buf_add(out, s + run, n - run);
    return fixed;
}

json_t *dash_json_parse(const char *body, size_t len, struct err *e)
{
    struct buf fixed = BUF_INIT;
    json_error_t je;
    json_t *j;

    if (len == 0) {
        err_set(e, ERR_USAGE, "malformed JSON: the body is empty (a JSON object was expected)");
        return NULL;
    }
    if (dash_utf8_fix(body, len, &fixed) > 0)
        j = json_loadb(fixed.data, fixed.len, JSON_REJECT_DUPLICATES, &je);
    else
        j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    buf_release(&fixed);
    if (!j) {
        err_set(e, ERR_USAGE, "malformed JSON: %s at line %d, column %d", je.text, je.line,
                je.column);
        return NULL;
    }
    if (!json_is_object(j)) {
        err_set(e, ERR_USAGE, "malformed request: the body must be a JSON object");
        json_decref(j);
        return NULL;
    }
    return j;
}

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* A key that must be a string, or absent / null when optional. */
static int check_str(const json_t *o, const char *where, const char *key, int required,
                     struct err *e)
{
    const json_t *v = json_object_get(o, key);

    if (json_is_string(v) || (!required && (!v || json_is_null(v))))
        return 0;
    err_set(e, ERR_USAGE, "%s.%s must be a string%s", where, key, required ? "" : " or null");
    return -1;
}

static int check_cells(struct dash_ingest *in, const json_t *doc, struct err *e)
{
    const json_t *cells = json_object_get(doc, "cells");
    size_t n;

    if (!json_is_array(cells)) {
        err_set(e, ERR_USAGE, "doc.cells must be an array (a matrix document has its cells)");
        return -1;
    }
    n = json_array_size(cells);
    in->cells = xcalloc(n ? n : 1, sizeof(in->cells[0]));
    for (size_t i = 0; i < n; i++) {
        const json_t *c = json_array_get(cells, i);
        const json_t *run = json_object_get(c, "run_id");
        char where[48];
        snprintf(where, sizeof(where), "doc.cells[%zu]", i);
        if (!json_is_object(c)) {
            err_set(e, ERR_USAGE, "%s must be an object", where);
            return -1;
        }
        if (check_str(c, where, "xen", 1, e) < 0 || check_str(c, where, "linux", 1, e) < 0 ||
            check_str(c, where, "repro", 1, e) < 0 || check_str(c, where, "verdict", 0, e) < 0 ||
            check_str(c, where, "change", 0, e) < 0)
            return -1;
        if (run && !json_is_null(run) && !json_is_integer(run)) {
            err_set(e, ERR_USAGE, "%s.run_id must be an integer or null", where);
            return -1;
        }
        in->cells[i] =
            (struct dash_cell_info){ str(c, "xen"),    str(c, "linux"),
                                     str(c, "repro"),  str(c, "verdict"),
                                     str(c, "change"), (long long)json_integer_value(run) };
        if (in->cells[i].change && !strcmp(in->cells[i].change, "REGRESSION"))
            in->info.regressions++;
    }
    in->info.cells = in->cells;
    in->info.ncells = n;
    return 0;
}

/* Columns of a matrix result: its name, the worst verdict, counts, changes. */
static int matrix_columns(struct dash_ingest *in, const json_t *doc, struct err *e)
{
    size_t np = 0, nf = 0, ni = 0;

    if (check_str(doc, "doc", "name", 1, e) < 0 || check_cells(in, doc, e) < 0)
        return -1;
    in->info.name = str(doc, "name");
    for (size_t i = 0; i < in->info.ncells; i++) {
        const char *v = in->cells[i].verdict;
        np += v && !strcmp(v, "pass");
        nf += v && !strcmp(v, "fail");
        ni += v && !strcmp(v, "infra");
    }
    in->info.verdict = nf ? "fail" : ni ? "infra" : np ? "pass" : NULL;
    in->summary =
        xasprintf("%zu cells: %zu pass, %zu fail, %zu infra", in->info.ncells, np, nf, ni);
    if (json_is_object(json_object_get(doc, "changes")))
        in->changes = json_dumps(json_object_get(doc, "changes"), JSON_COMPACT);
    in->info.changes_json = in->changes;
    return 0;
}

static int run_columns(struct dash_ingest *in, const json_t *doc, struct err *e)
{
    const json_t *trials = json_object_get(doc, "trials");
    const json_t *counts = json_object_get(doc, "counts");

    if (trials && !json_is_array(trials)) {
        err_set(e, ERR_USAGE, "doc.trials must be an array");
        return -1;
    }
    for (size_t i = 0; i < json_array_size(trials); i++) {
        const json_t *t = json_array_get(trials, i);
        char where[48];
        snprintf(where, sizeof(where), "doc.trials[%zu]", i);
        if (!json_is_object(t) || !json_is_integer(json_object_get(t, "idx"))) {
            err_set(e, ERR_USAGE, "%s must be an object with an integer idx", where);
            return -1;
        }
        if (check_str(t, where, "console", 0, e) < 0)
            return -1;
    }
    if (check_str(doc, "doc", "repro", 0, e) < 0 || check_str(doc, "doc", "verdict", 0, e) < 0)
        return -1;
    in->info.name = str(doc, "repro");
    in->info.verdict = str(doc, "verdict");
    in->summary = xasprintf(
        "Xen %s · Linux %s · %s · %lld of %lld trials: %lld pass, %lld fail, %lld infra",
        str(json_object_get(doc, "xen"), "spec") ? str(json_object_get(doc, "xen"), "spec") : "?",
        str(json_object_get(doc, "linux"), "spec") ? str(json_object_get(doc, "linux"), "spec")
                                                   : "?",
        str(doc, "repro") ? str(doc, "repro") : "?", (long long)json_array_size(trials),
        (long long)json_integer_value(json_object_get(doc, "trials_planned")),
        (long long)json_integer_value(json_object_get(counts, "pass")),
        (long long)json_integer_value(json_object_get(counts, "fail")),
        (long long)json_integer_value(json_object_get(counts, "infra")));
    return 0;
}

static int bisect_columns(struct dash_ingest *in, const json_t *doc, struct err *e)
{
    const json_t *r = json_object_get(doc, "result");
    const json_t *trials = json_object_get(doc, "trials");
    const json_t *req = json_object_get(doc, "request");
    const char *repo = str(doc, "repo"), *slash;

    if ((trials && !json_is_array(trials)) || (r && !json_is_null(r) && !json_is_object(r))) {
        err_set(e, ERR_USAGE, "doc.trials must be an array and doc.result an object or null");
        return -1;
    }
    if (check_str(doc, "doc", "alias", 0, e) < 0 || check_str(doc, "doc", "repo", 0, e) < 0)
        return -1;
    if (req && !json_is_null(req) && !(json_is_integer(req) && json_integer_value(req) > 0)) {
        err_set(e, ERR_USAGE, "doc.request must be a request id (a positive integer) or null");
        return -1;
    }
    in->info.request_id = (long long)json_integer_value(req);
    slash = repo ? strrchr(repo, '/') : NULL;
    in->name = xstrdup(str(doc, "alias") ? str(doc, "alias") : slash ? slash + 1 : repo);
    in->info.name = in->name;
    in->info.verdict = str(r, "outcome");
    if (str(r, "culprit"))
        in->summary = xasprintf("%.12s (P %.3f) %s", str(r, "culprit"),
                                json_number_value(json_object_get(r, "probability")),
                                str(r, "subject") ? str(r, "subject") : "");
    else if (str(r, "outcome"))
        in->summary = xasprintf("%s%s%s", str(r, "outcome"), str(r, "why") ? ": " : "",
                                str(r, "why") ? str(r, "why") : "");
    else
        in->summary = xasprintf("%zu trials so far", json_array_size(trials));
    return 0;
}

/* The envelope's own fields: kind, id, lab and doc agree with each other. */
static int check_envelope(json_t *env, struct dash_ingest *in, struct err *e)
{
    const char *kind = str(env, "kind"), *id = str(env, "id"), *lab = str(env, "lab");
    const json_t *doc = json_object_get(env, "doc");
    enum dash_kind k, idk;
    long long local;

    if (!kind || dash_kind_parse(kind, &k) < 0) {
        err_set(e, ERR_USAGE, "kind must be \"run\", \"matrix\" or \"bisect\"");
        return -1;
    }
    if (!lab || !dash_lab_valid(lab)) {
        err_set(e, ERR_USAGE,
                "lab must be a lab name: 1 to 64 of A-Z a-z 0-9 . _ -, not "
                "starting with . or -");
        return -1;
    }
    if (!id || dash_result_id_parse(id, in->lab, &idk, &local) < 0 || strcmp(in->lab, lab) ||
        idk != k) {
        err_set(e, ERR_USAGE,
                "id must be \"%s/%s/<local id>\" (the lab, the kind, a positive "
                "number)",
                lab, kind);
        return -1;
    }
    if (!json_is_object(doc)) {
        err_set(e, ERR_USAGE, "doc must be a JSON object (the result's document)");
        return -1;
    }
    if (json_integer_value(json_object_get(doc, "id")) != local) {
        err_set(e, ERR_USAGE, "doc.id must be %lld, the local id in \"%s\"", local, id);
        return -1;
    }
    in->info.kind = k;
    in->info.lab = in->lab;
    in->info.local_id = local;
    return 0;
}

int dash_ingest_result(json_t *env, const char *posted_by, struct dash_ingest *in, struct err *e)
{
    const json_t *doc;

    memset(in, 0, sizeof(*in));
    if (check_envelope(env, in, e) < 0)
        return -1;
    doc = json_object_get(env, "doc");
    if (check_str(doc, "doc", "status", 0, e) < 0 || check_str(doc, "doc", "created", 0, e) < 0)
        return -1;
    if ((in->info.kind == DASH_MATRIX && matrix_columns(in, doc, e) < 0) ||
        (in->info.kind == DASH_RUN && run_columns(in, doc, e) < 0) ||
        (in->info.kind == DASH_BISECT && bisect_columns(in, doc, e) < 0))
        return -1;
    in->info.status = str(doc, "status");
    in->info.created = str(doc, "created");
    in->info.summary = in->summary;
    in->info.posted_by = posted_by;
    in->doc = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15));
    in->info.doc = in->doc;
    return 0;
}

void dash_ingest_release(struct dash_ingest *in)
{
    free(in->cells);
    free(in->doc);
    free(in->summary);
    free(in->changes);
    free(in->name);
    memset(in, 0, sizeof(*in));
}
