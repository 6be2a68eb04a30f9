/*
 * Verdict parsing from console logs: every rule has a positive and a negative case, and the
 * invariant "no RESULT line is never pass" is checked across all of them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "lab/verdict.h"

#define BOOT                                                                                       \
    "(XEN) Xen version 4.17.7 (Debian)\r\n[    0.000000] Linux version 6.1.0\r\n"                  \
    "[    0.000000] Hypervisor detected: Xen PV\r\n"
#define BEGIN                                                                                      \
    "PVLAB-BEGIN {\"repro\":\"fpu-leak\",\"iterations\":2000,\"kernel\":\"6.1.0-41-amd64\"}\r\n"
#define RESULT_OK                                                                                  \
    "PVLAB-RESULT {\"repro\":\"fpu-leak\",\"iterations\":2000,\"corruptions\":0,"                  \
    "\"mismatches\":0,\"deaths\":0,\"self_test\":false}\r\nPVLAB-END\r\n"

static void parse(const char *log, const struct verdict_ctx *ctx, struct verdict *v)
{
    verdict_parse(log, strlen(log), ctx, v);
    /* invariant over every case */
    if (!v->saw_result)
        assert_int_not_equal(v->kind, VERDICT_PASS);
}

static void test_pass(void **state)
{
    struct verdict v;
    parse(BOOT BEGIN "PVLAB-PROGRESS {\"done\":1000,\"total\":2000}\r\n" RESULT_OK, NULL, &v);
    assert_int_equal(v.kind, VERDICT_PASS);
    assert_int_equal(v.iterations, 2000);
    assert_int_equal(v.corruptions, 0);
    assert_string_equal(v.guest_kernel, "6.1.0-41-amd64");
    assert_int_equal(v.evidence.n, 0);
    verdict_free(&v);
}

static void test_fail_with_events_and_result(void **state)
{
    struct verdict v;
    parse(BOOT BEGIN
          "PVLAB-EVENT {\"type\":\"mismatch\",\"reg\":\"xmm3\",\"expected\":\"0x1\","
          "\"got\":\"0x2\","
          "\"self_test\":true}\r\n"
          "PVLAB-RESULT {\"iterations\":2000,\"corruptions\":1,\"mismatches\":1,\"deaths\":0,"
          "\"self_test\":true}\r\nPVLAB-END\r\n",
          NULL, &v);
    assert_int_equal(v.kind, VERDICT_FAIL);
    assert_int_equal(v.corruptions, 1);
    assert_int_equal(v.mismatches, 1);
    assert_true(v.self_test);
    assert_int_equal(v.evidence.n, 1);
    assert_non_null(strstr(v.evidence.v[0], "xmm3"));
    assert_non_null(strstr(v.reason, "self-test"));
    verdict_free(&v);
}

/* Seen on 4.1.5: children crash in glibc start-up, then the supervisor dies: no summary. */
static void test_fail_without_result(void **state)
{
    struct verdict v;
    parse(BOOT BEGIN
          "[   31.1] fpu-probe[812]: segfault at 7ffd4 ip 0000000000401a2c sp 00007ffd error 6 in "
          "fpu-probe[401000+9d000]\r\n"
          "PVLAB-EVENT {\"type\":\"death\",\"signal\":11,\"signame\":\"SIGSEGV\",\"pid\":812}\r\n"
          "[   33.9] traps: init[1]  trap divide error\r\n" /* not a [pid] fault line */
          "[   34.0] traps: fpu-probe[901] general protection fault ip:4021d3 sp:7ffc error:0 in "
          "fpu-probe[401000+9d000]\r\n"
          "PVLAB-EVENT {\"type\":\"worker-death\",\"signal\":11}\r\n"
          "PVLAB-EVENT {\"type\":\"supervisor-death\",\"signal\":11}\r\n",
          NULL, &v);
    assert_int_equal(v.kind, VERDICT_FAIL);
    assert_false(v.saw_result);
    assert_int_equal(v.deaths, 3);
    assert_int_equal(v.mismatches, 0);
    assert_int_equal(v.klog_faults, 2);
    assert_int_equal(v.evidence.n, 5);
    assert_non_null(strstr(v.reason, "no summary"));
    verdict_free(&v);
}

