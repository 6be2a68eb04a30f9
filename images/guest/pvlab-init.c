/*
 * pvlab-init: /init of the dom0 initramfs. Mounts the pseudo filesystems, reads pvlab.* from
 * /proc/cmdline, runs the reproducer and prints the guest protocol on the console, then powers
 * the machine off.
 *
 * Processes (the bug under test corrupts the FPU state of any process, the supervisor included):
 *   pid 1          parses parameters, prints BEGIN, forks the supervisor and only waits; when
 *                  the supervisor dies by a signal it prints a supervisor-death EVENT (no RESULT,
 *                  so the host judges on the streamed evidence), kills the supervisor's process
 *                  group, prints END and powers off. It also reaps orphaned probes.
 *   supervisor     forks W workers, waits for them (a worker killed by a signal is a
 *                  worker-death EVENT, counted as a death, and is replaced), prints RESULT.
 *   worker         loops: claim an iteration, fork + execve a fresh probe binary, waitpid,
 *                  classify, count; streams a death EVENT the moment a probe dies by
 *                  SIGSEGV/SIGBUS/SIGILL/SIGFPE, and PROGRESS at every 10%.
 *   probe          fpu-probe / memcmp-probe; prints its own mismatch EVENT and exits 3.
 * Counters live in a shared anonymous mapping created by pid 1, updated with atomics.
 *
 * Kernel parameters: pvlab.repro=NAME pvlab.iterations=N pvlab.workers=W (0 = 2*cpus+1)
 * pvlab.self_test_corrupt=RATE pvlab.seed=S (0 = random; the BEGIN line says which).
 *
 * Amplifiers: pvlab.overcommit=K makes the default worker count K x CPUs (instead of 2 x CPUs +
 * 1); pvlab.churn=1 starts a memory churner beside the workers (pid 1's child, first in line for
 * the OOM killer): it keeps allocating, touching and freeing anonymous memory up to a margin
 * below MemAvailable, so the workers' allocations go through reclaim and compaction.
 *
 * Snapshots (pvlab.snapshot=1 on the kernel command line): after its set-up pid 1 prints
 * "PVLAB-READY {...}" and reads one line from the console, "PVLAB-START pvlab.repro=...
 * pvlab.seed=...", whose words replace the command line's pvlab.* parameters. The host saves
 * the machine at READY and restores that state for every further trial, each with its own
 * START line (fresh seed), so restored trials are not replays of each other.
 *
 * Plug-ins (pvlab.repro=plugin): the host put the program and a manifest in /pvlab/repro:
 *   name NAME / kind script|c / model once|iterations / arg WORD (repeated, in order)
 * and the program at /pvlab/repro/NAME (a script runs under /bin/sh). Its environment has
 * PVLAB_SEED, PVLAB_ITERATIONS, PVLAB_ITER (iterations model). Model "once": one run whose
 * exit code is the verdict (guest.h: plugin_outcome); its output (stdout and stderr) is echoed
 * as "repro| LINE" and, when it fails, its last lines become evidence EVENTs. Model
 * "iterations": a fresh exec per iteration like the built-in probes; a fail code counts one
 * corruption, a death by SIGSEGV/SIGBUS/SIGILL/SIGFPE one death, and a skip or infra code stops
 * the run. RESULT then carries "outcome" (pass/fail/skip/infra), "exit" and "why".
 *
 * Host mode (tests only): when not pid 1 the program refuses to run unless given --host; then it
 * mounts nothing and never reboots, reads parameters from --cmdline="..." and probes from
 * --bin-dir=DIR (default: its own directory), a plug-in from --repro-dir=DIR (default
 * /pvlab/repro).
 * --test-kill-supervisor makes the supervisor kill
 * itself with SIGSEGV after starting the workers, to exercise pid 1's handling.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "guest.h"

#define DEFAULT_ITERATIONS 2000
#define MAX_ITERATIONS 10000000L
#define MAX_WORKERS 256
#define MAX_NOISY_FAILURES 5 /* exec failures described on the console, then only counted */
#define SUP_EXIT_ERROR 2     /* the supervisor printed PVLAB-ERROR itself */
#define PLUGIN_MAX_ARGS 32
#define PLUGIN_EVIDENCE 16 /* output lines of a failed once-model plug-in kept as evidence */

