/* reporter/dash_api + dash_route: routing, tokens, posting, pages, requests, without sockets. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/repos.h"
#include "reporter/dash_api.h"
#include "reporter/dash_db.h"
#include "reporter/dash_route.h"
#include "util/fsutil.h"
#include "util/xalloc.h"

struct fx {
    char dir[64];
    struct dash_db *db;
    struct repos *repos;
    char *auth;
    struct dash_ctx ctx;
};

static int setup(void **state)
{
    struct fx *f = xcalloc(1, sizeof(*f));
    struct err e = ERR_INIT;
    char *path, *tok = NULL, *repo, *cmd;

    strcpy(f->dir, "/tmp/pvlab-test-dapi-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    path = xasprintf("%s/dashboard.db", f->dir);
    assert_int_equal(dash_db_open(path, &f->db, &e), 0);
    assert_int_equal(dash_token_add(f->db, "lab1", &tok, &e), 0);
    f->auth = xasprintf("Bearer %s", tok);
    /* a repository of 6 commits for requests; alias "linux" names it */
    repo = xasprintf("%s/repo", f->dir);
    cmd = xasprintf("git init -q %s && cd %s && git config user.email t@e && git config "
                    "user.name T && for i in 1 2 3 4 5 6; do echo $i > f; git add f; "
                    "git commit -qm c$i; done",
                    repo, repo);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(repos_set(&f->repos, "repos", "linux", repo, &e), 0);
    assert_int_equal(repos_set(&f->repos, "repo_web", "linux", "https://git.example/c/%s", &e), 0);
    f->ctx = (struct dash_ctx){ f->db, f->repos, 60 };
    free(cmd);
    free(repo);
    free(tok);
    free(path);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    dash_db_close(f->db);
    repos_free(f->repos);
    fs_rmtree(f->dir, NULL);
    free(f->auth);
    free(f);
    return 0;
}

/* One request through dash_handle; rs must be released by the caller. */
static void req(struct fx *f, const char *method, const char *path, const char *auth,
                const char *body, struct dash_resp *rs)
{
    struct dash_req rq = {
        method, path, NULL, NULL, auth, body ? body : "", body ? strlen(body) : 0
    };
    dash_resp_init(rs);
    dash_handle(&f->ctx, &rq, rs);
}

/* The status of a request (its response dropped). */
static int status_of(struct fx *f, const char *method, const char *path, const char *auth,
                     const char *body)
{
    struct dash_resp rs;
    int st;

    req(f, method, path, auth, body, &rs);
    st = rs.status;
    dash_resp_release(&rs);
    return st;
}

static char *envelope(const char *kind, long long id, const char *fixture)
{
    char path[512], rid[64];
    json_t *doc, *env;
    char *s;

    snprintf(path, sizeof(path), "%s/tests/fixtures/dashboard/%s", PVLAB_TOP, fixture);
    doc = json_load_file(path, 0, NULL);
    assert_non_null(doc);
    snprintf(rid, sizeof(rid), "vm/%s/%lld", kind, id);
    env = json_pack("{sssssssO}", "kind", kind, "id", rid, "lab", "vm", "doc", doc);
    s = json_dumps(env, JSON_COMPACT);
    json_decref(env);
    json_decref(doc);
    return s;
}

static void post_fixtures(struct fx *f)
{
    for (int m = 1; m <= 3; m++) {
        char name[32];
        char *env;
        snprintf(name, sizeof(name), "matrix-%d.json", m);
        env = envelope("matrix", m, name);
        assert_int_equal(status_of(f, "POST", "/api/v1/results", f->auth, env), 201);
        free(env);
    }
    for (int r = 12; r <= 23; r++) {
        char name[32];
        char *env;
        snprintf(name, sizeof(name), "run-%d.json", r);
        env = envelope("run", r, name);
        assert_int_equal(status_of(f, "POST", "/api/v1/results", f->auth, env), 201);
        free(env);
    }
    {
        char *env = envelope("bisect", 1, "bisect-1.json");
        assert_int_equal(status_of(f, "POST", "/api/v1/results", f->auth, env), 201);
        free(env);
    }
}

static long long count_kind(struct fx *f, enum dash_kind k)
{
    long long n = -1;
    struct err e = ERR_INIT;

    assert_int_equal(dash_db_count(f->db, k, NULL, &n, &e), 0);
    return n;
}

