/* Request handling: routing, authentication, the JSON API; pages come from dash_pages.c. */
#include "reporter/dash_api.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "reporter/dash_ingest.h"
#include "reporter/dash_pages.h"
#include "reporter/dash_request.h"
#include "reporter/dash_route.h"
#include "util/json.h"
#include "util/log.h"
#include "util/xalloc.h"

#define CT_JSON "application/json"
#define CT_HTML "text/html; charset=utf-8"
#define CT_TEXT "text/plain; charset=utf-8"

void dash_resp_init(struct dash_resp *rs)
{
    memset(rs, 0, sizeof(*rs));
    buf_init(&rs->body, 0);
    rs->status = 500;
    rs->content_type = CT_TEXT;
}

void dash_resp_release(struct dash_resp *rs)
{
    buf_release(&rs->body);
    free(rs->disposition);
    rs->disposition = NULL;
}

int dash_auth(struct dash_db *db, const char *authorization, char **name_r, struct err *e)
{
    const char *p = authorization;

    if (!p || strncasecmp(p, "Bearer ", 7))
        return 0;
    p += 7;
    while (*p == ' ')
        p++;
    return dash_token_check(db, p, name_r, e);
}

/* An error response: JSON for the API, an HTML page otherwise. */
static void fail(const struct dash_req *rq, struct dash_resp *rs, int status, const char *msg)
{
    buf_reset(&rs->body);
    rs->status = status;
    if (dash_route_is_api(rq->path)) {
        struct jw w;
        rs->content_type = CT_JSON;
        jw_init(&w, &rs->body);
        jw_obj(&w);
        jw_kv_bool(&w, "ok", 0);
        jw_kv_s(&w, "error", msg);
        jw_end(&w);
        buf_addch(&rs->body, '\n');
    } else {
        struct html h = { &rs->body, 0, 0, NULL };
        rs->content_type = CT_HTML;
        dash_page_error(&h, status, msg);
    }
}

/* An error of a lower layer: the request's fault (4xx, with its message) or ours (500: the
 * message goes to the log, the client gets a pointer to it). */
static void fail_err(const struct dash_req *rq, struct dash_resp *rs, const struct err *e)
{
    switch (e->code) {
    case ERR_NOTFOUND: fail(rq, rs, 404, e->msg); return;
    case ERR_USAGE: fail(rq, rs, 400, e->msg); return;
    case ERR_BUSY: fail(rq, rs, 409, e->msg); return;
    default:
        log_error("serve", "%s %s: %s", rq->method, rq->path, e->msg);
        fail(rq, rs, 500, "internal error of the dashboard (its log says what)");
    }
}

static void ok_json(struct dash_resp *rs, int status, struct buf *json)
{
    rs->status = status;
    rs->content_type = CT_JSON;
    buf_reset(&rs->body);
    buf_add(&rs->body, json->data, json->len);
    buf_addch(&rs->body, '\n');
}

static const char *arg(const struct dash_req *rq, const char *key)
{
    return rq->arg ? rq->arg(rq->arg_ctx, key) : NULL;
}

/* ?limit= and ?offset=; -1 with a 400 answered when malformed. */
static int paging(const struct dash_req *rq, struct dash_resp *rs, int *limit, int *offset)
{
    const char *l = arg(rq, "limit"), *o = arg(rq, "offset");
    char *end;
    long v;

    if (l) {
        v = strtol(l, &end, 10);
        if (!*l || *end || v < 1 || v > 1000) {
            fail(rq, rs, 400, "limit must be a number from 1 to 1000");
            return -1;
        }
        *limit = (int)v;
    }
    if (o) {
        v = strtol(o, &end, 10);
        if (!*o || *end || v < 0 || v > 100000000) {
            fail(rq, rs, 400, "offset must be a number from 0");
            return -1;
        }
        *offset = (int)v;
    }
    return 0;
}