struct config {
    char repro[64];
    const char *probe; /* binary name under bin_dir; NULL for self-test-hang */
    char probe_path[640];
    long iterations;
    long workers;
    double rate;
    unsigned long seed;
    long cpus;
    int avx;
    char kernel[128];
    int host;
    int kill_supervisor;
    /* plug-ins */
    int plugin, once, shell;
    char repro_dir[512];
    char args[PLUGIN_MAX_ARGS][256];
    int nargs;
    long overcommit; /* 0 = 2 x CPUs + 1 workers; K = K x CPUs */
    int churn;
};

/* Shared between all processes (MAP_SHARED | MAP_ANONYMOUS, created before any fork). */
struct shared {
    atomic_long claimed;
    atomic_long done;
    atomic_long mismatches;
    atomic_long deaths;
    atomic_long exec_failures;
    atomic_long noisy;
    atomic_int stop;
    /* a plug-in's iteration that ended the run (skip or infra code): outcome, wait status */
    atomic_int end_outcome;
    atomic_int end_status;
    /* pvlab.churn: the most memory the churner held (MiB) and its frees */
    atomic_long churn_peak_mb;
    atomic_long churn_frees;
};

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Powers off (pid 1 only; in host mode it just exits). Never returns. */
static void finish(const struct config *c, int code)
{
    if (!c->host && getpid() == 1) {
        sync();
        reboot(RB_POWER_OFF);
        for (;;)
            pause();
    }
    exit(code);
}

/* Mounts one pseudo filesystem; an already-mounted target is fine. */
static int mount_one(const char *src, const char *dir, const char *type)
{
    mkdir(dir, 0755);
    if (mount(src, dir, type, MS_NOSUID, NULL) < 0 && errno != EBUSY)
        return -1;
    return 0;
}

/* pid 1 set-up: filesystems and a console on fds 0-2. */
static int setup_init(char *msg, size_t n)
{
    int fd;

    if (mount_one("proc", "/proc", "proc") < 0) {
        snprintf(msg, n, "cannot mount /proc: %s", strerror(errno));
        return -1;
    }
    if (mount_one("sysfs", "/sys", "sysfs") < 0 || mount_one("devtmpfs", "/dev", "devtmpfs") < 0 ||
        mount_one("tmpfs", "/tmp", "tmpfs") < 0) {
        snprintf(msg, n, "cannot mount sysfs/devtmpfs/tmpfs: %s", strerror(errno));
        return -1;
    }
    if (fcntl(1, F_GETFD) < 0 && (fd = open("/dev/console", O_RDWR | O_NOCTTY)) >= 0) {
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2)
            close(fd);
    }
    return 0;
}

/* Reads the plug-in manifest the host wrote (see the top of this file). */
static int load_plugin(struct config *c, char *msg, size_t n)
{
    char path[640], line[320];
    FILE *f;
    int have_name = 0, have_kind = 0;

    snprintf(path, sizeof(path), "%s/manifest", c->repro_dir);
    f = fopen(path, "r");
    if (!f) {
        snprintf(msg, n, "pvlab.repro=plugin but %s cannot be read: %s", path, strerror(errno));
        return -1;
    }
    c->plugin = 1;
    c->once = 1;
    while (fgets(line, sizeof(line), f)) {
        char *v = strchr(line, ' ');
        line[strcspn(line, "\n")] = '\0';
        if (!v)
            continue;
        *v++ = '\0';
        if (!strcmp(line, "name")) {
            snprintf(c->repro, sizeof(c->repro), "%s", v);
            have_name = 1;
        } else if (!strcmp(line, "kind")) {
            c->shell = !strcmp(v, "script");
            have_kind = 1;
        } else if (!strcmp(line, "model")) {
            c->once = strcmp(v, "iterations") != 0;
        } else if (!strcmp(line, "arg") && c->nargs < PLUGIN_MAX_ARGS) {
            snprintf(c->args[c->nargs++], sizeof(c->args[0]), "%s", v);
        }
    }
    fclose(f);
    if (!have_name || !have_kind || strchr(c->repro, '/')) {
        snprintf(msg, n, "%s: no name or kind line", path);
        return -1;
    }
    snprintf(c->probe_path, sizeof(c->probe_path), "%s/%s", c->repro_dir, c->repro);
    c->probe = c->repro;
    if (access(c->probe_path, c->shell ? R_OK : X_OK) < 0) {
        snprintf(msg, n, "plug-in %s is missing or not %s", c->probe_path,
                 c->shell ? "readable" : "executable");
        return -1;
    }
    return 0;
}