/* Paths name routes; anything that could climb out of them names nothing. */
static void test_routes(void **state)
{
    static const char *const refused[] = {
        "/run/vm/3/log/../../etc/passwd",
        "/run/vm/3/log/..",
        "/run/../../etc/passwd",
        "/run/vm/../3",
        "/run/vm/3/log/01",
        "/run/vm/3/log/1/",
        "/run/vm/3/log/-1",
        "/run/vm/3/log/1x",
        "/run//3",
        "//",
        "",
        "run/vm/3",
        "/run/.vm/3",
        "/run/vm/0",
        "/matrix/vm/latest/..",
        "/matrix/vm/latest/a/b",
        "/api/v1/results/vm/runs/1",
        "/api/v2/runs",
        "/api/v1/runs/vm/3/x",
        "/nightly/vm",
        "/request/x",
        "/requests/1",
        "/run/vm/3/log/99999999999999999999",
    };
    struct dash_route r;

    assert_int_equal(dash_route_parse("/run/vm/3/log/2", &r), 0);
    assert_int_equal(r.kind, ROUTE_RUN_LOG);
    assert_string_equal(r.lab, "vm");
    assert_int_equal(r.id, 3);
    assert_int_equal(r.idx, 2);
    assert_int_equal(dash_route_parse("/", &r), 0);
    assert_int_equal(r.kind, ROUTE_INDEX);
    assert_int_equal(dash_route_parse("/matrix/lab-1/latest/nightly.x", &r), 0);
    assert_int_equal(r.kind, ROUTE_MATRIX_LATEST);
    assert_string_equal(r.name, "nightly.x");
    assert_int_equal(dash_route_parse("/api/v1/matrices/vm/2", &r), 0);
    assert_int_equal(r.kind, ROUTE_API_DOC);
    assert_int_equal(r.rkind, DASH_MATRIX);
    assert_int_equal(dash_route_parse("/api/v1/results/vm/bisect/7", &r), 0);
    assert_int_equal(r.kind, ROUTE_API_RESULT);
    assert_int_equal(r.rkind, DASH_BISECT);
    assert_int_equal(dash_route_parse("/api/v1/requests/12/done", &r), 0);
    assert_int_equal(r.kind, ROUTE_API_DONE);
    assert_int_equal(r.id, 12);
    assert_int_equal(dash_route_parse("/api/v1/requests/claim", &r), 0);
    assert_int_equal(r.kind, ROUTE_API_CLAIM);
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        if (dash_route_parse(refused[i], &r) == 0)
            fail_msg("'%s' was routed", refused[i]);
        assert_int_equal(r.kind, ROUTE_NONE);
    }
}

/* Writes need a valid token: 401 and nothing stored otherwise; 201 new, 200 replaced. */
static void test_auth(void **state)
{
    struct fx *f = *state;
    char *env = envelope("run", 16, "run-16.json");
    char *wrong = xstrdup(f->auth);
    struct dash_resp rs;

    wrong[strlen(wrong) - 1] ^= 1;
    req(f, "POST", "/api/v1/results", NULL, env, &rs);
    assert_int_equal(rs.status, 401);
    assert_true(rs.www_authenticate);
    assert_non_null(strstr(rs.body.data, "\"ok\":false"));
    dash_resp_release(&rs);
    assert_int_equal(status_of(f, "POST", "/api/v1/results", wrong, env), 401);
    assert_int_equal(status_of(f, "POST", "/api/v1/results", "Basic dXNlcjpwdw==", env), 401);
    assert_int_equal(status_of(f, "POST", "/api/v1/results", "Bearer ", env), 401);
    assert_int_equal(status_of(f, "POST", "/api/v1/requests/claim", NULL, "{}"), 401);
    assert_int_equal(status_of(f, "POST", "/api/v1/requests/1/done", wrong, "{}"), 401);
    assert_int_equal(count_kind(f, DASH_RUN), 0);
    req(f, "POST", "/api/v1/results", f->auth, env, &rs);
    assert_int_equal(rs.status, 201);
    assert_string_equal(rs.body.data, "{\"ok\":true,\"id\":\"vm/run/16\"}\n");
    dash_resp_release(&rs);
    assert_int_equal(status_of(f, "POST", "/api/v1/results", f->auth, env), 200);
    assert_int_equal(count_kind(f, DASH_RUN), 1);
    /* reads are public */
    assert_int_equal(status_of(f, "GET", "/api/v1/runs/vm/16", NULL, NULL), 200);
    free(wrong);
    free(env);
}