/* A kernel fault line alone is evidence even when the summary says 0. */
static void test_klog_fault_overrides_clean_summary(void **state)
{
    struct verdict v;
    parse(BOOT BEGIN "[ 12.0] memcmp-probe[77]: segfault at 0 ip 0 sp 0 error 4\r\n" RESULT_OK,
          NULL, &v);
    assert_int_equal(v.kind, VERDICT_FAIL);
    assert_int_equal(v.klog_faults, 1);
    verdict_free(&v);
}

static void test_klog_matcher(void **state)
{
    const char *yes[] = {
        "fpu-probe[1]: segfault at 0 ip 0 sp 0 error 4",
        "[  3.2] traps: fpu-probe[400] general protection fault ip:1 sp:2 error:0",
        "traps: memcmp-probe[9] trap invalid opcode ip:4010 sp:7ffc error:0",
        "fpu-probe[5]: bus error at 0x1",
    };
    const char *no[] = {
        "segfault at 0 without a process",
        "(XEN) traps.c:123: d0v0 general protection",
        "PVLAB-PROGRESS {\"done\":1}",
        "[  0.1] x86/fpu: Supporting XSAVE feature 0x001: 'x87 floating point registers'",
    };
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        assert_true(verdict_is_klog_fault(yes[i], strlen(yes[i])));
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        assert_false(verdict_is_klog_fault(no[i], strlen(no[i])));
}

static void test_timeout_is_infra(void **state)
{
    struct verdict v;
    struct verdict_ctx ctx = { .timed_out = 1, .timeout_what = "running", .timeout_s = 60 };
    parse(BOOT BEGIN "PVLAB-PROGRESS {\"done\":300,\"total\":2000}\r\n", &ctx, &v);
    assert_int_equal(v.kind, VERDICT_INFRA);
    assert_non_null(strstr(v.reason, "timeout"));
    assert_int_equal(v.iterations, 300);
    verdict_free(&v);
}

static void test_panic_and_no_begin(void **state)
{
    struct verdict v;
    parse(BOOT "[ 1.0] Kernel panic - not syncing: No working init found.\r\n", NULL, &v);
    assert_int_equal(v.kind, VERDICT_INFRA);
    assert_non_null(strstr(v.reason, "panic before"));
    verdict_free(&v);
    parse(BOOT, NULL, &v);
    assert_int_equal(v.kind, VERDICT_INFRA);
    assert_non_null(strstr(v.reason, "PVLAB-BEGIN"));
    verdict_free(&v);
    /* began, made progress, then the guest went away: how far it got */
    parse(BOOT BEGIN "PVLAB-PROGRESS {\"done\":300,\"total\":2000}\r\n", NULL, &v);
    assert_int_equal(v.kind, VERDICT_INFRA);
    assert_non_null(strstr(v.reason, "the guest stopped after 300 iterations without a result"));
    verdict_free(&v);
}

static void test_qemu_failure_and_guest_error(void **state)
{
    struct verdict v;
    struct verdict_ctx ctx = { .qemu_failure = "qemu exited with status 1: bad cpu" };
    parse("", &ctx, &v);
    assert_int_equal(v.kind, VERDICT_INFRA);
    assert_non_null(strstr(v.reason, "bad cpu"));
    verdict_free(&v);
    parse(BOOT "PVLAB-ERROR {\"msg\":\"unknown reproducer\"}\r\n", NULL, &v);
    assert_int_equal(v.kind, VERDICT_INFRA);
    assert_non_null(strstr(v.reason, "unknown reproducer"));
    verdict_free(&v);
}

static void test_zero_iterations_and_garbled_result(void **state)
{
    struct verdict v;
    parse(BOOT BEGIN "PVLAB-RESULT {\"iterations\":0,\"corruptions\":0}\r\n", NULL, &v);
    assert_int_equal(v.kind, VERDICT_INFRA);
    verdict_free(&v);
    /* a summary mangled on the console (e.g. interleaved output) is not a summary */
    parse(BOOT BEGIN "PVLAB-RESULT {\"iterations\":20[  5.0] random: crng init\r\n", NULL, &v);
    assert_int_not_equal(v.kind, VERDICT_PASS);
    verdict_free(&v);
}

