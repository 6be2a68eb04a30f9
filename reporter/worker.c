#include "reporter/worker.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lab/verdict.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/xalloc.h"

#define POLL_S_DEFAULT 30
#define HEARTBEAT_S_DEFAULT 60
#define TICK_MS 5000

static void say(const struct worker_events *ev, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void say(const struct worker_events *ev, const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    log_info("worker", "%s", line);
    if (ev && ev->line)
        ev->line(ev->ctx, line);
}

/* A fixed-side name from the web: a Debian version or a reproducer, never a provider spec
 * (file:, git:...) or a path that would make this lab read its own files. */
static int plain(const char *s)
{
    return s && *s && !strchr(s, ':') && !strchr(s, '/') && s[0] != '-' && s[0] != '.';
}

static const char *jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

int worker_request(const struct config *cfg, const json_t *req, struct bisect_request *rq,
                   struct err *e)
{
    const char *alias = jstr(req, "alias"), *axis = jstr(req, "axis"), *find = jstr(req, "find");
    const char *good = jstr(req, "good_sha") ? jstr(req, "good_sha") : jstr(req, "good");
    const char *bad = jstr(req, "bad_sha") ? jstr(req, "bad_sha") : jstr(req, "bad");
    static const char *const fixed[] = { "xen", "linux", "repro" };
    const json_t *opts = json_object_get(req, "options"),
                 *conf = json_object_get(req, "confidence");
    const char *key;
    json_t *v;

    bisect_request_defaults(cfg, rq);
    if (!alias || !repos_alias_valid(alias) || !repos_path(cfg->repos, alias)) {
        struct buf names = BUF_INIT;
        repos_names(cfg->repos, &names);
        err_set(e, ERR_USAGE,
                "this lab has no repository '%.64s' (add [repos] %.64s = PATH to "
                "its configuration); it has: %s",
                alias ? alias : "", alias ? alias : "ALIAS", names.data);
        buf_release(&names);
        return -1;
    }
    rq->repo = repos_path(cfg->repos, alias);
    rq->alias = alias;
    rq->request_id = json_integer_value(json_object_get(req, "id"));
    if (!good || !bad || good[0] == '-' || bad[0] == '-') {
        err_set(e, ERR_USAGE, "the request has no good and bad revisions");
        return -1;
    }
    sv_push(&rq->good, good);
    rq->bad = bad;
    rq->find_fix = find && !strcmp(find, "fix");
    if (axis && !strcmp(axis, "test-cmd")) {
        rq->test_cmd = repos_test_cmd(cfg->repos, alias);
        if (!rq->test_cmd) {
            err_set(e, ERR_USAGE, "this lab has no test command for '%s' ([repo_test] %s = ...)",
                    alias, alias);
            return -1;
        }
    } else if (axis && (!strcmp(axis, "linux") || !strcmp(axis, "xen"))) {
        rq->axis = axis;
    } else {
        err_set(e, ERR_USAGE, "axis must be linux, xen or test-cmd, not '%.32s'", axis ? axis : "");
        return -1;
    }
    for (size_t i = 0; i < 3; i++) {
        const char *s = jstr(req, fixed[i]);
        if (!s)
            continue;
        if (!plain(s)) {
            err_set(e, ERR_USAGE,
                    "%s '%.64s' is not a plain version or reproducer name: a "
                    "request cannot name files or sources of this lab",
                    fixed[i], s);
            return -1;
        }
        if (i == 0)
            rq->xen_spec = s;
        else if (i == 1)
            rq->linux_spec = s;
        else
            rq->repro = s;
    }
    if (json_is_number(conf))
        rq->confidence = json_number_value(conf);
    if (json_is_object(opts))
        json_object_foreach((json_t *)opts, key, v)
        {
            double n = json_number_value(v);
            if (!strcmp(key, "iterations"))
                rq->iterations = (long)n;
            else if (!strcmp(key, "workers") && n >= 1)
                rq->workers = (int)n; /* 0: the lab's [bisect] workers */
            else if (!strcmp(key, "lazy_fpu"))
                rq->lazy_fpu = json_is_true(v);
            else if (!strcmp(key, "self_test_corrupt"))
                rq->self_test_corrupt = n;
            else if (!strcmp(key, "p"))
                rq->p = n;
            else if (!strcmp(key, "check_good"))
                rq->check_good = (int)n;
            else if (!strcmp(key, "check_bad_max"))
                rq->check_bad_max = (int)n;
            else if (!strcmp(key, "max_trials"))
                rq->max_trials = (long)n;
            else if (!strcmp(key, "verify"))
                rq->verify = json_is_true(v);
            else if (!strcmp(key, "trial_timeout_s"))
                rq->trial_timeout_s = (int)n;
            /* "trials" is a matrix/run option: a bisection chooses its own number */
        }
    if (rq->confidence <= 0 || rq->confidence >= 1 || rq->iterations < 1 || rq->workers < 1 ||
        rq->workers > 64) {
        err_set(e, ERR_USAGE, "confidence must be in (0, 1), iterations >= 1, workers 1..64");
        return -1;
    }
    return 0;
}

struct job {
    const struct reporter *r; /* retries 0: progress never holds a trial up */
    const struct worker_events *ev;
    long long req_id;
    long long bisect_id; /* set by bisect_start once stored */
    int heartbeat_s;
    long long last_post_ms;
    long trials;
    char status[512];
    char last[256];
};

static void post_progress(struct job *j, int force)
{
    long long now = proc_now_ms();
    struct buf b = BUF_INIT, path = BUF_INIT;
    struct jw w;
    struct err e = ERR_INIT;
    long st = 0;

    if (!j->bisect_id || (!force && now - j->last_post_ms < (long long)j->heartbeat_s * 1000))
        return;
    j->last_post_ms = now;
    jw_init(&w, &b);
    jw_obj(&w);
    jw_kv_s(&w, "lab", j->r->lab);
    jw_kv_int(&w, "local_id", j->bisect_id);
    buf_addf(&path, "%s/bisect/%lld", j->r->lab, j->bisect_id);
    jw_kv_s(&w, "bisect", path.data);
    jw_kv_s(&w, "status", j->status);
    jw_kv_int(&w, "trials", j->trials);
    jw_kv_s(&w, "last_trial", j->last[0] ? j->last : NULL);
    jw_end(&w);
    buf_reset(&path);
    buf_addf(&path, "/api/v1/requests/%lld/progress", j->req_id);
    if (reporter_http(j->r, "POST", path.data, b.data, &st, NULL, &e) < 0 || st / 100 != 2)
        log_warn("worker", "request %lld: progress not posted (%s)", j->req_id,
                 e.msg[0] ? e.msg : "the dashboard refused it");
    buf_release(&b);
    buf_release(&path);
}

static void on_status(void *ctx, const char *line)
{
    struct job *j = ctx;
    int first = !j->status[0];

    snprintf(j->status, sizeof(j->status), "%s", line);
    post_progress(j, first);
}

static void on_trial(void *ctx, const char *phase, const char *sha, enum verdict_kind outcome,
                     const char *detail)
{
    struct job *j = ctx;

    j->trials++;
    snprintf(j->last, sizeof(j->last), "%s %.12s %s%s%s", phase, sha, verdict_name(outcome),
             detail && *detail ? ": " : "", detail ? detail : "");
    say(j->ev, "request %lld: trial %ld: %s", j->req_id, j->trials, j->last);
    post_progress(j, 1);
}

static void on_tick(void *ctx)
{
    post_progress(ctx, 0);
}

static int post_done(const struct reporter *r, long long req_id, const char *outcome,
                     long long bisect_id, const char *reason, struct err *e)
{
    struct buf b = BUF_INIT, path = BUF_INIT, resp = BUF_INIT;
    struct jw w;
    long st = 0;
    int rc = -1;

    jw_init(&w, &b);
    jw_obj(&w);
    jw_kv_s(&w, "outcome", outcome);
    if (bisect_id > 0) {
        buf_addf(&path, "%s/bisect/%lld", r->lab, bisect_id);
        jw_kv_s(&w, "bisect", path.data);
        buf_reset(&path);
    }
    if (reason)
        jw_kv_s(&w, "reason", reason);
    jw_end(&w);
    buf_addf(&path, "/api/v1/requests/%lld/done", req_id);
    if (reporter_http(r, "POST", path.data, b.data, &st, &resp, e) < 0)
        goto out;
    if (st / 100 != 2) {
        err_set(e, ERR_NET, "the dashboard refused the outcome of request %lld (HTTP %ld): %.300s",
                req_id, st, resp.data ? resp.data : "");
        goto out;
    }
    rc = 0;
out:
    buf_release(&b);
    buf_release(&path);
    buf_release(&resp);
    return rc;
}

/* The outcome and a one-line reason of a finished bisection, from its stored report. */
static void outcome_of(struct store *st, long long id, struct buf *outcome, struct buf *reason)
{
    struct bisect_rec b;
    struct json_flat j = { NULL, 0 };

    buf_adds(outcome, "error");
    if (store_bisect_get(st, id, &b, NULL, NULL, NULL) < 0)
        return;
    if (b.result_json && json_flat_parse(b.result_json, &j, NULL) == 0) {
        const char *o = json_flat_str(&j, "outcome"), *c = json_flat_str(&j, "culprit");
        buf_reset(outcome);
        buf_adds(outcome, o ? o : "unknown");
        if (c)
            buf_addf(reason, "%s %.12s %s (P %.3f, P(miss) %.3f) after %.0f trials",
                     !strcmp(b.find, "fix") ? "fix" : "culprit", c,
                     json_flat_str(&j, "subject") ? json_flat_str(&j, "subject") : "",
                     json_flat_num(&j, "probability", 0), json_flat_num(&j, "p_miss", 1),
                     json_flat_num(&j, "trials", 0));
        else if (json_flat_str(&j, "why"))
            buf_adds(reason, json_flat_str(&j, "why"));
    } else {
        buf_addf(reason, "bisection %lld ended %s without a report", id, b.status);
    }
    json_flat_free(&j);
    bisect_rec_free(&b);
}

/* This lab's bisection of a request it claimed before (its progress names this lab), or 0. */
static long long earlier_bisection(const struct reporter *r, const json_t *req)
{
    const json_t *p = json_object_get(req, "progress");
    const char *lab = jstr(p, "lab");
    json_t *id = json_object_get(p, "local_id");

    return lab && !strcmp(lab, r->lab) && json_is_integer(id) ? json_integer_value(id) : 0;
}

/* Handles one claimed request. -1 only for what stops the worker (Ctrl-C). */
static int handle(const struct config *cfg, const char *config_path, struct store *st,
                  const struct reporter *r, const struct worker_opts *o,
                  const struct worker_events *ev, const json_t *req, struct err *e)
{
    struct reporter quiet = *r;
    struct job j;
    struct bisect_request rq;
    struct bisect_events bev = { on_status, on_trial, on_tick, TICK_MS, &j };
    struct err be = ERR_INIT, pe = ERR_INIT;
    struct buf outcome = BUF_INIT, reason = BUF_INIT;
    long long earlier = earlier_bisection(r, req);
    int rc = 0, started;

    quiet.retries = 0;
    memset(&j, 0, sizeof(j));
    j.r = &quiet;
    j.ev = ev;
    j.req_id = json_integer_value(json_object_get(req, "id"));
    j.heartbeat_s = o->heartbeat_s > 0 ? o->heartbeat_s : HEARTBEAT_S_DEFAULT;
    memset(&rq, 0, sizeof(rq));
    say(ev, "request %lld: %s %s..%s in %s (%s)", j.req_id,
        jstr(req, "find") ? jstr(req, "find") : "regression", jstr(req, "good"), jstr(req, "bad"),
        jstr(req, "alias"), jstr(req, "axis"));
    store_bisect_mark_stale(st, NULL);
    if (earlier > 0) {
        struct bisect_rec b;
        if (store_bisect_get(st, earlier, &b, NULL, NULL, NULL) < 0) {
            earlier = 0;
        } else {
            int done = !strcmp(b.status, "done");
            bisect_rec_free(&b);
            j.bisect_id = earlier;
            if (done) {
                say(ev, "request %lld: bisection %lld had finished; reporting it", j.req_id,
                    earlier);
                started = 0;
                goto report;
            }
            say(ev, "request %lld: resuming this lab's bisection %lld", j.req_id, earlier);
            started = bisect_resume(cfg, config_path, st, earlier, &bev, &be) == 0;
            goto ran;
        }
    }
    if (worker_request(cfg, req, &rq, &be) < 0) {
        say(ev, "request %lld: refused: %s", j.req_id, be.msg);
        if (post_done(r, j.req_id, "refused", 0, be.msg, &pe) < 0)
            say(ev, "request %lld: %s", j.req_id, pe.msg);
        goto out;
    }
    started = bisect_start(cfg, config_path, st, &rq, &bev, &j.bisect_id, &be) == 0;
ran:
    if (!started) {
        if (be.code == ERR_INTERRUPTED) {
            /* the lease runs out and the request comes back; this lab resumes it then */
            *e = be;
            rc = -1;
            goto out;
        }
        if (be.code == ERR_BUSY) {
            say(ev, "request %lld: %s; left to it", j.req_id, be.msg);
            goto out;
        }
        say(ev, "request %lld: error: %s", j.req_id, be.msg);
        if (j.bisect_id > 0) {
            int sent, left;
            reporter_enqueue(r, st, "bisect", j.bisect_id, NULL);
            reporter_flush(r, &sent, &left, NULL);
        }
        if (post_done(r, j.req_id, "error", j.bisect_id, be.msg, &pe) < 0)
            say(ev, "request %lld: %s", j.req_id, pe.msg);
        goto out;
    }
report:
    /* the bisection's document first, so that the request's outcome links to it */
    if (reporter_enqueue(r, st, "bisect", j.bisect_id, &pe) < 0)
        say(ev, "request %lld: %s", j.req_id, pe.msg);
    {
        int sent = 0, left = 0;
        struct err fe = ERR_INIT;
        if (reporter_flush(r, &sent, &left, &fe) < 0 || left)
            say(ev, "request %lld: %d result(s) left in the spool (%s)", j.req_id, left,
                fe.msg[0] ? fe.msg : "the dashboard did not take them");
    }
    outcome_of(st, j.bisect_id, &outcome, &reason);
    say(ev, "request %lld: %s%s%s", j.req_id, outcome.data, reason.len ? ": " : "",
        reason.len ? reason.data : "");
    if (post_done(r, j.req_id, outcome.data, j.bisect_id, reason.len ? reason.data : NULL, &pe) < 0)
        say(ev, "request %lld: %s", j.req_id, pe.msg);
out:
    sv_clear(&rq.good);
    buf_release(&outcome);
    buf_release(&reason);
    return rc;
}

/* Sleeps s seconds unless interrupted first. */
static void nap(int s)
{
    for (int t = 0; t < s * 10 && !proc_interrupted(); t++)
        usleep(100000);
}

int worker_run(const struct config *cfg, const char *config_path, struct store *st,
               const struct reporter *r, const struct worker_opts *o,
               const struct worker_events *ev, struct err *e)
{
    int poll_s = o->poll_s > 0 ? o->poll_s : POLL_S_DEFAULT;
    long handled = 0;

    if (!r->url || !*r->url) {
        err_set(e, ERR_CONFIG,
                "no dashboard to take requests from: set [reporter] url or "
                "give --to URL");
        return -1;
    }
    if (!r->token || !*r->token) {
        err_set(e, ERR_CONFIG,
                "claiming requests needs a token: set [reporter] token (`pvlab "
                "serve --add-token NAME` on the dashboard prints one)");
        return -1;
    }
    say(ev, "worker: lab %s, dashboard %s", r->lab, r->url);
    while (!o->max_requests || handled < o->max_requests) {
        struct buf resp = BUF_INIT;
        struct err ce = ERR_INIT;
        json_t *req;
        long status = 0;

        if (proc_interrupted()) {
            err_set(e, ERR_INTERRUPTED, "interrupted");
            return -1;
        }
        if (reporter_http(r, "POST", "/api/v1/requests/claim", "{}", &status, &resp, &ce) < 0) {
            buf_release(&resp);
            if (o->once || ce.code == ERR_INTERRUPTED || proc_interrupted()) {
                *e = ce;
                return -1;
            }
            say(ev, "worker: %s; trying again in %d s", ce.msg, poll_s);
            nap(poll_s);
            continue;
        }
        if (status == 401 || status == 403) {
            err_set(e, ERR_CONFIG,
                    "the dashboard refused this lab's token (HTTP %ld): check "
                    "[reporter] token",
                    status);
            buf_release(&resp);
            return -1;
        }
        if (status == 204) {
            buf_release(&resp);
            if (o->once)
                break;
            nap(poll_s);
            continue;
        }
        req = status == 200 && resp.data ? json_loads(resp.data, 0, NULL) : NULL;
        if (!json_is_object(req) || !json_is_integer(json_object_get(req, "id"))) {
            err_set(e, ERR_NET, "the dashboard answered a claim with HTTP %ld: %.200s", status,
                    resp.data ? resp.data : "");
            json_decref(req);
            buf_release(&resp);
            return -1;
        }
        buf_release(&resp);
        if (handle(cfg, config_path, st, r, o, ev, req, e) < 0) {
            json_decref(req);
            return -1;
        }
        json_decref(req);
        handled++;
        if (o->once)
            break;
    }
    return (int)handled;
}
