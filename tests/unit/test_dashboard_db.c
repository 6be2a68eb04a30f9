/* reporter/dash_db: token hashing and checking, results (one row per id), cells, requests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "reporter/dash_db.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/xalloc.h"

struct fx {
    char dir[64];
    struct dash_db *db;
};

static int setup(void **state)
{
    struct fx *f = xcalloc(1, sizeof(*f));
    struct err e = ERR_INIT;
    char *path;

    strcpy(f->dir, "/tmp/pvlab-test-dash-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    path = xasprintf("%s/sub/dashboard.db", f->dir);
    assert_int_equal(dash_db_open(path, &f->db, &e), 0);
    free(path);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    dash_db_close(f->db);
    fs_rmtree(f->dir, NULL);
    free(f);
    return 0;
}

/* The stored hash is sha256 of the token as presented (a known vector). */
static void test_token_hash(void **state)
{
    char h[SHA256_HEX_LEN + 1];

    dash_token_hash("abc", h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    dash_token_hash("abd", h);
    assert_string_not_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* A new token checks; a wrong, truncated, empty or revoked one does not; the clear token is
 * nowhere in the database file. */
static void test_tokens(void **state)
{
    struct fx *f = *state;
    struct err e = ERR_INIT;
    char *tok = NULL, *tok2 = NULL, *name = NULL, *bad;
    struct buf file = BUF_INIT;
    char *path = xasprintf("%s/sub/dashboard.db", f->dir);

    assert_int_equal(dash_token_add(f->db, "lab1", &tok, &e), 0);
    assert_int_equal(strlen(tok), 4 + 64);
    assert_true(!strncmp(tok, "pvl_", 4));
    assert_int_equal(dash_token_check(f->db, tok, &name, &e), 1);
    assert_string_equal(name, "lab1");
    free(name);
    bad = xstrdup(tok);
    bad[10] = bad[10] == 'a' ? 'b' : 'a';
    assert_int_equal(dash_token_check(f->db, bad, NULL, &e), 0);
    bad[20] = '\0';
    assert_int_equal(dash_token_check(f->db, bad, NULL, &e), 0);
    assert_int_equal(dash_token_check(f->db, "", NULL, &e), 0);
    assert_int_equal(dash_token_check(f->db, NULL, NULL, &e), 0);
    /* the hash is stored, never the token (in the database file or its WAL) */
    assert_int_equal(buf_read_file(&file, path, &e), 0);
    {
        char *wal = xasprintf("%s-wal", path);
        char hash[SHA256_HEX_LEN + 1];
        if (fs_exists(wal))
            assert_int_equal(buf_read_file(&file, wal, &e), 0);
        free(wal);
        dash_token_hash(tok, hash);
        assert_non_null(memmem(file.data, file.len, hash, 64)); /* positive control */
    }
    assert_null(memmem(file.data, file.len, tok + 4, 64));
    /* a second token for the same name replaces the first */
    assert_int_equal(dash_token_add(f->db, "lab1", &tok2, &e), 0);
    assert_int_equal(dash_token_check(f->db, tok, NULL, &e), 0);
    assert_int_equal(dash_token_check(f->db, tok2, NULL, &e), 1);
    assert_int_equal(dash_token_revoke(f->db, "lab1", &e), 0);
    assert_int_equal(dash_token_check(f->db, tok2, NULL, &e), 0);
    assert_int_equal(dash_token_revoke(f->db, "lab1", &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    assert_int_equal(dash_token_add(f->db, "bad name", &tok2, &e), -1);
    assert_int_equal(e.code, ERR_USAGE);
    buf_release(&file);
    free(bad);
    free(tok);
    free(tok2);
    free(path);
}

static void put_matrix(struct dash_db *db, long long id, const char *created, const char *v0,
                       int *created_r)
{
    struct dash_cell_info cells[] = {
        { "4.17", "6.1", "fpu-leak", v0, "REGRESSION", 16 },
        { "4.17", "6.12", "fpu-leak", "pass", NULL, 0 },
    };
    struct dash_result_info r = {
        DASH_MATRIX,          "lab1", id, "nightly", "done",       created, "fail", "2 cells",
        "{\"REGRESSION\":1}", 1,      0,  "lab1",    "{\"id\":1}", cells,   2
    };
    struct err e = ERR_INIT;

    assert_int_equal(dash_db_put(db, &r, created_r, &e), 0);
}

/* One row per id: a second post replaces the document and the cells. */
static void test_results(void **state)
{
    struct fx *f = *state;
    struct dash_result_info run = {
        DASH_RUN,   "lab1", 3, "fpu-leak", "running", "2026-01-01T00:00:00Z", NULL,
        "Xen 4.17", NULL,   0, 0,          "lab1",    "{\"id\":3,\"v\":1}",   NULL,
        0
    };
    struct dash_query q = { 0 };
    struct dash_row row, *v = NULL;
    struct dash_cell *c = NULL;
    struct err e = ERR_INIT;
    long long n;
    size_t nv, nc;
    char *doc = NULL;
    int created = -1;

    assert_int_equal(dash_db_put(f->db, &run, &created, &e), 0);
    assert_int_equal(created, 1);
    run.status = "done";
    run.doc = "{\"id\":3,\"v\":2}";
    assert_int_equal(dash_db_put(f->db, &run, &created, &e), 0);
    assert_int_equal(created, 0);
    assert_int_equal(dash_db_count(f->db, DASH_RUN, &q, &n, &e), 0);
    assert_int_equal(n, 1);
    assert_int_equal(dash_db_get(f->db, DASH_RUN, "lab1", 3, &row, &doc, &e), 0);
    assert_string_equal(doc, "{\"id\":3,\"v\":2}");
    assert_string_equal(row.status, "done");
    dash_row_free(&row);
    free(doc);
    assert_int_equal(dash_db_get(f->db, DASH_RUN, "lab1", 4, NULL, NULL, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    assert_int_equal(dash_db_get(f->db, DASH_MATRIX, "lab1", 3, NULL, NULL, &e), -1);

    /* matrices: newest first, the latest of a name, history nights, cells */
    put_matrix(f->db, 1, "2026-01-01T01:00:00Z", "pass", &created);
    put_matrix(f->db, 2, "2026-01-02T01:00:00Z", "fail", &created);
    put_matrix(f->db, 2, "2026-01-02T01:00:00Z", "infra", &created); /* replaced */
    assert_int_equal(created, 0);
    put_matrix(f->db, 3, "2026-01-03T01:00:00Z", "pass", &created);
    assert_int_equal(dash_db_list(f->db, DASH_MATRIX, &q, &v, &nv, &e), 0);
    assert_int_equal(nv, 3);
    assert_int_equal(v[0].local_id, 3);
    assert_int_equal(v[2].local_id, 1);
    {
        struct dash_row *nights = NULL;
        size_t nn = 0;
        assert_int_equal(dash_db_nights(f->db, &v[1], 10, &nights, &nn, &e), 0);
        assert_int_equal(nn, 2); /* matrix 2, then 1: never a newer one */
        assert_int_equal(nights[0].local_id, 2);
        assert_int_equal(nights[1].local_id, 1);
        dash_rows_free(nights, nn);
    }
    dash_rows_free(v, nv);
    assert_int_equal(dash_db_cells(f->db, "lab1", 2, 0, &c, &nc, &e), 0);
    assert_int_equal(nc, 2); /* the replaced post's cells are gone */
    assert_string_equal(c[0].verdict, "infra");
    assert_int_equal(c[0].run_id, 16);
    dash_cells_free(c, nc);
    assert_int_equal(dash_db_cells(f->db, "lab1", 2, 1, &c, &nc, &e), 0);
    assert_int_equal(nc, 1);
    assert_string_equal(c[0].change, "REGRESSION");
    dash_cells_free(c, nc);
    assert_int_equal(dash_db_latest(f->db, "lab1", "nightly", &row, NULL, &e), 0);
    assert_int_equal(row.local_id, 3);
    dash_row_free(&row);
    assert_int_equal(dash_db_latest(f->db, "lab1", "other", &row, NULL, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    assert_int_equal(dash_db_latest_names(f->db, &v, &nv, &e), 0);
    assert_int_equal(nv, 1);
    assert_int_equal(v[0].local_id, 3);
    dash_rows_free(v, nv);
    q.name = "other";
    assert_int_equal(dash_db_count(f->db, DASH_MATRIX, &q, &n, &e), 0);
    assert_int_equal(n, 0);
}

/* Result ids and lab names: only what a URL and a file name can carry as they are. */
static void test_ids(void **state)
{
    char lab[65];
    enum dash_kind k;
    long long id;

    assert_int_equal(dash_result_id_parse("lab-1.x/matrix/12", lab, &k, &id), 0);
    assert_string_equal(lab, "lab-1.x");
    assert_int_equal(k, DASH_MATRIX);
    assert_int_equal(id, 12);
    assert_int_equal(dash_result_id_parse("../run/1", lab, &k, &id), -1);
    assert_int_equal(dash_result_id_parse("lab/run/0", lab, &k, &id), -1);
    assert_int_equal(dash_result_id_parse("lab/run/01", lab, &k, &id), -1);
    assert_int_equal(dash_result_id_parse("lab/run/1x", lab, &k, &id), -1);
    assert_int_equal(dash_result_id_parse("lab/runs/1", lab, &k, &id), -1);
    assert_int_equal(dash_result_id_parse("a/b/run/1", lab, &k, &id), -1);
    assert_int_equal(dash_result_id_parse("lab/run/-1", lab, &k, &id), -1);
    assert_int_equal(dash_result_id_parse("", lab, &k, &id), -1);
    assert_true(dash_lab_valid("vm"));
    assert_false(dash_lab_valid(".hidden"));
    assert_false(dash_lab_valid("a b"));
    assert_false(dash_lab_valid("a/b"));
}

/* queued -> running (lease) -> done / refused; an expired lease is claimable again. */
static void test_requests(void **state)
{
    struct fx *f = *state;
    struct dash_request_info in = { "linux", "v1", "v2", "linux", "regression", "{}", "lab1" };
    struct dash_request r;
    struct err e = ERR_INIT;
    long long id1, id2;

    assert_int_equal(dash_db_request_claim(f->db, "w", 1000, 60, &r, &e), 0);
    assert_int_equal(dash_db_request_add(f->db, &in, &id1, &e), 0);
    assert_int_equal(dash_db_request_add(f->db, &in, &id2, &e), 0);
    /* progress before a claim is refused */
    assert_int_equal(dash_db_request_progress(f->db, id1, "{}", 1000, 60, &e), -1);
    assert_int_equal(e.code, ERR_BUSY);
    assert_int_equal(dash_db_request_claim(f->db, "w1", 1000, 60, &r, &e), 1);
    assert_int_equal(r.id, id1); /* oldest first */
    assert_string_equal(r.state, "running");
    assert_int_equal(r.lease_until, 1060);
    dash_request_free(&r);
    assert_int_equal(dash_db_request_claim(f->db, "w2", 1001, 60, &r, &e), 1);
    assert_int_equal(r.id, id2);
    dash_request_free(&r);
    /* nothing left while the leases hold */
    assert_int_equal(dash_db_request_claim(f->db, "w3", 1059, 60, &r, &e), 0);
    /* progress extends id1's lease; id2's expires and goes to another worker */
    assert_int_equal(dash_db_request_progress(f->db, id1, "{\"step\":3}", 1050, 60, &e), 0);
    assert_int_equal(dash_db_request_claim(f->db, "w3", 1100, 60, &r, &e), 1);
    assert_int_equal(r.id, id2);
    assert_string_equal(r.worker, "w3");
    dash_request_free(&r);
    assert_int_equal(dash_db_request_done(f->db, id1, "found", "lab1/bisect/7", NULL, &e), 0);
    assert_int_equal(dash_db_request_get(f->db, id1, &r, &e), 0);
    assert_string_equal(r.state, "done");
    assert_string_equal(r.bisect, "lab1/bisect/7");
    assert_string_equal(r.progress_json, "{\"step\":3}");
    dash_request_free(&r);
    /* done twice is refused; refused is a state of its own */
    assert_int_equal(dash_db_request_done(f->db, id1, "found", NULL, NULL, &e), -1);
    assert_int_equal(e.code, ERR_BUSY);
    assert_int_equal(dash_db_request_done(f->db, id2, "refused", NULL, "cannot build", &e), 0);
    assert_int_equal(dash_db_request_get(f->db, id2, &r, &e), 0);
    assert_string_equal(r.state, "refused");
    assert_string_equal(r.reason, "cannot build");
    dash_request_free(&r);
    assert_int_equal(dash_db_request_get(f->db, 999, &r, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    assert_int_equal(dash_db_request_progress(f->db, 999, "{}", 1, 1, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
}

/* A database of another program (the lab's own store, say) is refused untouched. */
static void test_foreign_db(void **state)
{
    struct fx *f = *state;
    char *path = xasprintf("%s/other.db", f->dir);
    struct dash_db *db = NULL;
    struct err e = ERR_INIT;
    char cmd[512];

    snprintf(cmd, sizeof(cmd), "sqlite3 %s 'CREATE TABLE runs (id INTEGER)'", path);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(dash_db_open(path, &db, &e), -1);
    assert_non_null(strstr(e.msg, "not a pvlab dashboard database"));
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_hash),
        cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_results, setup, teardown),
        cmocka_unit_test(test_ids),
        cmocka_unit_test_setup_teardown(test_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_db, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
