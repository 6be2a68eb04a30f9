#include "guest.h"

#include <cpuid.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Room kept free for the closing "}\n". */
#define GLINE_RESERVE 3

/* Appends raw bytes if they fit whole (a field is either complete or absent). */
static int gline_put(struct gline *l, const char *s, size_t n)
{
    if (l->full || l->len + n + GLINE_RESERVE > sizeof(l->buf)) {
        l->full = 1;
        return -1;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
    return 0;
}

void gline_begin(struct gline *l, const char *tag)
{
    l->len = 0;
    l->nfields = 0;
    l->full = 0;
    gline_put(l, "PVLAB-", 6);
    gline_put(l, tag, strlen(tag));
    gline_put(l, " {", 2);
}

/* Appends one "key":<value> pair where value is already JSON text. */
static void gline_field(struct gline *l, const char *key, const char *json, size_t n)
{
    char head[96];
    int hn = snprintf(head, sizeof(head), "%s\"%s\":", l->nfields ? "," : "", key);
    size_t save = l->len;

    if (hn < 0 || (size_t)hn >= sizeof(head))
        return;
    if (gline_put(l, head, (size_t)hn) < 0 || gline_put(l, json, n) < 0) {
        l->len = save;
        return;
    }
    l->nfields++;
}

void gline_str(struct gline *l, const char *key, const char *val)
{
    char q[512];
    size_t n = 0;

    q[n++] = '"';
    for (const unsigned char *p = (const unsigned char *)val; *p && n < sizeof(q) - 8; p++) {
        if (*p == '"' || *p == '\\') {
            q[n++] = '\\';
            q[n++] = (char)*p;
        } else if (*p < 0x20 || *p == 0x7f) {
            n += (size_t)snprintf(q + n, 7, "\\u%04x", *p);
        } else {
            q[n++] = (char)*p;
        }
    }
    q[n++] = '"';
    gline_field(l, key, q, n);
}

void gline_int(struct gline *l, const char *key, long long v)
{
    char t[32];
    int n = snprintf(t, sizeof(t), "%lld", v);
    gline_field(l, key, t, (size_t)n);
}

void gline_bool(struct gline *l, const char *key, int v)
{
    gline_field(l, key, v ? "true" : "false", v ? 4 : 5);
}

void gline_dbl(struct gline *l, const char *key, double v)
{
    char t[40];
    int n;

    if (!isfinite(v))
        v = 0;
    n = snprintf(t, sizeof(t), "%.9g", v);
    gline_field(l, key, t, (size_t)n);
}

void gline_hex64(struct gline *l, const char *key, uint64_t v)
{
    char t[32];
    int n = snprintf(t, sizeof(t), "\"0x%016llx\"", (unsigned long long)v);
    gline_field(l, key, t, (size_t)n);
}

/* Writes all of buf to fd 1; one write() in practice (console writes are not short). */
static void write_all(const char *buf, size_t n)
{
    while (n) {
        ssize_t r = write(1, buf, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return;
        buf += r;
        n -= (size_t)r;
    }
}

void gline_emit(struct gline *l)
{
    l->buf[l->len++] = '}';
    l->buf[l->len++] = '\n';
    write_all(l->buf, l->len);
}

void guest_say(const char *text)
{
    char b[GUEST_LINE_MAX + 1];
    size_t n = strlen(text);

    if (n > GUEST_LINE_MAX - 1)
        n = GUEST_LINE_MAX - 1;
    memcpy(b, text, n);
    b[n++] = '\n';
    write_all(b, n);
}

void guest_error(const char *msg)
{
    struct gline l;

    gline_begin(&l, "ERROR");
    gline_str(&l, "msg", msg);
    gline_emit(&l);
}

int kv_find(const char *list, const char *key, char *out, size_t n)
{
    size_t klen = strlen(key);
    const char *p = list;
    int found = 0;

    while (*p) {
        const char *end;
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        end = p;
        while (*end && *end != ' ' && *end != '\t' && *end != '\n')
            end++;
        if ((size_t)(end - p) > klen && !strncmp(p, key, klen) && p[klen] == '=') {
            size_t vlen = (size_t)(end - p) - klen - 1;
            if (vlen > n - 1)
                vlen = n - 1;
            memcpy(out, p + klen + 1, vlen);
            out[vlen] = '\0';
            found = 1;
        }
        p = end;
    }
    return found;
}

const char *arg_find(int argc, char **argv, const char *name)
{
    size_t n = strlen(name);

    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], name, n) && argv[i][n] == '=')
            return argv[i] + n + 1;
    return NULL;
}

