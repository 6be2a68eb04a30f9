/* A bisection's final report (stored as JSON) and its git-bisect-style log. */
#include "jobs/bisect_run_int.h"

#include <stdlib.h>
#include <string.h>

#include "jobs/store.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/xalloc.h"

/* A check's trials and fails at one commit in one phase. */
struct check {
    const char *sha;
    int trials, fails;
};

static void count_check(const struct bisect_trial_rec *t, size_t n, const char *phase,
                        struct check *k)
{
    k->trials = k->fails = 0;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(t[i].phase, phase) && !strcmp(t[i].commit_sha, k->sha)) {
            k->trials += t[i].outcome == VERDICT_PASS || t[i].outcome == VERDICT_FAIL;
            k->fails += t[i].outcome == VERDICT_FAIL;
        }
}

static const char *artifact_hash(const struct bctx *c, const char *sha)
{
    for (size_t i = c->art_sha.n; i > 0; i--)
        if (!strcmp(c->art_sha.v[i - 1], sha))
            return c->art_hash.v[i - 1];
    return NULL;
}

/* The parameters a reader needs to judge the answer: only those the trials used. */
static void report_params(struct jw *w, const struct bctx *c)
{
    const struct bisect_request *rq = &c->rq;

    jw_key(w, "params");
    jw_obj(w);
    if (rq->test_cmd) {
        jw_kv_s(w, "test_cmd", rq->test_cmd);
    } else {
        jw_kv_s(w, "axis", rq->axis);
        jw_kv_s(w, "build_cmd", rq->build_cmd);
        jw_kv_s(w, !strcmp(rq->axis, "linux") ? "xen" : "linux",
                !strcmp(rq->axis, "linux") ? rq->xen_spec : rq->linux_spec);
        jw_kv_s(w, "repro", rq->repro);
        jw_kv_int(w, "iterations", rq->iterations);
        jw_kv_bool(w, "lazy_fpu", rq->lazy_fpu);
        if (rq->self_test_corrupt > 0)
            jw_kv_dbl(w, "self_test_corrupt", rq->self_test_corrupt);
        if (rq->dom0_args)
            jw_kv_s(w, "dom0_args", rq->dom0_args);
    }
    if (rq->p > 0)
        jw_kv_dbl(w, "p", rq->p);
    jw_kv_dbl(w, "confidence", rq->confidence);
    jw_kv_int(w, "workers", rq->workers);
    if (rq->max_trials)
        jw_kv_int(w, "max_trials", rq->max_trials);
    if (rq->trial_timeout_s)
        jw_kv_int(w, "trial_timeout_s", rq->trial_timeout_s);
    jw_end(w);
}

/* The answer's block: culprit, subject, confidence, credible set, verify counts. */
static void report_answer(struct jw *w, const struct bctx *c, const char *ans, double prob,
                          const struct bisect_trial_rec *t, size_t nt)
{
    size_t set[32], nset;
    char *subject = NULL, *author = NULL;
    struct check vans = { ans, 0, 0 }, vpar = { NULL, 0, 0 };

    git_describe_commit(c->rq.repo, ans, &subject, &author, NULL);
    jw_kv_s(w, "culprit", ans);
    jw_kv_s(w, "subject", subject);
    jw_kv_s(w, "author", author);
    jw_kv_dbl(w, "probability", prob);
    jw_kv_dbl(w, "p_miss", 1 - prob);
    nset = bisect_credible_set(c->eng, c->rq.confidence, set, 32);
    jw_key(w, "credible_set");
    jw_arr(w);
    for (size_t i = 0; i < nset && i < 32; i++) {
        jw_obj(w);
        jw_kv_s(w, "sha", bctx_answer(c, set[i]));
        jw_kv_dbl(w, "prob", bisect_prob(c->eng, set[i]));
        jw_end(w);
    }
    jw_end(w);
    jw_kv_int(w, "credible_set_size", (long long)nset);
    count_check(t, nt, "verify", &vans);
    for (size_t i = 0; i < nt; i++)
        if (!strcmp(t[i].phase, "verify") && strcmp(t[i].commit_sha, ans)) {
            vpar.sha = t[i].commit_sha;
            break;
        }
    jw_key(w, "verify");
    jw_obj(w);
    jw_kv_int(w, "answer_trials", vans.trials);
    jw_kv_int(w, "answer_fails", vans.fails);
    if (vpar.sha) {
        count_check(t, nt, "verify", &vpar);
        jw_kv_s(w, "parent", vpar.sha);
        jw_kv_int(w, "parent_trials", vpar.trials);
        jw_kv_int(w, "parent_fails", vpar.fails);
    }
    jw_end(w);
    if (vpar.sha && artifact_hash(c, ans) && artifact_hash(c, vpar.sha))
        jw_kv_bool(w, "identical_artifact",
                   !strcmp(artifact_hash(c, ans), artifact_hash(c, vpar.sha)));
    free(subject);
    free(author);
}

