#include "lab/trial.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lab/domxml.h"
#include "lab/libvirt.h"
#include "lab/qmp.h"
#include "images/payload_priv.h"
#include "util/sha256.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/sv.h"
#include "util/xalloc.h"

const char *trial_stage_name(enum trial_stage s)
{
    switch (s) {
    case TRIAL_BOOT: return "boot";
    case TRIAL_RUN: return "running";
    case TRIAL_SHUTDOWN: return "shutdown";
    case TRIAL_DONE: return "done";
    }
    return "?";
}

void trial_result_free(struct trial_result *r)
{
    verdict_free(&r->v);
    free(r->qemu_log);
    r->qemu_log = NULL;
    free(r->snap_note);
    r->snap_note = NULL;
}

struct watch {
    const struct trial_spec *t;
    struct buf log; /* console so far (capped) */
    size_t scanned; /* bytes of log already split into lines */
    int fd;         /* serial log, opened once QEMU created it */
    enum trial_stage stage;
    int ready; /* snapshot trials: the guest said PVLAB-READY */
    long long start_ms, begin_ms, end_ms;
    struct trial_progress prog;
};

/* Reacts to one complete console line: stage changes and progress. */
static void watch_line(struct watch *w, const char *line, size_t n, long long now)
{
    int tagged = verdict_line_is_tagged(line, n); /* a domU's BEGIN/END are not the trial's */

    if (!tagged && w->stage == TRIAL_BOOT && memmem(line, n, "PVLAB-READY", 11)) {
        w->ready = 1;
    } else if (!tagged && w->stage == TRIAL_BOOT && memmem(line, n, "PVLAB-BEGIN", 11)) {
        w->stage = TRIAL_RUN;
        w->begin_ms = now;
    } else if (!tagged && memmem(line, n, "PVLAB-END", 9) && w->stage < TRIAL_SHUTDOWN) {
        w->stage = TRIAL_SHUTDOWN;
        w->end_ms = now;
    } else if (memmem(line, n, "PVLAB-EVENT", 11) || verdict_is_klog_fault(line, n)) {
        w->prog.events++;
    } else {
        const char *tag = memmem(line, n, "PVLAB-PROGRESS", 14);
        struct json_flat j;
        char *js;
        if (!tag)
            return;
        js = xstrndup(tag + 14, n - (size_t)(tag + 14 - line));
        if (json_flat_parse(js, &j, NULL) == 0) {
            w->prog.done = (long long)json_flat_num(&j, "done", (double)w->prog.done);
            w->prog.total = (long long)json_flat_num(&j, "total", (double)w->prog.total);
            json_flat_free(&j);
        }
        free(js);
    }
}

/* Reads what QEMU appended to the serial log and feeds complete lines to watch_line. */
static void watch_read(struct watch *w, long long now)
{
    char chunk[65536];
    ssize_t r;

    if (w->fd < 0) {
        w->fd = open(w->t->qemu.serial_log, O_RDONLY | O_CLOEXEC);
        if (w->fd < 0)
            return;
    }
    while ((r = read(w->fd, chunk, sizeof(chunk))) > 0) {
        buf_add(&w->log, chunk, (size_t)r);
        if (w->log.truncated)
            break;
    }
    for (;;) {
        char *start = w->log.data + w->scanned;
        char *nl = memchr(start, '\n', w->log.len - w->scanned);
        if (!nl)
            break;
        watch_line(w, start, (size_t)(nl - start), now);
        w->scanned = (size_t)(nl + 1 - w->log.data);
    }
}

/* The console log's directory changed: drain the inotify events, read what QEMU wrote. */
static int on_console(struct proc_loop *l, int fd, short revents, void *ctx, struct err *e)
{
    char events[4096];

    (void)l;
    (void)revents;
    (void)e;
    while (read(fd, events, sizeof(events)) > 0)
        ;
    watch_read(ctx, proc_now_ms());
    return 0;
}