/* Reads pvlab.* parameters into c; on a bad value writes a message for PVLAB-ERROR. */
static int parse_config(struct config *c, const char *cmdline, const char *bin_dir, char *msg,
                        size_t n)
{
    char v[256];
    struct utsname u;

    if (!kv_find(cmdline, "pvlab.repro", c->repro, sizeof(c->repro))) {
        snprintf(msg, n, "no pvlab.repro= on the kernel command line");
        return -1;
    }
    if (!strcmp(c->repro, "plugin")) {
        if (load_plugin(c, msg, n) < 0)
            return -1;
    } else if (!strcmp(c->repro, "fpu-leak")) {
        c->probe = "fpu-probe";
    } else if (!strcmp(c->repro, "seed-memcmp")) {
        c->probe = "memcmp-probe";
    } else if (strcmp(c->repro, "self-test-hang")) {
        snprintf(msg, n, "unknown reproducer '%s'; known: fpu-leak, seed-memcmp, self-test-hang",
                 c->repro);
        return -1;
    }
    c->iterations = DEFAULT_ITERATIONS;
    if (kv_find(cmdline, "pvlab.iterations", v, sizeof(v)) &&
        parse_long(v, 1, MAX_ITERATIONS, &c->iterations) < 0) {
        snprintf(msg, n, "bad pvlab.iterations=%s (1..%ld)", v, MAX_ITERATIONS);
        return -1;
    }
    c->cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (c->cpus < 1)
        c->cpus = 1;
    c->workers = 0;
    if (kv_find(cmdline, "pvlab.workers", v, sizeof(v)) &&
        parse_long(v, 0, MAX_WORKERS, &c->workers) < 0) {
        snprintf(msg, n, "bad pvlab.workers=%s (0..%d)", v, MAX_WORKERS);
        return -1;
    }
    c->overcommit = 0;
    if (kv_find(cmdline, "pvlab.overcommit", v, sizeof(v)) &&
        parse_long(v, 0, 64, &c->overcommit) < 0) {
        snprintf(msg, n, "bad pvlab.overcommit=%s (0..64)", v);
        return -1;
    }
    c->churn = kv_find(cmdline, "pvlab.churn", v, sizeof(v)) && !strcmp(v, "1");
    if (c->workers == 0 && c->overcommit > 0)
        c->workers = c->cpus * c->overcommit > MAX_WORKERS ? MAX_WORKERS : c->cpus * c->overcommit;
    if (c->workers == 0)
        c->workers = c->cpus * 2 + 1 > MAX_WORKERS ? MAX_WORKERS : c->cpus * 2 + 1;
    if (c->plugin && c->once) { /* one run is the whole trial */
        c->iterations = 1;
        c->workers = 1;
    }
    c->rate = 0;
    if (kv_find(cmdline, "pvlab.self_test_corrupt", v, sizeof(v)) && parse_rate(v, &c->rate) < 0) {
        snprintf(msg, n, "bad pvlab.self_test_corrupt=%s (0..1)", v);
        return -1;
    }
    c->seed = 0;
    if (kv_find(cmdline, "pvlab.seed", v, sizeof(v)) && parse_ulong(v, &c->seed) < 0) {
        snprintf(msg, n, "bad pvlab.seed=%s", v);
        return -1;
    }
    if (c->seed == 0) {
        uint64_t s = rng_seed(0);
        c->seed = (unsigned long)(rng_next(&s) & 0xffffffffUL) | 1;
    }
    if (c->probe && !c->plugin) {
        snprintf(c->probe_path, sizeof(c->probe_path), "%s/%s", bin_dir, c->probe);
        if (access(c->probe_path, X_OK) < 0) {
            snprintf(msg, n, "probe %s is missing or not executable", c->probe_path);
            return -1;
        }
    }
    c->avx = cpu_avx_usable();
    snprintf(c->kernel, sizeof(c->kernel), "%s", uname(&u) == 0 ? u.release : "unknown");
    return 0;
}

static void print_begin(const struct config *c)
{
    struct gline l;

    gline_begin(&l, "BEGIN");
    gline_str(&l, "repro", c->repro);
    gline_int(&l, "iterations", c->iterations);
    gline_int(&l, "workers", c->workers);
    gline_int(&l, "cpus", c->cpus);
    gline_bool(&l, "avx", c->avx);
    gline_str(&l, "kernel", c->kernel);
    gline_dbl(&l, "self_test_corrupt", c->rate);
    gline_int(&l, "seed", (long long)c->seed);
    if (c->plugin) {
        gline_str(&l, "plugin", c->shell ? "script" : "c");
        gline_str(&l, "model", c->once ? "once" : "iterations");
    }
    if (c->churn)
        gline_bool(&l, "churn", 1);
    gline_emit(&l);
}

