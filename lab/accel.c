#include "lab/accel.h"
#include "lab/accel_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "images/payload.h"
#include "lab/qemu.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/sha256.h"
#include "util/sv.h"
#include "util/xalloc.h"

/* Bump when the probe or the decision changes meaning: old cached answers are then ignored. */
#define ACCEL_CACHE_FORMAT 1
/* Deadline of the TCG probe: it is only a yardstick, and TCG on a loaded host is slow. */
#define TCG_PROBE_DEADLINE_MS 60000

static const char *const markers[] = { "PVLAB-PROBE-START", "PVLAB-PROBE-IRQ", "PVLAB-PROBE-LONG",
                                       "PVLAB-PROBE-OK" };
static const char *const stage_names[] = { "start", "irq", "long", "ok" };
/* What the guest was doing when it stopped after each marker (index: markers seen). */
static const char *const stuck_at[] = {
    "printed nothing",
    "started but no timer interrupt arrived",
    "took timer interrupts but did not reach long mode",
    "reached long mode but did not finish its timed loop",
};

void accel_probe_free(struct accel_probe *p)
{
    free(p->reason);
    free(p->stage);
    p->reason = p->stage = NULL;
}

void accel_choice_free(struct accel_choice *a)
{
    free(a->accel);
    free(a->cpu_model);
    free(a->note);
    accel_probe_free(&a->kvm);
    accel_probe_free(&a->tcg);
    memset(a, 0, sizeof(*a));
}

/* QEMU's stderr as one line: its lines joined with "; ", at most 300 bytes. */
static char *one_line(const char *s)
{
    struct buf b = BUF_INIT;

    for (const char *p = s; *p;) {
        size_t n = strcspn(p, "\n");
        if (n) {
            if (b.len)
                buf_adds(&b, "; ");
            buf_add(&b, p, n);
        }
        p += n;
        if (*p)
            p++;
    }
    if (b.len > 300) {
        buf_setlen(&b, 297);
        buf_adds(&b, "...");
    }
    return buf_detach(&b, NULL);
}

int accel_probe_reason(const char *out, int timed_out, int deadline_ms, const char *qemu_status,
                       const char *qemu_stderr, struct accel_probe *p)
{
    int seen = 0;
    char *err_line = one_line(qemu_stderr ? qemu_stderr : "");

    for (int i = 0; i < 4; i++)
        if (strstr(out, markers[i]))
            seen = i + 1;
    p->stage = xstrdup(seen ? stage_names[seen - 1] : "none");
    p->ok = seen == 4;
    if (p->ok)
        p->reason = NULL;
    else if (strstr(out, "PVLAB-PROBE-FAULT"))
        p->reason = xasprintf("a probe guest took an unexpected exception (it %s)", stuck_at[seen]);
    else if (timed_out)
        p->reason = xasprintf("a probe guest %s in %d s", stuck_at[seen], deadline_ms / 1000);
    else
        p->reason = xasprintf("QEMU %s on a probe guest that %s%s%s", qemu_status, stuck_at[seen],
                              *err_line ? ": " : "", err_line);
    free(err_line);
    return p->ok;
}

int accel_probe_run(const char *qemu, const char *machine, const char *accel, const char *cpu,
                    int deadline_ms, struct accel_probe *p, struct err *e)
{
    struct sv argv = SV_INIT;
    struct proc_spec spec = { 0 };
    struct proc pr = PROC_INIT;
    struct buf out = BUF_INIT;
    char *image = payload_guest_file("accel-probe");
    char *status = NULL;
    int rc = -1;

    memset(p, 0, sizeof(*p));
    p->ms = -1;
    if (!fs_exists(image)) {
        err_set(e, ERR_TOOL, "the accelerator probe guest %s is missing; build it with `make`",
                image);
        goto out;
    }
    if (qemu_build_probe_argv(qemu, machine, accel, cpu, image, &argv, e) < 0)
        goto out;
    buf_init(&out, 64 << 10);
    spec.argv = (const char *const *)sv_argv(&argv);
    spec.out = &out;
    spec.timeout_ms = deadline_ms;
    spec.grace_ms = 500;
    if (proc_start(&spec, &pr, e) < 0 || proc_wait(&pr, e) < 0)
        goto out;
    p->ms = proc_now_ms() - pr.start_ms;
    status = proc_describe(&pr);
    /* proc_describe starts with the program's name; the reason says "QEMU" instead */
    {
        const char *s = status;
        if (!strncmp(s, pr.name, strlen(pr.name)))
            s += strlen(pr.name) + 1;
        char *err_out = proc_err_tail(&pr, 0, 0);
        accel_probe_reason(out.data, pr.end == PROC_TIMED_OUT, deadline_ms, s, err_out, p);
        free(err_out);
    }
    if (pr.end == PROC_INTERRUPTED) {
        err_set(e, ERR_INTERRUPTED, "interrupted while probing the accelerator");
        goto out;
    }
    log_debug("accel", "probe %s/%s: %s in %lld ms%s%s", accel, cpu, p->ok ? "ok" : "failed", p->ms,
              p->reason ? ": " : "", p->reason ? p->reason : "");
    rc = 0;
out:
    proc_kill(&pr);
    proc_release(&pr);
    buf_release(&out);
    sv_clear(&argv);
    free(status);
    free(image);
    return rc;
}