/* Malformed bodies are 400 with what is wrong; nothing is stored. */
static void test_bad_bodies(void **state)
{
    static const struct {
        const char *body, *says;
    } bad[] = {
        { "{\"kind\": \"run\", ", "malformed JSON" },
        { "[]", "JSON object" },
        { "{\"kind\":\"trial\",\"id\":\"vm/trial/1\",\"lab\":\"vm\",\"doc\":{\"id\":1}}", "kind" },
        { "{\"kind\":\"run\",\"id\":\"other/run/1\",\"lab\":\"vm\",\"doc\":{\"id\":1}}",
          "vm/run/<local id>" },
        { "{\"kind\":\"run\",\"id\":\"vm/matrix/1\",\"lab\":\"vm\",\"doc\":{\"id\":1}}",
          "id must" },
        { "{\"kind\":\"run\",\"id\":\"../run/1\",\"lab\":\"..\",\"doc\":{\"id\":1}}", "lab must" },
        { "{\"kind\":\"run\",\"id\":\"vm/run/1\",\"lab\":\"vm\",\"doc\":{\"id\":2}}", "doc.id" },
        { "{\"kind\":\"run\",\"id\":\"vm/run/1\",\"lab\":\"vm\",\"doc\":[1]}", "doc must" },
        { "{\"kind\":\"matrix\",\"id\":\"vm/matrix/1\",\"lab\":\"vm\",\"doc\":{\"id\":1,"
          "\"name\":\"n\",\"cells\":[{\"xen\":1,\"linux\":\"6.1\",\"repro\":\"r\"}]}}",
          "doc.cells[0].xen" },
        { "{\"kind\":\"matrix\",\"id\":\"vm/matrix/1\",\"lab\":\"vm\",\"doc\":{\"id\":1,"
          "\"name\":\"n\"}}",
          "doc.cells" },
        { "{\"kind\":\"run\",\"id\":\"vm/run/1\",\"lab\":\"vm\",\"doc\":{\"id\":1,\"trials\":"
          "[{\"idx\":1,\"console\":5}]}}",
          "console" },
    };
    struct fx *f = *state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct dash_resp rs;
        req(f, "POST", "/api/v1/results", f->auth, bad[i].body, &rs);
        if (rs.status != 400 || !strstr(rs.body.data, bad[i].says))
            fail_msg("body %zu: %d %s", i, rs.status, rs.body.data);
        dash_resp_release(&rs);
    }
    assert_int_equal(count_kind(f, DASH_RUN) + count_kind(f, DASH_MATRIX), 0);
    /* positive control: the same shape, well formed, is stored */
    assert_int_equal(status_of(f, "POST", "/api/v1/results", f->auth,
                               "{\"kind\":\"run\",\"id\":\"vm/run/1\",\"lab\":\"vm\","
                               "\"doc\":{\"id\":1,\"trials\":[{\"idx\":1,\"console\":\"x\"}]}}"),
                     201);
}

