/* A run as JSON: what `pvlab show --json` prints and the reporter posts. */
#include "jobs/run.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/json.h"

/* The end of a console log, at most max bytes (from a line start when it can). */
static char *console_tail(const char *path, size_t max)
{
    struct buf b = BUF_INIT;
    char *r;
    int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;

    if (fd < 0)
        return NULL;
    {
        off_t size = lseek(fd, 0, SEEK_END);
        char chunk[65536];
        ssize_t n;
        lseek(fd, size > (off_t)max ? size - (off_t)max : 0, SEEK_SET);
        while ((n = read(fd, chunk, sizeof(chunk))) > 0)
            buf_add(&b, chunk, (size_t)n);
        close(fd);
        if (size > (off_t)max) {
            char *nl = memchr(b.data, '\n', b.len);
            if (nl && (size_t)(nl - b.data) < b.len / 2) {
                size_t skip = (size_t)(nl + 1 - b.data);
                memmove(b.data, b.data + skip, b.len - skip);
                buf_setlen(&b, b.len - skip);
            }
        }
    }
    r = buf_detach(&b, NULL);
    return r;
}

static void json_trial(struct jw *w, const struct trial_rec *t, size_t console_max)
{
    jw_obj(w);
    jw_kv_int(w, "idx", t->idx);
    jw_kv_s(w, "verdict", t->verdict);
    jw_kv_s(w, "reason", t->reason);
    jw_kv_int(w, "iterations", t->iterations);
    jw_kv_int(w, "corruptions", t->corruptions);
    jw_kv_int(w, "mismatches", t->mismatches);
    jw_kv_int(w, "deaths", t->deaths);
    jw_kv_int(w, "klog_faults", t->klog_faults);
    jw_key(w, "evidence");
    jw_raw(w, t->evidence_json && *t->evidence_json ? t->evidence_json : "[]");
    jw_kv_s(w, "started", t->started);
    jw_kv_s(w, "finished", t->finished);
    jw_kv_int(w, "wall_ms", t->wall_ms);
    jw_kv_int(w, "boot_ms", t->boot_ms);
    jw_kv_s(w, "log", t->log_path);
    jw_kv_s(w, "host", t->host);
    if (t->snapshot)
        jw_kv_s(w, "snapshot", t->snapshot);
    if (t->places_json && *t->places_json) {
        jw_key(w, "places");
        jw_raw(w, t->places_json);
    }
    if (console_max) {
        char *c = console_tail(t->log_path, console_max);
        jw_kv_s(w, "console", c);
        free(c);
    }
    jw_end(w);
}

void run_json(const struct run_rec *r, const struct trial_rec *t, size_t nt, size_t console_max,
              struct buf *out)
{
    struct jw w;

    jw_init(&w, out);
    jw_obj(&w);
    jw_kv_int(&w, "id", r->id);
    jw_kv_s(&w, "created", r->created);
    jw_kv_s(&w, "finished", r->finished);
    jw_kv_s(&w, "status", r->status);
    jw_kv_s(&w, "verdict", r->verdict);
    jw_kv_s(&w, "repro", r->repro);
    jw_key(&w, "params");
    jw_raw(&w, r->params_json);
    jw_kv_int(&w, "trials_planned", r->trials_planned);
    jw_key(&w, "counts");
    jw_obj(&w);
    jw_kv_int(&w, "pass", r->trials_pass);
    jw_kv_int(&w, "fail", r->trials_fail);
    jw_kv_int(&w, "infra", r->trials_infra);
    jw_kv_int(&w, "skip", r->trials_skip);
    jw_kv_int(&w, "iterations", r->iterations);
    jw_kv_int(&w, "corruptions", r->corruptions);
    jw_end(&w);
    jw_kv_dbl(&w, "rate_upper95", r->rate_upper95);
    jw_key(&w, "xen");
    jw_obj(&w);
    jw_kv_s(&w, "spec", r->xen_spec);
    jw_kv_s(&w, "package", r->xen_package);
    jw_kv_s(&w, "version", r->xen_version);
    jw_kv_s(&w, "sha256", r->xen_sha256);
    jw_end(&w);
    jw_key(&w, "linux");
    jw_obj(&w);
    jw_kv_s(&w, "spec", r->linux_spec);
    jw_kv_s(&w, "package", r->linux_package);
    jw_kv_s(&w, "version", r->linux_version);
    jw_kv_s(&w, "sha256", r->linux_sha256);
    jw_end(&w);
    jw_kv_s(&w, "initramfs_sha256", r->initramfs_sha256);
    jw_key(&w, "host");
    jw_obj(&w);
    jw_kv_s(&w, "qemu_version", r->qemu_version);
    jw_kv_s(&w, "accel", r->accel);
    jw_kv_s(&w, "accel_note", r->accel_note);
    jw_kv_s(&w, "cpu_model", r->cpu_model);
    jw_kv_s(&w, "l0_kernel", r->l0_kernel);
    jw_kv_s(&w, "hostname", r->hostname);
    jw_end(&w);
    jw_kv_s(&w, "qemu_cmd", r->qemu_cmd);
    {
        struct run_rates rr;
        run_rates(t, nt, &rr);
        jw_key(&w, "rates");
        jw_obj(&w);
        jw_kv_int(&w, "boots", rr.boots);
        jw_kv_int(&w, "boots_corrupt", rr.boots_corrupt);
        jw_kv_dbl(&w, "boot_share_lo95", rr.share_lo);
        jw_kv_dbl(&w, "boot_share_hi95", rr.share_hi);
        jw_kv_dbl(&w, "rate", rr.rate);
        jw_kv_dbl(&w, "rate_lo95", rr.rate_lo);
        jw_kv_dbl(&w, "rate_hi95", rr.rate_hi);
        jw_kv_dbl(&w, "dispersion", rr.dispersion);
        jw_end(&w);
    }
    jw_key(&w, "trials");
    jw_arr(&w);
    for (size_t i = 0; i < nt; i++)
        json_trial(&w, &t[i], console_max);
    jw_end(&w);
    jw_end(&w);
}
