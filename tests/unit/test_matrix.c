/* Matrix files: axes, reproducer options, exclusions, and errors that name file, line and key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/matrix.h"
#include "util/xalloc.h"

static char *write_tmp(const char *text)
{
    char path[] = "/tmp/pvlab-test-matrix-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return xstrdup(path);
}

static void test_nightly_shipped(void **state)
{
    struct matrix_def m;
    struct matrix_cell *c = NULL;
    size_t n = 0;
    struct err e = ERR_INIT;

    assert_int_equal(matrix_load(PVLAB_TOP "/config/matrix/nightly.conf", &m, &e), 0);
    assert_string_equal(m.name, "nightly");
    assert_int_equal(m.nxen, 3);
    assert_int_equal(m.nlinux, 3);
    assert_int_equal(m.nrepro, 2);
    assert_int_equal(matrix_cells(&m, &c, &n, &e), 0);
    assert_int_equal(n, 18);
    /* stable order: xen, then linux, then repro, as written */
    assert_string_equal(c[0].xen->label, "4.14");
    assert_string_equal(c[0].linux_->label, "5.10");
    assert_string_equal(c[0].repro->label, "fpu-leak");
    assert_string_equal(c[1].repro->label, "seed-memcmp");
    assert_int_equal(c[1].iterations, 300);
    assert_int_equal(c[0].iterations, 2000);
    assert_int_equal(c[17].trials, 2);
    free(c);
    matrix_def_free(&m);
}

static void test_options_and_exclusions(void **state)
{
    struct matrix_def m;
    struct matrix_cell *c = NULL;
    size_t n = 0;
    struct err e = ERR_INIT;
    char *p = write_tmp("[matrix]\ntrials = 3\n[xen]\nx4.17 = 4.17\nx4.20 = 4.20\n"
                        "[linux]\nl6.1 = 6.1\nl5.10 = 5.10\n"
                        "[repro]\nlazy = fpu-leak --lazy-fpu --iterations 3000 --trials 5\n"
                        "plain = fpu-leak --dom0-args loglevel=4\n"
                        "domu = fpu-leak --domu-linux 6.1 --domu-linux 5.10 --in dom0,domu\n"
                        "[exclude]\nold = xen=x4.2* linux=l5.*\nnolazy = repro=lazy linux=l6.1\n"
                        "[bisect]\nlinux = linux-stable\n");

    assert_int_equal(matrix_load(p, &m, &e), 0);
    assert_non_null(strstr(m.name, "pvlab-test-matrix")); /* named after the file */
    assert_int_equal(m.repro[0].lazy_fpu, 1);
    assert_int_equal(m.repro[0].iterations, 3000);
    assert_int_equal(m.repro[0].trials, 5);
    assert_string_equal(m.repro[1].dom0_args, "loglevel=4");
    assert_int_equal(m.repro[1].domus, 0); /* a dom0 reproducer has no domUs */
    assert_int_equal(m.repro[2].domus, 2); /* one domU per --domu-linux */
    assert_string_equal(m.repro[2].domu_linux, "6.1 5.10");
    assert_int_equal(m.repro[2].in_dom0, 1);
    assert_string_equal(m.bisect_linux, "linux-stable");
    assert_int_equal(matrix_cells(&m, &c, &n, &e), 0);
    /* 2 x 2 x 3 = 12, minus x4.20 with l5.10 (3 cells), minus lazy with l6.1 (2 cells) */
    assert_int_equal(n, 7);
    for (size_t i = 0; i < n; i++) {
        assert_false(!strcmp(c[i].xen->label, "x4.20") && !strcmp(c[i].linux_->label, "l5.10"));
        assert_false(!strcmp(c[i].repro->label, "lazy") && !strcmp(c[i].linux_->label, "l6.1"));
        assert_int_equal(c[i].trials, !strcmp(c[i].repro->label, "lazy") ? 5 : 3);
    }
    free(c);
    matrix_def_free(&m);
    unlink(p);
    free(p);
}

/* file:line: [section] key: message */
static void expect_error(const char *text, const char *line_key, const char *what)
{
    struct matrix_def m;
    struct err e = ERR_INIT;
    char *p = write_tmp(text);

    assert_int_equal(matrix_load(p, &m, &e), -1);
    assert_int_equal(e.code, ERR_CONFIG);
    if (!strstr(e.msg, p) || !strstr(e.msg, line_key) || !strstr(e.msg, what))
        fail_msg("error '%s' lacks '%s' or '%s'", e.msg, line_key, what);
    unlink(p);
    free(p);
}

static void test_errors(void **state)
{
    expect_error("[matrix]\ntrials = 0\n", ":2: [matrix] trials", "whole number");
    expect_error("[matrix]\ncolour = red\n", ":2: [matrix] colour", "unknown key");
    expect_error("[xen]\na = 4.17\n[linux]\nb = 6.1\n[repro]\nr = fpu-leak --fast\n",
                 ":6: [repro] r", "unknown reproducer option '--fast'");
    expect_error("[xen]\na = 4.17\na = 4.20\n", ":3: [xen] a", "appears twice (first at line 2)");
    expect_error("[xen]\na = 4.17\n[linux]\nb = 6.1\n[repro]\nr = fpu-leak --iterations\n",
                 ":6: [repro] r", "needs a value");
    expect_error("[xen]\na = 4.17\n[linux]\nb = 6.1\n[repro]\nr = fpu-leak --domus 9\n",
                 ":6: [repro] r", "whole number from 1 to 8");
    expect_error("[xen]\na = 4.17\n[linux]\nb = 6.1\n[repro]\nr = fpu-leak --domus 1 --in dom1\n",
                 ":6: [repro] r", "--in expects domu or dom0,domu");
    expect_error("[axes]\na = b\n", ":2: [axes] a", "unknown section [axes]");
    expect_error("[exclude]\nx = kernel=6.1\n", ":2: [exclude] x", "not a condition");
    expect_error("[xen]\na = 4.17\n", "", "at least one entry in each of [xen], [linux]");
    expect_error("[xen]\nthis line has no equals sign\n", ":2:", "syntax error");
}

static void test_empty_after_exclusions(void **state)
{
    struct matrix_def m;
    struct matrix_cell *c = NULL;
    size_t n = 0;
    struct err e = ERR_INIT;
    char *p = write_tmp("[xen]\na = 4.17\n[linux]\nb = 6.1\n[repro]\nr = fpu-leak\n"
                        "[exclude]\nall = xen=*\n");

    assert_int_equal(matrix_load(p, &m, &e), 0);
    assert_int_equal(matrix_cells(&m, &c, &n, &e), -1);
    assert_non_null(strstr(e.msg, "the matrix is empty"));
    assert_non_null(strstr(e.msg, "1 exclusion"));
    matrix_def_free(&m);
    unlink(p);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nightly_shipped),
        cmocka_unit_test(test_options_and_exclusions),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_empty_after_exclusions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