int bisect_finish(struct bctx *c, const char *outcome, const char *why, struct err *e)
{
    struct bisect_rec b = { 0 };
    struct bisect_trial_rec *t = NULL;
    size_t nt = 0, best = BISECT_NONE, i;
    double prob = 0;
    struct buf out = BUF_INIT;
    struct jw w;
    struct check bad = { c->bad_sha, 0, 0 };
    int rc = -1;

    if (store_bisect_get(c->st, c->id, &b, &t, &nt, e) < 0)
        goto out;
    count_check(t, nt, "check-bad", &bad);
    if (c->eng)
        best = bisect_best(c->eng, &prob);
    jw_init(&w, &out);
    jw_obj(&w);
    jw_kv_s(&w, "outcome", outcome);
    jw_kv_s(&w, "why", why);
    jw_kv_s(&w, "find", c->rq.find_fix ? "fix" : "regression");
    if (best != BISECT_NONE && (!strcmp(outcome, "found") || !strcmp(outcome, "credible-set") ||
                                !strcmp(outcome, "budget")))
        report_answer(&w, c, bctx_answer(c, best), prob, t, nt);
    jw_kv_int(&w, "trials", c->trials);
    jw_kv_dbl(&w, "p_estimate", c->eng ? bisect_p_estimate(c->eng) : 0);
    jw_kv_int(&w, "candidates", (long long)c->n);
    report_params(&w, c);
    jw_key(&w, "check_bad");
    jw_obj(&w);
    jw_kv_int(&w, "trials", bad.trials);
    jw_kv_int(&w, "fails", bad.fails);
    jw_end(&w);
    jw_key(&w, "check_good");
    jw_arr(&w);
    for (i = 0; i < c->good_sha.n; i++) {
        struct check g = { c->good_sha.v[i], 0, 0 };
        count_check(t, nt, "check-good", &g);
        jw_obj(&w);
        jw_kv_s(&w, "sha", g.sha);
        jw_kv_int(&w, "trials", g.trials);
        jw_kv_int(&w, "fails", g.fails);
        jw_end(&w);
    }
    jw_end(&w);
    jw_end(&w);
    if (store_bisect_set_status(c->st, c->id, "done", out.data, e) < 0)
        goto out;
    rc = 0;
out:
    bisect_trial_recs_free(t, nt);
    bisect_rec_free(&b);
    buf_release(&out);
    return rc;
}

/* Appends "git bisect TERM SHA" unless that exact line was written already. */
static void log_cmd(struct buf *out, struct sv *done, const char *term, const char *sha)
{
    char *line = xasprintf("git bisect %s %s", term, sha);

    for (size_t i = 0; i < done->n; i++)
        if (!strcmp(done->v[i], line)) {
            free(line);
            return;
        }
    buf_addf(out, "%s\n", line);
    sv_push_owned(done, line);
}

int bisect_log(struct store *st, long long id, struct buf *out, struct err *e)
{
    struct bisect_rec b;
    struct bisect_trial_rec *t = NULL;
    struct json_flat j = { NULL, 0 };
    struct sv goods = SV_INIT, done = SV_INIT;
    size_t nt = 0;
    int fix, rc = -1;
    const char *oldt, *newt;

    if (store_bisect_get(st, id, &b, &t, &nt, e) < 0)
        return -1;
    fix = b.find && !strcmp(b.find, "fix");
    /* regression: old = good, new = bad; fix: the bug is old ("broken"), the fix new */
    oldt = fix ? "broken" : "good";
    newt = fix ? "fixed" : "bad";
    sv_split(&goods, b.good, ",");
    buf_addf(out, "# pvlab bisection %lld (%s) in %s; replay with: git bisect replay FILE\n", b.id,
             fix ? "fix" : "regression", b.repo);
    /* in fix mode b.bad is the old (broken) end and the goods are new (fixed) */
    if (fix)
        buf_addf(out, "git bisect start '--term-old=broken' '--term-new=fixed' '%s' '%s'\n",
                 goods.n ? goods.v[0] : "", b.bad);
    else {
        buf_addf(out, "git bisect start '%s'", b.bad);
        for (size_t i = 0; i < goods.n; i++)
            buf_addf(out, " '%s'", goods.v[i]);
        buf_adds(out, "\n");
    }
    for (size_t i = 0; i < nt; i++) {
        buf_addf(out, "# trial %d, %s: %s %s (%s)\n", t[i].seq, t[i].phase,
                 verdict_name(t[i].outcome), t[i].commit_sha, t[i].detail ? t[i].detail : "");
        /* a fail proves a commit has the bug (one-sided noise); a pass proves nothing */
        if (t[i].outcome == VERDICT_FAIL && (fix || strcmp(t[i].commit_sha, b.bad)))
            log_cmd(out, &done, fix ? oldt : newt, t[i].commit_sha);
    }
    if (b.result_json && json_flat_parse(b.result_json, &j, NULL) == 0 &&
        json_flat_str(&j, "culprit") && json_flat_str(&j, "outcome") &&
        !strcmp(json_flat_str(&j, "outcome"), "found")) {
        const char *ans = json_flat_str(&j, "culprit");
        struct sv parents = SV_INIT;
        buf_addf(out, "# the answer, at P = %.4f: %s is the first %s commit\n",
                 json_flat_num(&j, "probability", 0), ans, newt);
        log_cmd(out, &done, newt, ans);
        if (git_parents(b.repo, ans, &parents, NULL) == 0)
            for (size_t i = 0; i < parents.n; i++)
                log_cmd(out, &done, oldt, parents.v[i]);
        sv_clear(&parents);
    }
    rc = 0;
    json_flat_free(&j);
    sv_clear(&goods);
    sv_clear(&done);
    bisect_trial_recs_free(t, nt);
    bisect_rec_free(&b);
    return rc;
}

