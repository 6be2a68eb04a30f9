/* util/: buffers with caps, string vectors, JSON and atomic writes (processes: test_proc.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/buf.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "util/sv.h"
#include "util/xalloc.h"

static void test_buf_cap(void **state)
{
    struct buf b;
    buf_init(&b, 10);
    buf_adds(&b, "hello ");
    assert_false(b.truncated);
    buf_adds(&b, "world!");
    assert_true(b.truncated);
    assert_int_equal(b.len, 10);
    assert_string_equal(b.data, "hello worl");
    buf_release(&b);
    assert_string_equal(b.data, "");
}

static void test_buf_addf_long(void **state)
{
    struct buf b = BUF_INIT;
    char big[1000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    buf_addf(&b, "<%s>", big);
    assert_int_equal(b.len, 1001);
    assert_int_equal(b.data[0], '<');
    assert_int_equal(b.data[1000], '>');
    free(buf_detach(&b, NULL));
}

/* The end of a log survives: the last lines, and the end of one huge line. */
static void test_tail_lines(void **state)
{
    struct buf b = BUF_INIT;
    char *t;

    buf_adds(&b, "one\ntwo\nthree\nfour\n\n");
    t = str_tail_lines(b.data, b.len, 2, 100);
    assert_string_equal(t, "three\nfour");
    free(t);
    t = str_tail_lines(b.data, b.len, 10, 100);
    assert_string_equal(t, "one\ntwo\nthree\nfour");
    free(t);
    /* a 20 KiB line ending in the real error: the error is what is kept */
    buf_reset(&b);
    buf_adds(&b, "make: starting\n");
    for (int i = 0; i < 20480; i++)
        buf_addch(&b, 'x');
    buf_adds(&b, " init/main.c:7: error: expected ';'\n");
    t = str_tail_lines(b.data, b.len, 6, 300);
    assert_int_equal(strlen(t), 300);
    assert_non_null(strstr(t, "init/main.c:7: error: expected ';'"));
    assert_memory_equal(t, "...", 3);
    free(t);
    buf_release(&b);
}

static void test_sv(void **state)
{
    struct sv s = SV_INIT;
    char *j;
    sv_split(&s, "  a b,,c ", " ,");
    assert_int_equal(s.n, 3);
    j = sv_join(&s, "|");
    assert_string_equal(j, "a|b|c");
    assert_null(sv_argv(&s)[3]);
    free(j);
    sv_clear(&s);
}

static void test_json_roundtrip(void **state)
{
    struct buf b = BUF_INIT;
    struct jw w;
    struct json_flat f;
    struct err e = ERR_INIT;

    jw_init(&w, &b);
    jw_obj(&w);
    jw_kv_s(&w, "s", "quote\" back\\ nl\n");
    jw_kv_int(&w, "n", -42);
    jw_kv_bool(&w, "t", 1);
    jw_key(&w, "arr");
    jw_arr(&w);
    jw_int(&w, 1);
    jw_s(&w, "]}");
    jw_end(&w);
    jw_kv_dbl(&w, "d", 0.25);
    jw_end(&w);
    assert_string_equal(b.data, "{\"s\":\"quote\\\" back\\\\ nl\\n\",\"n\":-42,\"t\":true,"
                                "\"arr\":[1,\"]}\"],\"d\":0.25}");
    assert_int_equal(json_flat_parse(b.data, &f, &e), 0);
    assert_string_equal(json_flat_str(&f, "s"), "quote\" back\\ nl\n");
    assert_int_equal((int)json_flat_num(&f, "n", 0), -42);
    assert_int_equal((int)json_flat_num(&f, "t", 0), 1);
    assert_string_equal(json_flat_get(&f, "arr")->str, "[1,\"]}\"]");
    assert_true(json_flat_num(&f, "missing", 7) == 7);
    json_flat_free(&f);
    assert_int_equal(json_flat_parse("{\"a\":1,", &f, &e), -1);
    assert_int_equal(json_flat_parse("[1]", &f, &e), -1);
    buf_release(&b);
}

static void test_atomic_write(void **state)
{
    char dir[] = "/tmp/pvlab-util-XXXXXX";
    struct err e = ERR_INIT;
    struct buf b = BUF_INIT;
    char *p;

    assert_non_null(mkdtemp(dir));
    p = xasprintf("%s/a/b/file", dir);
    assert_int_equal(fs_write_atomic(p, "x", 1, &e), -1); /* parent missing */
    assert_false(fs_exists(p));
    {
        char *parent = fs_dirname(p);
        assert_int_equal(fs_mkdirs(parent, &e), 0);
        free(parent);
    }
    assert_int_equal(fs_write_atomic(p, "data", 4, &e), 0);
    assert_int_equal(buf_read_file(&b, p, &e), 0);
    assert_string_equal(b.data, "data");
    buf_release(&b);
    assert_int_equal(fs_rmtree(dir, &e), 0);
    assert_false(fs_exists(dir));
    free(p);
}

/*
 * fs_nearly_full: a threshold above /tmp's free space says full, 0 never does; a path that does
 * not exist is judged by its nearest existing ancestor; a filled tmpfs (root only) is full.
 */
static void test_nearly_full(void **state)
{
    char dir[] = "/tmp/pvlab-util-XXXXXX";
    long long left = -1, left2 = -1;
    char *gone, *mnt = NULL, *fill = NULL, *cmd = NULL;

    assert_non_null(mkdtemp(dir));
    assert_int_equal(fs_nearly_full(dir, 0, &left), 0);
    assert_true(left > 0);
    assert_int_equal(fs_nearly_full(dir, left + (1LL << 30), NULL), 1);
    gone = xasprintf("%s/no/such/dir", dir);
    assert_int_equal(fs_nearly_full(gone, left + (1LL << 30), &left2), 1);
    assert_true(left2 > 0);
    assert_int_equal(fs_nearly_full(gone, 0, NULL), 0);
    assert_int_equal(fs_nearly_full("relative/missing", 0, NULL), 0); /* ends at "." */

    if (geteuid() == 0) { /* a real full disk: a 256 KiB tmpfs filled up */
        int empty = -1, dd = -1, full = -1, never = -1;

        mnt = xasprintf("%s/mnt", dir);
        assert_int_equal(fs_mkdirs(mnt, NULL), 0);
        cmd = xasprintf("mount -t tmpfs -o size=256k tmpfs %s 2>/dev/null", mnt);
        if (system(cmd) == 0) { /* measured first, unmounted, then checked: no mount leaks */
            empty = fs_nearly_full(mnt, 64 << 10, NULL); /* 256 KiB free */
            fill = xasprintf("dd if=/dev/zero of=%s/fill bs=4k 2>/dev/null", mnt);
            dd = system(fill); /* stops at ENOSPC */
            full = fs_nearly_full(mnt, 64 << 10, &left);
            never = fs_nearly_full(mnt, 0, NULL);
            umount(mnt);
            assert_int_equal(empty, 0);
            assert_true(dd != 0);
            assert_int_equal(full, 1);
            assert_true(left < 64 << 10);
            assert_int_equal(never, 0);
        }
    }
    assert_int_equal(fs_rmtree(dir, NULL), 0);
    free(gone);
    free(mnt);
    free(fill);
    free(cmd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_cap),        cmocka_unit_test(test_buf_addf_long),
        cmocka_unit_test(test_tail_lines),     cmocka_unit_test(test_sv),
        cmocka_unit_test(test_json_roundtrip), cmocka_unit_test(test_atomic_write),
        cmocka_unit_test(test_nearly_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