static void row_json(struct jw *w, const struct dash_row *r)
{
    char *id = xasprintf("%s/%s/%lld", r->lab, dash_kind_name(r->kind), r->local_id);
    char *url = xasprintf("/%s/%s/%lld", dash_kind_name(r->kind), r->lab, r->local_id);

    jw_obj(w);
    jw_kv_s(w, "id", id);
    jw_kv_s(w, "kind", dash_kind_name(r->kind));
    jw_kv_s(w, "lab", r->lab);
    jw_kv_int(w, "local_id", r->local_id);
    jw_kv_s(w, "name", r->name);
    jw_kv_s(w, "status", r->status);
    jw_kv_s(w, "verdict", r->verdict);
    jw_kv_s(w, "created", r->created);
    jw_kv_s(w, "received", r->received);
    jw_kv_s(w, "summary", r->summary);
    if (r->kind == DASH_MATRIX)
        jw_kv_int(w, "regressions", r->regressions);
    if (r->request_id > 0)
        jw_kv_int(w, "request", r->request_id);
    jw_kv_s(w, "url", url);
    jw_end(w);
    free(id);
    free(url);
}

static void api_list(const struct dash_ctx *c, const struct dash_req *rq, struct dash_resp *rs,
                     enum dash_kind kind)
{
    struct dash_query q = { .lab = arg(rq, "lab"), .name = arg(rq, "name"), .limit = 100 };
    struct dash_row *v = NULL;
    struct buf b = BUF_INIT;
    struct err e = ERR_INIT;
    struct jw w;
    long long total;
    size_t n = 0;

    if (paging(rq, rs, &q.limit, &q.offset) < 0)
        return;
    if (dash_db_count(c->db, kind, &q, &total, &e) < 0 ||
        dash_db_list(c->db, kind, &q, &v, &n, &e) < 0) {
        fail_err(rq, rs, &e);
        return;
    }
    jw_init(&w, &b);
    jw_obj(&w);
    jw_kv_int(&w, "total", total);
    jw_key(&w, "items");
    jw_arr(&w);
    for (size_t i = 0; i < n; i++)
        row_json(&w, &v[i]);
    jw_end(&w);
    jw_end(&w);
    ok_json(rs, 200, &b);
    buf_release(&b);
    dash_rows_free(v, n);
}

static void api_doc(const struct dash_ctx *c, const struct dash_req *rq, struct dash_resp *rs,
                    const struct dash_route *r, int envelope)
{
    struct dash_row row = { 0 };
    struct err e = ERR_INIT;
    struct buf b = BUF_INIT;
    char *doc = NULL;

    if (dash_db_get(c->db, r->rkind, r->lab, r->id, &row, &doc, &e) < 0) {
        fail_err(rq, rs, &e);
        return;
    }
    if (envelope) {
        struct jw w;
        char *id = xasprintf("%s/%s/%lld", r->lab, dash_kind_name(r->rkind), r->id);
        jw_init(&w, &b);
        jw_obj(&w);
        jw_kv_s(&w, "kind", dash_kind_name(r->rkind));
        jw_kv_s(&w, "id", id);
        jw_kv_s(&w, "lab", r->lab);
        jw_kv_s(&w, "received", row.received);
        jw_key(&w, "doc");
        jw_raw(&w, doc);
        jw_end(&w);
        free(id);
    } else {
        buf_adds(&b, doc);
    }
    ok_json(rs, 200, &b);
    buf_release(&b);
    free(doc);
    dash_row_free(&row);
}

/* A request as the API shows it (new reference). */
static json_t *request_json(const struct dash_request *r)
{
    json_t *j = r->spec_json ? json_loads(r->spec_json, 0, NULL) : NULL;
    json_t *p = r->progress_json ? json_loads(r->progress_json, 0, NULL) : NULL;

    if (!json_is_object(j)) {
        json_decref(j);
        j = json_object();
    }
#define SET_S(k, v) json_object_set_new(j, k, (v) ? json_string(v) : json_null())
    json_object_set_new(j, "id", json_integer(r->id));
    SET_S("state", r->state);
    SET_S("created", r->created);
    SET_S("by", r->by);
    SET_S("worker", r->worker);
    SET_S("claimed", r->claimed);
    json_object_set_new(j, "lease_until",
                        r->lease_until ? json_integer(r->lease_until) : json_null());
    json_object_set_new(j, "progress", p ? p : json_null());
    SET_S("progress_at", r->progress_at);
    SET_S("outcome", r->outcome);
    SET_S("bisect", r->bisect);
    SET_S("reason", r->reason);
    SET_S("finished", r->finished);
#undef SET_S
    return j;
}

