#include "jobs/trial_job.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "jobs/run.h"
#include "util/base64.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/sha256.h"
#include "util/xalloc.h"

/* `pvlab trial`'s options: the one table both trial_job_argv and trial_job_parse read. */
enum opt_kind { K_STR, K_LONG, K_INT, K_ULONG, K_DBL, K_FLAG };

struct job_opt {
    const char *name;
    enum opt_kind kind;
    size_t off;
};

#define J(name, kind, field)                                                                       \
    {                                                                                              \
        name, kind, offsetof(struct trial_job, field)                                              \
    }
static const struct job_opt job_opts[] = {
    J("xen", K_STR, xen_spec),
    J("linux", K_STR, linux_spec),
    J("repro", K_STR, repro),
    J("repro-args", K_STR, repro_args),
    J("amplifier", K_STR, amplifiers),
    J("iterations", K_LONG, iterations),
    J("workers", K_INT, workers),
    J("lazy-fpu", K_FLAG, lazy_fpu),
    J("self-test-corrupt", K_DBL, self_test_corrupt),
    J("seed", K_ULONG, seed),
    J("dom0-args", K_STR, dom0_args),
    J("xen-args", K_STR, xen_args),
    J("build-cmd", K_STR, build_cmd),
    J("build-axis", K_STR, build_axis),
    J("build-dir", K_STR, build_dir),
    J("commit", K_STR, commit),
    J("xen-image", K_STR, xen_image),
    J("kernel-image", K_STR, kernel_image),
    J("initramfs", K_STR, initramfs),
    J("xen-cmdline", K_STR, xen_cmdline),
    J("dom0-cmdline", K_STR, dom0_cmdline),
    J("accel", K_STR, accel),
    J("cpu-model", K_STR, cpu_model),
    J("backend", K_STR, backend),
    J("libvirt-uri", K_STR, libvirt_uri),
    J("snapshot-mode", K_STR, snapshot_mode),
    J("snapshot", K_STR, snapshot),
    J("start-words", K_STR, start_words),
    J("memory-mb", K_INT, memory_mb),
    J("smp", K_INT, smp),
    J("xen-sha256", K_STR, xen_sha256),
    J("kernel-sha256", K_STR, kernel_sha256),
    J("initramfs-sha256", K_STR, initramfs_sha256),
    J("boot-timeout", K_INT, boot_timeout_s),
    J("timeout", K_INT, run_timeout_s),
    J("log", K_STR, log_path),
};
#define NJOB_OPTS (sizeof(job_opts) / sizeof(job_opts[0]))

void trial_job_argv(const struct trial_job *j, struct sv *argv)
{
    for (size_t i = 0; i < NJOB_OPTS; i++) {
        const char *p = (const char *)j + job_opts[i].off;
        const char *s;
        char num[64];

        switch (job_opts[i].kind) {
        case K_STR:
            s = *(const char *const *)p;
            if (!s)
                continue;
            sv_pushf(argv, "--%s", job_opts[i].name);
            sv_push(argv, s);
            continue;
        case K_FLAG:
            if (*(const int *)p)
                sv_pushf(argv, "--%s", job_opts[i].name);
            continue;
        case K_INT:
            if (!*(const int *)p)
                continue;
            snprintf(num, sizeof(num), "%d", *(const int *)p);
            break;
        case K_LONG:
            if (!*(const long *)p)
                continue;
            snprintf(num, sizeof(num), "%ld", *(const long *)p);
            break;
        case K_ULONG:
            if (!*(const unsigned long *)p)
                continue;
            snprintf(num, sizeof(num), "%lu", *(const unsigned long *)p);
            break;
        case K_DBL:
            if (*(const double *)p == 0)
                continue;
            snprintf(num, sizeof(num), "%.17g", *(const double *)p); /* exact round trip */
            break;
        }
        sv_pushf(argv, "--%s", job_opts[i].name);
        sv_push(argv, num);
    }
}