/*
 * Writes the START line to the guest's console socket and returns the connection: it must stay
 * open, and be drained (console_drain), or QEMU drops what is still unread and stalls the port.
 */
static int send_start(const char *sock, const char *words, struct err *e)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    char *line = xasprintf("PVLAB-START %s\n", words);
    size_t n = strlen(line);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), rc = -1;

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        write(fd, line, n) != (ssize_t)n) {
        err_sys(e, errno, "cannot send the START line to the guest's console %s", sock);
        if (fd >= 0)
            close(fd);
    } else {
        rc = fd;
    }
    free(line);
    return rc;
}

/* The console socket's copy of the output: read and dropped (the log file has it). */
static int console_drain(struct proc_loop *l, int fd, short revents, void *ctx, struct err *e)
{
    char chunk[65536];
    ssize_t r = read(fd, chunk, sizeof(chunk));

    (void)ctx;
    (void)e;
    if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
        proc_loop_remove_fd(l, fd);
    (void)revents;
    return 0;
}

/* SNAP_MAKE at READY: stop, migrate to a temporary file, publish it with its sha256, resume. */
static int save_snapshot(const struct trial_spec *t, const char *qmp_sock, struct err *e)
{
    static const char *const moving[] = { "none",       "setup",          "active",      "device",
                                          "cancelling", "pre-switchover", "wait-unplug", NULL };
    struct qmp q;
    char *tmp = xasprintf("%s.tmp.%ld", t->snap_path, (long)getpid()), *cmd = NULL;
    char sha[SHA256_HEX_LEN + 2], status[32] = "";
    char *side = xasprintf("%s.sha256", t->snap_path);
    int rc = -1;

    if (qmp_open(&q, qmp_sock, 10000, e) < 0)
        goto out_free;
    cmd = xasprintf("{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"exec:cat > %s\"}}", tmp);
    if (qmp_cmd(&q, "{\"execute\":\"stop\"}", 10000, NULL, e) < 0 ||
        qmp_cmd(&q, cmd, 10000, NULL, e) < 0)
        goto out;
    if (qmp_poll(&q, "query-migrate", moving, 300000, status, sizeof(status), e) < 0)
        goto out;
    if (strcmp(status, "completed")) {
        err_set(e, ERR_PROC, "saving the machine ended '%s'", status);
        goto out;
    }
    if (sha256_file_hex(tmp, sha, e) < 0 || fs_commit_tmp(tmp, t->snap_path, e) < 0)
        goto out;
    strcat(sha, "\n");
    if (fs_write_atomic(side, sha, strlen(sha), e) < 0)
        goto out;
    rc = 0;
out:
    /* the trial goes on from here, saved or not */
    if (qmp_cmd(&q, "{\"execute\":\"cont\"}", 10000, NULL, rc < 0 ? NULL : e) < 0)
        rc = -1;
    qmp_close(&q);
out_free:
    unlink(tmp);
    free(tmp);
    free(cmd);
    free(side);
    return rc;
}

int trial_snapshot_saved(const char *snap_path)
{
    char *side = xasprintf("%s.sha256", snap_path);
    int saved = fs_exists(snap_path) && fs_exists(side);

    free(side);
    return saved;
}

struct snap_file {
    char *name;
    struct timespec used;
};

static int snap_newer_first(const void *a, const void *b)
{
    const struct timespec *x = &((const struct snap_file *)a)->used;
    const struct timespec *y = &((const struct snap_file *)b)->used;
    if (x->tv_sec != y->tv_sec)
        return x->tv_sec < y->tv_sec ? 1 : -1;
    return x->tv_nsec < y->tv_nsec ? 1 : x->tv_nsec > y->tv_nsec ? -1 : 0;
}

