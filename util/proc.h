/*
 * Child processes (git's run-command, libvirt's vircommand, tmux's child loop): a process is
 * described by a struct proc_spec, started into a struct proc, and finished by one loop that
 * waits for all running children at once. Every external program pvlab runs (qemu, apt-get,
 * dpkg-deb, gcc, git, a bisection's trials) goes through here, so timeouts, logging and reaping
 * are written once.
 *
 * The child:
 * - gets a clean environment: PATH, LC_ALL=C and HOME, plus spec->env (which wins); or, with
 *   inherit_env, the caller's environment plus spec->env (a user's test command sees it, as
 *   under git bisect run);
 * - runs in its own process group; a timeout (or proc_interrupt()) sends SIGTERM to the whole
 *   group, then SIGKILL after grace_ms; it dies with pvlab (PR_SET_PDEATHSIG);
 * - keeps no descriptor of ours but 0/1/2 (close_range marks the rest close-on-exec) and, when
 *   asked, spec->pass_fd as spec->pass_fd_as; stdin is /dev/null (or spec->stdin_fd); signals are
 *   at their defaults
 *   and unblocked;
 * - writes stdout to spec->out (captured, capped by the buffer's cap) when given, else to the
 *   log; stderr to log_path (appended) when given, else its newest PROC_ERR_TAIL bytes are kept
 *   in a ring for error messages (proc_err_tail);
 * - reports an exec failure back over a close-on-exec pipe, so "qemu not installed" is an error
 *   of proc_start (ERR_TOOL), not an exit code 127.
 *
 * Two ways to wait:
 * - one process: proc_start, then proc_poll / proc_wait (or proc_run for both);
 * - many: add them to a struct proc_loop (below), which waits for all of them and for extra
 *   descriptors in one poll(2).
 * Either way the waiting code is the same: a pidfd per child (pidfd_open) tells when it ended
 * (on a kernel without pidfd_open, a waitpid(pid, WNOHANG) every 50 ms), its pipes are drained,
 * it is reaped with waitpid(pid), its deadline is enforced. A child we stopped takes what is
 * left of its group with it (SIGKILL to the group once it is reaped).
 *
 * A proc's life:
 *
 *   state     p->pid  p->end         moved on by
 *   idle      -1      PROC_RUNNING   proc_start -> running (stays idle when it fails)
 *   running   > 0     PROC_RUNNING   its deadline or proc_interrupt() -> stopping (SIGTERM to
 *                                    the group); proc_kill -> stopping; exit -> ended
 *   stopping  > 0     PROC_RUNNING   grace_ms later SIGKILL to the group; exit -> ended
 *   ended     > 0     not RUNNING    proc_release -> idle
 *
 * Nothing here is thread-safe; one thread drives its procs and loops.
 */
#ifndef PVLAB_UTIL_PROC_H
#define PVLAB_UTIL_PROC_H

#include <sys/types.h>

#include "util/buf.h"
#include "util/err.h"

struct proc_spec {
    const char *const *argv; /* argv[0] is looked up in PATH */
    const char *const *env;  /* extra NAME=value entries, NULL-terminated; may be NULL */
    const char *cwd;         /* NULL = inherit */
    const char *log_path;    /* stdout (unless captured) and stderr appended here; NULL = none */
    struct buf *out;         /* capture stdout here (caller-owned); NULL = not captured */
    int timeout_ms;          /* 0 = no timeout */
    int grace_ms;            /* SIGTERM -> SIGKILL delay; 0 = 3000 */
    int inherit_env;         /* 1: the caller's environment (plus env) instead of the clean one */
    int pass_fd;             /* with pass_fd_as: a descriptor of ours the child gets ... */
    int pass_fd_as;          /* ... as this number (>= 3; e.g. a result pipe as fd 3); 0 = none */
    int stdin_fd;            /* > 0: a descriptor of ours the child reads as stdin; 0 = /dev/null */
};

/* How a process ended, as data: callers test this, never proc_describe's text. */
enum proc_end {
    PROC_RUNNING = 0, /* not reaped yet (or never started) */
    PROC_EXITED,      /* exited on its own: code is its exit status */
    PROC_SIGNALLED,   /* killed by a signal pvlab did not send for a deadline/interrupt: sig */
    PROC_TIMED_OUT,   /* pvlab killed it for its timeout (code/sig: how it then ended) */
    PROC_INTERRUPTED, /* pvlab killed it because proc_interrupt() was called */
};

