#include "reporter/dash_publish.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reporter/dash_api.h"
#include "reporter/dash_html.h"
#include "reporter/dash_pages.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/xalloc.h"

struct pub {
    struct dash_db *db;
    const struct repos *repos;
    const char *dir;
    struct dash_publish_stats *st;
};

/* Writes data to DIR/rel (creating directories). */
static int put_file(struct pub *p, const char *rel, const struct buf *data, struct err *e)
{
    char *path = xasprintf("%s/%s", p->dir, rel);
    char *dir = fs_dirname(path);
    int rc = -1;

    if (fs_mkdirs(dir, e) == 0 && fs_write_atomic(path, data->data, data->len, e) == 0)
        rc = 0;
    free(dir);
    free(path);
    return rc;
}

/* A path of the site (segments percent-encoded as in links) plus ext, relative to DIR. */
static char *site_path(const char *ext, const char *const *segs)
{
    struct buf b = BUF_INIT;

    for (size_t i = 0; segs[i]; i++) {
        if (i)
            buf_addch(&b, '/');
        url_seg(&b, segs[i]);
    }
    buf_adds(&b, ext);
    return buf_detach(&b, NULL);
}

enum page_kind {
    P_INDEX,
    P_NIGHTLY,
    P_NIGHTLY_NAME,
    P_REQUESTS,
    P_REQUEST,
    P_MATRIX,
    P_MATRIX_LATEST,
    P_RUN,
    P_BISECT
};

/* Renders one page at the depth of its file and writes it. */
static int page(struct pub *p, enum page_kind k, const char *const *segs, const char *lab,
                const char *name, long long id, struct err *e)
{
    struct buf b = BUF_INIT;
    struct html h = { &b, 1, 0, p->repos };
    char *rel = site_path(".html", segs);
    int rc = -1;

    for (size_t i = 1; segs[i]; i++)
        h.depth++;
    switch (k) {
    case P_INDEX: rc = dash_page_index(&h, p->db, e); break;
    case P_NIGHTLY: rc = dash_page_nightly(&h, p->db, NULL, NULL, e); break;
    case P_NIGHTLY_NAME: rc = dash_page_nightly(&h, p->db, lab, name, e); break;
    case P_REQUESTS: rc = dash_page_requests(&h, p->db, e); break;
    case P_REQUEST: rc = dash_page_request(&h, p->db, id, e); break;
    case P_MATRIX: rc = dash_page_matrix(&h, p->db, lab, id, e); break;
    case P_MATRIX_LATEST: rc = dash_page_matrix_latest(&h, p->db, lab, name, e); break;
    case P_RUN: rc = dash_page_run(&h, p->db, lab, id, e); break;
    case P_BISECT: rc = dash_page_bisect(&h, p->db, lab, id, e); break;
    }
    if (rc == 0)
        rc = put_file(p, rel, &b, e);
    if (rc == 0)
        p->st->pages++;
    buf_release(&b);
    free(rel);
    return rc;
}

/* The API's answer to GET path, written to rel. */
static int api_file(struct pub *p, const char *path, const char *rel, struct err *e)
{
    struct dash_ctx c = { p->db, p->repos, DASH_LEASE_S_DEFAULT };
    struct dash_req rq = { "GET", path, NULL, NULL, NULL, "", 0 };
    struct dash_resp rs;
    int rc = -1;

    dash_resp_init(&rs);
    dash_handle(&c, &rq, &rs);
    if (rs.status != 200)
        err_set(e, ERR_INTERNAL, "GET %s answered %d: %s", path, rs.status, rs.body.data);
    else if (put_file(p, rel, &rs.body, e) == 0)
        rc = 0, p->st->json++;
    dash_resp_release(&rs);
    return rc;
}

/* The consoles of a run's trials, one file each. */
static int run_logs(struct pub *p, const char *lab, long long id, const char *ids, struct err *e)
{
    char *text = NULL;
    json_t *doc = NULL, *trials;
    int rc = -1;

    if (dash_db_get(p->db, DASH_RUN, lab, id, NULL, &text, e) < 0)
        goto out;
    doc = json_loads(text, 0, NULL);
    trials = json_object_get(doc, "trials");
    for (size_t i = 0; i < json_array_size(trials); i++) {
        const json_t *t = json_array_get(trials, i);
        const json_t *con = json_object_get(t, "console");
        char is[32], *rel;
        const char *segs[] = { "run", lab, ids, "log", is, NULL };
        struct buf b = BUF_INIT;
        int r;
        if (!json_is_string(con))
            continue;
        snprintf(is, sizeof(is), "%lld", (long long)json_integer_value(json_object_get(t, "idx")));
        buf_add(&b, json_string_value(con), json_string_length(con));
        rel = site_path(".txt", segs);
        r = put_file(p, rel, &b, e);
        free(rel);
        buf_release(&b);
        if (r < 0)
            goto out;
        p->st->logs++;
    }
    rc = 0;
out:
    json_decref(doc);
    free(text);
    return rc;
}

