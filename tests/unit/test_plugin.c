/*
 * images/plugin: plug-in specs, manifests and their errors, script checks against busybox sh,
 * C plug-ins compiled by gcc and cached, the guest manifest. Real gcc and busybox, no guests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "images/payload_priv.h"
#include "images/plugin.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/xalloc.h"

static char *dir;

static int setup(void **state)
{
    char tmpl[] = "/tmp/pvlab-test-plugin-XXXXXX";
    dir = xstrdup(mkdtemp(tmpl));
    return dir ? 0 : -1;
}

static int teardown(void **state)
{
    fs_rmtree(dir, NULL);
    free(dir);
    return 0;
}

/* Writes dir/name with text; returns the path (malloc'd). */
static char *put(const char *name, const char *text)
{
    char *path = xasprintf("%s/%s", dir, name);
    char *d = fs_dirname(path);
    FILE *f;

    assert_int_equal(fs_mkdirs(d, NULL), 0);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    free(d);
    return path;
}

/* plugin_load of kind:dir/name; returns its result, e filled. */
static int load(const char *kind, const char *name, struct plugin *p, struct err *e)
{
    char *spec = xasprintf("%s:%s/%s", kind, dir, name);
    int rc;

    err_clear(e);
    rc = plugin_load(spec, p, e);
    free(spec);
    return rc;
}

static void test_spec(void **state)
{
    struct err e = ERR_INIT;
    char *c, *cwd = getcwd(NULL, 0), *want;

    assert_true(plugin_is_spec("script:x.sh"));
    assert_true(plugin_is_spec("c:x.c"));
    assert_false(plugin_is_spec("fpu-leak"));
    assert_false(plugin_is_spec("scriptx.sh"));
    assert_false(plugin_is_spec(NULL));
    free(put("rel.sh", "exit 0\n"));
    assert_int_equal(chdir(dir), 0);
    c = plugin_spec_canonical("script:rel.sh", &e);
    want = xasprintf("script:%s/rel.sh", dir);
    assert_string_equal(c, want);
    free(c);
    assert_null(plugin_spec_canonical("c:nope.c", &e));
    assert_int_equal(e.code, ERR_NOTFOUND);
    assert_null(plugin_spec_canonical("script:", &e));
    assert_int_equal(e.code, ERR_USAGE);
    assert_int_equal(chdir(cwd), 0);
    free(cwd);
    free(want);
}

static void test_single_script(void **state)
{
    struct plugin p;
    struct err e = ERR_INIT;
    struct buf m = BUF_INIT;

    free(put("avx-check.sh", "#!/bin/sh\ngrep -q avx /proc/cpuinfo\n"));
    assert_int_equal(load("script", "avx-check.sh", &p, &e), 0);
    assert_string_equal(p.name, "avx-check");
    assert_int_equal(p.kind, PLUGIN_KIND_SCRIPT);
    assert_int_equal(p.once, 1);
    assert_int_equal(p.runs_in, PLUGIN_IN_DOM0 | PLUGIN_IN_DOMU);
    assert_int_equal(p.n_params, 0);
    assert_int_equal(strlen(p.source_sha), 64);
    assert_int_equal(plugin_build(&p, dir, &e), 0);
    assert_string_equal(p.program, p.source); /* a script runs as it is */
    assert_int_equal(plugin_guest_manifest(&p, "--a  b", &m, &e), 0);
    assert_string_equal(m.data, "name avx-check\nkind script\nmodel once\narg --a\narg b\n");
    buf_release(&m);
    plugin_free(&p);
}

