/*
 * The accelerator decision: reading a probe guest's output (each way a probe can fail, and
 * the one way it succeeds), the decision table for every policy, and a real probe boot under
 * TCG (positive control) and of a missing image (negative control).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lab/accel_priv.h"
#include "util/fsutil.h"

#define ALL "PVLAB-PROBE-START\nPVLAB-PROBE-IRQ\nPVLAB-PROBE-LONG\nPVLAB-PROBE-OK\n"

static void test_reason_ok(void **state)
{
    struct accel_probe p = { 0 };

    assert_int_equal(accel_probe_reason(ALL, 0, 5000, "exited with status 1", "", &p), 1);
    assert_true(p.ok);
    assert_string_equal(p.stage, "ok");
    assert_null(p.reason);
    accel_probe_free(&p);
}

static void test_reason_silent_hang(void **state)
{
    struct accel_probe p = { 0 };

    assert_int_equal(accel_probe_reason("", 1, 5000, "timed out", "", &p), 0);
    assert_string_equal(p.stage, "none");
    assert_string_equal(p.reason, "a probe guest printed nothing in 5 s");
    accel_probe_free(&p);
}

static void test_reason_hang_in_stage(void **state)
{
    struct accel_probe p = { 0 };

    /* interrupts never arrive: the guest printed START only */
    accel_probe_reason("PVLAB-PROBE-START\n", 1, 3000, "timed out", "", &p);
    assert_false(p.ok);
    assert_string_equal(p.stage, "start");
    assert_non_null(strstr(p.reason, "no timer interrupt arrived in 3 s"));
    accel_probe_free(&p);
    accel_probe_reason("PVLAB-PROBE-START\nPVLAB-PROBE-IRQ\nPVLAB-PROBE-LONG\n", 1, 3000,
                       "timed out", "", &p);
    assert_string_equal(p.stage, "long");
    assert_non_null(strstr(p.reason, "did not finish its timed loop"));
    accel_probe_free(&p);
}

static void test_reason_qemu_abort(void **state)
{
    struct accel_probe p = { 0 };
    const char *err = "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69\n"
                      "qemu-system-x86_64: kvm.c:3055: kvm_buf_set_msrs: Assertion failed.";

    accel_probe_reason("", 0, 5000, "was killed by signal 6 (Aborted)", err, &p);
    assert_false(p.ok);
    /* QEMU's own words, on one line */
    assert_non_null(strstr(p.reason, "killed by signal 6 (Aborted)"));
    assert_non_null(strstr(p.reason, "failed to set MSR 0x10a to 0x69; qemu-system-x86_64"));
    assert_null(strchr(p.reason, '\n'));
    accel_probe_free(&p);
}

static void test_reason_fault(void **state)
{
    struct accel_probe p = { 0 };

    accel_probe_reason("PVLAB-PROBE-START\nPVLAB-PROBE-IRQ\nPVLAB-PROBE-FAULT\n", 1, 5000,
                       "timed out", "", &p);
    assert_false(p.ok);
    assert_non_null(strstr(p.reason, "unexpected exception"));
    accel_probe_free(&p);
}

static struct accel_probe probe(int ok, long long ms)
{
    struct accel_probe p = { ok, ms, ok ? NULL : "a probe guest printed nothing in 5 s",
                             ok ? "ok" : "none" };
    return p;
}

static void decide(enum accel_policy pol, const char *problem, struct accel_probe kvm,
                   struct accel_probe tcg, const char *want_accel, const char *want_in_note)
{
    char *accel = NULL, *note = NULL;
    struct err e = ERR_INIT;

    assert_int_equal(accel_decide(pol, "/dev/kvm", problem, &kvm, &tcg, &accel, &note, &e), 0);
    assert_string_equal(accel, want_accel);
    if (!strstr(note, want_in_note))
        fail_msg("note '%s' lacks '%s'", note, want_in_note);
    free(accel);
    free(note);
}

