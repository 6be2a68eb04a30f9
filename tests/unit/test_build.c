/*
 * kernels/ builders: versions and ranges, the shipped toolchain table (2.6.26 ... 6.12), the
 * fix table's range logic and application, fragment parsing/merging and the survived-options
 * check on fake .configs, cache key stability, and the whole build pipeline on a fake source
 * tree whose Makefile plays the kernel's targets (cache hit without make, build failure as
 * ERR_BUILD with the log's error lines, a dropped option named, bad input).
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#include <cmocka.h>

#include "kernels/build.h"
#include "kernels/build_priv.h"
#include "kernels/build_src.h"
#include "kernels/cache_gc.h"
#include "kernels/kernels_priv.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/xalloc.h"

static char *tmpdir;

static int setup(void **state)
{
    char tmpl[] = "/tmp/pvlab-test-build-XXXXXX";
    tmpdir = xstrdup(mkdtemp(tmpl));
    return tmpdir ? 0 : -1;
}

static int teardown(void **state)
{
    fs_rmtree(tmpdir, NULL);
    free(tmpdir);
    return 0;
}

static char *slurp(const char *name)
{
    struct buf b = BUF_INIT;
    char *p = xasprintf("%s/kernels/data/%s", PVLAB_TOP, name);
    assert_int_equal(buf_read_file(&b, p, NULL), 0);
    free(p);
    return buf_detach(&b, NULL);
}

static void write_file(const char *path, const char *text)
{
    assert_int_equal(fs_write_atomic(path, text, strlen(text), NULL), 0);
}

static struct kver V(const char *s) {
    struct kver v;
    assert_int_equal(kver_parse(s, &v), 0);
    return v;
}

static void
test_versions(void **state)
{
    struct kver v = V("v4.1.5"), w;

    assert_int_equal(v.v[0], 4);
    assert_int_equal(v.v[1], 1);
    assert_int_equal(v.v[2], 5);
    w = V("RELEASE-4.17.0");
    assert_int_equal(w.v[1], 17);
    w = V("6.12-rc3");
    assert_int_equal(w.v[1], 12);
    assert_int_equal(w.v[2], -1);
    assert_int_equal(kver_parse("latest", &w), -1);
    assert_true(kver_cmp(&(struct kver){ { 2, 6, 26 } }, &(struct kver){ { 2, 6, 3 } }) > 0);
    assert_int_equal(kver_in_range(&v, "4.1"), 1); /* 4.1 holds 4.1.5 */
    assert_int_equal(kver_in_range(&v, "3.18-4.1"), 1);
    assert_int_equal(kver_in_range(&v, "4.2-"), 0);
    assert_int_equal(kver_in_range(&v, "-4.0"), 0);
    assert_int_equal(kver_in_range(&v, "4.1.6-"), 0);
    assert_int_equal(kver_in_range(&v, "*"), 1);
    assert_int_equal(kver_in_range(&v, "x-y"), -1);
    assert_int_equal(kver_of_text("VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 158\n", 0, &w), 0);
    assert_int_equal(w.v[2], 158);
    assert_int_equal(kver_of_text("export XEN_VERSION       = 4\nexport XEN_SUBVERSION    = 17\n"
                                  "export XEN_EXTRAVERSION ?= .5$(XEN_VENDORVERSION)\n",
                                  1, &w),
                     0);
    assert_int_equal(w.v[0], 4);
    assert_int_equal(w.v[1], 17);
    assert_int_equal(w.v[2], 5);
}

/* The shipped table picks a profile for every era from 2.6.26 to 6.12. */
static void test_toolchain_choice(void **state)
{
    static const struct {
        const char *kind, *ver, *profile, *cc;
    } want[] = {
        { "linux", "2.6.26", "squeeze", "gcc-4.4" }, { "linux", "2.6.32", "squeeze", "gcc-4.4" },
        { "linux", "3.1.10", "squeeze", "gcc-4.4" }, { "linux", "3.2", "jessie", "gcc-4.9" },
        { "linux", "3.11", "jessie", "gcc-4.9" },    { "linux", "3.19.8", "jessie", "gcc-4.9" },
        { "linux", "4.1.5", "bullseye", "gcc-10" },  { "linux", "4.19", "bullseye", "gcc-10" },
        { "linux", "5.4", "bullseye", "gcc-10" },    { "linux", "5.10", "host", "gcc" },
        { "linux", "6.1.158", "host", "gcc" },       { "linux", "6.12", "host", "gcc" },
        { "xen", "4.17.5", "host", "gcc" },          { "xen", "4.14", "bullseye", "gcc-10" },
        { "xen", "4.4", "jessie", "gcc-4.9" },
    };
    char *text = slurp("toolchains.tab");
    struct tc_table t;
    struct kver v;

    assert_int_equal(tc_table_parse(text, &t, NULL), 0);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const struct tc_rule *r;
        v = V(want[i].ver);
        r = tc_choose(&t, want[i].kind, &v);
        assert_non_null(r);
        assert_string_equal(r->profile, want[i].profile);
        assert_string_equal(r->cc, want[i].cc);
    }
    v = V("2.6.25");
    assert_null(tc_choose(&t, "linux", &v)); /* before pvops: no profile, an error says so */
    tc_table_free(&t);
    {
        struct err e = ERR_INIT;
        assert_int_equal(tc_table_parse("linux 5.10- host\n", &t, &e), -1);
        assert_int_equal(e.code, ERR_CONFIG);
    }
    free(text);
}

static int has(const struct sv *s, const char *str)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i], str))
            return 1;
    return 0;
}

/* Applies the fix table to src as linux v (gcc 10) and checks that each named fix was applied. */
static void apply_expect(const struct fix_table *t, const struct kver *v, const char *src,
                         struct sv *applied, const char *const *names)
{
    assert_int_equal(fixes_apply(t, "linux", v, 10, src, applied, NULL), 0);
    for (; *names; names++)
        if (!has(applied, *names))
            fail_msg("fix %s was not applied", *names);
}

static void test_fix_ranges(void **state)
{
    char *text = slurp("fixes.tab");
    struct fix_table t;
    struct kver v;
    int n_in;

    assert_int_equal(fix_table_parse(text, &t, NULL), 0);
    assert_true(t.n >= 2);
    for (size_t i = 0; i < t.n; i++) {
        const struct fix *f = &t.v[i];
        if (strcmp(f->id, "compiler-gcc-copy") && strcmp(f->id, "no-pie-cflags") &&
            strcmp(f->id, "no-pie-aflags"))
            continue; /* the 4.1.5 set; older eras' rows: test_fix_old_eras and below */
        v = V("4.1.5");
        assert_int_equal(fix_in_range(f, "linux", &v, 10), 1); /* both apply to 4.1.5/gcc-10 */
        assert_int_equal(fix_in_range(f, "xen", &v, 10), 0);
        assert_int_equal(fix_in_range(f, "linux", &v, 5), 0); /* not needed with gcc 5 */
        v = V("6.1");
        assert_int_equal(fix_in_range(f, "linux", &v, 12), 0);
        v = V("4.9");
        assert_int_equal(fix_in_range(f, "linux", &v, 10), 0);
    }
    v = V("4.2");
    n_in = 0;
    for (size_t i = 0; i < t.n; i++)
        n_in += fix_in_range(&t.v[i], "linux", &v, 10) && !strncmp(t.v[i].id, "compiler-gcc", 12);
    assert_int_equal(n_in, 0); /* 4.2 has one compiler-gcc.h for every major */
    {
        char *x = fix_expand("include/linux/compiler-gcc${cc_major}.h", 10);
        assert_string_equal(x, "include/linux/compiler-gcc10.h");
        free(x);
    }
    /* applied to a fake 4.1.5 tree, once: the second time nothing is needed */
    {
        char *inc = xasprintf("%s/fx/include/linux", tmpdir), *p;
        char *src = xasprintf("%s/fx", tmpdir);
        struct sv applied = SV_INIT, again = SV_INIT;
        struct buf mk = BUF_INIT;
        assert_int_equal(fs_mkdirs(inc, NULL), 0);
        p = xasprintf("%s/compiler-gcc5.h", inc);
        write_file(p, "/* gcc5 */\n");
        free(p);
        p = xasprintf("%s/Makefile", src);
        write_file(p, "VERSION = 4\nPATCHLEVEL = 1\nSUBLEVEL = 5\n");
        v = V("4.1.5");
        apply_expect(
            &t, &v, src, &applied,
            (const char *const[]){ "compiler-gcc-copy", "no-pie-cflags", "no-pie-aflags", NULL });
        assert_int_equal(buf_read_file(&mk, p, NULL), 0);
        assert_non_null(strstr(mk.data, "KBUILD_CFLAGS += $(call cc-option,-fno-PIE)"));
        free(p);
        p = xasprintf("%s/compiler-gcc10.h", inc);
        assert_true(fs_exists(p));
        assert_int_equal(fixes_needed(&t, "linux", &v, 10, src, &again), 0);
        sv_clear(&again);
        assert_int_equal(fixes_apply(&t, "linux", &v, 10, src, &again, NULL), 0);
        assert_int_equal((int)again.n, 0);
        buf_release(&mk);
        sv_clear(&applied);
        sv_clear(&again);
        free(p);
        free(inc);
        free(src);
    }
    fix_table_free(&t);
    {
        struct err e = ERR_INIT;
        assert_int_equal(fix_table_parse("a | linux | 4.1 | 0 | move | x | y | z\n", &t, &e), -1);
        assert_int_equal(e.code, ERR_CONFIG);
    }
    free(text);
}