static int is_death_signal(int sig)
{
    return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE;
}

/* Counts one finished probe and streams what the host must see at once. */
static void classify(const struct config *c, struct shared *sh, long iter, pid_t pid, int st)
{
    long step = c->iterations / 10 > 0 ? c->iterations / 10 : 1;
    long done;
    char msg[160];

    if (c->plugin && !(WIFSIGNALED(st) && is_death_signal(WTERMSIG(st)))) {
        char what[96];
        enum plugin_outcome o = plugin_outcome(st, what, sizeof(what));
        if (o == PLUGIN_FAIL) {
            struct gline l;
            atomic_fetch_add(&sh->mismatches, 1);
            gline_begin(&l, "EVENT");
            gline_str(&l, "type", "check-failed");
            gline_str(&l, "repro", c->repro);
            gline_int(&l, "iter", iter);
            gline_int(&l, "pid", pid);
            gline_str(&l, "how", what);
            gline_emit(&l);
        } else if (o != PLUGIN_PASS) { /* the first skip or infra code ends the run */
            int none = 0;
            if (atomic_compare_exchange_strong(&sh->end_outcome, &none, (int)o))
                atomic_store(&sh->end_status, st);
            atomic_store(&sh->stop, 1);
        }
    } else if (WIFEXITED(st) && WEXITSTATUS(st) == PROBE_EXIT_OK) {
        /* ok */
    } else if (WIFEXITED(st) && WEXITSTATUS(st) == PROBE_EXIT_MISMATCH) {
        atomic_fetch_add(&sh->mismatches, 1); /* the probe printed its own EVENT */
    } else if (WIFSIGNALED(st) && is_death_signal(WTERMSIG(st))) {
        struct gline l;
        atomic_fetch_add(&sh->deaths, 1);
        gline_begin(&l, "EVENT");
        gline_str(&l, "type", "death");
        gline_str(&l, "repro", c->repro);
        gline_int(&l, "iter", iter);
        gline_int(&l, "pid", pid);
        gline_int(&l, "signal", WTERMSIG(st));
        gline_str(&l, "signame", guest_signame(WTERMSIG(st)));
        gline_emit(&l);
    } else {
        atomic_fetch_add(&sh->exec_failures, 1);
        if (atomic_fetch_add(&sh->noisy, 1) < MAX_NOISY_FAILURES) {
            if (WIFEXITED(st))
                snprintf(msg, sizeof(msg), "pvlab-init: probe iter %ld pid %d exited %d", iter,
                         (int)pid, WEXITSTATUS(st));
            else
                snprintf(msg, sizeof(msg), "pvlab-init: probe iter %ld pid %d killed by %s", iter,
                         (int)pid, guest_signame(WTERMSIG(st)));
            guest_say(msg);
        }
    }
    done = atomic_fetch_add(&sh->done, 1) + 1;
    if (done % step == 0) {
        struct gline l;
        gline_begin(&l, "PROGRESS");
        gline_int(&l, "done", done);
        gline_int(&l, "total", c->iterations);
        gline_emit(&l);
    }
}

/* fork() with retries: under a fork storm EAGAIN is transient. */
static pid_t fork_retry(void)
{
    for (int i = 0; i < 100; i++) {
        pid_t pid = fork();
        if (pid >= 0 || (errno != EAGAIN && errno != ENOMEM))
            return pid;
        sleep_ms(10);
    }
    return -1;
}

/* One worker: fresh fork+execve per iteration until the shared count is used up. */
/* A plug-in's argv ([/bin/sh] program args) and environment; iter 0 for the once model. */
static void plugin_argv(const struct config *c, long iter, char **argv, char **envp, char *env_seed,
                        char *env_iter, char *env_iters)
{
    int n = 0;

    if (c->shell)
        argv[n++] = "/bin/sh";
    argv[n++] = (char *)c->probe_path;
    for (int i = 0; i < c->nargs; i++)
        argv[n++] = (char *)c->args[i];
    argv[n] = NULL;
    snprintf(env_seed, 48, "PVLAB_SEED=%lu", c->seed);
    snprintf(env_iter, 48, "PVLAB_ITER=%ld", iter);
    snprintf(env_iters, 48, "PVLAB_ITERATIONS=%ld", c->iterations);
    envp[0] = "PATH=/bin:/sbin";
    envp[1] = env_seed;
    envp[2] = env_iter;
    envp[3] = env_iters;
    envp[4] = NULL;
}