static void test_manifest(void **state)
{
    struct plugin p;
    struct err e = ERR_INIT;
    struct buf m = BUF_INIT, j = BUF_INIT;
    struct jw w;

    free(put("d/repro.conf", "# a check\nname = churn\nsummary = memory churn\nkind = script\n"
                             "file = run.sh\nmodel = iterations\nruns-in = dom0\n"
                             "[params]\nthreads = 4\nsize = 64k\n"));
    free(put("d/run.sh", "echo hi\n"));
    assert_int_equal(load("script", "d", &p, &e), 0);
    assert_string_equal(p.name, "churn");
    assert_string_equal(p.summary, "memory churn");
    assert_int_equal(p.once, 0);
    assert_int_equal(p.runs_in, PLUGIN_IN_DOM0);
    assert_int_equal(p.n_params, 2);
    assert_int_equal(plugin_guest_manifest(&p, "--threads 8", &m, &e), 0);
    assert_string_equal(m.data, "name churn\nkind script\nmodel iterations\narg --threads=4\n"
                                "arg --size=64k\narg --threads\narg 8\n");
    jw_init(&w, &j);
    plugin_describe_json(&p, &w);
    assert_non_null(strstr(j.data, "\"params\":{\"threads\":\"4\",\"size\":\"64k\"}"));
    assert_non_null(strstr(j.data, "\"runs_in\":\"dom0\""));
    buf_release(&m);
    buf_release(&j);
    plugin_free(&p);
}

/* Each manifest mistake names the file and the line. */
static void test_manifest_errors(void **state)
{
    static const struct {
        const char *conf, *want;
    } bad[] = {
        { "name = x\nfile = run.sh\ncolour = red\n", "repro.conf:3: unknown key 'colour'" },
        { "file = run.sh\nmodel = twice\n",
          "repro.conf:2: model = twice: must be once or iterations" },
        { "file = run.sh\nruns-in = dom1\n",
          "repro.conf:2: runs-in = dom1: must be dom0, domu or both" },
        { "file = run.sh\nkind = perl\n", "repro.conf:2: kind = perl: must be script or c" },
        { "name = fpu-leak\nfile = run.sh\n",
          "repro.conf:1: name 'fpu-leak': a built-in reproducer's" },
        { "name = a b\nfile = run.sh\n", "repro.conf:1: name 'a b': 1-48 letters" },
        { "name = x\n", "no file =" },
        { "file = run.sh\n[extra]\nk = v\n", "repro.conf:3: unknown section [extra]" },
        { "file = run.sh\nthis is not ini\n", "repro.conf:2: syntax error" },
        { "file = gone.sh\n", "cannot read" },
    };
    struct plugin p;
    struct err e = ERR_INIT;

    free(put("b/run.sh", "exit 0\n"));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        free(put("b/repro.conf", bad[i].conf));
        assert_int_equal(load("script", "b", &p, &e), -1);
        if (!strstr(e.msg, bad[i].want))
            fail_msg("case %zu: '%s' does not say '%s'", i, e.msg, bad[i].want);
    }
    /* negative control: the same directory with a good manifest loads */
    free(put("b/repro.conf", "file = run.sh\n"));
    assert_int_equal(load("script", "b", &p, &e), 0);
    assert_string_equal(p.name, "b");
    plugin_free(&p);
    /* a directory without a manifest */
    {
        char *empty = xasprintf("%s/empty", dir);
        assert_int_equal(fs_mkdirs(empty, NULL), 0);
        free(empty);
    }
    assert_int_equal(load("script", "empty", &p, &e), -1);
    assert_non_null(strstr(e.msg, "without a readable repro.conf"));
}