/* The pages of the fixtures: tables with history, runs with consoles, the chart, nightly. */
static void test_pages(void **state)
{
    struct fx *f = *state;
    struct dash_resp rs;

    post_fixtures(f);
    req(f, "GET", "/", NULL, NULL, &rs);
    assert_int_equal(rs.status, 200);
    assert_string_equal(rs.content_type, "text/html; charset=utf-8");
    assert_non_null(strstr(rs.body.data, "href=\"/matrix/vm/latest/m22\""));
    assert_non_null(strstr(rs.body.data, "href=\"/bisect/vm/1\""));
    dash_resp_release(&rs);
    /* the newest matrix of the name: FIXED, with the history F then P */
    req(f, "GET", "/matrix/vm/latest/m22", NULL, NULL, &rs);
    assert_int_equal(rs.status, 200);
    assert_non_null(strstr(rs.body.data, "vm/matrix/3"));
    assert_non_null(strstr(rs.body.data, "ch-FIXED"));
    assert_non_null(
        strstr(rs.body.data, "<div class=hs><b class=hp>P</b><b class=hf>F</b><b class=hp>P</b>"));
    dash_resp_release(&rs);
    /* an older matrix's history stops at itself */
    req(f, "GET", "/matrix/vm/2", NULL, NULL, &rs);
    assert_non_null(strstr(rs.body.data, "<div class=hs><b class=hf>F</b><b class=hp>P</b></div>"));
    dash_resp_release(&rs);
    req(f, "GET", "/run/vm/16", NULL, NULL, &rs);
    assert_int_equal(rs.status, 200);
    assert_non_null(strstr(rs.body.data, "xen-hypervisor-4.17-amd64"));
    assert_non_null(strstr(rs.body.data, "PVLAB-EVENT {&quot;type&quot;:&quot;mismatch"));
    assert_non_null(strstr(rs.body.data, "<pre class=log>"));
    assert_non_null(strstr(rs.body.data, "href=\"/run/vm/16/log/1\""));
    dash_resp_release(&rs);
    req(f, "GET", "/run/vm/16/log/1", NULL, NULL, &rs);
    assert_int_equal(rs.status, 200);
    assert_string_equal(rs.content_type, "text/plain; charset=utf-8");
    assert_non_null(strstr(rs.body.data, "PVLAB-END"));
    assert_string_equal(rs.disposition, "attachment; filename=\"vm-run-16-trial-1.log\"");
    dash_resp_release(&rs);
    assert_int_equal(status_of(f, "GET", "/run/vm/16/log/2", NULL, NULL), 404);
    assert_int_equal(status_of(f, "GET", "/run/vm/12/log/1", NULL, NULL), 404); /* no console */
    assert_int_equal(status_of(f, "GET", "/run/vm/16/log/../../../etc/passwd", NULL, NULL), 404);
    req(f, "GET", "/bisect/vm/1", NULL, NULL, &rs);
    assert_int_equal(rs.status, 200);
    assert_non_null(strstr(rs.body.data, "<polyline"));
    assert_non_null(strstr(rs.body.data, "First bad commit"));
    dash_resp_release(&rs);
    req(f, "GET", "/nightly", NULL, NULL, &rs);
    assert_non_null(strstr(rs.body.data, "ch-REGRESSION"));
    assert_non_null(strstr(rs.body.data, "ch-FIXED"));
    /* newest night first */
    assert_true(strstr(rs.body.data, "vm/matrix/3") < strstr(rs.body.data, "vm/matrix/2"));
    dash_resp_release(&rs);
    assert_int_equal(status_of(f, "GET", "/nightly/vm/m22", NULL, NULL), 200);
    assert_int_equal(status_of(f, "GET", "/nightly/vm/nosuch", NULL, NULL), 404);
    assert_int_equal(status_of(f, "GET", "/matrix/vm/9", NULL, NULL), 404);
    assert_int_equal(status_of(f, "HEAD", "/requests", NULL, NULL), 200);
    /* API: lists and documents; unknown paths and methods */
    req(f, "GET", "/api/v1/runs", NULL, NULL, &rs);
    assert_non_null(strstr(rs.body.data, "{\"total\":12,"));
    dash_resp_release(&rs);
    req(f, "GET", "/api/v1/results/vm/matrix/2", NULL, NULL, &rs);
    assert_true(!strncmp(rs.body.data, "{\"kind\":\"matrix\",\"id\":\"vm/matrix/2\"", 34));
    dash_resp_release(&rs);
    req(f, "GET", "/api/v1/nope", NULL, NULL, &rs);
    assert_int_equal(rs.status, 404);
    assert_string_equal(rs.content_type, "application/json");
    dash_resp_release(&rs);
    req(f, "GET", "/nope", NULL, NULL, &rs);
    assert_int_equal(rs.status, 404);
    assert_string_equal(rs.content_type, "text/html; charset=utf-8");
    dash_resp_release(&rs);
    req(f, "DELETE", "/api/v1/runs", f->auth, NULL, &rs);
    assert_int_equal(rs.status, 405);
    assert_string_equal(rs.allow, "GET");
    dash_resp_release(&rs);
    assert_int_equal(status_of(f, "GET", "/api/v1/results", NULL, NULL), 405);
}

