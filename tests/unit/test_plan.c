/*
 * From configuration to QEMU argv (libvirt's qemuxml2argv manner): a configuration file and a
 * fake host description (does the KVM device open, how the probe guests did) go through the
 * accelerator decision and the run plan to the argv a trial runs, compared with a golden file
 * (tests/fixtures/plan/<case>.argv; PVLAB_REGEN=1 rewrites them, then review the diff). The
 * same plan's libvirt domain XML (lab/domxml.c) is compared with <case>.xml, and with the argv:
 * both renderings must boot the same machine (CPU, memory, vCPUs, Xen, modules, console).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "jobs/run.h"
#include "lab/accel_priv.h"
#include "lab/domxml.h"
#include "lab/libvirt.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/xalloc.h"

struct fake_host {
    const char *device_problem; /* NULL: the KVM device opens */
    int kvm_ok;
    long long kvm_ms, tcg_ms;
};

struct plan_case {
    const char *name; /* golden file and configuration file */
    const char *conf;
    struct fake_host host;
    int lazy_fpu;
    const char *dom0_args, *xen_args;
    long iterations;
    double self_test_corrupt;
};

/* got against the golden file (PVLAB_REGEN=1 rewrites it). */
static void golden_compare(const char *name, const char *golden, const char *got)
{
    struct buf want = BUF_INIT;
    struct err e = ERR_INIT;

    if (getenv("PVLAB_REGEN")) {
        FILE *f = fopen(golden, "w");
        assert_non_null(f);
        fputs(got, f);
        fclose(f);
    }
    assert_int_equal(buf_read_file(&want, golden, &e), 0);
    if (strcmp(got, want.data))
        fail_msg("%s: differs from %s:\n%s", name, golden, got);
    buf_release(&want);
}

/* The text of <tag>...</tag> in xml, unescaped (malloc'd), or NULL. */
static char *xml_text(const char *xml, const char *tag)
{
    char open[32], close[32];
    const char *a, *b;
    struct buf out = BUF_INIT;

    snprintf(open, sizeof(open), "<%s", tag); /* "<memory>" or "<memory unit=...>" */
    snprintf(close, sizeof(close), "</%s>", tag);
    for (a = strstr(xml, open); a && a[strlen(open)] != '>' && a[strlen(open)] != ' ';)
        a = strstr(a + 1, open);
    if (!a)
        return NULL;
    a = strchr(a, '>') + 1;
    b = strstr(a, close);
    assert_non_null(b);
    for (const char *p = a; p < b; p++) {
        static const char *const ent[][2] = { { "&amp;", "&" },
                                              { "&lt;", "<" },
                                              { "&gt;", ">" },
                                              { "&apos;", "'" },
                                              { "&quot;", "\"" } };
        size_t k;
        for (k = 0; k < 5; k++)
            if (!strncmp(p, ent[k][0], strlen(ent[k][0])))
                break;
        if (k < 5) {
            buf_adds(&out, ent[k][1]);
            p += strlen(ent[k][0]) - 1;
        } else {
            buf_addch(&out, *p);
        }
    }
    return buf_detach(&out, NULL);
}

/* The argument after opt in argv. */
static const char *argv_after(const struct sv *argv, const char *opt)
{
    for (size_t i = 0; i + 1 < argv->n; i++)
        if (!strcmp(argv->v[i], opt))
            return argv->v[i + 1];
    fail_msg("no %s in the argv", opt);
    return NULL;
}