int trial_snapshots_prune(const char *dir, int keep)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    struct snap_file *f = NULL;
    size_t n = 0, cap = 0;
    int removed = 0;

    if (!d)
        return 0;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        const char *tmp = strstr(de->d_name, ".mig.tmp.");
        struct stat sb;
        char *path;
        if (tmp) { /* being written by PID, or left by one killed while saving */
            long pid = strtol(tmp + 9, NULL, 10);
            if (pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH) {
                path = xasprintf("%s/%s", dir, de->d_name);
                removed += unlink(path) == 0;
                free(path);
            }
            continue;
        }
        if (len < 5 || strcmp(de->d_name + len - 4, ".mig"))
            continue; /* records */
        path = xasprintf("%s/%s", dir, de->d_name);
        if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
            if (n == cap)
                f = xrealloc(f, (cap = cap ? 2 * cap : 16) * sizeof(*f));
            f[n].name = path;
            f[n++].used = sb.st_mtim;
        } else {
            free(path);
        }
    }
    closedir(d);
    qsort(f, n, sizeof(*f), snap_newer_first);
    for (size_t i = 0; i < n; i++) {
        if ((int)i >= keep) { /* a trial restoring it now has it open: unlinking is safe */
            char *side = xasprintf("%s.sha256", f[i].name);
            char *boot = xasprintf("%s" TRIAL_SNAP_BOOT_LOG, f[i].name);
            unlink(side);
            unlink(boot);
            removed += unlink(f[i].name) == 0;
            free(side);
            free(boot);
        }
        free(f[i].name);
    }
    free(f);
    return removed;
}

/* Why the snapshot file cannot be restored (missing, no record, bytes differ), or NULL. */
static const char *snapshot_problem(const char *path)
{
    char *side = xasprintf("%s.sha256", path);
    const char *why = payload_cached_problem(path, side, (char[SHA256_HEX_LEN + 1]){ 0 });
    free(side);
    return why;
}

/*
 * A restored trial's console log starts with the boot its snapshot was saved from (when that
 * was kept) and a line saying so; QEMU appends the rest. Nothing of it is the trial's own run.
 */
static int restored_log_head(const struct trial_spec *t, struct err *e)
{
    char *boot = xasprintf("%s" TRIAL_SNAP_BOOT_LOG, t->snap_path), *now = clock_iso_now();
    const char *base = strrchr(t->snap_path, '/');
    struct buf b = BUF_INIT;
    int rc;

    if (buf_read_file(&b, boot, NULL) < 0)
        buf_adds(&b, "(the console of the boot that saved this machine was not kept)\n");
    buf_addf(&b,
             "pvlab: %s: restored the machine of snapshot %.12s; the lines above are the "
             "boot it was saved from, the lines below this trial's own\n",
             now, base ? base + 1 : t->snap_path);
    rc = fs_write_atomic(t->qemu.serial_log, b.data, b.len, e);
    buf_release(&b);
    free(boot);
    free(now);
    return rc;
}

/* SNAP_RESTORE after QEMU started: wait until the state is loaded, then resume. */
static int restore_wait(const char *qmp_sock, struct err *e)
{
    static const char *const loading[] = { "inmigrate", NULL };
    struct qmp q;
    char status[32] = "";
    int rc = -1;

    if (qmp_open(&q, qmp_sock, 30000, e) < 0)
        return -1;
    if (qmp_poll(&q, "query-status", loading, 120000, status, sizeof(status), e) < 0)
        goto out;
    if (strcmp(status, "paused") && strcmp(status, "running")) {
        err_set(e, ERR_PROC, "QEMU did not load the snapshot (status %s)", status);
        goto out;
    }
    rc = qmp_cmd(&q, "{\"execute\":\"cont\"}", 10000, NULL, e);
out:
    qmp_close(&q);
    return rc;
}

/* The libvirt domain of this trial: named after its console log, owned by this process. */
static int start_domain(const struct trial_spec *t, struct libvirt **lv_r, const char *xml_log,
                        struct err *e)
{
    struct buf xml = BUF_INIT, name = BUF_INIT;
    struct domxml_owner o;
    const char *base = strrchr(t->qemu.serial_log, '/');
    char host[256] = "", *now = clock_iso_now(), *which = NULL;
    struct qemu_cfg q;
    int reaped = 0, rc = -1;