char *trial_job_word(const struct trial_job *j)
{
    struct sv argv = SV_INIT;
    struct buf raw = BUF_INIT, out = BUF_INIT;

    trial_job_argv(j, &argv);
    for (size_t i = 0; i < argv.n; i++)
        buf_add(&raw, argv.v[i], strlen(argv.v[i]) + 1);
    b64_encode(raw.data, raw.len, &out);
    sv_clear(&argv);
    buf_release(&raw);
    return buf_detach(&out, NULL);
}

int trial_job_unword(const char *word, struct sv *out, struct err *e)
{
    struct buf raw = BUF_INIT;
    int rc = -1;

    if (b64_decode(word, &raw) < 0 || (raw.len && raw.data[raw.len - 1] != '\0')) {
        err_set(e, ERR_USAGE, "--job expects the word pvlab writes for a trial (base64)");
        goto out;
    }
    for (size_t off = 0; off < raw.len; off += strlen(raw.data + off) + 1)
        sv_push(out, raw.data + off);
    rc = 0;
out:
    buf_release(&raw);
    return rc;
}

/* Stores one option's value into the job; ERR_USAGE for a malformed number. */
static int set_opt(struct trial_job *j, const struct job_opt *o, char *v, struct err *e)
{
    char *p = (char *)j + o->off;
    char *end = NULL;

    errno = 0;
    switch (o->kind) {
    case K_STR: *(const char **)p = v; return 0;
    case K_FLAG: *(int *)p = 1; return 0;
    case K_INT: *(int *)p = (int)strtol(v, &end, 10); break;
    case K_LONG: *(long *)p = strtol(v, &end, 10); break;
    case K_ULONG: *(unsigned long *)p = strtoul(v, &end, 10); break;
    case K_DBL: *(double *)p = strtod(v, &end); break;
    }
    if (!*v || *end || errno) {
        err_set(e, ERR_USAGE, "--%s expects a number, got '%s'", o->name, v);
        return -1;
    }
    return 0;
}

int trial_job_parse(int argc, char **argv, struct trial_job *j, int *result_fd_r, struct err *e)
{
    struct option opts[NJOB_OPTS + 2];
    int opt, idx;

    memset(j, 0, sizeof(*j));
    *result_fd_r = 1;
    for (size_t i = 0; i < NJOB_OPTS; i++)
        opts[i] = (struct option){ job_opts[i].name,
                                   job_opts[i].kind == K_FLAG ? no_argument : required_argument,
                                   NULL, (int)(256 + i) };
    opts[NJOB_OPTS] = (struct option){ "result-fd", required_argument, NULL, 'r' };
    opts[NJOB_OPTS + 1] = (struct option){ NULL, 0, NULL, 0 };
    optind = 0;
    while ((opt = getopt_long(argc, argv, "", opts, &idx)) != -1) {
        if (opt == 'r') {
            char *end;
            long fd = strtol(optarg, &end, 10);
            if (*end || fd < 1 || fd > 1024) {
                err_set(e, ERR_USAGE, "--result-fd expects a descriptor number, got '%s'", optarg);
                return -1;
            }
            *result_fd_r = (int)fd;
        } else if (opt >= 256 && opt < 256 + (int)NJOB_OPTS) {
            if (set_opt(j, &job_opts[opt - 256], optarg, e) < 0)
                return -1;
        } else {
            err_set(e, ERR_USAGE, "pvlab trial: unknown option (see pvlab trial --help)");
            return -1;
        }
    }
    if (optind < argc) {
        err_set(e, ERR_USAGE, "pvlab trial: unexpected argument '%s'", argv[optind]);
        return -1;
    }
    if (!j->log_path) {
        err_set(e, ERR_USAGE, "pvlab trial needs --log PATH (the trial's console log)");
        return -1;
    }
    if (j->xen_image && (!j->kernel_image || !j->initramfs || !j->accel || !j->cpu_model)) {
        err_set(e, ERR_USAGE,
                "a prepared trial (--xen-image) also needs --kernel-image, "
                "--initramfs, --accel and --cpu-model");
        return -1;
    }
    if (j->snapshot_mode) {
        const char *allowed = j->xen_image ? " boot make restore " : " none boot auto ";
        char *word = xasprintf(" %s ", j->snapshot_mode);
        int ok = !strchr(j->snapshot_mode, ' ') && strstr(allowed, word);
        free(word);
        if (!ok) {
            err_set(e, ERR_USAGE, "--snapshot-mode takes one of:%s(not '%s')", allowed,
                    j->snapshot_mode);
            return -1;
        }
    }
    return 0;
}