/* Seconds with two decimals, for notes. */
static double secs(long long ms)
{
    return (double)ms / 1000.0;
}

int accel_decide(enum accel_policy policy, const char *device, const char *device_problem,
                 const struct accel_probe *kvm, const struct accel_probe *tcg, char **accel_r,
                 char **note_r, struct err *e)
{
    *accel_r = *note_r = NULL;
    if (policy == ACCEL_TCG) {
        *accel_r = xstrdup("tcg");
        *note_r = xstrdup("tcg: accel = tcg in the configuration");
        return 0;
    }
    if (device_problem) {
        if (policy == ACCEL_KVM) {
            err_set(e, ERR_USAGE, "accel = kvm but %s; set accel = tcg (or auto) in [qemu]",
                    device_problem);
            return -1;
        }
        *accel_r = xstrdup("tcg");
        *note_r = xasprintf("kvm: %s; using tcg", device_problem);
        return 0;
    }
    if (!kvm->ok) {
        if (policy == ACCEL_KVM) {
            err_set(e, ERR_USAGE, "accel = kvm but %s opens and %s; set accel = tcg in [qemu]",
                    device, kvm->reason ? kvm->reason : "the probe guest failed");
            return -1;
        }
        *accel_r = xstrdup("tcg");
        *note_r = xasprintf("kvm: %s opens but %s; using tcg", device,
                            kvm->reason ? kvm->reason : "the probe guest failed");
        return 0;
    }
    if (policy == ACCEL_KVM || !tcg || !tcg->ok || tcg->ms < 0) {
        *accel_r = xstrdup("kvm");
        *note_r = xasprintf("kvm: a probe guest ran in %.2f s under KVM; using kvm", secs(kvm->ms));
        return 0;
    }
    if (kvm->ms > tcg->ms) {
        *accel_r = xstrdup("tcg");
        *note_r = xasprintf("kvm: a probe guest took %.2f s under KVM but %.2f s under TCG; "
                            "using tcg",
                            secs(kvm->ms), secs(tcg->ms));
        return 0;
    }
    *accel_r = xstrdup("kvm");
    *note_r = xasprintf("kvm: a probe guest ran in %.2f s under KVM (%.2f s under TCG); using kvm",
                        secs(kvm->ms), secs(tcg->ms));
    return 0;
}

/* The cache key: everything that can change the answer on this host. */
static void cache_key(const struct config *c, const char *qemu, char key[SHA256_HEX_LEN + 1])
{
    struct buf b = BUF_INIT, boot = BUF_INIT;
    char *image = payload_guest_file("accel-probe");
    char img_sha[SHA256_HEX_LEN + 1] = "";
    struct stat st;

    buf_read_file(&boot, "/proc/sys/kernel/random/boot_id", NULL);
    buf_rtrim(&boot);
    buf_addf(&b, "format %d\nboot %s\nqemu %s\n", ACCEL_CACHE_FORMAT, boot.data, qemu);
    if (stat(qemu, &st) == 0)
        buf_addf(&b, "qemu-file %lld %lld\n", (long long)st.st_size, (long long)st.st_mtime);
    sha256_file_hex(image, img_sha, NULL);
    buf_addf(&b, "probe %s\nmachine %s\ncpu-kvm %s\ncpu-tcg %s\ndevice %s\n", img_sha, c->machine,
             c->cpu_kvm, c->cpu_tcg, c->kvm_device);
    sha256_hex_buf(b.data, b.len, key);
    buf_release(&b);
    buf_release(&boot);
    free(image);
}

static char *cache_path(const struct config *c, const char *key)
{
    return xasprintf("%s/host/accel-%.16s.json", c->cache_dir, key);
}