    base = base ? base + 1 : t->qemu.serial_log;
    buf_addf(&name, DOMXML_NAME_PREFIX "%ld-", (long)getpid());
    for (const char *p = base; *p && strcmp(p, ".log"); p++)
        buf_addch(&name, isalnum((unsigned char)*p) || *p == '-' ? *p : '-');
    gethostname(host, sizeof(host) - 1);
    o.name = name.data;
    o.pid = (long)getpid();
    o.host = host;
    o.started = now;
    q = t->qemu; /* libvirt wants the emulator's absolute path */
    if (q.binary && q.binary[0] != '/' && (which = fs_which(q.binary)) != NULL)
        q.binary = which;
    if (domxml_build(&q, &o, &xml, e) < 0 || libvirt_open(t->libvirt_uri, lv_r, e) < 0)
        goto out;
    if (libvirt_reap(*lv_r, &reaped, e) < 0)
        goto out;
    fs_write_atomic(xml_log, xml.data, xml.len, NULL);
    if (libvirt_start(*lv_r, xml.data, e) < 0)
        goto out;
    log_debug("lab", "started libvirt domain %s, console %s", name.data, t->qemu.serial_log);
    rc = 0;
out:
    buf_release(&xml);
    buf_release(&name);
    free(now);
    free(which);
    return rc;
}