static void test_decide_auto(void **state)
{
    struct accel_probe none = { 0, -1, NULL, NULL };

    decide(ACCEL_AUTO, "/dev/kvm not present", none, none, "tcg",
           "kvm: /dev/kvm not present; using tcg");
    decide(ACCEL_AUTO, NULL, probe(0, 5000), none, "tcg",
           "/dev/kvm opens but a probe guest printed nothing in 5 s; using tcg");
    decide(ACCEL_AUTO, NULL, probe(1, 300), probe(1, 900), "kvm", "0.30 s under KVM");
    /* a KVM that runs but slower than TCG is not worth it */
    decide(ACCEL_AUTO, NULL, probe(1, 1500), probe(1, 900), "tcg",
           "took 1.50 s under KVM but 0.90 s under TCG; using tcg");
    /* no yardstick (TCG probe failed): a KVM that runs is used */
    decide(ACCEL_AUTO, NULL, probe(1, 300), probe(0, 60000), "kvm", "using kvm");
    decide(ACCEL_TCG, NULL, none, none, "tcg", "accel = tcg in the configuration");
}

static void test_decide_explicit_kvm(void **state)
{
    struct accel_probe none = { 0, -1, NULL, NULL };
    struct accel_probe bad = probe(0, 5000);
    struct accel_probe good = probe(1, 300);
    char *accel = NULL, *note = NULL;
    struct err e = ERR_INIT;

    assert_int_equal(accel_decide(ACCEL_KVM, "/dev/kvm", "/dev/kvm not present", &none, &none,
                                  &accel, &note, &e),
                     -1);
    assert_int_equal(e.code, ERR_USAGE);
    assert_non_null(strstr(e.msg, "accel = tcg"));
    assert_int_equal(accel_decide(ACCEL_KVM, "/dev/kvm", NULL, &bad, &none, &accel, &note, &e), -1);
    assert_non_null(strstr(e.msg, "printed nothing in 5 s"));
    assert_non_null(strstr(e.msg, "set accel = tcg"));
    assert_null(accel);
    decide(ACCEL_KVM, NULL, good, none, "kvm", "using kvm");
}

static int have_qemu(void)
{
    char *q = fs_which("qemu-system-x86_64");
    free(q);
    return q != NULL;
}

/* A real boot of the probe guest under TCG: it must reach every stage (positive control). */
static void test_probe_boots_under_tcg(void **state)
{
    struct accel_probe p = { 0 };
    struct err e = ERR_INIT;

    if (!have_qemu())
        skip();
    assert_int_equal(
        accel_probe_run("qemu-system-x86_64", "q35", "tcg", "max,-smap", 60000, &p, &e), 0);
    if (!p.ok)
        fail_msg("probe under TCG failed: %s", p.reason);
    assert_string_equal(p.stage, "ok");
    assert_true(p.ms > 0);
    accel_probe_free(&p);
}

/* The same probe with a CPU model QEMU rejects: a failure with QEMU's message (negative). */
static void test_probe_bad_cpu(void **state)
{
    struct accel_probe p = { 0 };
    struct err e = ERR_INIT;

    if (!have_qemu())
        skip();
    assert_int_equal(
        accel_probe_run("qemu-system-x86_64", "q35", "tcg", "no-such-cpu", 60000, &p, &e), 0);
    assert_false(p.ok);
    assert_string_equal(p.stage, "none");
    if (!strstr(p.reason, "no-such-cpu"))
        fail_msg("reason lacks QEMU's message: %s", p.reason);
    accel_probe_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reason_ok),
        cmocka_unit_test(test_reason_silent_hang),
        cmocka_unit_test(test_reason_hang_in_stage),
        cmocka_unit_test(test_reason_qemu_abort),
        cmocka_unit_test(test_reason_fault),
        cmocka_unit_test(test_decide_auto),
        cmocka_unit_test(test_decide_explicit_kvm),
        cmocka_unit_test(test_probe_boots_under_tcg),
        cmocka_unit_test(test_probe_bad_cpu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