/* Both renderings of one machine: the same CPU, memory, vCPUs, Xen and modules, console. */
static void check_same_machine(const struct sv *argv, const char *xml)
{
    char *v, want[256];
    const char *cpu = argv_after(argv, "-cpu");

    v = xml_text(xml, "memory");
    assert_string_equal(v, argv_after(argv, "-m"));
    free(v);
    v = xml_text(xml, "vcpu");
    assert_string_equal(v, argv_after(argv, "-smp"));
    free(v);
    v = xml_text(xml, "kernel");
    assert_string_equal(v, argv_after(argv, "-kernel"));
    free(v);
    v = xml_text(xml, "initrd");
    assert_string_equal(v, argv_after(argv, "-initrd"));
    free(v);
    v = xml_text(xml, "cmdline");
    assert_string_equal(v, argv_after(argv, "-append"));
    free(v);
    v = xml_text(xml, "emulator");
    assert_string_equal(v, argv->v[0]);
    free(v);
    snprintf(want, sizeof(want), "<source path='%s'/>", argv_after(argv, "-serial") + 5);
    assert_non_null(strstr(xml, want));
    snprintf(want, sizeof(want), "<domain type='%s'>",
             strcmp(argv_after(argv, "-accel"), "kvm") ? "qemu" : "kvm");
    assert_non_null(strstr(xml, want));
    /* the CPU: max is libvirt's maximum mode, host its passthrough, and each -feature is
     * disabled */
    if (!strncmp(cpu, "max", 3))
        assert_non_null(strstr(xml, "<cpu mode='maximum'"));
    else if (!strncmp(cpu, "host", 4))
        assert_non_null(strstr(xml, "<cpu mode='host-passthrough'"));
    for (const char *f = strchr(cpu, ','); f; f = strchr(f + 1, ',')) {
        const char *end = strchr(f + 1, ',');
        int len = end ? (int)(end - f - 2) : (int)strlen(f + 2);
        snprintf(want, sizeof(want), "<feature policy='%s' name='%.*s'/>",
                 f[1] == '-' ? "disable" : "require", len, f + 2);
        assert_non_null(strstr(xml, want));
    }
}

/* Builds the trial argv of c and compares it with its golden file. */
static void check_case(const struct plan_case *c)
{
    struct config cfg;
    struct run_request rq;
    struct run_plan plan;
    struct accel_probe kvm = { c->host.kvm_ok, c->host.kvm_ms,
                               c->host.kvm_ok ? NULL : "a probe guest printed nothing in 5 s",
                               c->host.kvm_ok ? "ok" : "none" };
    struct accel_probe tcg = { 1, c->host.tcg_ms, NULL, "ok" };
    struct qemu_cfg q;
    struct sv argv = SV_INIT;
    struct buf got = BUF_INIT, xml = BUF_INIT;
    struct err e = ERR_INIT;
    struct domxml_owner owner = { "pvlab-4242-trial-1", 4242, "labhost", "2026-12-05T00:00:00Z" };
    char *conf = xasprintf("%s/tests/fixtures/plan/%s.conf", PVLAB_TOP, c->conf);
    char *golden = xasprintf("%s/tests/fixtures/plan/%s.argv", PVLAB_TOP, c->name);
    char *golden_xml = xasprintf("%s/tests/fixtures/plan/%s.xml", PVLAB_TOP, c->name);
    char *accel = NULL, *note = NULL;

    config_defaults(&cfg);
    cfg.run_fresh_every = 1; /* the goldens: a boot per trial (snapshots: test_snapshot_key) */
    assert_int_equal(config_load_file(&cfg, conf, 1, &e), 0);
    run_request_defaults(&cfg, &rq);
    rq.seed = 42;
    rq.lazy_fpu = c->lazy_fpu;
    rq.dom0_args = c->dom0_args;
    rq.xen_args = c->xen_args;
    rq.self_test_corrupt = c->self_test_corrupt;
    if (c->iterations)
        rq.iterations = c->iterations;
    assert_int_equal(run_plan_init(&cfg, &rq, &plan, &e), 0);
    /* the host, as a probe of this fake machine would find it */
    assert_int_equal(
        accel_decide(cfg.accel, "/dev/kvm", c->host.device_problem, &kvm, &tcg, &accel, &note, &e),
        0);
    plan.host.qemu_binary = xstrdup("/usr/bin/qemu-system-x86_64");
    plan.host.accel = accel;
    plan.host.accel_note = note;
    plan.host.cpu_model = xstrdup(!strcmp(accel, "kvm") ? cfg.cpu_kvm : cfg.cpu_tcg);
    plan.xen.path = xstrdup("/cache/artifacts/xen/k1/xen.bin");
    plan.linux_.path = xstrdup("/cache/artifacts/linux/k2/vmlinuz");
    plan.initramfs = xstrdup("/cache/initramfs/k3.cpio.gz");
    run_plan_finish(&plan);
    run_qemu_cfg(&plan, "/state/runs/7/trial-1.log", &q);
    assert_int_equal(qemu_build_argv(&q, &argv, &e), 0);
    for (size_t i = 0; i < argv.n; i++)
        buf_addf(&got, "%s\n", argv.v[i]);
    golden_compare(c->name, golden, got.data);
    assert_int_equal(domxml_build(&q, &owner, &xml, &e), 0);
    golden_compare(c->name, golden_xml, xml.data);
    check_same_machine(&argv, xml.data);
    /* the command line the store keeps is the same argv, shell-quoted */
    assert_non_null(strstr(plan.qemu_cmd, strcmp(accel, "kvm") ? "-accel tcg" : "-accel kvm"));
    buf_release(&got);
    buf_release(&xml);
    sv_clear(&argv);
    run_plan_free(&plan);
    config_free(&cfg);
    free(conf);
    free(golden);
    free(golden_xml);
}