/* Lines may carry prefixes (timestamps, interleaved output): tags are found anywhere. */
static void test_prefixed_lines(void **state)
{
    struct verdict v;
    parse(BOOT "xx " BEGIN "junk PVLAB-RESULT {\"iterations\":5,\"corruptions\":0}\r\n", NULL, &v);
    assert_int_equal(v.kind, VERDICT_PASS);
    assert_int_equal(v.iterations, 5);
    verdict_free(&v);
}

/* --- domU trials: dom0's control lines plus each place's tagged stream --- */
#define D0_BEGIN                                                                                   \
    "PVLAB-STAGE {\"stage\":\"toolstack\",\"ms\":5000}\r\n"                                        \
    "PVLAB-BEGIN {\"mode\":\"domus\",\"places\":\"d1,d2\",\"domu_mem\":256}\r\n"
#define D_BEGIN(n) "PVLAB-DOMU " n " PVLAB-BEGIN {\"repro\":\"fpu-leak\",\"kernel\":\"5.10.0\"}\r\n"
#define D_OK(n)                                                                                    \
    "PVLAB-DOMU " n " PVLAB-RESULT {\"iterations\":500,\"corruptions\":0,\"mismatches\":0,"        \
    "\"deaths\":0}\r\nPVLAB-DOMU " n " PVLAB-END\r\n"
#define D0_END "PVLAB-STAGE {\"stage\":\"end\",\"ms\":30000}\r\nPVLAB-END\r\n"

static void test_domus_pass(void **state)
{
    struct verdict v;
    /* negative control: two clean domUs, their BEGIN/END lines interleaved with dom0's */
    parse(BOOT D0_BEGIN D_BEGIN("d1") D_BEGIN("d2") D_OK("d2") D_OK("d1") D0_END, NULL, &v);
    assert_int_equal(v.kind, VERDICT_PASS);
    assert_int_equal(v.iterations, 1000);
    assert_non_null(v.places_json);
    assert_non_null(strstr(v.places_json, "\"name\":\"d2\",\"verdict\":\"pass\""));
    assert_non_null(strstr(v.places_json, "\"stage\":\"toolstack\""));
    verdict_free(&v);
}

static void test_domus_fail_names_the_domu(void **state)
{
    struct verdict v;
    /* positive control: corruption in d2 only; the trial fails and says d2, not d1 */
    parse(BOOT D0_BEGIN D_BEGIN("d1")
              D_BEGIN("d2") "PVLAB-DOMU d2 PVLAB-EVENT "
                            "{\"type\":\"mismatch\",\"reg\":\"xmm7\",\"self_test\":true}\r\n"
                            "PVLAB-DOMU d2 PVLAB-RESULT "
                            "{\"iterations\":500,\"corruptions\":1,\"mismatches\":1,"
                            "\"deaths\":0,\"self_test\":true}\r\n" D_OK("d1") D0_END,
          NULL, &v);
    assert_int_equal(v.kind, VERDICT_FAIL);
    assert_non_null(strstr(v.reason, "d2"));
    assert_null(strstr(v.reason, "d1"));
    assert_int_equal(v.corruptions, 1);
    assert_true(v.self_test);
    assert_int_equal(v.evidence.n, 1);
    assert_true(!strncmp(v.evidence.v[0], "d2: PVLAB-EVENT", 15));
    assert_non_null(strstr(v.places_json, "\"name\":\"d1\",\"verdict\":\"pass\""));
    assert_non_null(strstr(v.places_json, "\"name\":\"d2\",\"verdict\":\"fail\""));
    verdict_free(&v);
}