/* The rows older trees need under gcc-10 / perl 5.32: in range where they should be, applied to
 * a fake tree that has the old text, and not to one that has the fixed text. */
static void test_fix_old_eras(void **state)
{
    char *text = slurp("fixes.tab");
    char *src = xasprintf("%s/old-era", tmpdir), *tools = xasprintf("%s/arch/x86/tools", src);
    char *kdir = xasprintf("%s/kernel", src), *relocs = xasprintf("%s/relocs.c", tools);
    char *tc = xasprintf("%s/timeconst.pl", kdir);
    struct fix_table t;
    struct sv applied = SV_INIT, again = SV_INIT;
    struct buf b = BUF_INIT;
    struct kver v;
    const struct fix *relocs_fix = NULL, *tc_fix = NULL;

    assert_int_equal(fix_table_parse(text, &t, NULL), 0);
    for (size_t i = 0; i < t.n; i++) {
        if (!strcmp(t.v[i].id, "relocs-static"))
            relocs_fix = &t.v[i];
        if (!strcmp(t.v[i].id, "timeconst-perl"))
            tc_fix = &t.v[i];
    }
    assert_non_null(relocs_fix);
    assert_non_null(tc_fix);
    v = V("3.10.108");
    assert_int_equal(fix_in_range(relocs_fix, "linux", &v, 10), 1);
    assert_int_equal(fix_in_range(relocs_fix, "linux", &v, 9), 0); /* -fcommon was the default */
    v = V("4.1.5");
    assert_int_equal(fix_in_range(relocs_fix, "linux", &v, 10), 0);
    v = V("3.8.13");
    assert_int_equal(fix_in_range(tc_fix, "linux", &v, 0), 1); /* perl, whatever the compiler */
    v = V("3.9");
    assert_int_equal(fix_in_range(tc_fix, "linux", &v, 10), 0); /* bc from 3.9 */

    assert_int_equal(fs_mkdirs(tools, NULL), 0);
    assert_int_equal(fs_mkdirs(kdir, NULL), 0);
    write_file(relocs, "#include \"relocs.h\"\nElf_Addr per_cpu_load_addr;\nint x;\n");
    write_file(tc, "sub f {\n\tif (!defined(@val)) {\n\t\t@val = g();\n\t}\n}\n");
    {
        char *inc = xasprintf("%s/include/linux", src), *h4 = xasprintf("%s/compiler-gcc4.h", inc);
        char *h10 = xasprintf("%s/compiler-gcc10.h", inc);
        assert_int_equal(fs_mkdirs(inc, NULL), 0);
        write_file(h4, "/* gcc4 */\n");
        v = V("3.2.102");
        assert_int_equal(fixes_apply(&t, "linux", &v, 10, src, &applied, NULL), 0);
        assert_true(has(&applied, "compiler-gcc4-copy")); /* no gcc5 header: gcc4's stands in */
        assert_false(has(&applied, "compiler-gcc-copy"));
        assert_int_equal(buf_read_file(&b, h10, NULL), 0);
        assert_string_equal(b.data, "/* gcc4 */\n");
        buf_reset(&b);
        free(inc);
        free(h4);
        free(h10);
    }
    assert_true(has(&applied, "timeconst-perl"));
    assert_false(has(&applied, "relocs-static")); /* 3.2: out of range */
    assert_int_equal(buf_read_file(&b, tc, NULL), 0);
    assert_string_equal(b.data, "sub f {\n\tif (!@val) {\n\t\t@val = g();\n\t}\n}\n");
    buf_reset(&b);
    sv_clear(&applied);
    v = V("3.10.108");
    assert_int_equal(fixes_apply(&t, "linux", &v, 10, src, &applied, NULL), 0);
    assert_true(has(&applied, "relocs-static"));
    assert_int_equal(buf_read_file(&b, relocs, NULL), 0);
    assert_string_equal(b.data,
                        "#include \"relocs.h\"\nstatic Elf_Addr per_cpu_load_addr;\nint x;\n");
    /* fixed text (a later stable release): nothing to do, though "Elf_Addr per_cpu..." is in it */
    assert_int_equal(fixes_needed(&t, "linux", &v, 10, src, &again), 0);
    buf_release(&b);
    sv_clear(&applied);
    sv_clear(&again);
    fix_table_free(&t);
    {
        struct err e = ERR_INIT;
        assert_int_equal(
            fix_table_parse("a | linux | 4.1 | 0 | replace | f | no separator | z\n", &t, &e), -1);
        assert_int_equal(e.code, ERR_CONFIG);
    }
    free(text);
    free(src);
    free(tools);
    free(kdir);
    free(relocs);
    free(tc);
}

static const struct fix *fix_by_id(const struct fix_table *t, const char *id)
{
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->v[i].id, id))
            return &t->v[i];
    return NULL;
}

/* 2.6.32 (domU) and 3.4: the setup code's own CFLAGS, gnu89 inline semantics and entry_64.S's
 * misnamed END(): in range where the trees need them, applied to a fake tree with the old text,
 * not to one that already has the fixed text, and not to the eras that built without them. */
static void test_fix_pre37_rows(void **state)
{
    char *text = slurp("fixes.tab");
    char *src = xasprintf("%s/pre37", tmpdir), *boot = xasprintf("%s/arch/x86/boot", src);
    char *kern = xasprintf("%s/arch/x86/kernel", src);
    char *bootmk = xasprintf("%s/Makefile", boot), *topmk = xasprintf("%s/Makefile", src);
    char *entry = xasprintf("%s/entry_64.S", kern);
    char *vdsomk = xasprintf("%s/arch/x86/vdso/Makefile", src);
    struct fix_table t;
    struct sv applied = SV_INIT, again = SV_INIT;
    struct buf b = BUF_INIT;
    struct kver v;
    const struct fix *pic, *inl, *size;

    assert_int_equal(fix_table_parse(text, &t, NULL), 0);
    pic = fix_by_id(&t, "boot-no-pic");
    inl = fix_by_id(&t, "gnu89-inline");
    size = fix_by_id(&t, "xen-callback-size");
    assert_non_null(pic);
    assert_non_null(inl);
    assert_non_null(size);
    v = V("3.4.113");
    assert_int_equal(fix_in_range(pic, "linux", &v, 10), 1);
    assert_int_equal(fix_in_range(pic, "linux", &v, 4), 0); /* no PIE by default before gcc 6 */
    assert_int_equal(fix_in_range(inl, "linux", &v, 10), 0);
    v = V("3.7.2"); /* built without them: their cache keys must not change */
    assert_int_equal(fix_in_range(pic, "linux", &v, 10), 0);
    assert_int_equal(fix_in_range(inl, "linux", &v, 10), 0);
    assert_int_equal(fix_in_range(size, "linux", &v, 10), 0);
    v = V("2.6.32");
    assert_int_equal(fix_in_range(inl, "linux", &v, 10), 1);
    assert_int_equal(fix_in_range(inl, "linux", &v, 4), 0);  /* gnu89 was gcc 4's default */
    assert_int_equal(fix_in_range(size, "linux", &v, 0), 1); /* binutils, whatever the gcc */
    v = V("2.6.39.4");                                       /* -m64 and the right END() already */
    assert_int_equal(fix_in_range(size, "linux", &v, 10), 0);
    assert_int_equal(fix_in_range(fix_by_id(&t, "vdso-m64"), "linux", &v, 10), 0);
    v = V("2.6.32");

    assert_int_equal(fs_mkdirs(boot, NULL), 0);
    assert_int_equal(fs_mkdirs(kern, NULL), 0);
    write_file(bootmk, "KBUILD_CFLAGS\t:= $(LINUXINCLUDE) -g -Os -D_SETUP\n");
    write_file(topmk, "VERSION = 2\nPATCHLEVEL = 6\nSUBLEVEL = 32\n");
    write_file(entry, "ENTRY(xen_do_hypervisor_callback)\n\tret\nEND(do_hypervisor_callback)\n");
    {
        char *vdir = xasprintf("%s/arch/x86/vdso", src);
        assert_int_equal(fs_mkdirs(vdir, NULL), 0);
        free(vdir);
    }
    write_file(vdsomk, "VDSO_LDFLAGS_vdso.lds = -m elf_x86_64 -Wl,-soname=linux-vdso.so.1 \\\n"
                       "VDSO_LDFLAGS_vdso32.lds = -m elf_i386 -Wl,-soname=linux-gate.so.1\n");
    assert_int_equal(fixes_apply(&t, "linux", &v, 10, src, &applied, NULL), 0);
    assert_true(has(&applied, "boot-no-pic"));
    assert_true(has(&applied, "gnu89-inline"));
    assert_true(has(&applied, "xen-callback-size"));
    assert_true(has(&applied, "vdso-m64"));
    assert_true(has(&applied, "vdso-m32"));
    assert_int_equal(buf_read_file(&b, vdsomk, NULL), 0);
    assert_string_equal(b.data, "VDSO_LDFLAGS_vdso.lds = -m64 -Wl,-soname=linux-vdso.so.1 \\\n"
                                "VDSO_LDFLAGS_vdso32.lds = -m32 -Wl,-soname=linux-gate.so.1\n");
    buf_reset(&b);
    assert_int_equal(buf_read_file(&b, bootmk, NULL), 0);
    assert_non_null(strstr(b.data, "KBUILD_CFLAGS += $(call cc-option,-fno-pic)"));
    buf_reset(&b);
    assert_int_equal(buf_read_file(&b, topmk, NULL), 0);
    assert_non_null(strstr(b.data, "KBUILD_CFLAGS += $(call cc-option,-fgnu89-inline)"));
    buf_reset(&b);
    assert_int_equal(buf_read_file(&b, entry, NULL), 0);
    assert_string_equal(
        b.data, "ENTRY(xen_do_hypervisor_callback)\n\tret\nEND(xen_do_hypervisor_callback)\n");
    buf_reset(&b);
    /* once applied (or a release with the fixed END()): nothing more to do */
    assert_int_equal(fixes_needed(&t, "linux", &v, 10, src, &again), 0);
    /* the negative control: a tree whose END() was never wrong */
    write_file(entry, "END(xen_do_hypervisor_callback)\n");
    assert_int_equal(fixes_needed(&t, "linux", &v, 10, src, &again), 0);
    buf_release(&b);
    sv_clear(&applied);
    sv_clear(&again);
    fix_table_free(&t);
    free(text);
    free(src);
    free(boot);
    free(kern);
    free(bootmk);
    free(topmk);
    free(entry);
    free(vdsomk);
}