static void send_json(struct dash_resp *rs, int status, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15));
    struct buf b = BUF_INIT;

    buf_adds(&b, s ? s : "null");
    ok_json(rs, status, &b);
    buf_release(&b);
    free(s);
    json_decref(j);
}

static void api_requests(const struct dash_ctx *c, const struct dash_req *rq, struct dash_resp *rs)
{
    struct dash_request *v = NULL;
    struct err e = ERR_INIT;
    long long total;
    int limit = 100, offset = 0;
    size_t n = 0;
    json_t *items;

    if (paging(rq, rs, &limit, &offset) < 0)
        return;
    if (dash_db_request_count(c->db, &total, &e) < 0 ||
        dash_db_request_list(c->db, limit, &v, &n, &e) < 0) {
        fail_err(rq, rs, &e);
        return;
    }
    items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, request_json(&v[i]));
    dash_requests_free(v, n);
    send_json(rs, 200, json_pack("{sIso}", "total", (json_int_t)total, "items", items));
}

static void api_request(const struct dash_ctx *c, const struct dash_req *rq, struct dash_resp *rs,
                        long long id)
{
    struct dash_request r;
    struct err e = ERR_INIT;

    if (dash_db_request_get(c->db, id, &r, &e) < 0) {
        fail_err(rq, rs, &e);
        return;
    }
    send_json(rs, 200, request_json(&r));
    dash_request_free(&r);
}

static void ok_id(struct dash_resp *rs, int status, const char *id_s, long long id,
                  const char *state)
{
    struct buf b = BUF_INIT;
    struct jw w;

    jw_init(&w, &b);
    jw_obj(&w);
    jw_kv_bool(&w, "ok", 1);
    if (id_s)
        jw_kv_s(&w, "id", id_s);
    else
        jw_kv_int(&w, "id", id);
    if (state)
        jw_kv_s(&w, "state", state);
    jw_end(&w);
    ok_json(rs, status, &b);
    buf_release(&b);
}

static void post_result(const struct dash_ctx *c, const struct dash_req *rq, struct dash_resp *rs,
                        const char *token)
{
    struct dash_ingest in;
    struct err e = ERR_INIT;
    json_t *env = dash_json_parse(rq->body, rq->body_len, &e);
    int created = 0;

    memset(&in, 0, sizeof(in));
    if (!env || dash_ingest_result(env, token, &in, &e) < 0) {
        fail(rq, rs, 400, e.msg);
    } else if (dash_db_put(c->db, &in.info, &created, &e) < 0) {
        fail_err(rq, rs, &e);
    } else {
        ok_id(rs, created ? 201 : 200, json_string_value(json_object_get(env, "id")), 0, NULL);
        rs->wrote = 1;
    }
    dash_ingest_release(&in);
    json_decref(env);
}

static void post_request(const struct dash_ctx *c, const struct dash_req *rq, struct dash_resp *rs,
                         const char *token)
{
    struct err e = ERR_INIT;
    json_t *body = dash_json_parse(rq->body, rq->body_len, &e), *spec = NULL;
    struct dash_request_info info;
    char *spec_s = NULL;
    long long id;

    if (!body) {
        fail(rq, rs, 400, e.msg);
        goto out;
    }
    if (dash_request_check(body, c->repos, &spec, &e) < 0) {
        if (e.code == ERR_USAGE)
            fail(rq, rs, 400, e.msg);
        else
            fail_err(rq, rs, &e);
        goto out;
    }
    spec_s = json_dumps(spec, JSON_COMPACT | JSON_REAL_PRECISION(15));
    info = (struct dash_request_info){ json_string_value(json_object_get(spec, "alias")),
                                       json_string_value(json_object_get(spec, "good")),
                                       json_string_value(json_object_get(spec, "bad")),
                                       json_string_value(json_object_get(spec, "axis")),
                                       json_string_value(json_object_get(spec, "find")),
                                       spec_s,
                                       token };
    if (dash_db_request_add(c->db, &info, &id, &e) < 0) {
        fail_err(rq, rs, &e);
        goto out;
    }
    ok_id(rs, 201, NULL, id, "queued");
    rs->wrote = 1;
out:
    free(spec_s);
    json_decref(spec);
    json_decref(body);
}