static const struct plan_case cases[] = {
    /* no /dev/kvm: TCG with its SMAP-less model */
    { "tcg-no-kvm", "defaults", { "/dev/kvm not present", 0, -1, -1 }, 0, NULL, NULL, 0, 0 },
    /* a KVM that runs guests and beats TCG: KVM with cpu_kvm */
    { "kvm-works", "defaults", { NULL, 1, 300, 900 }, 0, NULL, NULL, 0, 0 },
    /* a KVM that hangs: TCG (this machine kind's case) */
    { "kvm-hangs", "defaults", { NULL, 0, 5000, 900 }, 0, NULL, NULL, 0, 0 },
    /* a KVM slower than TCG: TCG */
    { "kvm-slow", "defaults", { NULL, 1, 1500, 900 }, 0, NULL, NULL, 0, 0 },
    /* accel = tcg never uses KVM, however well it runs */
    { "forced-tcg", "forced-tcg", { NULL, 1, 100, 900 }, 0, NULL, NULL, 0, 0 },
    /* accel = kvm with its own CPU model */
    { "kvm-explicit", "kvm", { NULL, 1, 300, -1 }, 0, NULL, NULL, 0, 0 },
    /* bug #40's amplifier, extra arguments, a smaller machine and another TCG model */
    { "lazy-fpu-small",
      "small",
      { "/dev/kvm not present", 0, -1, -1 },
      1,
      "loglevel=4 a,b",
      "sched=credit",
      3000,
      0 },
    /* the detector self-test, commas in a dom0 argument escaped for the module list */
    { "self-test", "defaults", { "/dev/kvm not present", 0, -1, -1 }, 0, "x=1,2", NULL, 500, 0.05 },
};

