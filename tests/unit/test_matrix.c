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
#include "jobs/matrix.h"
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
                        "plain = fpu-leak --dom0-args loglevel=4 --amplifier overcommit\n"
                        "domu = fpu-leak --domu-linux 6.1 --domu-linux 5.10 --in dom0,domu\n"
                        "[exclude]\nold = xen=x4.2* linux=l5.*\nnolazy = repro=lazy linux=l6.1\n"
                        "[bisect]\nlinux = linux-stable\n");

    assert_int_equal(matrix_load(p, &m, &e), 0);
    assert_non_null(strstr(m.name, "pvlab-test-matrix")); /* named after the file */
    assert_int_equal(m.repro[0].lazy_fpu, 1);
    assert_int_equal(m.repro[0].iterations, 3000);
    assert_int_equal(m.repro[0].trials, 5);
    assert_string_equal(m.repro[1].dom0_args, "loglevel=4");
    assert_string_equal(m.repro[1].amplifiers, "overcommit");
    assert_null(m.repro[0].amplifiers);
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
    expect_error("[sources]\nlinux-3.10 = https://example.org/l 3f16 abcd\n",
                 ":2: [sources] "
                 "linux-3.10",
                 "want 'URL COMMIT TREE'");
    expect_error("[sources]\nl = x\nl = x\n", ":2: [sources] l", "want 'URL COMMIT TREE'");
}

/* git output of cmd, trimmed, malloc'd */
static char *sh_out(const char *cmd)
{
    char buf[256] = "";
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, sizeof(buf), f));
    assert_int_equal(pclose(f), 0);
    buf[strcspn(buf, "\n")] = 0;
    return xstrdup(buf);
}

/* [sources]: a git: spec's commit must be recorded, and its clone must give the recorded tree;
 * a source not cloned here is listed with its clone command; unused sources are named. */