static void post_claim(const struct dash_ctx *c, const struct dash_req *rq, struct dash_resp *rs,
                       const char *token)
{
    struct dash_request r;
    struct err e = ERR_INIT;
    int got = dash_db_request_claim(c->db, token, (long long)time(NULL), c->lease_s, &r, &e);
    json_t *j;

    if (got < 0) {
        fail_err(rq, rs, &e);
        return;
    }
    rs->wrote = 1;
    if (!got) {
        rs->status = 204;
        rs->content_type = CT_JSON;
        return;
    }
    j = request_json(&r);
    json_object_set_new(j, "lease_s", json_integer(c->lease_s));
    send_json(rs, 200, j);
    dash_request_free(&r);
}

static void post_progress(const struct dash_ctx *c, const struct dash_req *rq, struct dash_resp *rs,
                          long long id)
{
    struct err e = ERR_INIT;
    json_t *body = NULL;
    char *s = NULL;

    if (rq->body_len > DASH_PROGRESS_MAX) {
        fail(rq, rs, 413, "progress is at most 64 KiB of JSON");
        return;
    }
    body = dash_json_parse(rq->body, rq->body_len, &e);
    if (!body) {
        fail(rq, rs, 400, e.msg);
        return;
    }
    s = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(15));
    if (dash_db_request_progress(c->db, id, s, (long long)time(NULL), c->lease_s, &e) < 0) {
        fail_err(rq, rs, &e);
    } else {
        ok_id(rs, 200, NULL, id, "running");
        rs->wrote = 1;
    }
    free(s);
    json_decref(body);
}

static void post_done(const struct dash_ctx *c, const struct dash_req *rq, struct dash_resp *rs,
                      long long id)
{
    struct err e = ERR_INIT;
    json_t *body = dash_json_parse(rq->body, rq->body_len, &e);
    const char *outcome, *bisect, *reason, *key;
    json_t *v;
    char lab[65];
    enum dash_kind k;
    long long n;

    if (!body) {
        fail(rq, rs, 400, e.msg);
        return;
    }
    outcome = json_string_value(json_object_get(body, "outcome"));
    bisect = json_string_value(json_object_get(body, "bisect"));
    reason = json_string_value(json_object_get(body, "reason"));
    json_object_foreach(body, key, v)
    {
        if ((strcmp(key, "outcome") && strcmp(key, "bisect") && strcmp(key, "reason")) ||
            !(json_is_string(v) || (strcmp(key, "outcome") && json_is_null(v)))) {
            fail(rq, rs, 400,
                 "done takes {\"outcome\": string, \"bisect\": \"<lab>/bisect/<n>\" "
                 "or null, \"reason\": string or null}");
            goto out;
        }
    }
    if (!outcome || !*outcome || strlen(outcome) > 64) {
        fail(rq, rs, 400, "outcome must be a non-empty string (found, refused, error ...)");
    } else if (bisect && (dash_result_id_parse(bisect, lab, &k, &n) < 0 || k != DASH_BISECT)) {
        fail(rq, rs, 400, "bisect must be the result id of a bisection: <lab>/bisect/<n>");
    } else if (reason && strlen(reason) > 8192) {
        fail(rq, rs, 400, "reason is at most 8 KiB");
    } else if (dash_db_request_done(c->db, id, outcome, bisect, reason, &e) < 0) {
        fail_err(rq, rs, &e);
    } else {
        ok_id(rs, 200, NULL, id, strcmp(outcome, "refused") ? "done" : "refused");
        rs->wrote = 1;
    }
out:
    json_decref(body);
}