/* A domU trial's dom0 command line, and the requests refused before anything is fetched. */
static void test_domus_plan(void **state)
{
    struct config cfg;
    struct run_request rq;
    struct run_plan plan;
    struct err e = ERR_INIT;

    config_defaults(&cfg);
    cfg.run_fresh_every = 1; /* the goldens: a boot per trial (snapshots: test_snapshot_key) */
    run_request_defaults(&cfg, &rq);
    rq.domus = 2;
    rq.domu_linux[0] = "6.1";
    rq.domu_linux[1] = "5.10";
    rq.n_domu_linux = 2;
    rq.corrupt_in = "d2";
    assert_int_equal(run_plan_init(&cfg, &rq, &plan, &e), 0);
    assert_non_null(strstr(plan.dom0_cmdline, " rdinit=/pvlab/domus.sh pvlab.domus=2 "));
    assert_non_null(strstr(plan.dom0_cmdline, "pvlab.corrupt_in=d2"));
    assert_non_null(strstr(plan.dom0_cmdline, "pvlab.domu_timeout="));
    assert_non_null(strstr(plan.dom0_cmdline, "pvlab.repro=fpu-leak"));
    run_plan_free(&plan);

    /* negative control: without domUs the dom0 line has none of it */
    run_request_defaults(&cfg, &rq);
    assert_int_equal(run_plan_init(&cfg, &rq, &plan, &e), 0);
    assert_null(strstr(plan.dom0_cmdline, "rdinit="));
    assert_null(strstr(plan.dom0_cmdline, "pvlab.domus"));
    run_plan_free(&plan);

    /* more domU memory than the L1 host has beside dom0's 1024 MiB */
    run_request_defaults(&cfg, &rq);
    rq.domus = 4;
    rq.domu_mem_mb = 512;
    assert_int_equal(run_plan_init(&cfg, &rq, &plan, &e), -1);
    assert_int_equal(e.code, ERR_USAGE);
    assert_non_null(strstr(e.msg, "do not fit"));
    run_plan_free(&plan);
    /* ... and the same four fit at 200 MiB */
    rq.domu_mem_mb = 200;
    err_clear(&e);
    assert_int_equal(run_plan_init(&cfg, &rq, &plan, &e), 0);
    run_plan_free(&plan);

    /* a self-test place that does not exist; domU options without domUs; too many */
    run_request_defaults(&cfg, &rq);
    rq.domus = 2;
    rq.corrupt_in = "d3";
    assert_int_equal(run_plan_init(&cfg, &rq, &plan, &e), -1);
    assert_non_null(strstr(e.msg, "no place 'd3'"));
    run_plan_free(&plan);
    run_request_defaults(&cfg, &rq);
    rq.in_dom0 = 1;
    assert_int_equal(run_plan_init(&cfg, &rq, &plan, &e), -1);
    assert_non_null(strstr(e.msg, "need domUs"));
    run_plan_free(&plan);
    run_request_defaults(&cfg, &rq);
    rq.domus = RUN_MAX_DOMUS + 1;
    assert_int_equal(run_plan_init(&cfg, &rq, &plan, &e), -1);
    assert_int_equal(e.code, ERR_USAGE);
    run_plan_free(&plan);
    config_free(&cfg);
}

static void test_cases(void **state)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_case(&cases[i]);
}

/* The golden files differ where the cases do (they are not all one file). */
static void test_goldens_differ(void **state)
{
    struct buf a = BUF_INIT, b = BUF_INIT;

    assert_int_equal(buf_read_file(&a, PVLAB_TOP "/tests/fixtures/plan/tcg-no-kvm.argv", NULL), 0);
    assert_int_equal(buf_read_file(&b, PVLAB_TOP "/tests/fixtures/plan/kvm-works.argv", NULL), 0);
    assert_string_not_equal(a.data, b.data);
    assert_non_null(strstr(a.data, "-accel\ntcg\n-cpu\nmax,-smap\n"));
    assert_non_null(strstr(b.data, "-accel\nkvm\n-cpu\nhost\n"));
    buf_reset(&a);
    assert_int_equal(buf_read_file(&a, PVLAB_TOP "/tests/fixtures/plan/lazy-fpu-small.argv", NULL),
                     0);
    assert_non_null(strstr(a.data, "eagerfpu=off"));
    assert_non_null(strstr(a.data, "-m\n3072\n-smp\n1\n"));
    buf_release(&a);
    buf_release(&b);
}