int bisect_json(struct store *st, long long id, struct buf *out, struct err *e)
{
    struct bisect_rec b;
    struct bisect_trial_rec *t = NULL;
    struct sv subj_sha = SV_INIT, subj = SV_INIT;
    size_t nt = 0;
    struct jw w;

    if (store_bisect_get(st, id, &b, &t, &nt, e) < 0)
        return -1;
    jw_init(&w, out);

    jw_obj(&w);
    jw_kv_int(&w, "id", b.id);
    jw_kv_s(&w, "status", b.status);
    jw_kv_s(&w, "repo", b.repo);
    {
        /* the alias (the dashboard's commit links) and the request it answers */
        struct json_flat pj = { NULL, 0 };
        json_flat_parse(b.params_json ? b.params_json : "{}", &pj, NULL);
        jw_kv_s(&w, "alias", json_flat_str(&pj, "alias"));
        if (json_flat_num(&pj, "request", 0) > 0)
            jw_kv_int(&w, "request", (long long)json_flat_num(&pj, "request", 0));
        json_flat_free(&pj);
    }
    jw_kv_s(&w, "find", b.find);
    jw_kv_s(&w, "good", b.good);
    jw_kv_s(&w, "bad", b.bad);
    jw_kv_s(&w, "axis", b.axis);
    jw_kv_s(&w, "created", b.created);
    jw_kv_s(&w, "finished", b.finished);
    jw_key(&w, "params");
    jw_raw(&w, b.params_json ? b.params_json : "null");
    jw_key(&w, "result");
    jw_raw(&w, b.result_json ? b.result_json : "null");
    jw_key(&w, "trials");
    jw_arr(&w);
    for (size_t i = 0; i < nt; i++) {
        jw_obj(&w);
        jw_kv_int(&w, "seq", t[i].seq);
        jw_kv_s(&w, "phase", t[i].phase);
        jw_kv_s(&w, "commit", t[i].commit_sha);
        {
            /* the subject once per commit (a bisection tries few commits, often) */
            size_t k;
            for (k = 0; k < subj_sha.n && strcmp(subj_sha.v[k], t[i].commit_sha); k++)
                ;
            if (k == subj_sha.n) {
                char *subject = NULL, *author = NULL;
                git_describe_commit(b.repo, t[i].commit_sha, &subject, &author, NULL);
                sv_push(&subj_sha, t[i].commit_sha);
                sv_push(&subj, subject ? subject : "");
                free(subject);
                free(author);
            }
            jw_kv_s(&w, "subject", subj.v[k]);
        }
        jw_kv_s(&w, "outcome", verdict_name(t[i].outcome));
        jw_kv_s(&w, "detail", t[i].detail);
        jw_kv_int(&w, "run_id", t[i].run_id);
        jw_kv_s(&w, "log", t[i].log_path);
        jw_kv_int(&w, "wall_ms", t[i].wall_ms);
        jw_kv_s(&w, "best", t[i].best_sha);
        jw_kv_dbl(&w, "best_prob", t[i].best_prob);
        jw_kv_int(&w, "credible_set", t[i].cset);
        jw_kv_int(&w, "candidates", t[i].candidates);
        jw_kv_dbl(&w, "p_est", t[i].p_est);
        jw_end(&w);
    }
    jw_end(&w);
    jw_end(&w);
    bisect_trial_recs_free(t, nt);
    bisect_rec_free(&b);
    sv_clear(&subj_sha);
    sv_clear(&subj);
    return 0;
}