int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int parse_ulong(const char *s, unsigned long *out)
{
    char *end;
    unsigned long v;

    if (*s == '-')
        return -1;
    errno = 0;
    v = strtoul(s, &end, 0);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

int parse_rate(const char *s, double *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= 0 && v <= 1))
        return -1;
    *out = v;
    return 0;
}

uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

double rng_unit(uint64_t *state)
{
    return (double)(rng_next(state) >> 11) * (1.0 / 9007199254740992.0);
}

uint64_t rng_seed(uint64_t seed)
{
    struct timespec ts;
    uint64_t s;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    s = seed ^ ((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20);
    rng_next(&s);
    return s;
}

const char *guest_signame(int sig)
{
    switch (sig) {
    case SIGHUP: return "SIGHUP";
    case SIGINT: return "SIGINT";
    case SIGQUIT: return "SIGQUIT";
    case SIGILL: return "SIGILL";
    case SIGTRAP: return "SIGTRAP";
    case SIGABRT: return "SIGABRT";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGKILL: return "SIGKILL";
    case SIGUSR1: return "SIGUSR1";
    case SIGSEGV: return "SIGSEGV";
    case SIGUSR2: return "SIGUSR2";
    case SIGPIPE: return "SIGPIPE";
    case SIGALRM: return "SIGALRM";
    case SIGTERM: return "SIGTERM";
    case SIGSYS: return "SIGSYS";
    default: return "SIGUNKNOWN";
    }
}

int cpu_avx_usable(void)
{
    unsigned a, b, c, d;
    unsigned lo, hi;

    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    if (!(c & bit_OSXSAVE) || !(c & bit_AVX))
        return 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    (void)hi;
    return (lo & 0x6) == 0x6; /* XCR0: SSE and YMM state enabled */
}

long long guest_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum plugin_outcome plugin_outcome(int status, char *what, size_t n)
{
    static const struct {
        int code;
        enum plugin_outcome o;
        const char *why;
    } codes[] = {
        { 0, PLUGIN_PASS, "" },
        { 1, PLUGIN_FAIL, "" },
        { 5, PLUGIN_FAIL, " (XTF failure)" },
        { 125, PLUGIN_SKIP, " (untestable)" },
        { 3, PLUGIN_SKIP, " (XTF skip)" },
        { 4, PLUGIN_INFRA, " (XTF error)" },
        { 6, PLUGIN_INFRA, " (XTF crash)" },
        { 126, PLUGIN_INFRA, " (not executable)" },
        { 127, PLUGIN_INFRA, " (not found)" },
    };
    int code;

    if (!WIFEXITED(status)) {
        snprintf(what, n, "killed by %s",
                 WIFSIGNALED(status) ? guest_signame(WTERMSIG(status)) : "?");
        return PLUGIN_INFRA;
    }
    code = WEXITSTATUS(status);
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (codes[i].code == code) {
            snprintf(what, n, "exit %d%s", code, codes[i].why);
            return codes[i].o;
        }
    snprintf(what, n, "exit %d (not a reproducer exit code)", code);
    return PLUGIN_INFRA;
}

const char *plugin_outcome_name(enum plugin_outcome o)
{
    switch (o) {
    case PLUGIN_PASS: return "pass";
    case PLUGIN_FAIL: return "fail";
    case PLUGIN_SKIP: return "skip";
    case PLUGIN_INFRA: return "infra";
    }
    return "?";
}