/* 2.6.27 under make 4.3 and gcc 10: the plain-plus-pattern rules split (top Makefile and the
 * O= Makefile written by mkmakefile), with a recipe tab from the table's "\t"; the mutex
 * slowpaths marked __used; -fno-PIE before the arch Makefile. A tree that has the split rules
 * already (2.6.32) needs none of make382's, and later releases are out of range. */
static void test_fix_make382_rows(void **state)
{
    char *text = slurp("fixes.tab");
    char *src = xasprintf("%s/make382", tmpdir), *scripts = xasprintf("%s/scripts", src);
    char *topmk = xasprintf("%s/Makefile", src), *mkmk = xasprintf("%s/mkmakefile", scripts);
    struct fix_table t;
    struct sv applied = SV_INIT, again = SV_INIT;
    struct buf b = BUF_INIT;
    struct kver v;

    assert_int_equal(fix_table_parse(text, &t, NULL), 0);
    v = V("2.6.27");
    assert_int_equal(fix_in_range(fix_by_id(&t, "make382-config"), "linux", &v, 10), 1);
    assert_int_equal(fix_in_range(fix_by_id(&t, "make382-config"), "linux", &v, 4), 1);
    v = V("2.6.36");
    assert_int_equal(fix_in_range(fix_by_id(&t, "make382-config"), "linux", &v, 10), 0);
    assert_int_equal(fix_in_range(fix_by_id(&t, "mutex-used-lock"), "linux", &v, 10), 0);
    assert_int_equal(fix_in_range(fix_by_id(&t, "no-pie-early"), "linux", &v, 10), 1);
    assert_int_equal(fix_in_range(fix_by_id(&t, "no-pie-early"), "linux", &v, 5), 0);
    v = V("3.7.2"); /* -mno-sse outside cc-option: built without it (cache keys unchanged) */
    assert_int_equal(fix_in_range(fix_by_id(&t, "no-pie-early"), "linux", &v, 10), 0);
    assert_int_equal(fix_in_range(fix_by_id(&t, "make382-mkmakefile"), "linux", &v, 10), 0);
    v = V("2.6.27");
    assert_int_equal(fs_mkdirs(scripts, NULL), 0);
    write_file(topmk, "VERSION = 2\nPATCHLEVEL = 6\nSUBLEVEL = 27\n\n"
                      "include $(srctree)/arch/$(SRCARCH)/Makefile\n"
                      "config %config: scripts_basic outputmakefile FORCE\n\t$(Q)mkdir -p x\n\n"
                      "# Modules\n/ %/: prepare scripts FORCE\n\t$(cmd_crmodverdir)\n");
    {
        char *kdir = xasprintf("%s/kernel", src), *mutex = xasprintf("%s/mutex.c", kdir);
        assert_int_equal(fs_mkdirs(kdir, NULL), 0);
        write_file(mutex,
                   "static void noinline __sched\n__mutex_lock_slowpath(atomic_t *lock_count);\n"
                   "static noinline void __sched __mutex_unlock_slowpath(atomic_t *lock_count);\n");
        free(mutex);
        free(kdir);
    }
    write_file(mkmk, "Makefile:;\n\n\\$(all) %/: all\n\t@:\n\nEOF\n");
    apply_expect(
        &t, &v, src, &applied,
        (const char *const[]){ "make382-config", "make382-dirs", "make382-mkmakefile", NULL });
    assert_int_equal(buf_read_file(&b, topmk, NULL), 0);
    assert_non_null(strstr(b.data, "\n%config: scripts_basic outputmakefile FORCE\n"));
    assert_null(strstr(b.data, "config %config"));
    assert_non_null(strstr(b.data, "# Modules\n%/: prepare scripts FORCE\n"));
    /* -fno-PIE before the arch Makefile (whose cc-option tests need it), and only once */
    assert_true(has(&applied, "no-pie-early"));
    assert_non_null(strstr(b.data, "\n\nKBUILD_CFLAGS += $(call cc-option,-fno-PIE)\n"
                                   "include $(srctree)/arch/$(SRCARCH)/Makefile # pvlab"));
    buf_reset(&b);
    {
        char *mutex = xasprintf("%s/kernel/mutex.c", src);
        assert_true(has(&applied, "mutex-used-lock"));
        assert_true(has(&applied, "mutex-used-unlock"));
        assert_int_equal(buf_read_file(&b, mutex, NULL), 0);
        assert_string_equal(
            b.data,
            "static __used noinline void __sched\n__mutex_lock_slowpath(atomic_t *lock_count);\n"
            "static __used noinline void __sched __mutex_unlock_slowpath(atomic_t *lock_count);\n");
        buf_reset(&b);
        free(mutex);
    }
    assert_int_equal(buf_read_file(&b, mkmk, NULL), 0);
    assert_string_equal(b.data, "Makefile:;\n\n\\$(all): all\n\t@:\n\n%/: all\n\t@:\n\nEOF\n");
    buf_reset(&b);
    /* applied once: nothing more to do (the new mkmakefile text no longer holds OLD) */
    assert_int_equal(fixes_needed(&t, "linux", &v, 10, src, &again), 0);
    /* the negative control: 2.6.32's Makefile, whose rules are split already */
    write_file(topmk, "config: scripts_basic outputmakefile FORCE\n\n"
                      "%config: scripts_basic outputmakefile FORCE\n\n%/: prepare scripts FORCE\n");
    v = V("2.6.32"); /* (the top Makefile's appends are needed again in this new text) */
    fixes_needed(&t, "linux", &v, 10, src, &again);
    assert_false(has(&again, "make382-config"));
    assert_false(has(&again, "make382-dirs"));
    assert_true(has(&again, "gnu89-inline")); /* the tree was read */
    buf_release(&b);
    sv_clear(&applied);
    sv_clear(&again);
    fix_table_free(&t);
    free(text);
    free(src);
    free(scripts);
    free(topmk);
    free(mkmk);
}

/* Archive-only profiles stand in with the oldest reachable chroot of their kind. */
static void test_toolchain_fallback(void **state)
{
    char *text = slurp("toolchains.tab");
    struct tc_table t;
    struct kver v;
    const struct tc_rule *r, *fb;

    assert_int_equal(tc_table_parse(text, &t, NULL), 0);
    v = V("3.10.108");
    r = tc_choose(&t, "linux", &v);
    assert_true(r->archive);
    fb = tc_fallback(&t, r);
    assert_non_null(fb);
    assert_string_equal(fb->profile, "bullseye");
    assert_false(fb->archive);
    v = V("2.6.32");
    assert_string_equal(tc_fallback(&t, tc_choose(&t, "linux", &v))->profile, "bullseye");
    v = V("4.4");
    assert_string_equal(tc_fallback(&t, tc_choose(&t, "xen", &v))->cc, "gcc-10");
    tc_table_free(&t);
    /* nothing reachable but the host: no stand-in (the error asks for --archive-mirror) */
    assert_int_equal(tc_table_parse("linux 5.10- host - gcc -\nlinux 3.2-5.9 jessie jessie "
                                    "gcc-4.9 archive\n",
                                    &t, NULL),
                     0);
    v = V("3.10");
    assert_null(tc_fallback(&t, tc_choose(&t, "linux", &v)));
    tc_table_free(&t);
    free(text);
}

