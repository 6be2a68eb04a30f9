#include "jobs/remote.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/xalloc.h"

#define RETRIES 3 /* attempts of a trial, each on a host it has not failed on yet */

/* A trial in flight: its key and the word parallel runs it with (the joblog names the word). */
struct flight {
    char *key, *word;
    char *result; /* the latest "result" record its output carried */
};

struct remote {
    struct proc p; /* parallel */
    struct proc_loop *loop;
    int in_fd;  /* its stdin: job lines */
    int log_fd; /* its --joblog (our pipe at its fd 3): a line as each job ends */
    struct buf out, joblog;
    size_t out_scanned, log_scanned;
    struct flight *f;
    size_t nf;
    char *hosts; /* the filtered hosts file */
};

/* "4/ssh -p 22 u@h" -> slots 4, *login_r "ssh -p 22 u@h" and its words; ":" -> local. */
static int parse_login(const char *line, int *slots, const char **login_r, struct sv *words)
{
    size_t digits = strspn(line, "0123456789");

    *slots = 1;
    if (digits && line[digits] == '/') {
        *slots = atoi(line);
        line += digits + 1;
    }
    *login_r = line;
    sv_split(words, line, " \t");
    return words->n && *slots > 0 ? 0 : -1;
}

/* Whether `ssh ... host true` answers within the timeout (":" is always reachable). */
static int reachable(const struct sv *words, int timeout_s, char **why_r)
{
    struct sv argv = SV_INIT;
    struct proc_spec spec = { 0 };
    struct err e = ERR_INIT;
    char t[32];
    int ok;

    *why_r = NULL;
    if (words->n == 1 && !strcmp(words->v[0], ":"))
        return 1;
    if (strcmp(words->v[0], "ssh"))
        sv_push(&argv, "ssh");
    for (size_t i = 0; i + 1 < words->n; i++)
        sv_push(&argv, words->v[i]);
    snprintf(t, sizeof(t), "ConnectTimeout=%d", timeout_s);
    sv_pushv(&argv, (const char *const[]){ "-o", "BatchMode=yes", "-o", t, NULL });
    sv_push(&argv, words->v[words->n - 1]);
    sv_push(&argv, "true");
    spec.argv = (const char *const *)sv_argv(&argv);
    spec.timeout_ms = (timeout_s + 5) * 1000;
    spec.inherit_env = 1; /* ssh finds the user's agent and config */
    ok = proc_run(&spec, &e) == 0;
    if (!ok)
        *why_r = xstrdup(e.msg);
    sv_clear(&argv);
    return ok;
}

/* Writes the reachable hosts of the file to r->hosts; warns about the others. */
static int filter_hosts(struct remote *r, const struct remote_opts *o,
                        void (*warn)(void *, const char *), void *ctx, int *slots_r, struct err *e)
{
    struct buf in = BUF_INIT, outf = BUF_INIT;
    struct sv lines = SV_INIT;
    int total = 0, rc = -1;

    if (buf_read_file(&in, o->hosts_file, e) < 0) {
        err_prefix(e, "hosts file");
        goto out;
    }
    sv_split(&lines, in.data, "\n");
    for (size_t i = 0; i < lines.n; i++) {
        struct sv words = SV_INIT;
        const char *l = lines.v[i] + strspn(lines.v[i], " \t"), *login;
        char *why = NULL;
        int slots;
        if (!*l || *l == '#')
            continue;
        if (parse_login(l, &slots, &login, &words) < 0) {
            sv_clear(&words);
            continue;
        }
        if (reachable(&words, o->connect_timeout_s > 0 ? o->connect_timeout_s : 10, &why)) {
            buf_addf(&outf, "%d/%s\n", slots, login);
            total += slots;
        } else if (warn) {
            char *line = xasprintf("host '%s' cannot be reached, left out: %s", l, why);
            warn(ctx, line);
            free(line);
        }
        free(why);
        sv_clear(&words);
    }
    if (!total) {
        err_set(e, ERR_HOST,
                "no host of %s can be reached (ssh in batch mode: keys, not "
                "passwords); check them with ssh HOST true",
                o->hosts_file);
        goto out;
    }
    r->hosts = xasprintf("%s/hosts", o->workdir);
    if (fs_write_atomic(r->hosts, outf.data, outf.len, e) < 0)
        goto out;
    *slots_r = total;
    rc = 0;
out:
    buf_release(&in);
    buf_release(&outf);
    sv_clear(&lines);
    return rc;
}

/* Reads what parallel wrote to its job log (a line as each trial ends). */
static int on_joblog(struct proc_loop *l, int fd, short revents, void *ctx, struct err *e)
{
    struct remote *r = ctx;
    char chunk[8192];
    ssize_t n;

    (void)revents;
    (void)e;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        buf_add(&r->joblog, chunk, (size_t)n);
    if (n == 0)
        proc_loop_remove_fd(l, fd); /* parallel is gone: nothing more will come */
    return 0;
}

