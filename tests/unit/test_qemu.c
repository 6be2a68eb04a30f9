/* The QEMU command line as data, compared with golden files (one argument per line). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lab/qemu.h"
#include "util/buf.h"

static struct qemu_cfg base(void)
{
    struct qemu_cfg q = {
        .binary = "qemu-system-x86_64",
        .machine = "q35",
        .accel = "tcg",
        .cpu = "max,-smap",
        .memory_mb = 2048,
        .smp = 2,
        .xen_path = "/cache/xen-4.17.bin",
        .xen_cmdline = "console=com1 com1=115200,8n1 dom0_mem=1024M,max:1024M",
        .dom0_path = "/cache/vmlinuz-6.1",
        .dom0_cmdline = "console=hvc0 earlyprintk=xen pvlab.repro=fpu-leak pvlab.iterations=2000",
        .initrd_path = "/cache/initramfs.cpio.gz",
        .serial_log = "/state/runs/1/trial-1.log",
    };
    return q;
}

/* Golden files are regenerated with PVLAB_REGEN=1 (then review the diff). */
static void check_golden(const struct qemu_cfg *q, const char *name)
{
    struct sv argv = SV_INIT;
    struct buf got = BUF_INIT, want = BUF_INIT;
    struct err e = ERR_INIT;
    char path[512];

    snprintf(path, sizeof(path), "%s/tests/fixtures/qemu/%s.argv", PVLAB_TOP, name);
    assert_int_equal(qemu_build_argv(q, &argv, &e), 0);
    for (size_t i = 0; i < argv.n; i++)
        buf_addf(&got, "%s\n", argv.v[i]);
    if (getenv("PVLAB_REGEN")) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(got.data, f);
        fclose(f);
    }
    assert_int_equal(buf_read_file(&want, path, &e), 0);
    assert_string_equal(got.data, want.data);
    buf_release(&got);
    buf_release(&want);
    sv_clear(&argv);
}

static void test_tcg_default(void **state)
{
    struct qemu_cfg q = base();
    check_golden(&q, "tcg-default");
}

static void test_kvm_and_commas(void **state)
{
    struct qemu_cfg q = base();
    q.accel = "kvm";
    q.cpu = "host";
    q.memory_mb = 3072;
    q.dom0_cmdline = "console=hvc0 foo=a,b";
    q.initrd_path = "/cache/odd,name.cpio.gz";
    check_golden(&q, "kvm-commas");
}

static void test_rejects_spaces(void **state)
{
    struct qemu_cfg q = base();
    struct sv argv = SV_INIT;
    struct err e = ERR_INIT;

    q.dom0_path = "/my cache/vmlinuz";
    assert_int_equal(qemu_build_argv(&q, &argv, &e), -1);
    assert_int_equal(e.code, ERR_USAGE);
    assert_non_null(strstr(e.msg, "/my cache/vmlinuz"));
    sv_clear(&argv);
}

/* The probe guest's command line: same machine, accel and CPU as a trial, exit port, stdio. */
static void test_probe_argv(void **state)
{
    struct sv argv = SV_INIT;
    struct buf got = BUF_INIT, want = BUF_INIT;
    struct err e = ERR_INIT;
    char path[512];

    assert_int_equal(qemu_build_probe_argv("qemu-system-x86_64", "q35", "kvm", "host",
                                           "/build/guest/accel-probe", &argv, &e),
                     0);
    for (size_t i = 0; i < argv.n; i++)
        buf_addf(&got, "%s\n", argv.v[i]);
    snprintf(path, sizeof(path), "%s/tests/fixtures/qemu/probe-kvm.argv", PVLAB_TOP);
    if (getenv("PVLAB_REGEN")) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(got.data, f);
        fclose(f);
    }
    assert_int_equal(buf_read_file(&want, path, &e), 0);
    assert_string_equal(got.data, want.data);
    sv_clear(&argv);
    assert_int_equal(qemu_build_probe_argv("q", "q35", "tcg", "max", "/a dir/probe", &argv, &e),
                     -1);
    assert_int_equal(e.code, ERR_USAGE);
    buf_release(&got);
    buf_release(&want);
    sv_clear(&argv);
}

static void test_shell_quote(void **state)
{
    char *argv[] = { "qemu", "-append", "a b", "it's", "plain,ok", NULL };
    struct buf b = BUF_INIT;

    qemu_shell_quote(&b, argv);
    assert_string_equal(b.data, "qemu -append 'a b' 'it'\\''s' plain,ok");
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcg_default),    cmocka_unit_test(test_kvm_and_commas),
        cmocka_unit_test(test_rejects_spaces), cmocka_unit_test(test_probe_argv),
        cmocka_unit_test(test_shell_quote),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