void trial_outcome_free(struct trial_outcome *o)
{
    char **strs[] = { &o->reason,           &o->evidence_json, &o->started,       &o->finished,
                      &o->log_path,         &o->params_json,   &o->xen_version,   &o->xen_package,
                      &o->xen_sha256,       &o->linux_version, &o->linux_package, &o->linux_sha256,
                      &o->initramfs_sha256, &o->qemu_version,  &o->accel,         &o->cpu_model,
                      &o->l0_kernel,        &o->hostname,      &o->qemu_cmd,      &o->accel_note,
                      &o->artifact_sha256,  &o->places_json,   &o->snapshot };

    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        free(*strs[i]);
    memset(o, 0, sizeof(*o));
}

int trial_outcome_exit_code(const struct trial_outcome *o)
{
    if (o->stop)
        return 128;
    switch (o->verdict) {
    case VERDICT_PASS: return 0;
    case VERDICT_FAIL: return 1;
    case VERDICT_INFRA:
    case VERDICT_SKIP: return 125;
    }
    return 125;
}

/*
 * The user's build step: BUILD_CMD by sh in the build directory, with the caller's environment
 * plus the commit; its last line of output names the artifact. Returns 0 with *path_r set,
 * 1 when the build failed (a skip, *why_r says why), -1 when it could not be attempted.
 */
static int build_step(const struct trial_job *j, char **path_r, char **why_r, struct err *e)
{
    const char *argv[] = { "sh", "-c", j->build_cmd, "pvlab-build", NULL };
    struct proc_spec spec = { 0 };
    struct sv env = SV_INIT;
    struct buf out = BUF_INIT;
    struct err be = ERR_INIT;
    char *log = xasprintf("%s.build", j->log_path);
    char *last = NULL;
    int rc = -1;

    *path_r = *why_r = NULL;
    sv_pushf(&env, "PVLAB_COMMIT=%s", j->commit ? j->commit : "");
    sv_pushf(&env, "PVLAB_BISECT_COMMIT=%s", j->commit ? j->commit : "");
    sv_pushf(&env, "PVLAB_WORKTREE=%s", j->build_dir ? j->build_dir : ".");
    buf_init(&out, 1 << 20);
    spec.argv = argv;
    spec.env = (const char *const *)sv_argv(&env);
    spec.inherit_env = 1; /* the user's build sees their environment */
    spec.cwd = j->build_dir;
    spec.out = &out;
    spec.log_path = log;
    if (proc_run(&spec, &be) < 0) {
        if (be.code == ERR_INTERRUPTED) {
            *e = be;
            goto out;
        }
        *why_r = xasprintf("the build command failed: %s", be.msg);
        rc = 1;
        goto out;
    }
    buf_rtrim(&out);
    {
        const char *nl = strrchr(out.data, '\n');
        const char *line = nl ? nl + 1 : out.data;
        last =
            *line == '/' || !j->build_dir ? xstrdup(line) : xasprintf("%s/%s", j->build_dir, line);
    }
    if (!*out.data || !fs_exists(last)) {
        *why_r = xasprintf("the build command printed no artifact path as its last line "
                           "(got '%s'; its output is in %s)",
                           out.data, log);
        rc = 1;
        goto out;
    }
    *path_r = last;
    last = NULL;
    rc = 0;
out:
    sv_clear(&env);
    buf_release(&out);
    free(log);
    free(last);
    return rc;
}