int remote_start(const struct remote_opts *o, void (*warn)(void *ctx, const char *line), void *ctx,
                 struct remote **r_r, int *slots_r, struct err *e)
{
    struct remote *r = xcalloc(1, sizeof(*r));
    struct sv argv = SV_INIT;
    struct proc_spec spec = { 0 };
    int in[2] = { -1, -1 }, lg[2] = { -1, -1 };
    char *cmd = NULL, *log = NULL;
    int rc = -1;

    *r_r = NULL;
    r->p = (struct proc)PROC_INIT;
    r->in_fd = r->log_fd = -1;
    buf_init(&r->out, 64u << 20);
    if (fs_mkdirs(o->workdir, e) < 0 || filter_hosts(r, o, warn, ctx, slots_r, e) < 0)
        goto out;
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(lg, O_CLOEXEC) < 0) {
        err_sys(e, errno, "cannot create pipes for GNU parallel");
        goto out;
    }
    sv_pushv(&argv, (const char *const[]){ "parallel", "--sshloginfile", r->hosts, "--retries", "3",
                                           "--line-buffer", "--tagstring", "{1}", "--colsep", " ",
                                           "--joblog", "/dev/fd/3", "--halt", "never", NULL });
    for (size_t i = 0; o->basefiles && o->basefiles[i]; i++) {
        sv_push(&argv, "--basefile");
        sv_push(&argv, o->basefiles[i]);
    }
    /* the remote side: one trial from its options word; exit 0 whenever it reported, so that
     * parallel retries only what was lost (ssh gone), never a trial that found corruption */
    cmd = xasprintf("%s trial --job {2} --result-fd 1 --exit-zero",
                    o->remote_pvlab ? o->remote_pvlab : "pvlab");
    sv_push(&argv, cmd);
    log = xasprintf("%s/parallel.log", o->workdir);
    spec.argv = (const char *const *)sv_argv(&argv);
    spec.out = &r->out;
    spec.log_path = log;
    spec.stdin_fd = in[0];
    spec.pass_fd = lg[1];
    spec.pass_fd_as = 3;
    spec.inherit_env = 1;
    if (proc_start(&spec, &r->p, e) < 0)
        goto out;
    close(in[0]);
    close(lg[1]);
    in[0] = lg[1] = -1;
    r->in_fd = in[1];
    r->log_fd = lg[0];
    in[1] = lg[0] = -1;
    fcntl(r->log_fd, F_SETFL, O_NONBLOCK);
    r->loop = proc_loop_new();
    if (proc_loop_add(r->loop, &r->p, e) < 0 ||
        proc_loop_add_fd(r->loop, r->log_fd, POLLIN, on_joblog, r, e) < 0)
        goto out;
    *r_r = r;
    r = NULL;
    rc = 0;
out:
    for (int i = 0; i < 2; i++) {
        if (in[i] >= 0)
            close(in[i]);
        if (lg[i] >= 0)
            close(lg[i]);
    }
    sv_clear(&argv);
    free(cmd);
    free(log);
    remote_stop(r);
    return rc;
}

int remote_submit(struct remote *r, const char *key, const struct trial_job *j, struct err *e)
{
    char *word = trial_job_word(j);
    char *line = xasprintf("%s %s\n", key, word);
    size_t len = strlen(line), off = 0;
    int rc = -1;

    while (off < len) {
        ssize_t w = write(r->in_fd, line + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            err_sys(e, errno, "cannot hand a trial to GNU parallel (did it exit? see its log)");
            goto out;
        }
        off += (size_t)w;
    }
    r->f = xrealloc(r->f, (r->nf + 1) * sizeof(*r->f));
    r->f[r->nf].key = xstrdup(key);
    r->f[r->nf].word = word;
    r->f[r->nf].result = NULL;
    r->nf++;
    word = NULL;
    rc = 0;
out:
    free(word);
    free(line);
    return rc;
}

void remote_close_input(struct remote *r)
{
    if (r && r->in_fd >= 0) {
        close(r->in_fd);
        r->in_fd = -1;
    }
}

static struct flight *by_key(struct remote *r, const char *key, size_t n)
{
    for (size_t i = 0; i < r->nf; i++)
        if (strlen(r->f[i].key) == n && !strncmp(r->f[i].key, key, n))
            return &r->f[i];
    return NULL;
}

/* Takes the "KEY\tresult {...}" lines of parallel's output. */
static void scan_output(struct remote *r)
{
    for (;;) {
        char *s = r->out.data + r->out_scanned;
        char *nl = memchr(s, '\n', r->out.len - r->out_scanned);
        char *tab;
        if (!nl)
            return;
        *nl = '\0';
        tab = strchr(s, '\t');
        if (tab && !strncmp(tab + 1, "result ", 7)) {
            struct flight *f = by_key(r, s, (size_t)(tab - s));
            if (f) {
                free(f->result);
                f->result = xstrdup(tab + 8);
            }
        }
        *nl = '\n';
        r->out_scanned = (size_t)(nl + 1 - r->out.data);
    }
}