/* What busybox sh in the guest could not run is refused on the host. */
static void test_script_checks(void **state)
{
    struct plugin p;
    struct err e = ERR_INIT;

    if (!fs_exists(payload_busybox()))
        skip();
    free(put("bash.sh", "#!/bin/bash\n[[ -e /x ]] && echo y\n"));
    assert_int_equal(load("script", "bash.sh", &p, &e), -1);
    assert_int_equal(e.code, ERR_USAGE);
    assert_non_null(strstr(e.msg, "#!/bin/bash, but the guest has only busybox sh"));
    free(put("syntax.sh", "if true; then\necho x\n"));
    assert_int_equal(load("script", "syntax.sh", &p, &e), -1);
    assert_int_equal(e.code, ERR_USAGE);
    assert_non_null(strstr(e.msg, "busybox sh"));
    free(put("binary.sh", "\x7f"
                          "ELF\x02\x01\x01"));
    {
        char *path = xasprintf("%s/binary.sh", dir);
        FILE *f = fopen(path, "w");
        fwrite("\x7f"
               "ELF\0\0\0",
               1, 7, f);
        fclose(f);
        free(path);
    }
    assert_int_equal(load("script", "binary.sh", &p, &e), -1);
    assert_non_null(strstr(e.msg, "binary data"));
    assert_int_equal(load("script", "missing.sh", &p, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    /* negative control: #!/bin/sh with a loop is fine */
    free(put("ok.sh", "#!/bin/sh\nfor i in 1 2; do echo $i; done\n"));
    assert_int_equal(load("script", "ok.sh", &p, &e), 0);
    plugin_free(&p);
}

static void test_c_plugin(void **state)
{
    struct plugin p;
    struct err e = ERR_INIT;
    char *prog1;
    struct stat st1, st2;

    free(put("hello.c", "#include <stdio.h>\nint main(void) { puts(\"hi\"); return 0; }\n"));
    assert_int_equal(load("c", "hello.c", &p, &e), 0);
    assert_int_equal(p.kind, PLUGIN_KIND_C);
    assert_string_equal(p.name, "hello");
    assert_int_equal(plugin_build(&p, dir, &e), 0);
    assert_int_equal(p.compiled, 1);
    assert_int_equal(payload_elf_is_static(p.program, &e), 1);
    assert_int_equal(stat(p.program, &st1), 0);
    prog1 = xstrdup(p.program);
    /* the second build compiles nothing */
    assert_int_equal(plugin_build(&p, dir, &e), 0);
    assert_int_equal(p.compiled, 0);
    assert_string_equal(p.program, prog1);
    assert_int_equal(stat(p.program, &st2), 0);
    assert_int_equal(st1.st_ino, st2.st_ino);
    plugin_free(&p);
    /* another source is another entry */
    free(put("hello.c", "#include <stdio.h>\nint main(void) { puts(\"ho\"); return 1; }\n"));
    assert_int_equal(load("c", "hello.c", &p, &e), 0);
    assert_int_equal(plugin_build(&p, dir, &e), 0);
    assert_int_equal(p.compiled, 1);
    assert_string_not_equal(p.program, prog1);
    plugin_free(&p);
    free(prog1);
    /* a compile error carries the compiler's message */
    free(put("broken.c", "int main(void) { return undefined_thing; }\n"));
    assert_int_equal(load("c", "broken.c", &p, &e), 0);
    assert_int_equal(plugin_build(&p, dir, &e), -1);
    assert_int_equal(e.code, ERR_USAGE);
    assert_non_null(strstr(e.msg, "does not compile"));
    assert_non_null(strstr(e.msg, "undefined_thing"));
    plugin_free(&p);
    /* c: names a C file */
    free(put("notc.txt", "x\n"));
    assert_int_equal(load("c", "notc.txt", &p, &e), -1);
    assert_non_null(strstr(e.msg, "ending in .c"));
}

static void test_guest_manifest_limits(void **state)
{
    struct plugin p;
    struct err e = ERR_INIT;
    struct buf m = BUF_INIT, args = BUF_INIT;

    free(put("lim.sh", "exit 0\n"));
    assert_int_equal(load("script", "lim.sh", &p, &e), 0);
    for (int i = 0; i < 33; i++)
        buf_addf(&args, "w%d ", i);
    assert_int_equal(plugin_guest_manifest(&p, args.data, &m, &e), -1);
    assert_non_null(strstr(e.msg, "at most 32"));
    buf_reset(&args);
    for (int i = 0; i < 300; i++)
        buf_addch(&args, 'x');
    assert_int_equal(plugin_guest_manifest(&p, args.data, &m, &e), -1);
    assert_non_null(strstr(e.msg, "longer than"));
    buf_release(&m);
    buf_release(&args);
    plugin_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec),
        cmocka_unit_test(test_single_script),
        cmocka_unit_test(test_manifest),
        cmocka_unit_test(test_manifest_errors),
        cmocka_unit_test(test_script_checks),
        cmocka_unit_test(test_c_plugin),
        cmocka_unit_test(test_guest_manifest_limits),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