static const char *const api_names[] = { "runs", "matrices", "bisects" };

/* Every result of one kind: its page, its logs, its JSON. */
static int kind_files(struct pub *p, enum dash_kind k, struct err *e)
{
    struct dash_query q = { .limit = 1000 };

    for (;; q.offset += q.limit) {
        struct dash_row *v = NULL;
        size_t n = 0;
        if (dash_db_list(p->db, k, &q, &v, &n, e) < 0)
            return -1;
        for (size_t i = 0; i < n; i++) {
            char ids[32], *path, *rel;
            const char *segs[] = { dash_kind_name(k), v[i].lab, ids, NULL };
            const char *api[] = { "api", "v1", api_names[k], v[i].lab, ids, NULL };
            int rc;
            snprintf(ids, sizeof(ids), "%lld", v[i].local_id);
            rc = page(p,
                      k == DASH_RUN      ? P_RUN
                      : k == DASH_MATRIX ? P_MATRIX
                                         : P_BISECT,
                      segs, v[i].lab, NULL, v[i].local_id, e);
            if (rc == 0 && k == DASH_RUN)
                rc = run_logs(p, v[i].lab, v[i].local_id, ids, e);
            path = xasprintf("/api/v1/%s/%s/%s", api_names[k], v[i].lab, ids);
            rel = site_path(".json", api);
            if (rc == 0)
                rc = api_file(p, path, rel, e);
            free(path);
            free(rel);
            if (rc < 0) {
                dash_rows_free(v, n);
                return -1;
            }
        }
        dash_rows_free(v, n);
        if (n < (size_t)q.limit)
            return 0;
    }
}

/* The newest matrix and the nightly page of every (lab, name) that can be a file name. */
static int name_files(struct pub *p, struct err *e)
{
    struct dash_row *v = NULL;
    size_t n = 0;
    int rc = 0;

    if (dash_db_latest_names(p->db, &v, &n, e) < 0)
        return -1;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *ls[] = { "matrix", v[i].lab, "latest", v[i].name, NULL };
        const char *ns[] = { "nightly", v[i].lab, v[i].name, NULL };
        if (!dash_name_safe(v[i].lab) || !dash_name_safe(v[i].name))
            continue;
        rc = page(p, P_MATRIX_LATEST, ls, v[i].lab, v[i].name, 0, e);
        if (rc == 0)
            rc = page(p, P_NIGHTLY_NAME, ns, v[i].lab, v[i].name, 0, e);
    }
    dash_rows_free(v, n);
    return rc;
}

static int request_files(struct pub *p, struct err *e)
{
    struct dash_request *v = NULL;
    size_t n = 0;
    int rc = 0;

    if (dash_db_request_list(p->db, 1000000, &v, &n, e) < 0)
        return -1;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char ids[32], *path, *rel;
        const char *segs[] = { "request", ids, NULL };
        const char *api[] = { "api", "v1", "requests", ids, NULL };
        snprintf(ids, sizeof(ids), "%lld", v[i].id);
        rc = page(p, P_REQUEST, segs, NULL, NULL, v[i].id, e);
        path = xasprintf("/api/v1/requests/%s", ids);
        rel = site_path(".json", api);
        if (rc == 0)
            rc = api_file(p, path, rel, e);
        free(path);
        free(rel);
    }
    dash_requests_free(v, n);
    return rc;
}

int dash_publish(struct dash_db *db, const struct repos *repos, const char *dir,
                 struct dash_publish_stats *st, struct err *e)
{
    struct pub p = { db, repos, dir, st };
    const char *idx[] = { "index", NULL }, *ni[] = { "nightly", NULL };
    const char *rq[] = { "requests", NULL };

    memset(st, 0, sizeof(*st));
    if (fs_mkdirs(dir, e) < 0)
        return -1;
    if (page(&p, P_INDEX, idx, NULL, NULL, 0, e) < 0 ||
        page(&p, P_NIGHTLY, ni, NULL, NULL, 0, e) < 0 ||
        page(&p, P_REQUESTS, rq, NULL, NULL, 0, e) < 0)
        return -1;
    for (int k = DASH_RUN; k <= DASH_BISECT; k++) {
        char *path = xasprintf("/api/v1/%s", api_names[k]);
        char *rel = xasprintf("api/v1/%s.json", api_names[k]);
        int rc = kind_files(&p, (enum dash_kind)k, e);
        if (rc == 0)
            rc = api_file(&p, path, rel, e);
        free(path);
        free(rel);
        if (rc < 0)
            return -1;
    }
    if (name_files(&p, e) < 0 || request_files(&p, e) < 0 ||
        api_file(&p, "/api/v1/requests", "api/v1/requests.json", e) < 0)
        return -1;
    return 0;
}