static int worker(const struct config *c, struct shared *sh)
{
    char seed[48], iter_s[48], rate[48], e_seed[48], e_iter[48], e_iters[48];
    char *argv[PLUGIN_MAX_ARGS + 4] = { (char *)c->probe, seed, iter_s, rate, NULL };
    char *envp[8] = { "PATH=/bin:/sbin", NULL };
    const char *path = c->plugin && c->shell ? "/bin/sh" : c->probe_path;

    snprintf(seed, sizeof(seed), "--seed=%lu", c->seed);
    snprintf(rate, sizeof(rate), "--self-test-corrupt=%.9g", c->rate);
    while (!atomic_load(&sh->stop)) {
        long it = atomic_fetch_add(&sh->claimed, 1);
        pid_t pid;
        int st;

        if (it >= c->iterations)
            break;
        snprintf(iter_s, sizeof(iter_s), "--iter=%ld", it + 1);
        if (c->plugin)
            plugin_argv(c, it + 1, argv, envp, e_seed, e_iter, e_iters);
        pid = fork_retry();
        if (pid < 0) {
            char msg[128];
            snprintf(msg, sizeof(msg), "worker cannot fork: %s", strerror(errno));
            guest_error(msg);
            atomic_store(&sh->stop, 1);
            return SUP_EXIT_ERROR;
        }
        if (pid == 0) {
            execve(path, argv, envp);
            _exit(PROBE_EXIT_EXEC);
        }
        while (waitpid(pid, &st, 0) < 0) {
            if (errno != EINTR) {
                st = PROBE_EXIT_EXEC << 8;
                break;
            }
        }
        classify(c, sh, it + 1, pid, st);
    }
    return 0;
}

static pid_t spawn_worker(const struct config *c, struct shared *sh)
{
    pid_t pid = fork_retry();

    if (pid == 0)
        _exit(worker(c, sh));
    return pid;
}

static void print_result(const struct config *c, struct shared *sh, long long elapsed)
{
    struct gline l;
    long mism = atomic_load(&sh->mismatches), deaths = atomic_load(&sh->deaths);

    gline_begin(&l, "RESULT");
    gline_str(&l, "repro", c->repro);
    gline_int(&l, "iterations", atomic_load(&sh->done));
    gline_int(&l, "corruptions", mism + deaths);
    gline_int(&l, "mismatches", mism);
    gline_int(&l, "deaths", deaths);
    gline_int(&l, "exec_failures", atomic_load(&sh->exec_failures));
    gline_bool(&l, "self_test", c->rate > 0);
    gline_int(&l, "elapsed_ms", elapsed);
    if (c->plugin) {
        int o = atomic_load(&sh->end_outcome);
        char what[96] = "";
        if (o)
            plugin_outcome(atomic_load(&sh->end_status), what, sizeof(what));
        gline_str(&l, "outcome",
                  o               ? plugin_outcome_name((enum plugin_outcome)o)
                  : mism + deaths ? "fail"
                                  : "pass");
        if (o)
            gline_str(&l, "why", what);
    }
    gline_emit(&l);
}

/* Emits one line of a once-model plug-in's output, and keeps the last PLUGIN_EVIDENCE. */
static void once_line(char *line, char keep[PLUGIN_EVIDENCE][200], int *nkeep)
{
    char out[GUEST_LINE_MAX];

    if (!*line)
        return;
    snprintf(out, sizeof(out), "repro| %s", line);
    guest_say(out);
    if (*nkeep == PLUGIN_EVIDENCE) {
        memmove(keep[0], keep[1], sizeof(keep[0]) * (PLUGIN_EVIDENCE - 1));
        (*nkeep)--;
    }
    snprintf(keep[(*nkeep)++], sizeof(keep[0]), "%s", line);
}

/*
 * A once-model plug-in: runs it with its output on a pipe, echoes each line, and turns its
 * exit into the RESULT (and, for a failure, the evidence). Returns the supervisor's exit code.
 */