/* Reads a cached probe pair; returns 1 when found (kvm always, tcg when it was probed). */
static int cache_read(const char *path, struct accel_probe *kvm, struct accel_probe *tcg)
{
    struct buf b = BUF_INIT;
    struct json_flat j;
    int found = 0;

    if (buf_read_file(&b, path, NULL) < 0 || json_flat_parse(b.data, &j, NULL) < 0)
        goto out;
    if (json_flat_num(&j, "format", 0) == ACCEL_CACHE_FORMAT && json_flat_str(&j, "kvm_stage")) {
        const char *r;
        kvm->ok = json_flat_num(&j, "kvm_ok", 0) != 0;
        kvm->ms = (long long)json_flat_num(&j, "kvm_ms", -1);
        kvm->stage = xstrdup(json_flat_str(&j, "kvm_stage"));
        if ((r = json_flat_str(&j, "kvm_reason")))
            kvm->reason = xstrdup(r);
        if (json_flat_str(&j, "tcg_stage")) {
            tcg->ok = json_flat_num(&j, "tcg_ok", 0) != 0;
            tcg->ms = (long long)json_flat_num(&j, "tcg_ms", -1);
            tcg->stage = xstrdup(json_flat_str(&j, "tcg_stage"));
            if ((r = json_flat_str(&j, "tcg_reason")))
                tcg->reason = xstrdup(r);
        }
        found = 1;
    }
    json_flat_free(&j);
out:
    buf_release(&b);
    return found;
}

static void probe_json(struct jw *w, const char *pfx, const struct accel_probe *p)
{
    char k[32];

    if (!p->stage)
        return;
    snprintf(k, sizeof(k), "%s_ok", pfx);
    jw_kv_bool(w, k, p->ok);
    snprintf(k, sizeof(k), "%s_ms", pfx);
    jw_kv_int(w, k, p->ms);
    snprintf(k, sizeof(k), "%s_stage", pfx);
    jw_kv_s(w, k, p->stage);
    if (p->reason) {
        snprintf(k, sizeof(k), "%s_reason", pfx);
        jw_kv_s(w, k, p->reason);
    }
}

/* Keeps the probe results for the next run; a failure to write only costs a probe later. */
static void cache_write(const char *path, const struct accel_probe *kvm,
                        const struct accel_probe *tcg)
{
    struct buf b = BUF_INIT;
    struct err e = ERR_INIT;
    char *dir = fs_dirname(path);
    char *now = clock_iso_now();
    struct jw w;

    jw_init(&w, &b);
    jw_obj(&w);
    jw_kv_int(&w, "format", ACCEL_CACHE_FORMAT);
    jw_kv_s(&w, "probed", now);
    probe_json(&w, "kvm", kvm);
    probe_json(&w, "tcg", tcg);
    jw_end(&w);
    buf_addch(&b, '\n');
    if (fs_mkdirs(dir, &e) < 0 || fs_write_atomic(path, b.data, b.len, &e) < 0)
        log_warn("accel", "cannot cache the accelerator probe: %s", e.msg);
    buf_release(&b);
    free(dir);
    free(now);
}

/* NULL when the device opens read-write, else why not (malloc'd). */
static char *device_problem(const char *device)
{
    int fd = open(device, O_RDWR | O_CLOEXEC);

    if (fd >= 0) {
        close(fd);
        return NULL;
    }
    if (errno == ENOENT)
        return xasprintf("%s not present", device);
    return xasprintf("%s cannot be opened read-write (%s)", device, strerror(errno));
}

int accel_choose(const struct config *c, const char *qemu, int reprobe, struct accel_choice *out,
                 struct err *e)
{
    char key[SHA256_HEX_LEN + 1];
    char *path = NULL, *problem = NULL;
    int rc = -1, probed = 0;

    memset(out, 0, sizeof(*out));
    out->kvm.ms = out->tcg.ms = -1;
    if (c->accel != ACCEL_TCG)
        problem = device_problem(c->kvm_device);
    if (c->accel != ACCEL_TCG && !problem) {
        cache_key(c, qemu, key);
        path = cache_path(c, key);
        if (!reprobe && cache_read(path, &out->kvm, &out->tcg))
            out->cached = 1;
        if (!out->kvm.stage) {
            if (accel_probe_run(qemu, c->machine, "kvm", c->cpu_kvm, c->probe_timeout_s * 1000,
                                &out->kvm, e) < 0)
                goto out;
            probed = 1;
        }
        /* the yardstick, needed only when auto has to choose */
        if (c->accel == ACCEL_AUTO && out->kvm.ok && !out->tcg.stage) {
            if (accel_probe_run(qemu, c->machine, "tcg", c->cpu_tcg, TCG_PROBE_DEADLINE_MS,
                                &out->tcg, e) < 0)
                goto out;
            probed = 1;
        }
        if (probed) {
            out->cached = 0;
            cache_write(path, &out->kvm, &out->tcg);
        }
    }
    if (accel_decide(c->accel, c->kvm_device, problem, &out->kvm, &out->tcg, &out->accel,
                     &out->note, e) < 0)
        goto out;
    out->cpu_model = xstrdup(!strcmp(out->accel, "kvm") ? c->cpu_kvm : c->cpu_tcg);
    rc = 0;
out:
    free(problem);
    free(path);
    return rc;
}