/* Amplifiers reach both command lines and the recorded parameters; --lazy-fpu is one of them. */
static void test_amplifier_plan(void **state)
{
    struct config cfg;
    struct run_request rq;
    struct run_plan plan;
    struct err e = ERR_INIT;
    const char *mem;

    config_defaults(&cfg);
    cfg.run_fresh_every = 1; /* the goldens: a boot per trial (snapshots: test_snapshot_key) */
    run_request_defaults(&cfg, &rq);
    rq.amplifiers = "mem-pressure,overcommit,lazy-fpu";
    rq.xen_args = "loglvl=all";
    assert_int_equal(run_plan_init(&cfg, &rq, &plan, &e), 0);
    assert_true(plan.req.lazy_fpu);
    assert_non_null(strstr(plan.dom0_cmdline, " eagerfpu=off"));
    assert_non_null(strstr(plan.dom0_cmdline, " pvlab.churn=1"));
    assert_non_null(strstr(plan.dom0_cmdline, " pvlab.overcommit=8"));
    /* after the configured dom0_mem (Xen takes the last), before the user's own words */
    mem = strstr(plan.xen_cmdline, " dom0_mem=192M,max:192M");
    assert_non_null(mem);
    assert_true(mem > strstr(plan.xen_cmdline, "dom0_mem=1024M"));
    assert_true(mem < strstr(plan.xen_cmdline, "loglvl=all"));
    run_plan_finish(&plan);
    assert_non_null(
        strstr(plan.params_json, "\"amplifiers\":\"lazy-fpu,mem-pressure,overcommit\""));
    run_plan_free(&plan);

    /* --lazy-fpu alone is recorded as the lazy-fpu amplifier; nothing else changes */
    run_request_defaults(&cfg, &rq);
    rq.lazy_fpu = 1;
    assert_int_equal(run_plan_init(&cfg, &rq, &plan, &e), 0);
    assert_null(strstr(plan.dom0_cmdline, "pvlab.churn"));
    assert_null(strstr(plan.xen_cmdline, "192M"));
    run_plan_finish(&plan);
    assert_non_null(strstr(plan.params_json, "\"amplifiers\":\"lazy-fpu\""));
    run_plan_free(&plan);

    /* negative control: none asked, none recorded */
    run_request_defaults(&cfg, &rq);
    assert_int_equal(run_plan_init(&cfg, &rq, &plan, &e), 0);
    run_plan_finish(&plan);
    assert_null(strstr(plan.params_json, "amplifiers"));
    assert_null(strstr(plan.dom0_cmdline, "eagerfpu"));
    run_plan_free(&plan);

    run_request_defaults(&cfg, &rq);
    rq.amplifiers = "hot";
    assert_int_equal(run_plan_init(&cfg, &rq, &plan, &e), -1);
    assert_non_null(strstr(e.msg, "unknown amplifier 'hot'"));
    run_plan_free(&plan);
    config_free(&cfg);
}

/* A domU trial's machine in both renderings; the owner metadata; XML escaping. */
static void test_domxml_domus_and_owner(void **state)
{
    struct config cfg;
    struct run_request rq;
    struct run_plan plan;
    struct qemu_cfg q;
    struct sv argv = SV_INIT;
    struct buf xml = BUF_INIT;
    struct err e = ERR_INIT;
    struct domxml_owner owner = { "pvlab-4242-trial-1", 4242, "labhost", "2026-12-05T00:00:00Z" };
    char *golden = xasprintf("%s/tests/fixtures/plan/domus.xml", PVLAB_TOP), host[64];
    long pid;
    pid_t child;

    config_defaults(&cfg);
    cfg.run_fresh_every = 1; /* the goldens: a boot per trial (snapshots: test_snapshot_key) */
    run_request_defaults(&cfg, &rq);
    rq.seed = 42;
    rq.domus = 2;
    assert_int_equal(run_plan_init(&cfg, &rq, &plan, &e), 0);
    plan.host.qemu_binary = xstrdup("/usr/bin/qemu-system-x86_64");
    plan.host.accel = xstrdup("tcg");
    plan.host.cpu_model = xstrdup(cfg.cpu_tcg);
    plan.xen.path = xstrdup("/cache/artifacts/xen/k1/xen.bin");
    plan.linux_.path = xstrdup("/cache/artifacts/linux/k2/vmlinuz");
    plan.initramfs = xstrdup("/cache/initramfs/domus-k4.cpio");
    run_qemu_cfg(&plan, "/state/runs/8/trial-1.log", &q);
    assert_int_equal(qemu_build_argv(&q, &argv, &e), 0);
    assert_int_equal(domxml_build(&q, &owner, &xml, &e), 0);
    golden_compare("domus", golden, xml.data);
    check_same_machine(&argv, xml.data);
    assert_non_null(strstr(xml.data, "rdinit=/pvlab/domus.sh pvlab.domus=2"));

    /* the owner comes back out of the metadata; anything else is not pvlab's */
    assert_int_equal(domxml_parse_owner("<pvlab:trial xmlns:pvlab='urn:x-pvlab:trial:1' "
                                        "pid='4242' host='labhost' started='x'/>",
                                        &pid, host, sizeof(host)),
                     0);
    assert_int_equal(pid, 4242);
    assert_string_equal(host, "labhost");
    assert_int_equal(domxml_parse_owner("<other pid='1' host='h'/>", &pid, host, sizeof(host)), -1);
    assert_int_equal(domxml_parse_owner("<trial host='h'/>", &pid, host, sizeof(host)), -1);
    assert_int_equal(domxml_parse_owner(NULL, &pid, host, sizeof(host)), -1);
    /* a live owner keeps its domain, a dead one does not */
    assert_true(libvirt_pid_alive((long)getpid()));
    child = fork();
    if (child == 0)
        _exit(0);
    waitpid(child, NULL, 0);
    assert_false(libvirt_pid_alive((long)child));

    /* paths and command lines with XML's special characters are escaped */
    buf_reset(&xml);
    q.xen_cmdline = "a<b & 'c'";
    assert_int_equal(domxml_build(&q, &owner, &xml, &e), 0);
    assert_non_null(strstr(xml.data, "<cmdline>a&lt;b &amp; &apos;c&apos;</cmdline>"));
    buf_release(&xml);
    sv_clear(&argv);
    run_plan_free(&plan);
    config_free(&cfg);
    free(golden);
}

