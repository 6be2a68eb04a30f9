/* Unit tests for config/: defaults, the shipped file, errors that name file, line and key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "util/fsutil.h"
#include "util/xalloc.h"

static char *write_tmp(const char *text)
{
    char path[] = "/tmp/pvlab-test-conf-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return xstrdup(path);
}

/* The shipped file must restate the built-in defaults exactly. */
static void test_shipped_file_matches_defaults(void **state)
{
    struct config a, b;
    struct err e = ERR_INIT;

    config_defaults(&a);
    config_defaults(&b);
    /* poison b so every key the file sets is visible */
    b.memory_mb = 1;
    b.boot_s = 1;
    b.run_trials = 99;
    b.run_iterations = 99;
    b.bisect_confidence = 0.5;
    b.probe_timeout_s = 99;
    free(b.run_xen);
    free(b.run_linux);
    free(b.run_repro);
    b.run_xen = xstrdup("poison");
    b.run_linux = xstrdup("poison");
    b.run_repro = xstrdup("poison");
    assert_int_equal(config_load_file(&b, PVLAB_TOP "/config/pvlab.conf", 1, &e), 0);
    assert_string_equal(a.cache_dir, b.cache_dir);
    assert_string_equal(a.state_dir, b.state_dir);
    assert_string_equal(a.qemu_binary, b.qemu_binary);
    assert_string_equal(a.cpu_tcg, b.cpu_tcg);
    assert_string_equal(a.xen_cmdline, b.xen_cmdline);
    assert_string_equal(a.dom0_cmdline, b.dom0_cmdline);
    assert_int_equal(a.memory_mb, b.memory_mb);
    assert_int_equal(a.boot_s, b.boot_s);
    assert_int_equal(a.run_base_s, b.run_base_s);
    assert_int_equal(a.accel, b.accel);
    assert_string_equal(a.kvm_device, b.kvm_device);
    assert_string_equal(a.lab_backend, b.lab_backend);
    assert_string_equal(a.libvirt_uri, b.libvirt_uri);
    assert_int_equal(a.probe_timeout_s, b.probe_timeout_s);
    assert_string_equal(a.run_xen, b.run_xen);
    assert_string_equal(a.run_linux, b.run_linux);
    assert_string_equal(a.run_repro, b.run_repro);
    assert_int_equal(a.run_trials, b.run_trials);
    assert_int_equal(a.run_iterations, b.run_iterations);
    assert_int_equal(a.run_jobs, b.run_jobs);
    assert_true(a.bisect_confidence == b.bisect_confidence);
    assert_int_equal(a.bisect_check_good, b.bisect_check_good);
    assert_int_equal(a.bisect_check_bad_max, b.bisect_check_bad_max);
    assert_int_equal(a.bisect_workers, b.bisect_workers);
    assert_null(b.mirror);
    config_free(&a);
    config_free(&b);
}

static void test_values_applied(void **state)
{
    struct config c;
    struct err e = ERR_INIT;
    char *p = write_tmp("[qemu]\nmemory_mb = 3072\naccel = tcg\n[debian]\nmirror = "
                        "http://mirror.example/debian\n[paths]\ncache_dir = ~/x\n");

    setenv("HOME", "/home/tester", 1);
    config_defaults(&c);
    assert_int_equal(config_load_file(&c, p, 1, &e), 0);
    assert_int_equal(c.memory_mb, 3072);
    assert_int_equal(c.accel, ACCEL_TCG);
    assert_string_equal(c.mirror, "http://mirror.example/debian");
    assert_string_equal(c.cache_dir, "/home/tester/x");
    config_free(&c);
    unlink(p);
    free(p);
}

static void expect_error(const char *text, const char *needle1, const char *needle2)
{
    struct config c;
    struct err e = ERR_INIT;
    char *p = write_tmp(text);

    config_defaults(&c);
    assert_int_equal(config_load_file(&c, p, 1, &e), -1);
    assert_int_equal(e.code, ERR_CONFIG);
    if (!strstr(e.msg, p) || !strstr(e.msg, needle1) || !strstr(e.msg, needle2))
        fail_msg("error '%s' lacks '%s' / '%s' / path", e.msg, needle1, needle2);
    config_free(&c);
    unlink(p);
    free(p);
}

static void test_errors_name_file_line_key(void **state)
{
    expect_error("[qemu]\nmemory_mb = 2048\nmemroy_mb = 1\n", ":3:", "memroy_mb");
    expect_error("[qemu]\nmemory_mb = lots\n", ":2:", "memory_mb");
    expect_error("[qemu]\n\nsmp = 0\n", ":3:", "between 1 and");
    expect_error("[qemu]\naccel = fast\n", ":2:", "auto, kvm, tcg");
    expect_error("[nosuch]\nx = 1\n", ":2:", "unknown section");
    expect_error("[qemu]\nthis line has no equals sign\n", ":2:", "syntax");
}

static void test_missing_file(void **state)
{
    struct config c;
    struct err e = ERR_INIT;

    config_defaults(&c);
    assert_int_equal(config_load_file(&c, "/nonexistent/pvlab.conf", 0, &e), 0);
    assert_int_equal(config_load_file(&c, "/nonexistent/pvlab.conf", 1, &e), -1);
    assert_non_null(strstr(e.msg, "/nonexistent/pvlab.conf"));
    config_free(&c);
}

static void test_env_overrides(void **state)
{
    struct config c;
    struct err e = ERR_INIT;

    setenv("HOME", "/nonexistent-home", 1);
    setenv("PVLAB_HOME", "/tmp/ph", 1);
    unsetenv("PVLAB_CONFIG");
    unsetenv("PVLAB_CACHE_DIR");
    assert_int_equal(config_load(&c, NULL, &e), 0);
    assert_string_equal(c.cache_dir, "/tmp/ph/cache");
    assert_string_equal(c.state_dir, "/tmp/ph/state");
    config_free(&c);
    setenv("PVLAB_CACHE_DIR", "/tmp/shared-cache", 1);
    assert_int_equal(config_load(&c, NULL, &e), 0);
    assert_string_equal(c.cache_dir, "/tmp/shared-cache");
    config_free(&c);
    unsetenv("PVLAB_CACHE_DIR");
    /* a relative PVLAB_HOME is anchored where pvlab started, not wherever a child runs */
    setenv("PVLAB_HOME", "rel/home", 1);
    assert_int_equal(chdir("/tmp"), 0);
    assert_int_equal(config_load(&c, NULL, &e), 0);
    assert_string_equal(c.cache_dir, "/tmp/rel/home/cache");
    assert_string_equal(c.state_dir, "/tmp/rel/home/state");
    config_free(&c);
    unsetenv("PVLAB_HOME");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_file_matches_defaults),
        cmocka_unit_test(test_values_applied),
        cmocka_unit_test(test_errors_name_file_line_key),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_env_overrides),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