/* The HTML pages and the log download. */
static void page(const struct dash_ctx *c, const struct dash_req *rq, struct dash_resp *rs,
                 const struct dash_route *r)
{
    struct html h = { &rs->body, 0, 0, c->repos };
    struct err e = ERR_INIT;
    int rc = -1;

    buf_reset(&rs->body);
    switch (r->kind) {
    case ROUTE_INDEX: rc = dash_page_index(&h, c->db, &e); break;
    case ROUTE_MATRIX: rc = dash_page_matrix(&h, c->db, r->lab, r->id, &e); break;
    case ROUTE_MATRIX_LATEST: rc = dash_page_matrix_latest(&h, c->db, r->lab, r->name, &e); break;
    case ROUTE_NIGHTLY: rc = dash_page_nightly(&h, c->db, NULL, NULL, &e); break;
    case ROUTE_NIGHTLY_NAME: rc = dash_page_nightly(&h, c->db, r->lab, r->name, &e); break;
    case ROUTE_RUN: rc = dash_page_run(&h, c->db, r->lab, r->id, &e); break;
    case ROUTE_BISECT: rc = dash_page_bisect(&h, c->db, r->lab, r->id, &e); break;
    case ROUTE_REQUESTS: rc = dash_page_requests(&h, c->db, &e); break;
    case ROUTE_REQUEST: rc = dash_page_request(&h, c->db, r->id, &e); break;
    case ROUTE_RUN_LOG:
        rc = dash_run_log(c->db, r->lab, r->id, r->idx, &rs->body, &e);
        if (rc == 0) {
            rs->status = 200;
            rs->content_type = CT_TEXT;
            rs->disposition = xasprintf("attachment; filename=\"%s-run-%lld-trial-%lld.log\"",
                                        r->lab, r->id, r->idx);
            return;
        }
        break;
    default: break;
    }
    if (rc < 0) {
        fail_err(rq, rs, &e);
        return;
    }
    rs->status = 200;
    rs->content_type = CT_HTML;
}

/* The token of a write, or NULL with 401 (or 500) answered. */
static char *require_token(const struct dash_ctx *c, const struct dash_req *rq,
                           struct dash_resp *rs)
{
    struct err e = ERR_INIT;
    char *name = NULL;
    int r = dash_auth(c->db, rq->authorization, &name, &e);

    if (r < 0)
        fail_err(rq, rs, &e);
    if (r == 0) {
        fail(rq, rs, 401,
             "a valid token is needed to write: send Authorization: Bearer TOKEN "
             "(pvlab serve --add-token NAME makes one)");
        rs->www_authenticate = 1;
    }
    return r == 1 ? name : NULL;
}

void dash_handle(const struct dash_ctx *c, const struct dash_req *rq, struct dash_resp *rs)
{
    struct dash_route r;
    int get = !strcmp(rq->method, "GET") || !strcmp(rq->method, "HEAD");
    int post = !strcmp(rq->method, "POST");
    const char *methods;
    char *token = NULL;

    if (dash_route_parse(rq->path, &r) < 0) {
        fail(rq, rs, 404,
             "nothing here: see / for the pages and /api/v1/matrices, "
             "/api/v1/runs, /api/v1/bisects, /api/v1/requests for the API");
        return;
    }
    methods = dash_route_methods(r.kind);
    if (!(get && strstr(methods, "GET")) && !(post && strstr(methods, "POST"))) {
        fail(rq, rs, 405, "this path does not take that method");
        rs->allow = methods;
        return;
    }
    if (post) {
        token = require_token(c, rq, rs);
        if (!token)
            return;
    }
    switch (r.kind) {
    case ROUTE_API_LIST: api_list(c, rq, rs, r.rkind); break;
    case ROUTE_API_DOC: api_doc(c, rq, rs, &r, 0); break;
    case ROUTE_API_RESULT: api_doc(c, rq, rs, &r, 1); break;
    case ROUTE_API_REQUESTS:
        if (post)
            post_request(c, rq, rs, token);
        else
            api_requests(c, rq, rs);
        break;
    case ROUTE_API_REQUEST: api_request(c, rq, rs, r.id); break;
    case ROUTE_API_POST_RESULT: post_result(c, rq, rs, token); break;
    case ROUTE_API_CLAIM: post_claim(c, rq, rs, token); break;
    case ROUTE_API_PROGRESS: post_progress(c, rq, rs, r.id); break;
    case ROUTE_API_DONE: post_done(c, rq, rs, r.id); break;
    default: page(c, rq, rs, &r);
    }
    free(token);
}