static void test_domus_silent_domu_is_infra(void **state)
{
    struct verdict v;
    /* d2 never boots: infra for d2 (not a pass of the trial on d1's result alone) */
    parse(BOOT D0_BEGIN D_BEGIN("d1") D_OK(
              "d1") "PVLAB-STAGE {\"stage\":\"timeout\",\"ms\":90000,\"place\":\"d2\"}\r\n" D0_END,
          NULL, &v);
    assert_int_equal(v.kind, VERDICT_INFRA);
    assert_non_null(strstr(v.reason, "d2: no result before dom0's deadline"));
    verdict_free(&v);
    /* a kernel libxc cannot load: xl's own error is the reason */
    parse(BOOT D0_BEGIN D_BEGIN("d1")
              D_OK("d1") "xl-create d2: Parsing config from /tmp/pvlab/d2.cfg\r\n"
                         "xl-create d2: xc: error: panic: xc_dom_find_loader: no loader found: "
                         "Invalid kernel\r\n"
                         "PVLAB-STAGE "
                         "{\"stage\":\"create_failed\",\"ms\":9000,\"place\":\"d2\"}\r\n" D0_END,
          NULL, &v);
    assert_int_equal(v.kind, VERDICT_INFRA);
    assert_non_null(strstr(v.reason, "d2: xl create failed: xc: error: panic: xc_dom_find_loader"));
    verdict_free(&v);
    /* a domU that began, then went away without a result (crashed, or powered off early):
     * said so, with how far it got */
    parse(BOOT D0_BEGIN D_BEGIN("d1") D_OK("d1") D_BEGIN(
              "d2") "PVLAB-DOMU d2 PVLAB-PROGRESS {\"done\":200,\"total\":2000}\r\n"
                    "PVLAB-STAGE {\"stage\":\"done\",\"ms\":40000,\"place\":\"d2\"}\r\n" D0_END,
          NULL, &v);
    assert_int_equal(v.kind, VERDICT_INFRA);
    assert_non_null(
        strstr(v.reason, "d2: the guest stopped after 200 iterations without a result"));
    assert_null(strstr(v.reason, "d1"));
    verdict_free(&v);
    /* a domU that printed nothing at all is named as such */
    parse(BOOT D0_BEGIN D_BEGIN("d1") D_OK("d1") D0_END, NULL, &v);
    assert_int_equal(v.kind, VERDICT_INFRA);
    assert_non_null(strstr(v.reason, "d2: the domU printed nothing"));
    verdict_free(&v);
}

static void test_domus_toolstack_error(void **state)
{
    struct verdict v;
    /* a toolstack that fails before BEGIN is infra with dom0's words */
    parse(BOOT "PVLAB-ERROR {\"error\":\"xenstored did not start\"}\r\nPVLAB-END\r\n", NULL, &v);
    assert_int_equal(v.kind, VERDICT_INFRA);
    assert_non_null(strstr(v.reason, "xenstored did not start"));
    verdict_free(&v);
    /* a domU's own END line is not the trial's: tagged lines are recognised */
    assert_true(verdict_line_is_tagged("PVLAB-DOMU d1 PVLAB-END", 23));
    assert_false(verdict_line_is_tagged("PVLAB-END", 9));
}

/* Plug-in outcomes: the guest's RESULT "outcome" decides skip and infra; fail keeps evidence. */
#define PBEGIN "PVLAB-BEGIN {\"repro\":\"avx\",\"iterations\":1,\"plugin\":\"script\"}\r\n"
/* A fault before the reproducer began is the guest's start-up failing (2.6.27's domU cannot run
 * the guest's static init: no AT_RANDOM), not evidence: infra, in dom0 and in a domU alike.
 * The same line after PVLAB-BEGIN stays a fail (the test above). */
static void test_fault_before_begin_is_infra(void **state)
{
    struct verdict v;
    parse(BOOT "[  1.0] init[1]: segfault at 0 ip 406114 sp 7fff3d4f87e0 error 4\r\n", NULL, &v);
    assert_int_equal(v.kind, VERDICT_INFRA);
    assert_non_null(strstr(v.reason, "a process faulted before the reproducer started: "));
    assert_non_null(strstr(v.reason, "init[1]: segfault at 0"));
    verdict_free(&v);
    parse(BOOT D0_BEGIN
          "PVLAB-DOMU d1 init[1]: segfault at 0 ip 406114 sp 7fff3d4f87e0 error 4\r\n" D0_END,
          NULL, &v);
    assert_int_equal(v.kind, VERDICT_INFRA);
    assert_non_null(strstr(v.places_json, "a process faulted before the reproducer started"));
    verdict_free(&v);
    /* the negative control: a fault after the domU's reproducer began is evidence */
    parse(BOOT D0_BEGIN D_BEGIN(
              "d1") "PVLAB-DOMU d1 fpu-probe[9]: segfault at 0 ip 0 sp 0 error 4\r\n" D0_END,
          NULL, &v);
    assert_int_equal(v.kind, VERDICT_FAIL);
    verdict_free(&v);
}

