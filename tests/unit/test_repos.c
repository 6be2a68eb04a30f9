/* config/repos: aliases, commit URLs and test commands, through config_load and repos_load. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "config/repos.h"
#include "util/xalloc.h"

static const char *const sha = "0123456789abcdef0123456789abcdef01234567";

static char *write_tmp(const char *text)
{
    char path[] = "/tmp/pvlab-test-repos-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return xstrdup(path);
}

/* The three sections fill one alias; other sections of the same file are left to config. */
static void test_load_and_lookup(void **state)
{
    char *p = write_tmp("[run]\nxen = 4.20\n[repos]\nlinux = ~/src/linux\nxen = /srv/xen\n"
                        "[repo_web]\nlinux = https://git.example/linux/commit/?id=%s&x=100%%\n"
                        "[repo_test]\nxen = make test\n");
    struct repos *r = NULL;
    struct buf b = BUF_INIT;
    struct err e = ERR_INIT;
    char *home = xasprintf("%s/src/linux", getenv("HOME"));

    assert_int_equal(repos_load(p, &r, &e), 0);
    assert_string_equal(repos_path(r, "linux"), home);
    assert_string_equal(repos_path(r, "xen"), "/srv/xen");
    assert_null(repos_path(r, "nosuch"));
    assert_string_equal(repos_test_cmd(r, "xen"), "make test");
    assert_null(repos_test_cmd(r, "linux"));
    assert_int_equal(repos_commit_url(r, "linux", sha, &b), 1);
    assert_string_equal(b.data, "https://git.example/linux/commit/?id=0123456789abcdef0123456789"
                                "abcdef01234567&x=100%");
    buf_reset(&b);
    /* no URL for xen; a commit that is not a full id gets no link either */
    assert_int_equal(repos_commit_url(r, "xen", sha, &b), 0);
    assert_int_equal(repos_commit_url(r, "linux", "HEAD", &b), 0);
    assert_int_equal(repos_commit_url(r, "linux", "\"><script>", &b), 0);
    assert_int_equal(b.len, 0);
    repos_names(r, &b);
    assert_string_equal(b.data, "linux, xen");
    assert_int_equal(repos_count(r), 2);
    assert_int_equal(repos_count(NULL), 0);
    assert_null(repos_path(NULL, "linux"));
    buf_release(&b);
    repos_free(r);
    unlink(p);
    free(p);
    free(home);
}

/* Bad aliases and URL templates are refused with the file, the line and the key. */
static void test_errors(void **state)
{
    static const char *const bad[] = {
        "[repos]\n../x = /tmp\n",
        "[repos]\n-x = /tmp\n",
        "[repo_web]\nlinux = https://x/%s/%s\n",
        "[repo_web]\nlinux = https://x/commit\n",
        "[repo_web]\nlinux = https://x/%d\n",
        "[repo_web]\nlinux = file:///etc/%s\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *p = write_tmp(bad[i]);
        struct repos *r = NULL;
        struct err e = ERR_INIT;
        assert_int_equal(repos_load(p, &r, &e), -1);
        assert_int_equal(e.code, ERR_CONFIG);
        assert_non_null(strstr(e.msg, p));
        assert_non_null(strstr(e.msg, ":2: [repo"));
        repos_free(r);
        unlink(p);
        free(p);
    }
    /* positive control: the same shapes, well formed, load */
    {
        char *p = write_tmp("[repos]\nx.y_z-1 = /tmp\n[repo_web]\nx.y_z-1 = http://h/%s\n");
        struct repos *r = NULL;
        struct err e = ERR_INIT;
        assert_int_equal(repos_load(p, &r, &e), 0);
        assert_string_equal(repos_path(r, "x.y_z-1"), "/tmp");
        repos_free(r);
        unlink(p);
        free(p);
    }
}

/* config_load_file takes the sections too (they are not "unknown sections" there). */
static void test_through_config(void **state)
{
    char *p = write_tmp("[repos]\nxen = /srv/xen\n[repo_web]\nxen = https://x/%s\n");
    struct config c;
    struct err e = ERR_INIT;
    struct buf b = BUF_INIT;

    config_defaults(&c);
    assert_null(c.repos);
    assert_int_equal(config_load_file(&c, p, 1, &e), 0);
    assert_string_equal(repos_path(c.repos, "xen"), "/srv/xen");
    assert_int_equal(repos_commit_url(c.repos, "xen", sha, &b), 1);
    assert_int_equal(config_set(&c, "repos", "bad/alias", "/x", &e), -1);
    assert_non_null(strstr(e.msg, "alias"));
    assert_int_equal(config_set(&c, "nosuch", "k", "v", &e), -1);
    assert_non_null(strstr(e.msg, "repo_web"));
    buf_release(&b);
    config_free(&c);
    unlink(p);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_and_lookup),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_through_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