struct proc_loop;

/*
 * A started process. The caller owns the struct (often on its stack; PROC_INIT first); the
 * fields are read-only for callers, and the ones marked "internal" are not for them at all.
 */
struct proc {
    pid_t pid;             /* -1 until started */
    enum proc_end end;     /* PROC_RUNNING until reaped */
    int code;              /* exit status (0-255) when it exited, else -1 */
    int sig;               /* the signal that ended it, else 0 */
    int status;            /* raw wait status once reaped */
    long long start_ms;    /* proc_now_ms() when started */
    long long deadline_ms; /* when its timeout expires; 0 = none */
    char *name;            /* argv[0], for messages */
    /* internal */
    int pidfd;             /* readable once the child ended; -1 without pidfd_open (ENOSYS) */
    enum proc_end killing; /* PROC_TIMED_OUT/PROC_INTERRUPTED once we signalled it for that */
    long long kill_ms;     /* 0 running; > 0 SIGTERM sent, SIGKILL due then; -1 SIGKILL sent */
    int grace_ms;
    int out_fd; /* stdout pipe when capturing, else -1 */
    int err_fd; /* stderr pipe when no log, else -1 */
    struct buf *out;
    char *err_ring;         /* the newest stderr bytes, a ring of PROC_ERR_TAIL; NULL until some */
    size_t err_len;         /* bytes in the ring */
    size_t err_head;        /* where the next byte goes */
    struct proc_loop *loop; /* the loop holding it, or NULL */
};

/* Bytes of stderr kept (the newest) when it is not sent to a log. */
#define PROC_ERR_TAIL 8192

#define PROC_INIT                                                                                  \
    {                                                                                              \
        .pid = -1, .code = -1, .pidfd = -1, .out_fd = -1, .err_fd = -1                             \
    }

/*
 * Starts the process; p must be idle (PROC_INIT or released). Does not block on the child
 * (only until it has exec'd). Returns 0, or -1 with e set (ERR_TOOL when the program is
 * missing or cannot be executed); on failure p is left idle, and proc_release is harmless.
 */
int proc_start(const struct proc_spec *spec, struct proc *p, struct err *e);
/*
 * Waits up to wait_ms (0 = just check) for the process, draining its output and enforcing its
 * timeout and proc_interrupt(). Returns 1 once it has been reaped, 0 while it runs, -1 with e set
 * on an error (a proc never started or held by a proc_loop, waitpid or poll failing; ECHILD is
 * an error, never "running").
 */
int proc_poll(struct proc *p, int wait_ms, struct err *e);
/* Blocks until the process is reaped (enforcing its timeout). Returns 0 once reaped, or -1. */
int proc_wait(struct proc *p, struct err *e);
/*
 * SIGTERM to the group, SIGKILL after the grace period, then reap; blocks until then. Takes p
 * out of its loop first. Harmless on an idle or ended proc.
 */
void proc_kill(struct proc *p);
/* Frees what proc_start allocated and takes p out of its loop; does not kill. p is idle after. */
void proc_release(struct proc *p);
/* Exit code (0-255), or 128+signal when killed, or -1 if not reaped. */
int proc_exit_code(const struct proc *p);
/* "exited", "signalled", "timed-out", "interrupted", "running": for logs and JSON. */
const char *proc_end_name(enum proc_end end);
/*
 * The end of what the process wrote on stderr (when not sent to a log), for an error message:
 * its last `lines` lines (<= 0: all kept), at most max bytes (0: no limit); the newest line
 * survives a cut (see str_tail_lines). Returns a malloc'd string, "" when there was none.
 */
char *proc_err_tail(const struct proc *p, int lines, size_t max);
/* "exited 2", "killed by signal 9", "timed out after 30 s"; malloc'd. */
char *proc_describe(const struct proc *p);
/*
 * Start + wait. Returns 0 when the process exited 0; otherwise -1 with e describing what
 * happened (exit code or signal, timeout, and the last lines of stderr). e->code says how it
 * failed: ERR_TIMEOUT (killed for its timeout), ERR_INTERRUPTED (killed by proc_interrupt()),
 * ERR_PROC (exited non-zero or killed by a signal), or proc_start's code (ERR_TOOL...).
 */