static void test_plugin_outcomes(void **state)
{
    struct verdict v;

    parse(BOOT PBEGIN
          "repro| kernel 6.1, 2 CPUs\r\n"
          "PVLAB-EVENT {\"type\":\"evidence\",\"repro\":\"avx\",\"line\":\"CPU 0: no "
          "avx\"}\r\n"
          "PVLAB-EVENT {\"type\":\"check-failed\",\"repro\":\"avx\",\"how\":\"exit 1\"}\r\n"
          "PVLAB-RESULT {\"repro\":\"avx\",\"iterations\":1,\"corruptions\":1,"
          "\"mismatches\":1,\"deaths\":0,\"outcome\":\"fail\",\"why\":\"exit 1\","
          "\"last\":\"CPU 0: no avx\"}\r\nPVLAB-END\r\n",
          NULL, &v);
    assert_int_equal(v.kind, VERDICT_FAIL);
    assert_int_equal(v.corruptions, 1); /* the evidence line counts nothing itself */
    assert_int_equal(v.mismatches, 1);
    assert_int_equal(v.evidence.n, 2);
    assert_non_null(strstr(v.evidence.v[0], "CPU 0: no avx"));
    assert_string_equal(v.reason, "the check failed (exit 1: CPU 0: no avx)");
    verdict_free(&v);

    parse(BOOT PBEGIN "PVLAB-RESULT {\"repro\":\"avx\",\"iterations\":0,\"corruptions\":0,"
                      "\"outcome\":\"skip\",\"why\":\"exit 125 (untestable)\",\"last\":\"no "
                      "cpuinfo\"}\r\nPVLAB-END\r\n",
          NULL, &v);
    assert_int_equal(v.kind, VERDICT_SKIP);
    assert_string_equal(v.reason,
                        "the reproducer cannot test here (exit 125 (untestable): no cpuinfo)");
    verdict_free(&v);

    parse(BOOT PBEGIN "PVLAB-RESULT {\"repro\":\"avx\",\"iterations\":0,\"corruptions\":0,"
                      "\"outcome\":\"infra\",\"why\":\"exit 4 (XTF error)\"}\r\nPVLAB-END\r\n",
          NULL, &v);
    assert_int_equal(v.kind, VERDICT_INFRA);
    assert_string_equal(v.reason, "the reproducer failed to run (exit 4 (XTF error))");
    verdict_free(&v);

    /* evidence wins over a skip: a kernel fault line is still a fail */
    parse(BOOT PBEGIN "[ 1.0] traps: x[12] general protection ip:1 sp:2 error:0\r\n"
                      "PVLAB-RESULT {\"iterations\":0,\"corruptions\":0,\"outcome\":\"skip\","
                      "\"why\":\"exit 3 (XTF skip)\"}\r\nPVLAB-END\r\n",
          NULL, &v);
    assert_int_equal(v.kind, VERDICT_FAIL);
    verdict_free(&v);

    /* negative control: a pass outcome is a pass, as a built-in's RESULT is */
    parse(BOOT PBEGIN "PVLAB-RESULT {\"iterations\":1,\"corruptions\":0,\"outcome\":\"pass\","
                      "\"why\":\"exit 0\"}\r\nPVLAB-END\r\n",
          NULL, &v);
    assert_int_equal(v.kind, VERDICT_PASS);
    assert_string_equal(v.reason, "the check passed (exit 0)");
    verdict_free(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pass),
        cmocka_unit_test(test_fail_with_events_and_result),
        cmocka_unit_test(test_fail_without_result),
        cmocka_unit_test(test_klog_fault_overrides_clean_summary),
        cmocka_unit_test(test_fault_before_begin_is_infra),
        cmocka_unit_test(test_klog_matcher),
        cmocka_unit_test(test_timeout_is_infra),
        cmocka_unit_test(test_panic_and_no_begin),
        cmocka_unit_test(test_qemu_failure_and_guest_error),
        cmocka_unit_test(test_zero_iterations_and_garbled_result),
        cmocka_unit_test(test_prefixed_lines),
        cmocka_unit_test(test_domus_pass),
        cmocka_unit_test(test_domus_fail_names_the_domu),
        cmocka_unit_test(test_domus_silent_domu_is_infra),
        cmocka_unit_test(test_domus_toolstack_error),
        cmocka_unit_test(test_plugin_outcomes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
