/*
 * Shared code for pvlab's guest programs (pvlab-init, fpu-probe, memcmp-probe). These are built
 * as static binaries and run as the whole userspace of a dom0, so they use only libc, never
 * pvlab's util/.
 *
 * Guest protocol: every machine-readable line is "PVLAB-<TAG> <json>\n", written to fd 1 (the
 * console) with a single write() so lines from concurrent processes never interleave.
 * Nothing here allocates; a line longer than GUEST_LINE_MAX is cut at a field boundary and
 * still closed properly.
 */
#ifndef PVLAB_GUEST_H
#define PVLAB_GUEST_H

#include <stddef.h>
#include <stdint.h>

/* Exit codes of probe processes, shared by the probes and the supervisor that classifies them. */
#define PROBE_EXIT_OK 0
#define PROBE_EXIT_MISMATCH 3 /* the probe saw corrupted state and printed its PVLAB-EVENT */
#define PROBE_EXIT_USAGE 4    /* bad arguments: counted as an exec failure, not corruption */
#define PROBE_EXIT_EXEC 127   /* execve failed in the forked child */

#define GUEST_LINE_MAX 1024

/* One protocol line under construction: "PVLAB-EVENT {" ... "}". */
struct gline {
    char buf[GUEST_LINE_MAX];
    size_t len;
    int nfields;
    int full;
};

/* Starts "PVLAB-<tag> {" (tag without the prefix, e.g. "EVENT"). */
void gline_begin(struct gline *l, const char *tag);
void gline_str(struct gline *l, const char *key, const char *val);
void gline_int(struct gline *l, const char *key, long long v);
void gline_bool(struct gline *l, const char *key, int v);
void gline_dbl(struct gline *l, const char *key, double v);
/* Adds a 64-bit value as a JSON string "0x%016llx". */
void gline_hex64(struct gline *l, const char *key, uint64_t v);
/* Closes the object and writes the line to fd 1 with one write(). */
void gline_emit(struct gline *l);
/* Writes text plus "\n" to fd 1 with one write() (text longer than GUEST_LINE_MAX is cut). */
void guest_say(const char *text);
/* "PVLAB-ERROR {"msg":...}" */
void guest_error(const char *msg);

/*
 * Finds key=value in a space-separated list (the kernel command line); the last occurrence wins.
 * Copies the value into out (NUL-terminated, cut at n-1). Returns 1 when found, 0 when not.
 */
int kv_find(const char *list, const char *key, char *out, size_t n);
/* Finds "--name=value" in argv; returns the value or NULL. */
const char *arg_find(int argc, char **argv, const char *name);
/* Strict number parsing: the whole string must be a number within [min, max]. 0 or -1. */
int parse_long(const char *s, long min, long max, long *out);
int parse_ulong(const char *s, unsigned long *out);
int parse_rate(const char *s, double *out); /* 0..1 */

/* splitmix64: a small, good generator for per-process draws. */
uint64_t rng_next(uint64_t *state);
/* Uniform in [0, 1). */
double rng_unit(uint64_t *state);
/* A state mixing seed, pid and the clock, so processes draw independently. */
uint64_t rng_seed(uint64_t seed);

/* "SIGSEGV" for 11, "SIG<n>" style names are not produced: unknown signals give "SIGUNKNOWN". */
const char *guest_signame(int sig);
/* 1 when the CPU has AVX and the OS enabled YMM state (cpuid OSXSAVE + AVX, xgetbv XCR0). */
int cpu_avx_usable(void);
/* Monotonic milliseconds. */
long long guest_now_ms(void);

/*
 * Plug-in reproducers (docs/reproducers.md) end with pvlab's codes or XTF's:
 *   pass  0;  fail  1, 5 (XTF failure);  skip  125, 3 (XTF skip);
 *   infra 4 (XTF error), 6 (XTF crash), any other code, death by a signal.
 */
enum plugin_outcome { PLUGIN_PASS, PLUGIN_FAIL, PLUGIN_SKIP, PLUGIN_INFRA };
/* The outcome of a wait status; *what gets a description ("exit 3 (XTF skip)"), size n. */
enum plugin_outcome plugin_outcome(int status, char *what, size_t n);
/* "pass", "fail", "skip", "infra" */
const char *plugin_outcome_name(enum plugin_outcome o);

#endif