static char *evidence_json(const struct verdict *v)
{
    struct buf b = BUF_INIT;
    struct jw w;

    jw_init(&w, &b);
    jw_arr(&w);
    for (size_t i = 0; i < v->evidence.n; i++)
        jw_s(&w, v->evidence.v[i]);
    jw_end(&w);
    return buf_detach(&b, NULL);
}

static char *dupn(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

/* Copies what a prepared run says about its artifacts and host into the outcome. */
static void describe(const struct run_plan *plan, struct trial_outcome *o)
{
    struct run_info ri;

    run_plan_info(plan, &ri);
    o->xen_version = dupn(ri.xen_version);
    o->xen_package = dupn(ri.xen_package);
    o->xen_sha256 = dupn(ri.xen_sha256);
    o->linux_version = dupn(ri.linux_version);
    o->linux_package = dupn(ri.linux_package);
    o->linux_sha256 = dupn(ri.linux_sha256);
    o->initramfs_sha256 = dupn(ri.initramfs_sha256);
    o->qemu_version = dupn(ri.qemu_version);
    o->accel = dupn(ri.accel);
    o->cpu_model = dupn(ri.cpu_model);
    o->l0_kernel = dupn(ri.l0_kernel);
    o->hostname = dupn(ri.hostname);
    o->qemu_cmd = dupn(ri.qemu_cmd);
    o->accel_note = dupn(ri.accel_note);
    o->params_json = dupn(ri.params_json);
}

/* The request a spec-level job makes of run_prepare. */
static void job_request(const struct config *cfg, const struct trial_job *j, const char *built,
                        struct run_request *rq, char **spec_owned)
{
    run_request_defaults(cfg, rq);
    *spec_owned = built ? xasprintf("file:%s", built) : NULL;
    if (j->xen_spec)
        rq->xen_spec = j->xen_spec;
    if (j->linux_spec)
        rq->linux_spec = j->linux_spec;
    if (built && j->build_axis && !strcmp(j->build_axis, "xen"))
        rq->xen_spec = *spec_owned;
    else if (built)
        rq->linux_spec = *spec_owned;
    if (j->repro)
        rq->repro = j->repro;
    rq->repro_args = j->repro_args;
    rq->amplifiers = j->amplifiers;
    rq->backend = j->backend;
    rq->libvirt_uri = j->libvirt_uri;
    if (j->iterations)
        rq->iterations = j->iterations;
    rq->trials = 1;
    rq->workers = j->workers;
    rq->lazy_fpu = j->lazy_fpu;
    rq->self_test_corrupt = j->self_test_corrupt;
    rq->seed = j->seed;
    rq->dom0_args = j->dom0_args;
    rq->xen_args = j->xen_args;
    rq->boot_timeout_s = j->boot_timeout_s;
    rq->run_timeout_s = j->run_timeout_s;
    if (j->snapshot_mode) /* the caller schedules the fresh boots */
        rq->fresh_every = !strcmp(j->snapshot_mode, "none") ? 1 : 0;
}

/* A snapshot mode (run_plan_snap_mode's words) as lab/trial.h's kind. */
static enum trial_snap snap_kind(const char *mode)
{
    return !strcmp(mode, "make") ? SNAP_MAKE : !strcmp(mode, "restore") ? SNAP_RESTORE : SNAP_BOOT;
}

/* The trial's QEMU and limits from a prepared job and the configuration. */
static void prepared_spec(const struct config *cfg, const struct trial_job *j,
                          struct trial_spec *ts)
{
    ts->qemu.binary = cfg->qemu_binary;
    ts->qemu.machine = cfg->machine;
    ts->qemu.accel = j->accel;
    ts->qemu.cpu = j->cpu_model;
    ts->qemu.memory_mb = j->memory_mb ? j->memory_mb : cfg->memory_mb;
    ts->qemu.smp = j->smp ? j->smp : cfg->smp;
    ts->qemu.xen_path = j->xen_image;
    ts->qemu.xen_cmdline = j->xen_cmdline ? j->xen_cmdline : cfg->xen_cmdline;
    ts->qemu.dom0_path = j->kernel_image;
    ts->qemu.dom0_cmdline = j->dom0_cmdline ? j->dom0_cmdline : cfg->dom0_cmdline;
    ts->qemu.initrd_path = j->initramfs;
    ts->boot_timeout_s = j->boot_timeout_s ? j->boot_timeout_s : cfg->boot_s;
    ts->run_timeout_s = j->run_timeout_s ? j->run_timeout_s : cfg->run_base_s;
}

int trial_job_exec(const struct config *cfg, const struct trial_job *j,
                   void (*progress)(void *ctx, const struct trial_progress *p), void *ctx,
                   struct trial_outcome *o, struct err *e)
{
    struct run_plan plan;
    struct run_request rq;
    struct trial_spec ts;
    struct trial_result tr;
    struct err pe = ERR_INIT;
    char *built = NULL, *why = NULL, *spec_owned = NULL, *failed_restore = NULL;
    char *start_words = NULL;
    int planned = 0, ran = 0, rc = -1, r;

    memset(o, 0, sizeof(*o));
    memset(&plan, 0, sizeof(plan));
    memset(&ts, 0, sizeof(ts));
    memset(&tr, 0, sizeof(tr));
    o->verdict = VERDICT_INFRA;
    o->boot_ms = -1;
    o->started = clock_iso_now();
    o->log_path = xstrdup(j->log_path);
    {
        /* on another host the log's directory may not exist yet */
        char *dir = fs_dirname(j->log_path);
        int r2 = fs_mkdirs(dir, e);
        free(dir);
        if (r2 < 0)
            goto out;
    }
    if (j->xen_image) {
        const char *files[][2] = { { j->xen_image, j->xen_sha256 },
                                   { j->kernel_image, j->kernel_sha256 },
                                   { j->initramfs, j->initramfs_sha256 } };
        struct utsname u;
        /* on another host the images must be the ones the coordinator prepared */
        for (size_t i = 0; i < 3; i++) {
            char sha[SHA256_HEX_LEN + 1];
            if (!files[i][1])
                continue;
            if (sha256_file_hex(files[i][0], sha, NULL) < 0 || strcmp(sha, files[i][1])) {
                o->stop = 1;
                o->reason = xasprintf("%s is missing or not the image the coordinator prepared "
                                      "(sha256 %.16s expected): share the cache or let the "
                                      "matrix send it",
                                      files[i][0], files[i][1]);
                goto done;
            }
        }
        if (uname(&u) == 0) {
            o->hostname = xstrdup(u.nodename);
            o->l0_kernel = xstrdup(u.release);
        }
        o->accel = dupn(j->accel);
        o->cpu_model = dupn(j->cpu_model);
        prepared_spec(cfg, j, &ts);
        if (j->snapshot_mode) {
            ts.snap = snap_kind(j->snapshot_mode);
            ts.snap_path = j->snapshot;
            ts.start_words = j->start_words;
        }
    } else {
        if (j->build_cmd) {
            r = build_step(j, &built, &why, e);
            if (r < 0)
                goto out;
            if (r > 0) {
                o->verdict = VERDICT_SKIP;
                o->reason = why;
                why = NULL;
                goto done;
            }
            {
                char sha[SHA256_HEX_LEN + 1];
                if (sha256_file_hex(built, sha, NULL) == 0)
                    o->artifact_sha256 = xstrdup(sha);
            }
        }
        job_request(cfg, j, built, &rq, &spec_owned);
        if (run_prepare(cfg, &rq, NULL, &plan, &pe) < 0) {
            /* a source that does not build is untestable; anything else stops the caller */
            o->verdict = pe.code == ERR_BUILD ? VERDICT_SKIP : VERDICT_INFRA;
            o->stop = pe.code != ERR_BUILD;
            o->reason = xstrdup(pe.msg);
            goto done;
        }
        planned = 1;
        describe(&plan, o);
        run_qemu_cfg(&plan, j->log_path, &ts.qemu);
        if (plan.snap_path) { /* a trial of its own: reuse the machine if it was saved */
            /* nothing else saves this plan's machine from here: never NULL */
            ts.snap = snap_kind(j->snapshot_mode && !strcmp(j->snapshot_mode, "boot")
                                    ? "boot"
                                    : run_plan_snap_mode(&plan, 1));
            ts.snap_path = plan.snap_path;
            ts.start_words = start_words = run_plan_start_words(&plan, 1);
        }
        ts.boot_timeout_s = plan.boot_timeout_s;
        ts.run_timeout_s = plan.run_timeout_s;
    }
    ts.qemu.serial_log = j->log_path;
    ts.backend = j->backend ? j->backend : cfg->lab_backend;
    ts.libvirt_uri = j->libvirt_uri ? j->libvirt_uri : cfg->libvirt_uri;
    ts.shutdown_s = cfg->shutdown_s;
    ts.log_cap = (size_t)cfg->console_log_mb << 20;
    ts.progress = progress;
    ts.progress_ctx = ctx;
    if (trial_run(&ts, &tr, &pe) < 0) {
        o->stop = 1;
        o->reason = xstrdup(pe.msg);
        goto done;
    }
    if (tr.snap_failed) { /* never a verdict from a doubtful snapshot: boot, and save again */
        log_warn("snapshot", "%s; booting fresh instead (and saving it again)", tr.snap_note);
        failed_restore = tr.snap_note;
        tr.snap_note = NULL;
        trial_result_free(&tr);
        ts.snap = SNAP_MAKE;
        if (trial_run(&ts, &tr, &pe) < 0) {
            o->stop = 1;
            o->reason = xstrdup(pe.msg);
            goto done;
        }
    }
    if (tr.snap_note && !tr.snap_failed)
        log_warn("snapshot", "%s", tr.snap_note);
    if (tr.snap_saved) { /* the cache holds [run] snapshots_keep machines (~115 MiB each) */
        char *dir = fs_dirname(ts.snap_path);
        int n = trial_snapshots_prune(dir, cfg->run_snapshots_keep);
        if (n > 0)
            log_info("snapshot", "removed %d least recently used snapshot%s from %s", n,
                     n == 1 ? "" : "s", dir);
        free(dir);
    }
    if (ts.snap != SNAP_NONE) {
        const char *base = ts.snap_path ? strrchr(ts.snap_path, '/') : NULL;
        base = base ? base + 1 : ts.snap_path;
        o->snapshot = ts.snap == SNAP_RESTORE ? xasprintf("restored %.12s", base)
                      : tr.snap_saved         ? xasprintf("made %.12s", base)
                                              : xstrdup("fresh");
        if (failed_restore) { /* the caller warns where the user sees it */
            char *s = xasprintf("%s; " TRIAL_SNAP_BEFORE "%s", o->snapshot, failed_restore);
            free(o->snapshot);
            o->snapshot = s;
        }
    }
    ran = 1;
    o->verdict = tr.v.kind;
    o->reason = dupn(tr.v.reason);
    o->iterations = tr.v.iterations;
    o->corruptions = tr.v.corruptions;
    o->mismatches = tr.v.mismatches;
    o->deaths = tr.v.deaths;
    o->klog_faults = tr.v.klog_faults;
    o->evidence_json = evidence_json(&tr.v);
    o->places_json = tr.v.places_json ? xstrdup(tr.v.places_json) : NULL;
    o->wall_ms = tr.wall_ms;
    o->boot_ms = tr.boot_ms;
    o->host_failure = tr.qemu_early_exit;
done:
    free(o->finished);
    o->finished = clock_iso_now();
    rc = 0;
out:
    if (ran)
        trial_result_free(&tr);
    if (planned)
        run_plan_free(&plan);
    free(built);
    free(why);
    free(spec_owned);
    free(failed_restore);
    free(start_words);
    return rc;
}

/* --- the outcome on the wire --- */

static void kv_s(struct jw *w, const char *k, const char *v)
{
    if (v)
        jw_kv_s(w, k, v);
}

char *trial_outcome_json(const struct trial_outcome *o)
{
    struct buf b = BUF_INIT;
    struct jw w;

    jw_init(&w, &b);
    jw_obj(&w);
    jw_kv_s(&w, "verdict", verdict_name(o->verdict));
    jw_kv_bool(&w, "stop", o->stop);
    jw_kv_bool(&w, "host_failure", o->host_failure);
    kv_s(&w, "reason", o->reason);
    jw_kv_int(&w, "iterations", o->iterations);
    jw_kv_int(&w, "corruptions", o->corruptions);
    jw_kv_int(&w, "mismatches", o->mismatches);
    jw_kv_int(&w, "deaths", o->deaths);
    jw_kv_int(&w, "klog_faults", o->klog_faults);
    jw_key(&w, "evidence");
    jw_raw(&w, o->evidence_json && *o->evidence_json ? o->evidence_json : "[]");
    if (o->places_json) {
        jw_key(&w, "places");
        jw_raw(&w, o->places_json);
    }
    kv_s(&w, "started", o->started);
    kv_s(&w, "finished", o->finished);
    jw_kv_int(&w, "wall_ms", o->wall_ms);
    jw_kv_int(&w, "boot_ms", o->boot_ms);
    kv_s(&w, "log", o->log_path);
    if (o->params_json) {
        jw_key(&w, "params");
        jw_raw(&w, o->params_json);
    }
    kv_s(&w, "xen_version", o->xen_version);
    kv_s(&w, "xen_package", o->xen_package);
    kv_s(&w, "xen_sha256", o->xen_sha256);
    kv_s(&w, "linux_version", o->linux_version);
    kv_s(&w, "linux_package", o->linux_package);
    kv_s(&w, "linux_sha256", o->linux_sha256);
    kv_s(&w, "initramfs_sha256", o->initramfs_sha256);
    kv_s(&w, "qemu_version", o->qemu_version);
    kv_s(&w, "accel", o->accel);
    kv_s(&w, "cpu_model", o->cpu_model);
    kv_s(&w, "l0_kernel", o->l0_kernel);
    kv_s(&w, "hostname", o->hostname);
    kv_s(&w, "qemu_cmd", o->qemu_cmd);
    kv_s(&w, "accel_note", o->accel_note);
    kv_s(&w, "artifact_sha256", o->artifact_sha256);
    kv_s(&w, "snapshot", o->snapshot);
    jw_end(&w);
    return buf_detach(&b, NULL);
}

static char *get_s(json_t *obj, const char *k)
{
    json_t *v = json_object_get(obj, k);
    return json_is_string(v) ? xstrdup(json_string_value(v)) : NULL;
}

static long long get_i(json_t *obj, const char *k, long long def)
{
    json_t *v = json_object_get(obj, k);
    return json_is_integer(v) ? (long long)json_integer_value(v) : def;
}

int trial_outcome_parse(const char *json, struct trial_outcome *o, struct err *e)
{
    json_error_t je;
    json_t *root = json_loads(json, 0, &je), *v;
    const char *verdict;
    int rc = -1;

    memset(o, 0, sizeof(*o));
    if (!root || !json_is_object(root)) {
        err_set(e, ERR_PROC, "a trial's result is not a JSON object (%s at line %d)",
                root ? "not an object" : je.text, je.line);
        goto out;
    }
    v = json_object_get(root, "verdict");
    verdict = json_is_string(v) ? json_string_value(v) : "";
    if (!strcmp(verdict, "pass"))
        o->verdict = VERDICT_PASS;
    else if (!strcmp(verdict, "fail"))
        o->verdict = VERDICT_FAIL;
    else if (!strcmp(verdict, "infra"))
        o->verdict = VERDICT_INFRA;
    else if (!strcmp(verdict, "skip"))
        o->verdict = VERDICT_SKIP;
    else {
        err_set(e, ERR_PROC, "a trial's result has no valid verdict ('%s')", verdict);
        goto out;
    }
    o->stop = json_is_true(json_object_get(root, "stop"));
    o->host_failure = json_is_true(json_object_get(root, "host_failure"));
    o->reason = get_s(root, "reason");
    o->iterations = get_i(root, "iterations", 0);
    o->corruptions = get_i(root, "corruptions", 0);
    o->mismatches = get_i(root, "mismatches", 0);
    o->deaths = get_i(root, "deaths", 0);
    o->klog_faults = get_i(root, "klog_faults", 0);
    v = json_object_get(root, "evidence");
    o->evidence_json = json_is_array(v) ? json_dumps(v, JSON_COMPACT) : xstrdup("[]");
    v = json_object_get(root, "places");
    o->places_json = json_is_object(v) ? json_dumps(v, JSON_COMPACT) : NULL;
    v = json_object_get(root, "params");
    o->params_json = json_is_object(v) ? json_dumps(v, JSON_COMPACT) : NULL;
    o->started = get_s(root, "started");
    o->finished = get_s(root, "finished");
    o->wall_ms = get_i(root, "wall_ms", 0);
    o->boot_ms = get_i(root, "boot_ms", -1);
    o->log_path = get_s(root, "log");
    o->xen_version = get_s(root, "xen_version");
    o->xen_package = get_s(root, "xen_package");
    o->xen_sha256 = get_s(root, "xen_sha256");
    o->linux_version = get_s(root, "linux_version");
    o->linux_package = get_s(root, "linux_package");
    o->linux_sha256 = get_s(root, "linux_sha256");
    o->initramfs_sha256 = get_s(root, "initramfs_sha256");
    o->qemu_version = get_s(root, "qemu_version");
    o->accel = get_s(root, "accel");
    o->cpu_model = get_s(root, "cpu_model");
    o->l0_kernel = get_s(root, "l0_kernel");
    o->hostname = get_s(root, "hostname");
    o->qemu_cmd = get_s(root, "qemu_cmd");
    o->accel_note = get_s(root, "accel_note");
    o->artifact_sha256 = get_s(root, "artifact_sha256");
    o->snapshot = get_s(root, "snapshot");
    rc = 0;
out:
    if (rc < 0)
        trial_outcome_free(o);
    json_decref(root);
    return rc;
}

char *trial_progress_json(const struct trial_progress *p)
{
    return xasprintf("{\"stage\":%d,\"elapsed_ms\":%lld,\"done\":%lld,\"total\":%lld,"
                     "\"events\":%lld}",
                     (int)p->stage, p->elapsed_ms, p->done, p->total, p->events);
}

int trial_progress_parse(const char *json, struct trial_progress *p)
{
    json_t *root = json_loads(json, 0, NULL);
    long long stage;

    memset(p, 0, sizeof(*p));
    if (!json_is_object(root)) {
        json_decref(root);
        return -1;
    }
    stage = get_i(root, "stage", TRIAL_BOOT);
    p->stage = stage >= TRIAL_BOOT && stage <= TRIAL_DONE ? (enum trial_stage)stage : TRIAL_BOOT;
    p->elapsed_ms = get_i(root, "elapsed_ms", 0);
    p->done = get_i(root, "done", 0);
    p->total = get_i(root, "total", 0);
    p->events = get_i(root, "events", 0);
    json_decref(root);
    return 0;
}
