/*
 * Child processes (git's run-command, libvirt's vircommand): a process is described by a
 * struct proc_spec, then started and finished. Every external program pvlab runs (qemu,
 * apt-get, dpkg-deb, gcc, git) goes through here, so timeouts, logging and reaping are
 * written once.
 *
 * - The child gets a clean environment: PATH, LC_ALL=C and HOME, plus spec->env.
 * - The child runs in its own process group; a timeout (or proc_interrupt()) sends SIGTERM to
 *   the whole group, then SIGKILL after grace_ms.
 * - All fds except 0/1/2 are closed in the child; stdin is /dev/null.
 * - stdout goes to spec->out (captured, capped by the buffer's cap) when given, else to the log;
 *   stderr goes to log_path (appended) when given, else its newest PROC_ERR_TAIL bytes are kept
 *   in a ring for error messages (proc_err_tail).
 * - exec failure is reported back over a close-on-exec pipe, so "qemu not installed" is an
 *   error of proc_start, not an exit code 127.
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
};

/* How a process ended, as data: callers test this, never proc_describe's text. */
enum proc_end {
    PROC_RUNNING = 0, /* not reaped yet (or never started) */
    PROC_EXITED,      /* exited on its own: code is its exit status */
    PROC_SIGNALLED,   /* killed by a signal pvlab did not send for a deadline/interrupt: sig */
    PROC_TIMED_OUT,   /* pvlab killed it for its timeout (code/sig: how it then ended) */
    PROC_INTERRUPTED, /* pvlab killed it because proc_interrupt() was called */
};

struct proc {
    pid_t pid;         /* -1 when not running */
    enum proc_end end; /* PROC_RUNNING until reaped */
    int code;          /* exit status (0-255) when it exited, else -1 */
    int sig;           /* the signal that ended it, else 0 */
    int status;        /* raw wait status once reaped */
    enum proc_end killing; /* PROC_TIMED_OUT/PROC_INTERRUPTED once we signalled it for that */
    long long start_ms;
    long long deadline_ms;
    int grace_ms;
    int out_fd;        /* stdout pipe when capturing, else -1 */
    int err_fd;        /* stderr pipe when no log, else -1 */
    struct buf *out;
    char *err_ring;    /* the newest stderr bytes, a ring of PROC_ERR_TAIL; NULL until some came */
    size_t err_len;    /* bytes in the ring */
    size_t err_head;   /* where the next byte goes */
    char *name;
};

/* Bytes of stderr kept (the newest) when it is not sent to a log. */
#define PROC_ERR_TAIL 8192

#define PROC_INIT { .pid = -1, .code = -1, .out_fd = -1, .err_fd = -1 }

/* Starts the process. Returns 0, or -1 with e set (ERR_TOOL when the program is missing). */
int proc_start(const struct proc_spec *spec, struct proc *p, struct err *e);
/*
 * Waits up to wait_ms (0 = just check) for the process, pumping captured output and enforcing
 * the timeout. Returns 1 once it has been reaped, 0 while it runs, -1 with e set on an error
 * (a process never started, waitpid or poll failing; ECHILD is an error, not "running").
 */
int proc_poll(struct proc *p, int wait_ms, struct err *e);
/* Blocks until the process is reaped (enforcing its timeout). Returns 0 once reaped, or -1. */
int proc_wait(struct proc *p, struct err *e);
/* SIGTERM to the group, SIGKILL after the grace period, then reap. */
void proc_kill(struct proc *p);
/* Frees what proc_start allocated (does not kill). */
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
 * Call once at start-up, before any proc_start: gives SIGCHLD its default disposition (a
 * parent may have left it ignored, and then the kernel reaps our children before we can).
 * proc_start also checks. Returns 0 or -1 with e set.
 */
int proc_init(struct err *e);
/* Asks every running proc to be killed (async-signal-safe; call from SIGINT/SIGTERM handlers). */
void proc_interrupt(void);
int proc_interrupted(void);
/* Installs SIGINT/SIGTERM/SIGHUP handlers that call proc_interrupt(). */
void proc_install_signal_handlers(void);
/* Monotonic milliseconds. */
long long proc_now_ms(void);

#endif