static const char *opt_value(const struct frag *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->v[i].name, name))
            return f->v[i].value;
    return NULL;
}

static void test_fragment_eras(void **state)
{
    char *text = slurp("linux-dom0.frag");
    struct frag f;
    struct kver v = V("6.1.158");

    assert_int_equal(frag_parse(text, "linux-dom0.frag", &v, &f, NULL), 0);
    assert_string_equal(opt_value(&f, "CONFIG_XEN_PV"), "y");
    assert_string_equal(opt_value(&f, "CONFIG_XEN_DOM0"), "y");
    assert_string_equal(opt_value(&f, "CONFIG_BINFMT_SCRIPT"), "y");
    assert_string_equal(opt_value(&f, "CONFIG_PCI"), "y");
    assert_string_equal(opt_value(&f, "CONFIG_ACPI"), "y");
    assert_null(opt_value(&f, "CONFIG_PARAVIRT_GUEST"));
    frag_free(&f);
    v = V("4.1.5");
    assert_int_equal(frag_parse(text, "linux-dom0.frag", &v, &f, NULL), 0);
    assert_null(opt_value(&f, "CONFIG_XEN_PV")); /* 4.14+ */
    assert_non_null(opt_value(&f, "CONFIG_HYPERVISOR_GUEST"));
    frag_free(&f);
    v = V("3.2");
    assert_int_equal(frag_parse(text, "linux-dom0.frag", &v, &f, NULL), 0);
    assert_non_null(opt_value(&f, "CONFIG_PARAVIRT_GUEST"));
    assert_null(opt_value(&f, "CONFIG_HYPERVISOR_GUEST"));
    assert_null(opt_value(&f, "CONFIG_BINFMT_SCRIPT"));
    assert_null(opt_value(&f, "CONFIG_INET"));
    frag_free(&f);
    v = V("3.4.113"); /* its stable net/ipv6 needs INET */
    assert_int_equal(frag_parse(text, "linux-dom0.frag", &v, &f, NULL), 0);
    assert_string_equal(opt_value(&f, "CONFIG_INET"), "y");
    frag_free(&f);
    free(text);
    /* domU before 3.17 (allnoconfig): the block-device menu the frontend sits in */
    text = slurp("linux-domU.frag");
    v = V("2.6.32");
    assert_int_equal(frag_parse(text, "linux-domU.frag", &v, &f, NULL), 0);
    assert_string_equal(opt_value(&f, "CONFIG_BLK_DEV"), "y");
    assert_string_equal(opt_value(&f, "CONFIG_XEN_BLKDEV_FRONTEND"), "y");
    assert_null(opt_value(&f, "CONFIG_HYPERVISOR_GUEST"));
    assert_null(opt_value(&f, "CONFIG_BLOCK")); /* allnoconfig leaves it on */
    frag_free(&f);
    v = V("4.1.5"); /* tinyconfig turns the block layer off: the frontend needs both */
    assert_int_equal(frag_parse(text, "linux-domU.frag", &v, &f, NULL), 0);
    assert_string_equal(opt_value(&f, "CONFIG_BLOCK"), "y");
    assert_string_equal(opt_value(&f, "CONFIG_BLK_DEV"), "y");
    frag_free(&f);
    v = V("6.1");
    assert_int_equal(frag_parse(text, "linux-domU.frag", &v, &f, NULL), 0);
    assert_null(opt_value(&f, "CONFIG_BLK_DEV")); /* later tinyconfig eras: keys unchanged */
    assert_null(opt_value(&f, "CONFIG_BLOCK"));
    frag_free(&f);
    free(text);
    /* both roles, every era: voluntary preemption and SLUB (the bug's reschedule point), not
     * the base's PREEMPT_NONE and SLOB, which hide bug #40 */
    static const char *const frags[] = { "linux-dom0.frag", "linux-domU.frag" };
    static const char *const eras[] = { "2.6.27", "2.6.32", "3.10.108", "4.1.5", "6.1" };
    for (size_t i = 0; i < sizeof(frags) / sizeof(frags[0]); i++) {
        text = slurp(frags[i]);
        for (size_t j = 0; j < sizeof(eras) / sizeof(eras[0]); j++) {
            v = V(eras[j]);
            assert_int_equal(frag_parse(text, frags[i], &v, &f, NULL), 0);
            assert_string_equal(opt_value(&f, "CONFIG_PREEMPT_VOLUNTARY"), "y");
            assert_string_equal(opt_value(&f, "CONFIG_SLUB"), "y");
            assert_string_equal(opt_value(&f, "CONFIG_PREEMPT_NONE"), "n");
            frag_free(&f);
        }
        free(text);
    }
}

static void test_fragment_merge_check(void **state)
{
    const char *frag_text = "# comment\n"
                            "CONFIG_XEN=y\n"
                            "CONFIG_XEN_DOM0=y\n"
                            "# CONFIG_DEBUG is not set\n"
                            "CONFIG_CMDLINE=\"quiet x\"\n"
                            "CONFIG_EARLY_PRINTK=y ?\n"
                            "CONFIG_OLD=y @ 2.6.26-3.9\n";
    const char *config = "CONFIG_64BIT=y\n# CONFIG_XEN is not set\nCONFIG_DEBUG=y\n";
    struct frag f;
    struct buf merged = BUF_INIT;
    struct sv bad = SV_INIT;
    struct kver v = V("6.1");
    struct err e = ERR_INIT;
    char *x;

    assert_int_equal(frag_parse(frag_text, "t.frag", &v, &f, NULL), 0);
    assert_int_equal((int)f.n, 5);
    frag_apply(config, &f, &merged);
    x = config_get(merged.data, "CONFIG_XEN");
    assert_string_equal(x, "y");
    free(x);
    x = config_get(merged.data, "CONFIG_DEBUG");
    assert_string_equal(x, "n");
    free(x);
    x = config_get(merged.data, "CONFIG_64BIT");
    assert_string_equal(x, "y");
    free(x);
    x = config_get(merged.data, "CONFIG_CMDLINE");
    assert_string_equal(x, "\"quiet x\"");
    free(x);
    assert_null(strstr(merged.data, "# CONFIG_XEN is not set"));
    assert_int_equal(frag_check(merged.data, &f, &bad), 0);
    /* what olddefconfig does on a tinyconfig without PCI: XEN_DOM0 vanishes */
    assert_int_equal(frag_check("CONFIG_XEN=y\nCONFIG_CMDLINE=\"quiet x\"\n", &f, &bad), 1);
    assert_string_equal(bad.v[0], "CONFIG_XEN_DOM0=y (absent)");
    sv_clear(&bad);
    assert_int_equal(frag_check("# CONFIG_XEN is not set\nCONFIG_XEN_DOM0=y\n"
                                "CONFIG_CMDLINE=\"quiet x\"\n",
                                &f, &bad),
                     1);
    assert_string_equal(bad.v[0], "CONFIG_XEN=y (got n)");
    sv_clear(&bad);
    frag_free(&f);
    assert_int_equal(frag_parse("CONFIG_A=y\nXEN=y\n", "bad.frag", &v, &f, &e), -1);
    assert_int_equal(e.code, ERR_CONFIG);
    assert_non_null(strstr(e.msg, "bad.frag:2"));
    buf_release(&merged);
}

static void test_key_stability(void **state)
{
    struct build_key_in a = { "linux", "git 0123", "base tinyconfig\nCONFIG_XEN=y\n",
                              "host gcc 12.2.0", "" };
    struct build_key_in b = a;
    char k1[65], k2[65];

    build_key(&a, k1);
    build_key(&b, k2);
    assert_string_equal(k1, k2);
    for (int field = 0; field < 5; field++) {
        b = a;
        switch (field) {
        case 0: b.kind = "xen"; break;
        case 1: b.source = "git 0124"; break;
        case 2: b.config = "base defconfig\nCONFIG_XEN=y\n"; break;
        case 3: b.toolchain = "bullseye gcc-10 10.2.1"; break;
        case 4: b.fixes = "no-pie-cflags"; break;
        }
        build_key(&b, k2);
        assert_string_not_equal(k1, k2);
    }
    /* field boundaries matter: ("git 01", "23...") is not ("git 0123", "...") */
    b = a;
    b.source = "git 01";
    b.config = "23base tinyconfig\nCONFIG_XEN=y\n";
    build_key(&b, k2);
    assert_string_not_equal(k1, k2);
}

static void test_log_errors(void **state)
{
    char *log = xasprintf("%s/b.log", tmpdir), *x;

    write_file(log, "  CC      init/main.o\n  CC      kernel/fork.o\n"
                    "kernel/fork.c:12:1: error: unknown type name 'foo'\n"
                    "make[2]: *** [scripts/Makefile.build:250: kernel/fork.o] Error 1\n"
                    "  CC      mm/slab.o\n");
    x = build_log_errors(log, 10);
    assert_non_null(strstr(x, "error: unknown type name"));
    assert_non_null(strstr(x, "Error 1"));
    assert_null(strstr(x, "init/main.o"));
    free(x);
    free(log);
}