/* Text from a document is stored as it came and shown escaped, in every field. */
static void test_injection(void **state)
{
    static const char evil[] = "<script>alert(1)</script>'; DROP TABLE results; --\"><img src=x>";
    struct fx *f = *state;
    json_t *doc = json_load_file(PVLAB_TOP "/tests/fixtures/dashboard/run-16.json", 0, NULL);
    json_t *t = json_array_get(json_object_get(doc, "trials"), 0);
    struct dash_resp rs;
    char *env, *stored = NULL;
    struct err e = ERR_INIT;

    json_object_set_new(doc, "repro", json_string(evil));
    json_object_set_new(doc, "qemu_cmd", json_string(evil));
    json_object_set_new(json_object_get(doc, "host"), "hostname", json_string(evil));
    json_object_set_new(json_object_get(doc, "xen"), "version", json_string(evil));
    json_object_set_new(t, "reason", json_string(evil));
    json_object_set_new(t, "console", json_string(evil));
    json_object_set_new(t, "evidence", json_pack("[s]", evil));
    doc = json_pack("{ssssssso}", "kind", "run", "id", "vm/run/16", "lab", "vm", "doc", doc);
    env = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    assert_int_equal(status_of(f, "POST", "/api/v1/results", f->auth, env), 201);
    /* stored literally */
    assert_int_equal(dash_db_get(f->db, DASH_RUN, "vm", 16, NULL, &stored, &e), 0);
    assert_non_null(strstr(stored, "DROP TABLE results"));
    assert_int_equal(count_kind(f, DASH_RUN), 1);
    req(f, "GET", "/run/vm/16", NULL, NULL, &rs);
    assert_int_equal(rs.status, 200);
    assert_null(strstr(rs.body.data, "<script>"));
    assert_null(strstr(rs.body.data, "<img"));
    assert_true(strstr(rs.body.data, "&lt;script&gt;alert(1)&lt;/script&gt;&#39;; DROP TABLE "
                                     "results; --&quot;&gt;&lt;img src=x&gt;") != NULL);
    dash_resp_release(&rs);
    req(f, "GET", "/", NULL, NULL, &rs);
    assert_null(strstr(rs.body.data, "<script>"));
    dash_resp_release(&rs);
    free(stored);
    free(env);
}

static int post_request(struct fx *f, const char *body, struct dash_resp *rs)
{
    req(f, "POST", "/api/v1/requests", f->auth, body, rs);
    return rs->status;
}