static int run_once(const struct config *c)
{
    static char keep[PLUGIN_EVIDENCE][200];
    char *argv[PLUGIN_MAX_ARGS + 4], *envp[8], e_seed[48], e_iter[48], e_iters[48];
    char buf[4096], line[512], what[96];
    size_t ll = 0;
    int p[2], st = 0, nkeep = 0;
    long long t0 = guest_now_ms();
    enum plugin_outcome o;
    struct gline l;
    pid_t pid;

    if (pipe(p) < 0 || (pid = fork_retry()) < 0) {
        guest_error("cannot start the plug-in (pipe/fork)");
        return SUP_EXIT_ERROR;
    }
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], 1);
        dup2(p[1], 2);
        if (p[1] > 2)
            close(p[1]);
        plugin_argv(c, 1, argv, envp, e_seed, e_iter, e_iters);
        execve(argv[0], argv, envp);
        _exit(127);
    }
    close(p[1]);
    for (;;) {
        ssize_t r = read(p[0], buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        for (ssize_t i = 0; i < r; i++) {
            if (buf[i] == '\n' || ll == sizeof(line) - 1) {
                line[ll] = '\0';
                once_line(line, keep, &nkeep);
                ll = 0;
            }
            if (buf[i] != '\n')
                line[ll++] = buf[i];
        }
    }
    line[ll] = '\0';
    once_line(line, keep, &nkeep);
    close(p[0]);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    o = plugin_outcome(st, what, sizeof(what));
    if (o == PLUGIN_FAIL) {
        for (int i = 0; i < nkeep; i++) {
            gline_begin(&l, "EVENT");
            gline_str(&l, "type", "evidence");
            gline_str(&l, "repro", c->repro);
            gline_str(&l, "line", keep[i]);
            gline_emit(&l);
        }
        gline_begin(&l, "EVENT");
        gline_str(&l, "type", "check-failed");
        gline_str(&l, "repro", c->repro);
        gline_str(&l, "how", what);
        gline_emit(&l);
    }
    gline_begin(&l, "RESULT");
    gline_str(&l, "repro", c->repro);
    gline_int(&l, "iterations", o == PLUGIN_PASS || o == PLUGIN_FAIL ? 1 : 0);
    gline_int(&l, "corruptions", o == PLUGIN_FAIL);
    gline_int(&l, "mismatches", o == PLUGIN_FAIL);
    gline_int(&l, "deaths", 0);
    gline_int(&l, "exec_failures", 0);
    gline_bool(&l, "self_test", 0);
    gline_int(&l, "elapsed_ms", guest_now_ms() - t0);
    gline_str(&l, "outcome", plugin_outcome_name(o));
    gline_str(&l, "why", what);
    if (nkeep)
        gline_str(&l, "last", keep[nkeep - 1]);
    gline_emit(&l);
    return 0;
}

/* The supervisor: runs the workers, replaces dead ones, prints RESULT. Returns an exit code. */
static int supervise(const struct config *c, struct shared *sh)
{
    long long t0 = guest_now_ms();
    long live = 0, respawns = 0, failed = 0;
    int st;

    if (c->plugin && c->once)
        return run_once(c);
    for (long i = 0; i < c->workers; i++) {
        if (spawn_worker(c, sh) < 0) {
            guest_error("supervisor cannot fork a worker");
            atomic_store(&sh->stop, 1);
            failed = 1;
            break;
        }
        live++;
    }
    if (c->kill_supervisor)
        raise(SIGSEGV);

    while (live > 0) {
        pid_t pid = waitpid(-1, &st, 0);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        live--;
        if (WIFSIGNALED(st)) {
            struct gline l;
            atomic_fetch_add(&sh->deaths, 1);
            gline_begin(&l, "EVENT");
            gline_str(&l, "type", "worker-death");
            gline_str(&l, "repro", c->repro);
            gline_int(&l, "pid", pid);
            gline_int(&l, "signal", WTERMSIG(st));
            gline_str(&l, "signame", guest_signame(WTERMSIG(st)));
            gline_emit(&l);
            if (!atomic_load(&sh->stop) && atomic_load(&sh->claimed) < c->iterations &&
                respawns++ < 4 * c->workers && spawn_worker(c, sh) > 0)
                live++;
        } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            failed = 1;
        }
    }
    if (failed)
        return SUP_EXIT_ERROR;
    print_result(c, sh, guest_now_ms() - t0);
    return 0;
}

static pid_t churner = -1; /* pvlab.churn's process, killed when the supervisor ends */