/* A build request on cache with the host's toolchain; each test sets the source. */
static void req_init(struct build_req *r, struct kernels_opts *ko, const char *cache)
{
    memset(ko, 0, sizeof(*ko));
    ko->cache_dir = cache;
    memset(r, 0, sizeof(*r));
    r->ko = ko;
    r->toolchain = "host";
}

/* Commits everything in dir (a repository is made if there is none). */
static void git_commit_all(const char *dir, const char *msg)
{
    char *cmd = xasprintf("cd %s && git init -q && git -c user.email=t@t -c user.name=t add -A "
                          "&& git -c user.email=t@t -c user.name=t commit -qm '%s'",
                          dir, msg);

    assert_int_equal(system(cmd), 0);
    free(cmd);
}

/* A fake Linux tree: its Makefile plays tinyconfig/olddefconfig/bzImage. */
static char *fake_tree(const char *name, const char *olddef_extra, const char *bz_cmd)
{
    char *src = xasprintf("%s/%s", tmpdir, name), *mk = xasprintf("%s/Makefile", src);
    struct buf t = BUF_INIT;

    assert_int_equal(fs_mkdirs(src, NULL), 0);
    buf_addf(&t,
             "VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 99\n"
             "tinyconfig:\n"
             "\tprintf 'CONFIG_64BIT=y\\n# CONFIG_PCI is not set\\n' > $(O)/.config\n"
             "olddefconfig:\n\t@echo olddefconfig >> $(O)/make-runs\n%s\n"
             "bzImage:\n\tmkdir -p $(O)/arch/x86/boot\n%s\n",
             olddef_extra, bz_cmd);
    write_file(mk, t.data);
    buf_release(&t);
    free(mk);
    return src;
}

#define MAKE_BZIMAGE                                                                               \
    "\t{ head -c 514 /dev/zero; printf HdrS; head -c 2000 /dev/zero; } > "                         \
    "$(O)/arch/x86/boot/bzImage"

static void test_pipeline_fake_tree(void **state)
{
    char *cache = xasprintf("%s/cache", tmpdir);
    char *src = fake_tree("ok", "", MAKE_BZIMAGE);
    struct kernels_opts ko;
    struct build_req r;
    struct build_result res = BUILD_RESULT_INIT;
    struct artifact a = ARTIFACT_INIT, a2 = ARTIFACT_INIT;
    struct err e = ERR_INIT;
    char *sha = NULL;

    req_init(&r, &ko, cache);
    r.srcdir = src;
    r.srcid = "fake-ok-1";
    r.result = &res;
    assert_int_equal(build_linux(&r, &a, &e), 0);
    assert_int_equal(res.cache_hit, 0);
    assert_int_equal(res.make_runs, 3); /* tinyconfig, olddefconfig, bzImage */
    assert_string_equal(a.provider, "srcdir");
    assert_string_equal(res.src_version, "6.1.99");
    assert_non_null(a.sha256);
    assert_true(fs_exists(a.path));
    sha = xstrdup(a.sha256);
    build_result_free(&res);
    /* same inputs: a cache hit, make not run, same bytes */
    assert_int_equal(build_linux(&r, &a2, &e), 0);
    assert_int_equal(res.cache_hit, 1);
    assert_int_equal(res.make_runs, 0);
    assert_string_equal(a2.sha256, sha);
    assert_string_equal(a2.path, a.path);
    build_result_free(&res);
    artifact_free(&a2);
    /* another role is another key */
    r.role = BUILD_DOMU;
    assert_int_equal(build_linux(&r, &a2, &e), 0);
    assert_int_equal(res.cache_hit, 0);
    assert_string_not_equal(a2.path, a.path);
    build_result_free(&res);
    artifact_free(&a2);
    artifact_free(&a);
    free(sha);
    free(src);
    free(cache);
}

/* Before 3.17 the default base is allnoconfig (no tinyconfig target); naming tinyconfig there
 * is refused before make runs. */
static void test_base_by_era(void **state)
{
    char *cache = xasprintf("%s/cache-era", tmpdir), *src = xasprintf("%s/era310", tmpdir);
    char *mk = xasprintf("%s/Makefile", src);
    struct kernels_opts ko;
    struct build_req r;
    struct build_result res = BUILD_RESULT_INIT;
    struct artifact a = ARTIFACT_INIT;
    struct err e = ERR_INIT;
    struct buf t = BUF_INIT;

    assert_int_equal(fs_mkdirs(src, NULL), 0);
    buf_addf(&t, "VERSION = 3\nPATCHLEVEL = 10\nSUBLEVEL = 108\n"
                 "allnoconfig:\n\tprintf 'CONFIG_64BIT=y\\n' > $(O)/.config\n"
                 "olddefconfig:\n\t@true\n"
                 "bzImage:\n\tmkdir -p $(O)/arch/x86/boot\n" MAKE_BZIMAGE "\n");
    write_file(mk, t.data);
    req_init(&r, &ko, cache);
    r.srcdir = src;
    r.srcid = "fake-3.10";
    r.result = &res;
    assert_int_equal(build_linux(&r, &a, &e), 0);
    assert_int_equal(res.make_runs, 3); /* allnoconfig, olddefconfig, bzImage */
    build_result_free(&res);
    artifact_free(&a);
    r.config_base = "tinyconfig";
    assert_int_equal(build_linux(&r, &a, &e), -1);
    assert_int_equal(e.code, ERR_USAGE);
    assert_non_null(strstr(e.msg, "allnoconfig"));
    assert_int_equal(res.make_runs, 0);
    build_result_free(&res);

    /* before 3.7 there is no olddefconfig: the merged config is resolved by allnoconfig with
     * KCONFIG_ALLCONFIG (this Makefile fails on olddefconfig, and keeps what it is given) */
    buf_reset(&t);
    buf_addf(&t, "VERSION = 3\nPATCHLEVEL = 4\nSUBLEVEL = 113\n"
                 "allnoconfig:\n\tif [ -n \"$(KCONFIG_ALLCONFIG)\" ]; then cp "
                 "$(O)/$(KCONFIG_ALLCONFIG) $(O)/.config; echo all >> $(O)/allcfg-runs; else "
                 "printf 'CONFIG_64BIT=y\\n' > $(O)/.config; fi\n"
                 "olddefconfig:\n\t@echo 'No rule to make target olddefconfig'; false\n"
                 "bzImage:\n\tmkdir -p $(O)/arch/x86/boot\n" MAKE_BZIMAGE "\n");
    write_file(mk, t.data);
    r.config_base = NULL;
    r.srcid = "fake-3.4";
    assert_int_equal(build_linux(&r, &a, &e), 0);
    assert_int_equal(res.make_runs, 3); /* allnoconfig, allnoconfig + ALLCONFIG, bzImage */
    {
        char *d = fs_dirname(a.path), *cfg = xasprintf("%s/config", d);
        struct buf c = BUF_INIT;
        assert_int_equal(buf_read_file(&c, cfg, NULL), 0);
        assert_non_null(strstr(c.data, "CONFIG_XEN=y")); /* the fragment survived */
        buf_release(&c);
        free(cfg);
        free(d);
    }
    build_result_free(&res);
    artifact_free(&a);
    buf_release(&t);
    free(mk);
    free(src);
    free(cache);
}