/* Requests: refused with a reason unless alias and revisions hold; then the worker's cycle. */
static void test_requests(void **state)
{
    static const struct {
        const char *body, *says;
    } bad[] = {
        { "{\"alias\":\"nosuch\",\"good\":\"HEAD~5\",\"bad\":\"HEAD\",\"axis\":\"linux\"}",
          "unknown repository alias 'nosuch'; this dashboard knows: linux" },
        { "{\"alias\":\"/etc\",\"good\":\"HEAD~5\",\"bad\":\"HEAD\",\"axis\":\"linux\"}",
          "unknown repository alias" },
        { "{\"alias\":\"linux\",\"good\":\"nosuchrev\",\"bad\":\"HEAD\",\"axis\":\"linux\"}",
          "good 'nosuchrev' is not a commit of repository 'linux'" },
        { "{\"alias\":\"linux\",\"good\":\"HEAD~5\",\"bad\":\"--output=/tmp/x\",\"axis\":"
          "\"linux\"}",
          "revisions" },
        { "{\"alias\":\"linux\",\"good\":\"HEAD\",\"bad\":\"HEAD~5\",\"axis\":\"linux\"}",
          "not an ancestor" },
        { "{\"alias\":\"linux\",\"good\":\"HEAD~5\",\"bad\":\"HEAD\",\"axis\":\"test-cmd\"}",
          "no test command" },
        { "{\"alias\":\"linux\",\"good\":\"HEAD~5\",\"bad\":\"HEAD\",\"axis\":\"qemu\"}", "axis" },
        { "{\"alias\":\"linux\",\"good\":\"HEAD~5\",\"bad\":\"HEAD\",\"axis\":\"linux\","
          "\"xen\":\"file:/etc/passwd\"}",
          "plain name" },
        { "{\"alias\":\"linux\",\"good\":\"HEAD~5\",\"bad\":\"HEAD\",\"axis\":\"linux\","
          "\"repro\":\"nosuch\"}",
          "nosuch" },
        { "{\"alias\":\"linux\",\"good\":\"HEAD~5\",\"bad\":\"HEAD\",\"axis\":\"linux\","
          "\"options\":{\"build_cmd\":\"rm -rf /\"}}",
          "unknown option 'build_cmd'" },
        { "{\"alias\":\"linux\",\"good\":\"HEAD~5\",\"bad\":\"HEAD\",\"axis\":\"linux\","
          "\"options\":{\"iterations\":0}}",
          "options.iterations" },
        { "{\"alias\":\"linux\",\"good\":\"HEAD~5\",\"bad\":\"HEAD\",\"axis\":\"linux\","
          "\"test_cmd\":\"sh\"}",
          "unknown field 'test_cmd'" },
        { "{\"alias\":\"linux\",\"good\":\"HEAD~5\",\"bad\":\"HEAD\",\"axis\":\"linux\","
          "\"confidence\":1.5}",
          "confidence" },
    };
    struct fx *f = *state;
    struct dash_resp rs;
    json_t *j;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (post_request(f, bad[i].body, &rs) != 400 || !strstr(rs.body.data, bad[i].says))
            fail_msg("request %zu: %d %s", i, rs.status, rs.body.data);
        dash_resp_release(&rs);
    }
    assert_int_equal(status_of(f, "POST", "/api/v1/requests/claim", f->auth, NULL), 204);
    /* a good one is queued with its resolved commits */
    assert_int_equal(post_request(f,
                                  "{\"alias\":\"linux\",\"good\":\"HEAD~5\",\"bad\":\"HEAD\","
                                  "\"axis\":\"linux\",\"xen\":\"4.17\",\"repro\":\"fpu-leak\","
                                  "\"options\":{\"iterations\":500,\"lazy_fpu\":true},"
                                  "\"confidence\":0.99}",
                                  &rs),
                     201);
    assert_string_equal(rs.body.data, "{\"ok\":true,\"id\":1,\"state\":\"queued\"}\n");
    dash_resp_release(&rs);
    req(f, "POST", "/api/v1/requests/claim", f->auth, NULL, &rs);
    assert_int_equal(rs.status, 200);
    j = json_loads(rs.body.data, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(j, "id")), 1);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "running");
    assert_string_equal(json_string_value(json_object_get(j, "find")), "regression");
    assert_int_equal(strlen(json_string_value(json_object_get(j, "good_sha"))), 40);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(j, "options"), "iterations")), 500);
    assert_int_equal(json_integer_value(json_object_get(j, "lease_s")), 60);
    json_decref(j);
    dash_resp_release(&rs);
    assert_int_equal(status_of(f, "POST", "/api/v1/requests/claim", f->auth, NULL), 204);
    assert_int_equal(status_of(f, "POST", "/api/v1/requests/1/progress", f->auth,
                               "{\"phase\":\"bisect\",\"trials\":4,\"best_prob\":0.5}"),
                     200);
    assert_int_equal(status_of(f, "POST", "/api/v1/requests/1/progress", f->auth, "[1]"), 400);
    assert_int_equal(status_of(f, "POST", "/api/v1/requests/7/progress", f->auth, "{}"), 404);
    req(f, "GET", "/request/1", NULL, NULL, &rs);
    assert_non_null(strstr(rs.body.data, "Running on lab1"));
    assert_non_null(strstr(rs.body.data, "best_prob"));
    assert_non_null(strstr(rs.body.data, "http-equiv=refresh"));
    dash_resp_release(&rs);
    assert_int_equal(status_of(f, "POST", "/api/v1/requests/1/done", f->auth,
                               "{\"outcome\":\"found\",\"bisect\":\"../../x\"}"),
                     400);
    assert_int_equal(status_of(f, "POST", "/api/v1/requests/1/done", f->auth,
                               "{\"outcome\":\"found\",\"bisect\":\"vm/bisect/4\"}"),
                     200);
    assert_int_equal(
        status_of(f, "POST", "/api/v1/requests/1/done", f->auth, "{\"outcome\":\"found\"}"), 409);
    req(f, "GET", "/api/v1/requests/1", NULL, NULL, &rs);
    j = json_loads(rs.body.data, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "done");
    assert_string_equal(json_string_value(json_object_get(j, "bisect")), "vm/bisect/4");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "progress"), "trials")),
                     4);
    json_decref(j);
    dash_resp_release(&rs);
    req(f, "GET", "/request/1", NULL, NULL, &rs);
    assert_non_null(strstr(rs.body.data, "href=\"/bisect/vm/4\""));
    assert_null(strstr(rs.body.data, "http-equiv=refresh"));
    dash_resp_release(&rs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes),
        cmocka_unit_test_setup_teardown(test_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_bodies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_injection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_requests, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