int trial_run(const struct trial_spec *t, struct trial_result *r, struct err *e)
{
    struct sv argv = SV_INIT;
    struct proc qemu = PROC_INIT;
    struct proc_spec spec = { 0 };
    struct verdict_ctx vctx = { 0 };
    struct watch w;
    struct buf qemu_out = BUF_INIT;
    struct proc_loop *loop = NULL;
    char *qemu_failure = NULL;
    struct libvirt *lv = NULL;
    int lv_mode = t->backend && !strcmp(t->backend, "libvirt");
    struct qemu_cfg qc;
    char *con_sock = NULL, *qmp_sock = NULL;
    int started_guest = 0, con_fd = -1;
    enum trial_stage last_stage = TRIAL_DONE;
    long long last_progress = 0;
    int started = 0, ino = -1;
    int rc = -1;

    memset(r, 0, sizeof(*r));
    r->boot_ms = -1;
    r->qemu_exit = -1;
    memset(&w, 0, sizeof(w));
    w.t = t;
    w.fd = -1;
    buf_init(&w.log, t->log_cap ? t->log_cap : 64u << 20);
    w.stage = TRIAL_BOOT;

    qc = t->qemu;
    if (t->snap != SNAP_NONE) {
        con_sock = xasprintf("%s.con", t->qemu.serial_log);
        qmp_sock = xasprintf("%s.qmp", t->qemu.serial_log);
        unlink(con_sock);
        unlink(qmp_sock);
        qc.console_sock = con_sock;
        qc.qmp_sock = qmp_sock;
        if (strlen(con_sock) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
            err_set(e, ERR_USAGE, "console socket path %s is too long for a snapshot trial",
                    con_sock);
            goto out;
        }
        if (t->snap == SNAP_RESTORE) {
            const char *why = snapshot_problem(t->snap_path);
            if (why) {
                r->snap_failed = 1;
                r->snap_note = xasprintf("snapshot %s cannot be restored: %s", t->snap_path, why);
                rc = 0;
                goto out;
            }
            qc.incoming = t->snap_path;
        }
    }
    if (qemu_build_argv(&qc, &argv, e) < 0)
        goto out;
    r->qemu_log = xasprintf("%s.qemu", t->qemu.serial_log);
    if (unlink(t->qemu.serial_log) < 0 && errno != ENOENT) {
        err_sys(e, errno, "cannot remove old console log %s", t->qemu.serial_log);
        goto out;
    }
    unlink(r->qemu_log);
    if (t->snap == SNAP_RESTORE && restored_log_head(t, e) < 0)
        goto out;
    loop = proc_loop_new();
    if (lv_mode) {
        struct err le = ERR_INIT;
        w.start_ms = proc_now_ms();
        if (start_domain(t, &lv, r->qemu_log, &le) < 0) {
            if (!lv || le.code != ERR_PROC) { /* no connection, bad XML: nothing was tried */
                err_set(e, le.code, "%s", le.msg);
                goto out;
            }
            /* libvirt's QEMU failed to start: the host cannot run the guest */
            qemu_failure = xstrdup(le.msg);
            vctx.qemu_failure = qemu_failure;
            r->qemu_early_exit = 1;
            r->wall_ms = proc_now_ms() - w.start_ms;
            verdict_parse("", 0, &vctx, &r->v);
            rc = 0;
            goto out;
        }
        started = 1;
    } else {
        spec.argv = (const char *const *)sv_argv(&argv);
        spec.log_path = r->qemu_log;
        spec.grace_ms = 2000;
        if (proc_start(&spec, &qemu, e) < 0)
            goto out;
        started = 1;
        w.start_ms = qemu.start_ms;
        log_debug("lab", "started QEMU pid %d, console %s", (int)qemu.pid, t->qemu.serial_log);
        if (t->snap == SNAP_RESTORE) {
            struct err re = ERR_INIT;
            if (restore_wait(qmp_sock, &re) < 0 ||
                (con_fd = send_start(con_sock, t->start_words, &re)) < 0 ||
                proc_loop_add_fd(loop, con_fd, POLLIN, console_drain, NULL, &re) < 0) {
                r->snap_failed = 1;
                r->snap_note = xasprintf("snapshot %s was not restored: %s", t->snap_path, re.msg);
                proc_kill(&qemu);
                rc = 0;
                goto out;
            }
            r->snap_ms = proc_now_ms() - qemu.start_ms;
            utimensat(AT_FDCWD, t->snap_path, NULL, 0); /* used now: pruned last */
            started_guest = 1;
        }
        /* one poll for QEMU's end and the console log's growth (inotify on its directory) */
        if (proc_loop_add(loop, &qemu, e) < 0)
            goto out;
    }
    ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (ino >= 0) {
        char *dir = fs_dirname(t->qemu.serial_log);
        if (inotify_add_watch(ino, dir, IN_MODIFY | IN_CREATE) < 0 ||
            proc_loop_add_fd(loop, ino, POLLIN, on_console, &w, e) < 0) {
            close(ino);
            ino = -1;
        }
        free(dir);
    }
    for (;;) {
        long long now, limit_ms = 0;
        int exited, r2;

        /* wake at least every 250 ms: progress, deadlines, and a console inotify missed */
        r2 = proc_loop_run(loop, 250, e);
        if (r2 < 0)
            goto out;
        exited = lv_mode ? !libvirt_running(lv) : proc_loop_ended(loop) != NULL;
        if (lv_mode && !exited && proc_interrupted()) { /* QEMU mode: proc kills its child */
            vctx.interrupted = 1;
            libvirt_destroy(lv);
            break;
        }
        now = proc_now_ms();
        watch_read(&w, now);
        w.prog.stage = exited ? TRIAL_DONE : w.stage;
        w.prog.elapsed_ms = now - w.start_ms;
        if (t->progress && (exited || w.prog.stage != last_stage || now - last_progress >= 250)) {
            t->progress(t->progress_ctx, &w.prog);
            last_stage = w.prog.stage;
            last_progress = now;
        }
        if (exited)
            break;
        if (t->snap != SNAP_NONE && !started_guest && w.ready) {
            struct err se = ERR_INIT;
            long long t0 = proc_now_ms();
            if (t->snap == SNAP_MAKE) {
                if (save_snapshot(t, qmp_sock, &se) == 0) {
                    /* the boot's console, for the logs of the trials that restore it */
                    char *boot = xasprintf("%s" TRIAL_SNAP_BOOT_LOG, t->snap_path);
                    if (fs_write_atomic(boot, w.log.data, w.scanned, &se) < 0) {
                        log_warn("snapshot", "%s", se.msg);
                        err_clear(&se);
                    }
                    free(boot);
                    r->snap_saved = 1;
                    r->snap_ms = proc_now_ms() - t0;
                } else {
                    r->snap_note = xasprintf("the machine was not saved: %s", se.msg);
                    err_clear(&se);
                }
            }
            started_guest = 1;
            if ((con_fd = send_start(con_sock, t->start_words, &se)) < 0 ||
                proc_loop_add_fd(loop, con_fd, POLLIN, console_drain, NULL, &se) < 0) {
                r->snap_note = xstrdup(se.msg);
                proc_kill(&qemu);
                break;
            }
        }
        if (w.log.truncated) {
            vctx.log_truncated = 1;
            if (lv_mode)
                libvirt_destroy(lv);
            else
                proc_kill(&qemu);
            break;
        }
        switch (w.stage) {
        case TRIAL_BOOT: limit_ms = w.start_ms + (long long)t->boot_timeout_s * 1000; break;
        case TRIAL_RUN: limit_ms = w.begin_ms + (long long)t->run_timeout_s * 1000; break;
        case TRIAL_SHUTDOWN: limit_ms = w.end_ms + (long long)t->shutdown_s * 1000; break;
        case TRIAL_DONE: break;
        }
        if (limit_ms && now >= limit_ms) {
            if (w.stage != TRIAL_SHUTDOWN) {
                vctx.timed_out = 1;
                vctx.timeout_what = trial_stage_name(w.stage);
                vctx.timeout_s = w.stage == TRIAL_BOOT ? t->boot_timeout_s : t->run_timeout_s;
            } else {
                log_debug("lab", "guest finished but QEMU did not exit in %d s; stopping it",
                          t->shutdown_s);
            }
            if (lv_mode)
                libvirt_destroy(lv);
            else
                proc_kill(&qemu);
            break;
        }
    }
    watch_read(&w, proc_now_ms());
    r->wall_ms = proc_now_ms() - w.start_ms;
    r->boot_ms = w.begin_ms ? w.begin_ms - w.start_ms : -1;
    r->qemu_exit = lv_mode ? 0 : proc_exit_code(&qemu);
    vctx.interrupted = vctx.interrupted || qemu.end == PROC_INTERRUPTED;
    if (!vctx.interrupted && !vctx.timed_out && !vctx.log_truncated && r->qemu_exit != 0 &&
        w.stage != TRIAL_SHUTDOWN) {
        char *what = proc_describe(&qemu);
        buf_read_file(&qemu_out, r->qemu_log, NULL);
        buf_rtrim(&qemu_out);
        /* QEMU's last words say why it stopped: keep the end of its output */
        const char *tail = qemu_out.data + (qemu_out.len > 400 ? qemu_out.len - 400 : 0);
        qemu_failure = xasprintf("%s%s%s", what, qemu_out.len ? ": " : "", tail);
        vctx.qemu_failure = qemu_failure;
        r->qemu_early_exit = w.log.len == 0;
        free(what);
    }
    verdict_parse(w.log.data, w.log.len, &vctx, &r->v);
    rc = 0;
out:
    if (started && !lv_mode && qemu.end == PROC_RUNNING)
        proc_kill(&qemu);
    if (lv) {
        libvirt_destroy(lv);
        libvirt_close(lv);
    }
    proc_release(&qemu);
    if (ino >= 0) {
        proc_loop_remove_fd(loop, ino);
        close(ino);
    }
    if (con_fd >= 0) {
        proc_loop_remove_fd(loop, con_fd);
        close(con_fd);
    }
    proc_loop_free(loop);
    if (con_sock) {
        unlink(con_sock);
        unlink(qmp_sock);
    }
    free(con_sock);
    free(qmp_sock);
    if (w.fd >= 0)
        close(w.fd);
    free(qemu_failure);
    buf_release(&w.log);
    buf_release(&qemu_out);
    sv_clear(&argv);
    return rc;
}