static void test_pipeline_failures(void **state)
{
    char *cache = xasprintf("%s/cache2", tmpdir);
    char *broken = fake_tree("broken", "", "\t@echo 'kernel/fork.c:12:1: error: boom' >&2; exit 2");
    char *dropper = fake_tree("dropper", "\tsed -i '/XEN_DOM0/d' $(O)/.config", MAKE_BZIMAGE);
    char *notgit = xasprintf("%s/notgit", tmpdir);
    struct kernels_opts ko;
    struct build_req r;
    struct artifact a = ARTIFACT_INIT;
    struct err e = ERR_INIT;
    char *entries = xasprintf("%s/artifacts/linux", cache);

    req_init(&r, &ko, cache);
    r.srcdir = broken;
    assert_int_equal(build_linux(&r, &a, &e), -1);
    assert_int_equal(e.code, ERR_BUILD);
    assert_non_null(strstr(e.msg, "error: boom"));
    assert_null(a.path);
    r.srcdir = dropper;
    err_clear(&e);
    assert_int_equal(build_linux(&r, &a, &e), -1);
    assert_int_equal(e.code, ERR_BUILD);
    assert_non_null(strstr(e.msg, "CONFIG_XEN_DOM0"));
    assert_non_null(strstr(e.msg, "unknown to this kernel")); /* no Kconfig defines it */
    {                                                         /* nothing half-published */
        struct cache_item *v = NULL;
        size_t n = 0, arts = 0;
        assert_int_equal(cache_list(cache, &v, &n, NULL), 0);
        for (size_t i = 0; i < n; i++)
            arts += !strcmp(v[i].kind, "linux");
        assert_int_equal((int)arts, 0);
        cache_items_free(v, n);
    }
    /* bad input */
    assert_int_equal(fs_mkdirs(notgit, NULL), 0);
    r.srcdir = NULL;
    r.repo = notgit;
    err_clear(&e);
    assert_int_equal(build_linux(&r, &a, &e), -1);
    assert_int_equal(e.code, ERR_USAGE);
    assert_non_null(strstr(e.msg, "not a git repository"));
    r.repo = NULL;
    err_clear(&e);
    assert_int_equal(build_linux(&r, &a, &e), -1);
    assert_int_equal(e.code, ERR_USAGE);
    r.tarball = "/nonexistent/linux.tar.xz";
    err_clear(&e);
    assert_int_equal(build_linux(&r, &a, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    r.tarball = NULL;
    r.srcdir = dropper;
    r.toolchain = "no-such-profile";
    err_clear(&e);
    assert_int_equal(build_linux(&r, &a, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    assert_non_null(strstr(e.msg, "no-such-profile"));
    free(broken);
    free(dropper);
    free(notgit);
    free(entries);
    free(cache);
}

/*
 * A make step killed for its timeout is infrastructure (ERR_TIMEOUT), never "does not build"
 * (ERR_BUILD, which a bisection takes as a skip): decided by the error code, not the message.
 */
static void test_pipeline_timeout(void **state)
{
    char *cache = xasprintf("%s/cache-timeout", tmpdir);
    char *slow = fake_tree("slow", "", "\tsleep 30");
    struct kernels_opts ko;
    struct build_req r;
    struct artifact a = ARTIFACT_INIT;
    struct err e = ERR_INIT;

    req_init(&r, &ko, cache);
    r.srcdir = slow;
    r.timeout_s = 1;
    assert_int_equal(build_linux(&r, &a, &e), -1);
    assert_int_equal(e.code, ERR_TIMEOUT);
    assert_non_null(strstr(e.msg, "make bzImage"));
    assert_null(a.path);
    free(slow);
    free(cache);
}

/* The era's compiler is missing: the error names it and the package to install. */
static void test_missing_compiler(void **state)
{
    char *cache = xasprintf("%s/cache4", tmpdir), *data = xasprintf("%s/data", tmpdir);
    char *src = fake_tree("needs-old-gcc", "", MAKE_BZIMAGE), *frag = slurp("linux-dom0.frag");
    char *path = xasprintf("%s/linux-dom0.frag", data);
    struct kernels_opts ko;
    struct build_req r;
    struct artifact a = ARTIFACT_INIT;
    struct err e = ERR_INIT;

    assert_int_equal(fs_mkdirs(data, NULL), 0);
    write_file(path, frag);
    free(path);
    path = xasprintf("%s/fixes.tab", data);
    write_file(path, "");
    free(path);
    path = xasprintf("%s/toolchains.tab", data);
    write_file(path, "linux 6.0- host - gcc-2.95 -\n");
    req_init(&r, &ko, cache);
    r.toolchain = NULL; /* chosen by the table */
    r.srcdir = src;
    r.data_dir = data;
    assert_int_equal(build_linux(&r, &a, &e), -1);
    assert_int_equal(e.code, ERR_TOOL);
    assert_non_null(strstr(e.msg, "host's gcc-2.95, which is not installed"));
    assert_non_null(strstr(e.msg, "apt-get install gcc-2.95"));
    assert_null(a.path);
    /* the same table with a compiler that is here builds (negative control) */
    write_file(path, "linux 6.0- host - cc -\n");
    err_clear(&e);
    assert_int_equal(build_linux(&r, &a, &e), 0);
    artifact_free(&a);
    free(path);
    free(frag);
    free(src);
    free(data);
    free(cache);
}

/*
 * A git repository with one commit of the fake tree (with a committed .config, as some trees
 * have): unknown rev, then a worktree build that leaves the user's checkout untouched.
 */
static void test_pipeline_git(void **state)
{
    /* like kbuild, the fake refuses an O= build when the source tree has a .config */
    char *repo = fake_tree("repo", "", "\ttest ! -e .config\n" MAKE_BZIMAGE);
    char *cache = xasprintf("%s/cache3", tmpdir);
    char *cfg = xasprintf("%s/.config", repo);
    struct kernels_opts ko;
    struct build_req r;
    struct build_result res = BUILD_RESULT_INIT;
    struct artifact a = ARTIFACT_INIT;
    struct err e = ERR_INIT;
    struct buf status = BUF_INIT;

    write_file(cfg, "CONFIG_X=y\n");
    git_commit_all(repo, "one");
    req_init(&r, &ko, cache);
    r.repo = repo;
    r.rev = "v9.9-nope";
    r.result = &res;
    assert_int_equal(build_linux(&r, &a, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    assert_non_null(strstr(e.msg, "v9.9-nope"));
    r.rev = NULL;
    assert_int_equal(build_linux(&r, &a, &e), 0);
    assert_string_equal(a.provider, "git");
    assert_int_equal((int)strlen(res.commit), 40);
    { /* the user's checkout is untouched: nothing modified or added */
        char *st = xasprintf("git -C %s status --porcelain > %s/st.txt", repo, tmpdir);
        char *p = xasprintf("%s/st.txt", tmpdir);
        assert_int_equal(system(st), 0);
        assert_int_equal(buf_read_file(&status, p, NULL), 0);
        assert_int_equal((int)status.len, 0);
        free(st);
        free(p);
    }
    build_result_free(&res);
    artifact_free(&a);
    buf_release(&status);
    free(cfg);
    free(repo);
    free(cache);
}

/* Items of the cache of one kind. */
static size_t count_kind(const char *cache, const char *kind)
{
    struct cache_item *v = NULL;
    size_t n = 0, k = 0;

    assert_int_equal(cache_list(cache, &v, &n, NULL), 0);
    for (size_t i = 0; i < n; i++)
        k += !strcmp(v[i].kind, kind);
    cache_items_free(v, n);
    return k;
}

/* Lines of `git worktree list` in repo (the main checkout is one). */
static int worktrees(const char *repo)
{
    char *cmd = xasprintf("git -C %s worktree list > %s/wt.txt", repo, tmpdir);
    char *p = xasprintf("%s/wt.txt", tmpdir);
    struct buf t = BUF_INIT;
    int n = 0;

    assert_int_equal(system(cmd), 0);
    assert_int_equal(buf_read_file(&t, p, NULL), 0);
    for (size_t i = 0; i < t.len; i++)
        n += t.data[i] == '\n';
    buf_release(&t);
    free(cmd);
    free(p);
    return n;
}

/*
 * cache gc: removes artifacts, object dirs and worktrees (the repository forgets the worktree),
 * waits while a build holds the cache, and a later build makes the worktree again.
 */
/* Whether the file at path contains text. */
static int file_has(const char *path, const char *text)
{
    struct buf b = BUF_INIT;
    int found = buf_read_file(&b, path, NULL) == 0 && strstr(b.data, text) != NULL;

    buf_release(&b);
    return found;
}

static void test_cache_gc(void **state)
{
    char *repo = fake_tree("gcrepo", "", MAKE_BZIMAGE);
    char *cache = xasprintf("%s/cache5", tmpdir);
    char *gclog = xasprintf("%s/gc-child.log", tmpdir);
    struct kernels_opts ko;
    struct build_req r;
    struct build_result res = BUILD_RESULT_INIT;
    struct artifact a = ARTIFACT_INIT;
    struct err e = ERR_INIT;
    long long freed = 0;
    size_t removed = 0;
    int hold = -1, status;
    pid_t pid;

    git_commit_all(repo, "one");
    req_init(&r, &ko, cache);
    r.repo = repo;
    r.result = &res;
    assert_int_equal(build_linux(&r, &a, &e), 0);
    artifact_free(&a);
    build_result_free(&res);
    assert_int_equal((int)count_kind(cache, "linux"), 1);
    assert_int_equal((int)count_kind(cache, "build-obj"), 1);
    assert_int_equal((int)count_kind(cache, "build-tree"), 1);
    assert_int_equal(worktrees(repo), 2);

    /* a build in progress (its hold) keeps gc waiting; nothing goes meanwhile */
    assert_int_equal(cache_hold(cache, &hold, &e), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* another process: without the build's descriptor; says when it waits */
        int fd = open(gclog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        fs_unlock(hold);
        if (fd < 0 || dup2(fd, 2) < 0)
            _exit(2);
        log_set_level(LOG_INFO);
        _exit(cache_gc(cache, 0, NULL, NULL, NULL) == 0 ? 0 : 1);
    }
    /* wait until gc has really reached the lock (however slow the machine), not a fixed time:
     * a child that had not started yet would make the checks below prove nothing */
    for (int i = 0; i < 600 && !file_has(gclog, "waiting for running builds"); i++)
        usleep(100 * 1000);
    assert_true(file_has(gclog, "waiting for running builds"));
    assert_int_equal(waitpid(pid, &status, WNOHANG), 0); /* still waiting */
    assert_int_equal((int)count_kind(cache, "build-tree"), 1);
    assert_int_equal((int)count_kind(cache, "linux"), 1);
    fs_unlock(hold);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal((int)count_kind(cache, "linux"), 0);
    assert_int_equal((int)count_kind(cache, "build-obj"), 0);
    assert_int_equal((int)count_kind(cache, "build-tree"), 0);
    assert_int_equal(worktrees(repo), 1); /* the repository forgot it */

    /* nothing left to remove; a large keep removes nothing (negative control) */
    assert_int_equal(build_linux(&r, &a, &e), 0); /* the worktree is made again */
    assert_int_equal(res.cache_hit, 0);
    artifact_free(&a);
    build_result_free(&res);
    assert_int_equal(cache_gc(cache, 1LL << 40, &freed, &removed, &e), 0);
    assert_int_equal((int)removed, 0);
    assert_int_equal((int)count_kind(cache, "build-tree"), 1);
    assert_int_equal(cache_gc(cache, 0, &freed, &removed, &e), 0);
    assert_int_equal((int)removed, 3);
    assert_true(freed > 0);
    free(repo);
    free(cache);
    free(gclog);
}

/* Writes len bytes of real data (not sparse: the cache counts allocated blocks). */
static void write_bytes(const char *path, size_t len)
{
    char *data = xmalloc(len);

    memset(data, 'x', len);
    assert_int_equal(fs_write_atomic(path, data, len, NULL), 0);
    free(data);
}

/* Sets path's mtime to `ago` seconds in the past. */
static void age(const char *path, long ago)
{
    struct utimbuf t;

    t.actime = t.modtime = time(NULL) - ago;
    assert_int_equal(utime(path, &t), 0);
}

/* The item of the cache listing whose path ends with tail; asserts there is exactly one. */
static struct cache_item *item_at(struct cache_item *v, size_t n, const char *tail)
{
    struct cache_item *found = NULL;

    for (size_t i = 0; i < n; i++) {
        size_t pl = strlen(v[i].path), tl = strlen(tail);
        if (pl >= tl && !strcmp(v[i].path + pl - tl, tail)) {
            assert_null(found);
            found = &v[i];
        }
    }
    assert_non_null(found);
    return found;
}

static long long listed_total(const char *cache)
{
    struct cache_item *v = NULL;
    size_t n = 0;
    long long t = 0;

    assert_int_equal(cache_list(cache, &v, &n, NULL), 0);
    for (size_t i = 0; i < n; i++)
        t += v[i].bytes;
    cache_items_free(v, n);
    return t;
}

/*
 * The downloads (most of the disk) are in the cache's accounting: .deb files and apt list
 * directories are listed with their sizes, gc removes the least recently used .deb first and
 * keeps the newest artifact, skips an apt state whose suite lock is held, and keeps the kinds
 * it never removes (initramfs images); a snapshot goes with its sha256 record.
 */
static void test_cache_downloads(void **state)
{
    char *cache = xasprintf("%s/cache-dl", tmpdir), *p;
    char *deb_old = xasprintf("%s/debs/xen-hypervisor_4.17_amd64.deb", cache);
    char *deb_new = xasprintf("%s/debs/linux-image_6.1_amd64.deb", cache);
    char *apt = xasprintf("%s/apt/bookworm", cache), *apt_lock = xasprintf("%s.lock", apt);
    char *art = xasprintf("%s/artifacts/linux/0123abcd", cache);
    char *ird = xasprintf("%s/initramfs/feed.cpio.gz", cache), *snap, *snap_rec;
    struct cache_item *v = NULL, *it;
    size_t n = 0, removed = 0;
    long long freed = 0, deb_old_bytes, total;
    struct err e = ERR_INIT;
    int fd = -1;

    p = xasprintf("%s/debs/.tmp-download.1", cache); /* a download in progress: not listed */
    assert_int_equal(fs_mkdirs(p, NULL), 0);
    free(p);
    write_bytes(deb_old, 200 << 10);
    write_bytes(deb_new, 100 << 10);
    p = xasprintf("%s/state/lists", apt);
    assert_int_equal(fs_mkdirs(p, NULL), 0);
    free(p);
    p = xasprintf("%s/state/lists/deb.debian.org_debian_dists_bookworm_main_Packages", apt);
    write_bytes(p, 300 << 10);
    free(p);
    write_file(apt_lock, "");
    assert_int_equal(fs_mkdirs(art, NULL), 0);
    p = xasprintf("%s/vmlinuz", art);
    write_bytes(p, 50 << 10);
    free(p);
    p = xasprintf("%s/meta.json", art);
    write_file(p, "{\"provider\":\"debian\",\"package\":\"linux-image\",\"version\":\"6.1\"}\n");
    free(p);
    p = fs_dirname(ird);
    assert_int_equal(fs_mkdirs(p, NULL), 0);
    free(p);
    write_bytes(ird, 20 << 10);
    snap = xasprintf("%s/snapshots/0a1b.mig", cache);
    snap_rec = xasprintf("%s.sha256", snap);
    p = fs_dirname(snap);
    assert_int_equal(fs_mkdirs(p, NULL), 0);
    free(p);
    write_bytes(snap, 60 << 10);
    write_file(snap_rec, "0a1b\n");
    p = xasprintf("%s.boot.log", snap);
    write_file(p, "(XEN) Xen version 4.17\n");
    free(p);
    age(snap, 1000);
    age(deb_old, 4000);
    age(deb_new, 3000);
    age(apt, 2000);
    age(ird, 5000);
    age(art, 10); /* the newest */

    assert_int_equal(cache_list(cache, &v, &n, &e), 0);
    assert_int_equal(n, 6); /* no temp download, no lock file, a snapshot with its record */
    it = item_at(v, n, "/debs/xen-hypervisor_4.17_amd64.deb");
    assert_string_equal(it->kind, "deb");
    assert_true(it->bytes >= 200 << 10 && it->bytes < 300 << 10);
    assert_false(it->kept);
    deb_old_bytes = it->bytes;
    it = item_at(v, n, "/debs/linux-image_6.1_amd64.deb");
    assert_string_equal(it->kind, "deb");
    assert_true(it->bytes >= 100 << 10 && it->bytes < 200 << 10);
    it = item_at(v, n, "/apt/bookworm");
    assert_string_equal(it->kind, "apt-lists");
    assert_string_equal(it->desc, "bookworm");
    assert_true(it->bytes >= 300 << 10);
    it = item_at(v, n, "/initramfs/feed.cpio.gz");
    assert_string_equal(it->kind, "initramfs");
    assert_true(it->kept);
    it = item_at(v, n, "/snapshots/0a1b.mig");
    assert_string_equal(it->kind, "snapshot");
    assert_false(it->kept);
    assert_true(it->bytes > 60 << 10); /* and its record */
    it = item_at(v, n, "/artifacts/linux/0123abcd");
    assert_string_equal(it->kind, "linux");
    assert_non_null(strstr(it->desc, "linux-image"));
    cache_items_free(v, n);

    /* a budget that the oldest .deb's removal meets: only it goes */
    total = listed_total(cache);
    assert_int_equal(cache_gc(cache, total - deb_old_bytes, &freed, &removed, &e), 0);
    assert_int_equal((int)removed, 1);
    assert_int_equal(freed, deb_old_bytes);
    assert_false(fs_exists(deb_old));
    assert_true(fs_exists(deb_new));
    assert_true(fs_is_dir(apt));
    assert_true(fs_is_dir(art));

    /* another pvlab uses the suite's apt state: gc leaves it and takes the next entry */
    assert_int_equal(fs_lock(apt_lock, &fd, &e), 0);
    assert_int_equal(cache_gc(cache, 1, &freed, &removed, &e), 0);
    assert_int_equal((int)removed, 3); /* the other .deb, the snapshot, then the artifact */
    assert_false(fs_exists(deb_new));
    assert_false(fs_exists(snap));
    assert_false(fs_exists(snap_rec));
    p = xasprintf("%s.boot.log", snap);
    assert_false(fs_exists(p));
    free(p);
    assert_true(fs_is_dir(apt));
    assert_false(fs_is_dir(art));
    fs_unlock(fd);

    /* unlocked, it goes too; the initramfs image is kept whatever the budget */
    assert_int_equal(cache_gc(cache, 0, &freed, &removed, &e), 0);
    assert_int_equal((int)removed, 1);
    assert_false(fs_exists(apt));
    assert_true(fs_exists(ird));
    assert_true(fs_exists(apt_lock));

    free(cache);
    free(snap);
    free(snap_rec);
    free(deb_old);
    free(deb_new);
    free(apt);
    free(apt_lock);
    free(art);
    free(ird);
}

/*
 * A tool that fails on a full disk without saying so (its stderr may not even reach a log on
 * that disk) is still a full disk: src_tarball with a silent failing `tar` is ERR_NOSPACE
 * telling how to free space when the cache is on a full filesystem (a small tmpfs, root only),
 * and a plain tool failure (ERR_PROC) when the cache has room (negative control).
 */
static void test_silent_tool_on_full_disk(void **state)
{
    char *bin = xasprintf("%s/fakebin", tmpdir), *tar = xasprintf("%s/tar", bin);
    char *tarball = xasprintf("%s/src.tar", tmpdir), *roomy = xasprintf("%s/cache-roomy", tmpdir);
    char *small = xasprintf("%s/cache-small", tmpdir), *cmd = NULL, *tree = NULL;
    char *old_path = xstrdup(getenv("PATH")), *path = xasprintf("%s:%s", bin, old_path);
    struct err e = ERR_INIT;
    char sum[65];

    if (geteuid() != 0 || fs_nearly_full(tmpdir, KERNELS_MIN_FREE, NULL))
        skip();
    assert_int_equal(fs_mkdirs(bin, NULL), 0);
    write_file(tar, "#!/bin/sh\nexit 2\n"); /* fails without a word */
    assert_int_equal(chmod(tar, 0755), 0);
    write_file(tarball, "not really a tarball");
    setenv("PATH", path, 1);

    assert_int_equal(src_tarball(roomy, tarball, sum, &tree, &e), -1);
    assert_int_equal(e.code, ERR_PROC);
    assert_null(strstr(e.msg, "cache gc"));

    assert_int_equal(fs_mkdirs(small, NULL), 0);
    cmd = xasprintf("mount -t tmpfs -o size=1m tmpfs %s 2>/dev/null", small);
    if (system(cmd) == 0) { /* run, unmount, then check: a failed check leaks no mount */
        int r;
        err_clear(&e);
        r = src_tarball(small, tarball, sum, &tree, &e);
        umount(small);
        assert_int_equal(r, -1);
        assert_int_equal(e.code, ERR_NOSPACE);
        assert_non_null(strstr(e.msg, "cannot unpack"));
        assert_non_null(strstr(e.msg, "pvlab cache gc"));
        assert_null(tree);
    }
    setenv("PATH", old_path, 1);
    free(bin);
    free(tar);
    free(tarball);
    free(roomy);
    free(small);
    free(cmd);
    free(old_path);
    free(path);
}

/*
 * Xen from a git repository: the version comes from xen/Makefile at the commit (the top-level
 * Makefile names none), and the hypervisor is built with make -C xen in a worktree.
 */
static void test_xen_git(void **state)
{
    char *repo = xasprintf("%s/xenrepo", tmpdir), *xdir = xasprintf("%s/xen", repo);
    char *cache = xasprintf("%s/cache6", tmpdir), *p;
    struct kernels_opts ko;
    struct build_req r;
    struct build_result res = BUILD_RESULT_INIT;
    struct artifact a = ARTIFACT_INIT;
    struct err e = ERR_INIT;

    assert_int_equal(fs_mkdirs(xdir, NULL), 0);
    p = xasprintf("%s/Makefile", repo);
    write_file(p, "all:\n\t$(MAKE) -C xen\n"); /* like Xen's: no version here */
    free(p);
    p = xasprintf("%s/Makefile", xdir);
    write_file(p, "export XEN_VERSION       = 4\n"
                  "export XEN_SUBVERSION    = 17\n"
                  "export XEN_EXTRAVERSION ?= .5$(XEN_VENDORVERSION)\n"
                  /* a multiboot header: magic, flags 0, checksum */
                  "xen:\n\t{ head -c 4; printf '\\002\\260\\255\\033\\0\\0\\0\\0"
                  "\\376\\117\\122\\344'; } < /dev/zero > xen\n"
                  "defconfig:\n\techo CONFIG_X86_64=y > .config\n"
                  "olddefconfig:\n\ttrue\n");
    free(p);
    git_commit_all(repo, "xen");
    req_init(&r, &ko, cache);
    r.repo = repo;
    r.result = &res;
    if (build_xen(&r, &a, &e) < 0)
        fail_msg("%s", e.msg);
    assert_string_equal(res.src_version, "4.17.5");
    assert_string_equal(a.provider, "git");
    assert_true(fs_exists(a.path));
    build_result_free(&res);
    artifact_free(&a);
    /* a git tree that is no Xen tree: said so (negative control of the version lookup) */
    p = xasprintf("%s/Makefile", xdir);
    assert_int_equal(unlink(p), 0);
    free(p);
    git_commit_all(repo, "gone");
    assert_int_equal(build_xen(&r, &a, &e), -1);
    assert_non_null(strstr(e.msg, "has no xen/Makefile"));
    free(cache);
    free(xdir);
    free(repo);
}

/*
 * A profile of an archived suite (jessie) without --archive-mirror: a configuration error that
 * says what to pass, before anything is downloaded. Needs root and debootstrap, which come
 * first (as a user, the error says root is needed).
 */
static void test_archive_profile(void **state)
{
    char *cache = xasprintf("%s/cache7", tmpdir);
    char *root = xasprintf("%s/toolchains/jessie/root", cache);
    char *src = fake_tree("old", "", MAKE_BZIMAGE), *deb = fs_which("debootstrap");
    struct kernels_opts ko;
    struct build_req r;
    struct artifact a = ARTIFACT_INIT;
    struct err e = ERR_INIT;

    req_init(&r, &ko, cache);
    r.srcdir = src;
    r.toolchain = "jessie";
    assert_int_equal(build_linux(&r, &a, &e), -1);
    if (geteuid() != 0 || !deb) {
        assert_int_equal(e.code, ERR_TOOL);
        assert_non_null(strstr(e.msg, "--toolchain chroot:PATH"));
    } else {
        assert_int_equal(e.code, ERR_CONFIG);
        assert_non_null(strstr(e.msg, "--archive-mirror"));
        assert_non_null(strstr(e.msg, "jessie"));
    }
    assert_false(fs_exists(root)); /* nothing was made */
    free(deb);
    free(src);
    free(root);
    free(cache);
}

/* domU trials' entries: listed by kind; gc removes a domU kernel's ELF (an input, remade on
 * demand) and keeps the toolstack, the modules and the dom0 image a running trial boots. */
static void test_cache_domu_entries(void **state)
{
    char *cache = xasprintf("%s/cache-domu", tmpdir), *p;
    char *ts = xasprintf("%s/toolstack/aa11", cache), *mods = xasprintf("%s/xenmods/bb22", cache);
    char *elf = xasprintf("%s/pv-elf/cc33.elf", cache);
    char *img = xasprintf("%s/initramfs/domus-dd44.cpio", cache);
    struct cache_item *v = NULL;
    size_t n = 0, removed = 0;
    long long freed = 0;
    struct err e = ERR_INIT;

    p = xasprintf("%s/root/usr/lib/xen-4.17/bin/xl", ts);
    {
        char *d = fs_dirname(p);
        assert_int_equal(fs_mkdirs(d, NULL), 0);
        free(d);
    }
    write_bytes(p, 30 << 10);
    free(p);
    assert_int_equal(fs_mkdirs(mods, NULL), 0);
    p = xasprintf("%s/xenfs.ko", mods);
    write_bytes(p, 10 << 10);
    free(p);
    p = fs_dirname(elf);
    assert_int_equal(fs_mkdirs(p, NULL), 0);
    free(p);
    write_bytes(elf, 40 << 10);
    p = fs_dirname(img);
    assert_int_equal(fs_mkdirs(p, NULL), 0);
    free(p);
    write_bytes(img, 50 << 10);

    assert_int_equal(cache_list(cache, &v, &n, &e), 0);
    assert_int_equal(n, 4);
    assert_string_equal(item_at(v, n, "/toolstack/aa11")->kind, "toolstack");
    assert_true(item_at(v, n, "/toolstack/aa11")->kept);
    assert_string_equal(item_at(v, n, "/xenmods/bb22")->kind, "xen-modules");
    assert_string_equal(item_at(v, n, "/pv-elf/cc33.elf")->kind, "domu-elf");
    assert_false(item_at(v, n, "/pv-elf/cc33.elf")->kept);
    assert_string_equal(item_at(v, n, "/initramfs/domus-dd44.cpio")->kind, "initramfs");
    assert_true(item_at(v, n, "/initramfs/domus-dd44.cpio")->kept);
    cache_items_free(v, n);

    assert_int_equal(cache_gc(cache, 0, &freed, &removed, &e), 0);
    assert_int_equal(removed, 1);
    assert_false(fs_exists(elf));
    assert_true(fs_exists(ts) && fs_exists(mods) && fs_exists(img));
    free(cache);
    free(ts);
    free(mods);
    free(elf);
    free(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_toolchain_choice),
        cmocka_unit_test(test_fix_ranges),
        cmocka_unit_test(test_fix_old_eras),
        cmocka_unit_test(test_fix_pre37_rows),
        cmocka_unit_test(test_fix_make382_rows),
        cmocka_unit_test(test_toolchain_fallback),
        cmocka_unit_test(test_fragment_eras),
        cmocka_unit_test(test_fragment_merge_check),
        cmocka_unit_test(test_key_stability),
        cmocka_unit_test(test_log_errors),
        cmocka_unit_test(test_pipeline_fake_tree),
        cmocka_unit_test(test_base_by_era),
        cmocka_unit_test(test_pipeline_failures),
        cmocka_unit_test(test_pipeline_timeout),
        cmocka_unit_test(test_missing_compiler),
        cmocka_unit_test(test_pipeline_git),
        cmocka_unit_test(test_cache_gc),
        cmocka_unit_test(test_cache_downloads),
        cmocka_unit_test(test_cache_domu_entries),
        cmocka_unit_test(test_silent_tool_on_full_disk),
        cmocka_unit_test(test_xen_git),
        cmocka_unit_test(test_archive_profile),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