/* "root@10.0.0.2:2222" for the sshlogin "ssh -p 2222 -i k root@10.0.0.2"; ":" for this host. */
static char *login_name(const char *login)
{
    struct sv w = SV_INIT;
    const char *port = NULL;
    char *r;

    sv_split(&w, login, " \t");
    for (size_t i = 0; i + 1 < w.n; i++)
        if (!strcmp(w.v[i], "-p"))
            port = w.v[i + 1];
    r = !w.n   ? xstrdup(login)
        : port ? xasprintf("%s:%s", w.v[w.n - 1], port)
               : xstrdup(w.v[w.n - 1]);
    sv_clear(&w);
    return r;
}

/* The next complete joblog line naming one of our trials: its flight and exit value. */
static struct flight *scan_joblog(struct remote *r, int *exitval, char **host_r)
{
    for (;;) {
        char *s = r->joblog.data + r->log_scanned;
        char *nl = memchr(s, '\n', r->joblog.len - r->log_scanned);
        struct sv cols = SV_INIT;
        struct flight *found = NULL;
        if (!nl)
            return NULL;
        *nl = '\0';
        sv_split(&cols, s, "\t");
        /* Seq Host Starttime JobRuntime Send Receive Exitval Signal Command */
        if (cols.n >= 9 && strcmp(cols.v[0], "Seq"))
            for (size_t i = 0; i < r->nf && !found; i++)
                if (strstr(cols.v[8], r->f[i].word)) {
                    found = &r->f[i];
                    *exitval = atoi(cols.v[6]);
                    *host_r = xstrdup(cols.v[1]);
                }
        *nl = '\n';
        r->log_scanned = (size_t)(nl + 1 - r->joblog.data);
        sv_clear(&cols);
        if (found)
            return found;
    }
}

int remote_wait(struct remote *r, char **key_r, struct trial_outcome *o, struct err *e)
{
    *key_r = NULL;
    memset(o, 0, sizeof(*o));
    for (;;) {
        int exitval = -1;
        char *host = NULL;
        struct flight *f;
        char chunk[8192];
        ssize_t n;

        while ((n = read(r->log_fd, chunk, sizeof(chunk))) > 0)
            buf_add(&r->joblog, chunk, (size_t)n);
        scan_output(r);
        f = scan_joblog(r, &exitval, &host);
        if (f) {
            struct err pe = ERR_INIT;
            char *who = login_name(host);
            if (f->result && trial_outcome_parse(f->result, o, &pe) == 0) {
                /* the host as the hosts file names it, and its own name */
                char *both = xasprintf("%s (%s)", who, o->hostname ? o->hostname : "?");
                free(o->hostname);
                o->hostname = both;
            } else {
                memset(o, 0, sizeof(*o));
                o->verdict = VERDICT_INFRA;
                o->boot_ms = -1;
                o->hostname = xstrdup(who);
                o->reason = xasprintf("the trial was lost on every host it tried (%d attempts; "
                                      "last: %s, exit %d)%s%s",
                                      RETRIES, who, exitval, pe.msg[0] ? ": " : "", pe.msg);
            }
            free(who);
            *key_r = f->key;
            f->key = NULL;
            free(f->word);
            free(f->result);
            *f = r->f[--r->nf];
            free(host);
            return 1;
        }
        if (r->nf == 0)
            return 0;
        if (r->p.end != PROC_RUNNING) {
            err_set(e, ERR_PROC,
                    "GNU parallel ended with %d trial%s in flight (see "
                    "parallel.log in the matrix's directory)",
                    (int)r->nf, r->nf == 1 ? "" : "s");
            return -1;
        }
        /* one poll for parallel's output, its job log, its end and an interrupt */
        if (proc_loop_run(r->loop, -1, e) < 0)
            return -1;
        proc_loop_ended(r->loop);
        if (proc_interrupted()) {
            err_set(e, ERR_INTERRUPTED, "interrupted");
            return -1;
        }
    }
}

void remote_stop(struct remote *r)
{
    if (!r)
        return;
    if (r->in_fd >= 0)
        close(r->in_fd);
    if (r->p.pid > 0 && r->p.end == PROC_RUNNING)
        proc_kill(&r->p);
    proc_release(&r->p);
    if (r->log_fd >= 0) {
        if (r->loop)
            proc_loop_remove_fd(r->loop, r->log_fd);
        close(r->log_fd);
    }
    for (size_t i = 0; i < r->nf; i++) {
        free(r->f[i].key);
        free(r->f[i].word);
        free(r->f[i].result);
    }
    free(r->f);
    proc_loop_free(r->loop);
    buf_release(&r->out);
    buf_release(&r->joblog);
    free(r->hosts);
    free(r);
}