int proc_run(const struct proc_spec *spec, struct err *e);

/*
 * The child loop (tmux's server loop: one poll(2) for every child and descriptor).
 *
 * Ownership: the loop holds pointers to procs it does not own; the caller keeps each struct
 * proc alive while it is in the loop (proc_release takes it out). The loop does not own extra
 * descriptors either: remove one before closing it.
 *
 * Blocking: only proc_loop_run (up to its timeout) and proc_loop_kill_all (until every proc is
 * reaped) block.
 *
 * Callbacks run inside proc_loop_run, one at a time. They may read their descriptor, add and
 * remove descriptors (their own included) and procs, start procs and call proc_kill; they must
 * not free the loop or run it again. A callback returning -1 (with e set) makes proc_loop_run
 * return -1 at once; events not yet dispatched come again on the next run (poll is level-
 * triggered).
 */
typedef int proc_loop_fd_fn(struct proc_loop *l, int fd, short revents, void *ctx, struct err *e);

/* A new, empty loop (malloc'd; free with proc_loop_free). */
struct proc_loop *proc_loop_new(void);
/* Takes every proc out of the loop (without killing them) and frees it; NULL is accepted. */
void proc_loop_free(struct proc_loop *l);
/*
 * Adds a started proc; from now on only the loop waits for it (proc_poll/proc_wait refuse).
 * Returns 0, or -1 with e set (p not started, or already in a loop).
 */
int proc_loop_add(struct proc_loop *l, struct proc *p, struct err *e);
/* Takes p out of the loop (running or ended, not yet returned by proc_loop_ended). */
void proc_loop_remove(struct proc_loop *l, struct proc *p);
/*
 * Watches fd for events (POLLIN, POLLOUT...) and calls fn(l, fd, revents, ctx, e) when poll
 * reports any (POLLHUP/POLLERR included). Returns 0, or -1 with e set (fd already watched).
 */
int proc_loop_add_fd(struct proc_loop *l, int fd, short events, proc_loop_fd_fn *fn, void *ctx,
                     struct err *e);
/* Stops watching fd; unknown fds are ignored. */
void proc_loop_remove_fd(struct proc_loop *l, int fd);
/*
 * One round: a single poll(2) over every proc's pidfd and pipes, the extra descriptors and the
 * interrupt pipe, for up to timeout_ms (-1: until something happens; 0: just check), woken
 * early by a child's deadline or grace period. Then it drains pipes, reaps ended children,
 * calls the callbacks of ready descriptors, and sends the signals that are due (timeouts,
 * grace periods, proc_interrupt()). Returns how many procs ended plus how many callbacks ran
 * (0 on a timeout or when only output arrived), or -1 with e set.
 */
int proc_loop_run(struct proc_loop *l, int timeout_ms, struct err *e);
/* The next proc that ended, oldest first (it leaves the loop), or NULL when none has. */
struct proc *proc_loop_ended(struct proc_loop *l);
/* How many procs the loop holds that have not ended yet. */
size_t proc_loop_running(const struct proc_loop *l);
/*
 * Kills every running proc of the loop (SIGTERM to each group, SIGKILL after its grace period)
 * and blocks until all are reaped; they then come out of proc_loop_ended. Callbacks do not run
 * meanwhile.
 */
void proc_loop_kill_all(struct proc_loop *l);

/*
 * Call once at start-up, before any proc_start: gives SIGCHLD its default disposition (a
 * parent may have left it ignored, and then the kernel reaps our children before we can) and
 * makes the pipe that wakes a waiting loop on proc_interrupt(). proc_start and the loop also
 * check. Returns 0 or -1 with e set.
 */
int proc_init(struct err *e);
/*
 * Asks every running proc to be killed: the loops waiting for them wake up and stop them
 * (async-signal-safe; call from SIGINT/SIGTERM handlers).
 */
void proc_interrupt(void);
int proc_interrupted(void);
/* Installs SIGINT/SIGTERM/SIGHUP handlers that call proc_interrupt(). */
void proc_install_signal_handlers(void);
/* Monotonic milliseconds. */
long long proc_now_ms(void);

#endif