static void test_sources(void **state)
{
    char dir[] = "/tmp/pvlab-test-msrc-XXXXXX";
    char *repo, *cmd, *commit, *tree, *p, *text;
    struct matrix_check mc = MATRIX_CHECK_INIT;
    struct err e = ERR_INIT;
    const char *zero = "0000000000000000000000000000000000000000";

    assert_non_null(mkdtemp(dir));
    repo = xasprintf("%s/linux-3.10.108", dir);
    cmd = xasprintf("mkdir -p %s && cd %s && git init -q && printf 'VERSION = 3\\nPATCHLEVEL = "
                    "10\\nSUBLEVEL = 108\\n' > Makefile && git add Makefile && git -c "
                    "user.email=t@t -c user.name=t commit -qm v3.10.108",
                    repo, repo);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    cmd = xasprintf("git -C %s rev-parse HEAD", repo);
    commit = sh_out(cmd);
    free(cmd);
    cmd = xasprintf("git -C %s rev-parse HEAD^{tree}", repo);
    tree = sh_out(cmd);
    free(cmd);

    /* the recorded commit and tree: verified, once though two specs name it; a second source
     * nobody names: unused */
    text = xasprintf("[xen]\nx = 4.17\n[linux]\nl = git:%s@%s?toolchain=bullseye\n"
                     "l2 = git:%s@%s\n[repro]\n"
                     "r = fpu-leak\n[sources]\nlinux-3.10.108 = https://example.org/a/l %s %s\n"
                     "linux-9.9 = https://example.org/a/m %s %s\n",
                     repo, commit, repo, commit, commit, tree, commit, tree);
    p = write_tmp(text);
    assert_int_equal(matrix_check_file(p, &mc, &e), 0);
    assert_int_equal(mc.sources, 2);
    assert_int_equal(mc.verified, 1);
    assert_int_equal(mc.missing.n, 0);
    assert_int_equal(mc.unused.n, 1);
    assert_non_null(strstr(mc.unused.v[0], "linux-9.9 (line 10)"));
    matrix_check_free(&mc);
    unlink(p);
    free(p);
    free(text);

    /* another tree recorded: the clone's content is not what the file names */
    text = xasprintf("[xen]\nx = 4.17\n[linux]\nl = git:%s@%s\n[repro]\nr = fpu-leak\n"
                     "[sources]\nlinux-3.10.108 = https://example.org/a/l %s %s\n",
                     repo, commit, commit, zero);
    p = write_tmp(text);
    assert_int_equal(matrix_check_file(p, &mc, &e), -1);
    assert_int_equal(e.code, ERR_CONFIG);
    assert_non_null(strstr(e.msg, "not the content the file names"));
    assert_non_null(strstr(e.msg, ":4: [linux] l"));
    matrix_check_free(&mc);
    unlink(p);
    free(p);
    free(text);

    /* a spec naming a commit by another name than the recorded one, or a tree not recorded */
    text = xasprintf("[xen]\nx = 4.17\n[linux]\nl = git:%s@HEAD\n[repro]\nr = fpu-leak\n"
                     "[sources]\nlinux-3.10.108 = https://example.org/a/l %s %s\n",
                     repo, commit, tree);
    p = write_tmp(text);
    assert_int_equal(matrix_check_file(p, &mc, &e), -1);
    assert_non_null(strstr(e.msg, "name it in full"));
    matrix_check_free(&mc);
    unlink(p);
    free(p);
    free(text);
    text = xasprintf("[xen]\nx = 4.17\n[linux]\nl = git:%s@%s\n[repro]\nr = fpu-leak\n"
                     "[sources]\nother = https://example.org/a/l %s %s\n",
                     repo, commit, commit, tree);
    p = write_tmp(text);
    assert_int_equal(matrix_check_file(p, &mc, &e), -1);
    assert_non_null(strstr(e.msg, "no [sources] line names 'linux-3.10.108'"));
    matrix_check_free(&mc);
    unlink(p);
    free(p);
    free(text);

    /* not cloned here: listed with the command that clones it; the rest is still checked */
    text = xasprintf("[xen]\nx = 4.17\n[linux]\nl = git:%s/gone/linux-3.10.108@%s\n"
                     "[repro]\nr = fpu-leak\n[sources]\nlinux-3.10.108 = "
                     "https://example.org/a/l %s %s\n",
                     dir, commit, commit, tree);
    p = write_tmp(text);
    assert_int_equal(matrix_check_file(p, &mc, &e), 0);
    assert_int_equal(mc.missing.n, 1);
    assert_non_null(strstr(mc.missing.v[0], "git clone --no-checkout https://example.org/a/l "));
    assert_int_equal(mc.verified, 0);
    matrix_check_free(&mc);
    unlink(p);
    free(p);
    free(text);

    /* a run (out == NULL) of a slice needs only its cells' sources: a row not cloned here
     * stops the whole file's check, not a slice without it */
    text = xasprintf("[xen]\nx = 4.17\n[linux]\nl = git:%s/gone/linux-3.10.108@%s\n"
                     "deb = 6.1\n[repro]\nr = fpu-leak\n[sources]\nlinux-3.10.108 = "
                     "https://example.org/a/l %s %s\n",
                     dir, commit, commit, tree);
    p = write_tmp(text);
    {
        struct matrix_def m;
        struct matrix_cell *cells = NULL;
        size_t n = 0;
        assert_int_equal(matrix_load(p, &m, &e), 0);
        assert_int_equal(matrix_cells(&m, &cells, &n, &e), 0);
        assert_int_equal(n, 2);
        assert_int_equal(matrix_check_specs(&m, NULL, 0, NULL, &e), -1);
        assert_non_null(strstr(e.msg, "git clone --no-checkout https://example.org/a/l"));
        err_clear(&e);
        assert_int_equal(matrix_check_specs(&m, cells, 1, NULL, &e), -1); /* l's cell */
        err_clear(&e);
        assert_int_equal(matrix_check_specs(&m, cells + 1, 1, NULL, &e), 0); /* deb's */
        free(cells);
        matrix_def_free(&m);
    }
    unlink(p);
    free(p);
    free(text);

    cmd = xasprintf("rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(repo);
    free(commit);
    free(tree);
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
        cmocka_unit_test(test_nightly_shipped), cmocka_unit_test(test_options_and_exclusions),
        cmocka_unit_test(test_errors),          cmocka_unit_test(test_empty_after_exclusions),
        cmocka_unit_test(test_sources),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