/* The snapshot's file names everything that booted: another QEMU or CPU model is another file. */
static void test_snapshot_key(void **state)
{
    struct config cfg;
    struct run_request rq;
    struct run_plan plan;
    struct err e = ERR_INIT;
    char *first, *same;

    config_defaults(&cfg);
    cfg.run_fresh_every = 1; /* the goldens: a boot per trial (snapshots: test_snapshot_key) */
    free(cfg.cache_dir);
    cfg.cache_dir = xstrdup("/tmp/pvlab-test-plan-cache");
    {
        struct config shipped; /* the shipped default takes snapshots, with fresh boots */
        config_defaults(&shipped);
        run_request_defaults(&shipped, &rq);
        assert_int_equal(rq.fresh_every, 4);
        assert_int_equal(run_plan_init(&shipped, &rq, &plan, &e), 0);
        assert_true(plan.snapshots);
        run_plan_free(&plan);
        config_free(&shipped);
    }
    run_request_defaults(&cfg, &rq);
    rq.fresh_every = 0;
    rq.seed = 42;
    assert_int_equal(run_plan_init(&cfg, &rq, &plan, &e), 0);
    assert_true(plan.snapshots);
    assert_non_null(strstr(plan.dom0_cmdline, " pvlab.snapshot=1"));
    assert_null(strstr(plan.dom0_cmdline, "pvlab.repro=")); /* those come in the START line */
    plan.host.qemu_binary = xstrdup("/usr/bin/qemu-system-x86_64");
    plan.host.qemu_version = xstrdup("QEMU emulator version 7.2.22");
    plan.host.accel = xstrdup("tcg");
    plan.host.cpu_model = xstrdup("max,-smap");
    plan.xen.sha256 = xstrdup("x1");
    plan.linux_.sha256 = xstrdup("l1");
    plan.initramfs_sha256 = xstrdup("i1");
    run_plan_finish(&plan);
    assert_non_null(plan.snap_path);
    first = xstrdup(plan.snap_path);
    run_plan_finish(&plan);
    same = xstrdup(plan.snap_path);
    assert_string_equal(first, same); /* nothing changed: the same file */
    free(plan.host.qemu_version);
    plan.host.qemu_version = xstrdup("QEMU emulator version 8.2.0");
    run_plan_finish(&plan);
    assert_string_not_equal(first, plan.snap_path);
    free(plan.host.qemu_version);
    plan.host.qemu_version = xstrdup("QEMU emulator version 7.2.22");
    free(plan.host.cpu_model);
    plan.host.cpu_model = xstrdup("max,-smap,-avx");
    run_plan_finish(&plan);
    assert_string_not_equal(first, plan.snap_path);
    free(plan.host.cpu_model);
    plan.host.cpu_model = xstrdup("max,-smap");
    plan.req.smp = 1; /* a matrix's guest size: another machine, another file */
    run_plan_finish(&plan);
    assert_string_not_equal(first, plan.snap_path);
    plan.req.smp = 0;
    run_plan_finish(&plan);
    assert_string_equal(first, plan.snap_path);
    /* every trial its own seed in the START line */
    {
        char *w1 = run_plan_start_words(&plan, 1), *w2 = run_plan_start_words(&plan, 2);
        assert_non_null(strstr(w1, "pvlab.seed=42"));
        assert_non_null(strstr(w1, "pvlab.repro=fpu-leak")); /* the words moved to START */
        assert_string_not_equal(w1, w2);
        free(w1);
        free(w2);
    }
    /* the schedule: K = 3 boots trials 3 and 6 fresh; trial 1 makes the machine, and while it
     * saves, run waits (1) and a matrix boots (0) instead of waiting */
    {
        struct trial_job j;
        char *w = NULL;
        fs_rmtree("/tmp/pvlab-test-plan-cache", NULL);
        assert_int_equal(fs_mkdirs("/tmp/pvlab-test-plan-cache/snapshots", NULL), 0);
        plan.req.fresh_every = 3;
        memset(&j, 0, sizeof(j));
        assert_int_equal(run_plan_snap_job(&plan, 1, 1, &j, &w), 0);
        assert_string_equal(j.snapshot_mode, "make");
        assert_int_equal(plan.snap_making, 1);
        assert_non_null(strstr(w, "pvlab.seed=42"));
        free(w);
        assert_null(run_plan_snap_mode(&plan, 2));
        assert_int_equal(run_plan_snap_job(&plan, 2, 1, &j, &w), 1);
        assert_null(w);
        assert_int_equal(run_plan_snap_job(&plan, 2, 0, &j, &w), 0);
        assert_string_equal(j.snapshot_mode, "boot");
        free(w);
        assert_string_equal(run_plan_snap_mode(&plan, 3), "boot");
        {
            struct trial_outcome o;
            memset(&o, 0, sizeof(o));
            run_plan_snap_ended(&plan, 1, &o);
        }
        assert_int_equal(plan.snap_making, 0);
        assert_int_equal(fs_write_atomic(plan.snap_path, "m", 1, NULL), 0);
        {
            char *side = xasprintf("%s.sha256", plan.snap_path);
            assert_int_equal(fs_write_atomic(side, "x\n", 2, NULL), 0);
            free(side);
        }
        assert_string_equal(run_plan_snap_mode(&plan, 2), "restore");
        assert_string_equal(run_plan_snap_mode(&plan, 5), "restore");
        assert_string_equal(run_plan_snap_mode(&plan, 6), "boot");
        plan.req.fresh_every = 0; /* never a fresh boot */
        assert_string_equal(run_plan_snap_mode(&plan, 6), "restore");
    }
    run_plan_free(&plan);
    /* negative controls: no snapshots with fresh_boot_every 1, with domUs or with libvirt */
    run_request_defaults(&cfg, &rq);
    rq.fresh_every = 1;
    assert_int_equal(run_plan_init(&cfg, &rq, &plan, &e), 0);
    assert_false(plan.snapshots);
    assert_non_null(strstr(plan.dom0_cmdline, "pvlab.repro=fpu-leak"));
    run_plan_free(&plan);
    run_request_defaults(&cfg, &rq);
    rq.fresh_every = 0;
    rq.domus = 1;
    assert_int_equal(run_plan_init(&cfg, &rq, &plan, &e), 0);
    assert_false(plan.snapshots);
    run_plan_free(&plan);
    run_request_defaults(&cfg, &rq);
    rq.fresh_every = 0;
    rq.backend = "libvirt";
    assert_int_equal(run_plan_init(&cfg, &rq, &plan, &e), 0);
    assert_false(plan.snapshots);
    run_plan_free(&plan);
    config_free(&cfg);
    fs_rmtree("/tmp/pvlab-test-plan-cache", NULL);
    free(first);
    free(same);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_goldens_differ),
        cmocka_unit_test(test_domus_plan),
        cmocka_unit_test(test_amplifier_plan),
        cmocka_unit_test(test_domxml_domus_and_owner),
        cmocka_unit_test(test_snapshot_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