/* MemAvailable in KiB, or -1. */
static long mem_available_kb(void)
{
    char line[128];
    long kb = -1;
    FILE *f = fopen("/proc/meminfo", "r");

    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "MemAvailable: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

#define CHURN_CHUNK (1L << 20)
#define CHURN_MARGIN_KB (24L * 1024) /* left for the workers, the probes and the kernel */
#define CHURN_MAX_CHUNKS 4096

/* The memory churner (pvlab.churn=1): never returns; pid 1 kills it. */
static void churn(const struct config *c, struct shared *sh)
{
    static char *chunks[CHURN_MAX_CHUNKS];
    uint64_t rng = rng_seed(c->seed);
    long held = 0;
    int fd = open("/proc/self/oom_score_adj", O_WRONLY);

    if (fd >= 0) { /* the OOM killer takes the churner, never a probe or pid 1 */
        if (write(fd, "1000", 4) < 0) {
        }
        close(fd);
    }
    while (!atomic_load(&sh->stop)) {
        long avail = mem_available_kb();
        if (avail > CHURN_MARGIN_KB + 1024 && held < CHURN_MAX_CHUNKS) {
            char *p =
                mmap(NULL, CHURN_CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p != MAP_FAILED) {
                for (long off = 0; off < CHURN_CHUNK; off += 4096) /* every page, for real */
                    p[off] = (char)off;
                chunks[held++] = p;
                if (held > atomic_load(&sh->churn_peak_mb))
                    atomic_store(&sh->churn_peak_mb, held);
            }
        } else if (held > 0) { /* at the margin: free a random quarter and grow again */
            for (long k = held / 4 + 1; k > 0 && held > 0; k--) {
                long i = (long)(rng_next(&rng) % (uint64_t)held);
                munmap(chunks[i], CHURN_CHUNK);
                chunks[i] = chunks[--held];
            }
            atomic_fetch_add(&sh->churn_frees, 1);
        } else {
            sleep_ms(10);
        }
    }
    _exit(0);
}

/* Reaps everything left for up to ms (orphaned probes, killed workers). */
static void reap_all(long ms)
{
    for (long waited = 0; waited <= ms; waited += 10) {
        pid_t r = waitpid(-1, NULL, WNOHANG);
        if (r < 0 && errno == ECHILD)
            return;
        if (r == 0)
            sleep_ms(10);
    }
}

/* pid 1's side after the fork: wait for the supervisor and judge how it ended. */
static void wait_supervisor(const struct config *c, struct shared *sh, pid_t sup)
{
    int st = 0;
    char msg[160];

    for (;;) {
        pid_t r = waitpid(-1, &st, 0);
        if (r == sup)
            break;
        if (r < 0 && errno == ECHILD) {
            guest_error("supervisor vanished");
            return;
        }
    }
    if (WIFSIGNALED(st)) {
        struct gline l;
        gline_begin(&l, "EVENT");
        gline_str(&l, "type", "supervisor-death");
        gline_str(&l, "repro", c->repro);
        gline_int(&l, "pid", sup);
        gline_int(&l, "signal", WTERMSIG(st));
        gline_str(&l, "signame", guest_signame(WTERMSIG(st)));
        gline_int(&l, "done", atomic_load(&sh->done));
        gline_int(&l, "mismatches", atomic_load(&sh->mismatches));
        gline_int(&l, "deaths", atomic_load(&sh->deaths));
        gline_emit(&l);
        kill(-sup, SIGKILL);
    }
    if (churner > 0) {
        kill(churner, SIGKILL);
        snprintf(msg, sizeof(msg), "pvlab-init: memory churner held up to %ld MiB, freed %ld times",
                 atomic_load(&sh->churn_peak_mb), atomic_load(&sh->churn_frees));
        guest_say(msg);
    }
    if (!WIFSIGNALED(st) && WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != SUP_EXIT_ERROR) {
        snprintf(msg, sizeof(msg), "supervisor exited with code %d", WEXITSTATUS(st));
        guest_error(msg);
    }
    reap_all(2000);
}

/*
 * Snapshot mode: says READY, then waits for the host's "PVLAB-START <words>" line on stdin (the
 * console) and appends its words to cmdline (later words win in kv_find). Lines that are not a
 * START line (echoes, noise) are skipped. 0, or -1 when stdin ends first.
 */
static int wait_start(char *cmdline, size_t n)
{
    char line[2048];
    size_t len = 0;
    struct gline l;

    {
        struct termios tio; /* no echo: the START line must not mix into the protocol lines */
        if (tcgetattr(0, &tio) == 0) {
            tio.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
            tcsetattr(0, TCSANOW, &tio);
        }
    }
    gline_begin(&l, "READY");
    gline_int(&l, "uptime_ms", guest_now_ms());
    gline_emit(&l);
    for (;;) {
        char c;
        ssize_t r = read(0, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        if (c != '\n' && c != '\r') {
            if (len < sizeof(line) - 1)
                line[len++] = c;
            continue;
        }
        line[len] = '\0';
        len = 0;
        if (!strncmp(line, "PVLAB-START ", 12)) {
            size_t have = strlen(cmdline);
            snprintf(cmdline + have, n - have, " %s", line + 12);
            return 0;
        }
    }
}

/* Directory holding this executable (host mode default for --bin-dir). */
static void self_dir(char *out, size_t n)
{
    ssize_t r = readlink("/proc/self/exe", out, n - 1);
    char *slash;

    if (r <= 0) {
        snprintf(out, n, ".");
        return;
    }
    out[r] = '\0';
    slash = strrchr(out, '/');
    if (slash)
        *slash = '\0';
}

int main(int argc, char **argv)
{
    static struct config cfg;
    static char cmdline[4096], bin_dir[512], msg[1024];
    struct shared *sh;
    pid_t sup;

    cfg.host = getpid() != 1;
    if (cfg.host) {
        const char *v;
        if (!arg_find(argc, argv, "--host") && !(argc > 1 && !strcmp(argv[1], "--host"))) {
            fprintf(stderr, "pvlab-init: not pid 1; this is the initramfs /init. For tests: "
                            "pvlab-init --host --cmdline='pvlab.repro=...' [--bin-dir=DIR]\n");
            return 2;
        }
        prctl(PR_SET_CHILD_SUBREAPER, 1);
        v = arg_find(argc, argv, "--cmdline");
        snprintf(cmdline, sizeof(cmdline), "%s", v ? v : "");
        v = arg_find(argc, argv, "--repro-dir");
        snprintf(cfg.repro_dir, sizeof(cfg.repro_dir), "%s", v ? v : "/pvlab/repro");
        v = arg_find(argc, argv, "--bin-dir");
        if (v)
            snprintf(bin_dir, sizeof(bin_dir), "%s", v);
        else
            self_dir(bin_dir, sizeof(bin_dir));
        for (int i = 1; i < argc; i++)
            if (!strcmp(argv[i], "--test-kill-supervisor"))
                cfg.kill_supervisor = 1;
    } else {
        int fd;
        ssize_t r;
        if (setup_init(msg, sizeof(msg)) < 0) {
            guest_error(msg);
            finish(&cfg, 1);
        }
        fd = open("/proc/cmdline", O_RDONLY);
        r = fd >= 0 ? read(fd, cmdline, sizeof(cmdline) - 1) : -1;
        if (r < 0) {
            guest_error("cannot read /proc/cmdline");
            finish(&cfg, 1);
        }
        cmdline[r] = '\0';
        close(fd);
        snprintf(bin_dir, sizeof(bin_dir), "/bin");
        snprintf(cfg.repro_dir, sizeof(cfg.repro_dir), "/pvlab/repro");
    }

    if (strstr(cmdline, "pvlab.snapshot=1") && wait_start(cmdline, sizeof(cmdline)) < 0) {
        guest_error("pvlab.snapshot=1 but no PVLAB-START line came on the console");
        finish(&cfg, 1);
    }
    if (parse_config(&cfg, cmdline, bin_dir, msg, sizeof(msg)) < 0) {
        guest_error(msg);
        finish(&cfg, 1);
    }
    print_begin(&cfg);
    if (!cfg.probe) /* self-test-hang: the host's timeout must end this trial */
        for (;;)
            pause();

    sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        guest_error("cannot map shared counters");
        finish(&cfg, 1);
    }
    sup = fork_retry();
    if (sup < 0) {
        guest_error("cannot fork the supervisor");
        finish(&cfg, 1);
    }
    if (sup == 0) {
        setpgid(0, 0);
        _exit(supervise(&cfg, sh));
    }
    setpgid(sup, sup);
    if (cfg.churn) {
        churner = fork_retry();
        if (churner == 0)
            churn(&cfg, sh);
    }
    wait_supervisor(&cfg, sh, sup);
    guest_say("PVLAB-END");
    finish(&cfg, 0);
    return 0;
}
