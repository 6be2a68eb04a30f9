/*
 * fpu-probe: the fpu-leak reproducer's child (Xen bug #40). Every run is a fresh execve, so the
 * process takes the kernel's first-FPU-use path. It loads a per-process pattern into XMM0-15
 * (the YMM upper halves too when AVX is usable), three x87 stack slots, the x87 control word and
 * MXCSR, invites a context switch (sched_yield, faults on fresh pages, a short nanosleep, another
 * yield) and reads everything back. Load, yield and read-back are one asm block that issues the
 * syscalls itself, so no compiler-generated code or libc routine can touch the registers between
 * the load and the check.
 *
 * Usage: fpu-probe [--seed=S] [--iter=N] [--self-test-corrupt=RATE] [--sse-only=1]
 * (--sse-only skips the YMM path even on AVX machines, so tests can run both paths.)
 * Exit: 0 all registers intact; 3 mismatch (after printing one PVLAB-EVENT line); 4 bad usage.
 * Self-test: with probability RATE the probe clobbers one XMM register between load and check
 * (a positive control); its event says "self_test":true.
 *
 * Pattern of each 64-bit lane: tag 0x50564c ("PVL") << 40 | pid (24 bits) << 16 | seed (8 bits)
 * << 8 | register (6 bits) << 2 | lane (2 bits). A corrupted value carrying the tag and another
 * pid came from another process: the event says "foreign":true with "foreign_pid".
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "guest.h"

#define TAG 0x50564cULL
#define NPAGES 8
#define NX87 3
#define FCW_PATTERN 0x0f7f   /* default 0x037f with rounding toward zero */
#define MXCSR_PATTERN 0xff80 /* default 0x1f80 with rounding toward zero and flush-to-zero */
#define MXCSR_DEFAULT 0x1f80

/* Everything the asm block reads and writes, addressed from one base register. */
struct probe_state {
    uint64_t in[16][4];  /* per register: lanes 0-1 = XMM, 2-3 = YMM upper half */
    uint64_t out[16][4];
    int64_t x87_in[NX87];
    int64_t x87_out[NX87];
    uint32_t mx_in, mx_out, mx_def;
    uint16_t fcw_in, fcw_out;
    struct timespec ts;
    char *pages;
    long npages;
} __attribute__((aligned(32)));

#define O(f) [f] "i"(offsetof(struct probe_state, f))

#define LD_X(i) "movdqu %c[in]+" #i "*32(%[s]), %%xmm" #i "\n\t"
#define ST_X(i) "movdqu %%xmm" #i ", %c[out]+" #i "*32(%[s])\n\t"
#define LD_Y(i) "vmovdqu %c[in]+" #i "*32(%[s]), %%ymm" #i "\n\t"
#define ST_Y(i) "vmovdqu %%ymm" #i ", %c[out]+" #i "*32(%[s])\n\t"
#define BAD_X(i) \
    "cmpl $" #i ", %k[bad]\n\tjne 1" #i "f\n\tpcmpeqd %%xmm" #i ", %%xmm" #i "\n1" #i ":\n\t"
#define BAD_Y(i) \
    "cmpl $" #i ", %k[bad]\n\tjne 1" #i "f\n\tvpcmpeqd %%xmm" #i ", %%xmm" #i ", %%xmm" #i \
    "\n1" #i ":\n\t"
#define ALL16(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) M(12) M(13) \
    M(14) M(15)

/* x87 and MXCSR load, then the context-switch invitations (raw syscalls, no libc). */
#define X87_LOAD                                                                               \
    "fninit\n\t"                                                                               \
    "fldcw %c[fcw_in](%[s])\n\t"                                                               \
    "fildq %c[x87_in](%[s])\n\t"                                                               \
    "fildq %c[x87_in]+8(%[s])\n\t"                                                             \
    "fildq %c[x87_in]+16(%[s])\n\t"                                                            \
    "ldmxcsr %c[mx_in](%[s])\n\t"
#define YIELD                                                                                  \
    "mov $24, %%eax\n\t" /* SYS_sched_yield */                                                 \
    "syscall\n\t"                                                                              \
    "mov %c[pages](%[s]), %%rdx\n\t"                                                           \
    "mov %c[npages](%[s]), %%r8\n\t"                                                           \
    "2: movb $1, (%%rdx)\n\t"                                                                  \
    "add $4096, %%rdx\n\t"                                                                     \
    "dec %%r8\n\t"                                                                             \
    "jnz 2b\n\t"                                                                               \
    "mov $35, %%eax\n\t" /* SYS_nanosleep */                                                   \
    "lea %c[ts](%[s]), %%rdi\n\t"                                                              \
    "xor %%esi, %%esi\n\t"                                                                     \
    "syscall\n\t"                                                                              \
    "mov $24, %%eax\n\t"                                                                       \
    "syscall\n\t"
#define X87_STORE                                                                              \
    "stmxcsr %c[mx_out](%[s])\n\t"                                                             \
    "fnstcw %c[fcw_out](%[s])\n\t"                                                             \
    "fistpq %c[x87_out]+16(%[s])\n\t"                                                          \
    "fistpq %c[x87_out]+8(%[s])\n\t"                                                           \
    "fistpq %c[x87_out](%[s])\n\t"                                                             \
    "fninit\n\t"                                                                               \
    "ldmxcsr %c[mx_def](%[s])\n\t"

#define OPERANDS                                                                               \
    : /* no outputs: results go through memory */                                          \
    : [s] "r"(st), [bad] "r"(bad), O(in), O(out), O(x87_in), O(x87_out), O(mx_in), O(mx_out),   \
      O(mx_def), O(fcw_in), O(fcw_out), O(ts), O(pages), O(npages)                             \
    : "rax", "rcx", "r11", "rdx", "rdi", "rsi", "r8", "memory", "cc", "xmm0", "xmm1", "xmm2",    \
      "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",         \
      "xmm13", "xmm14", "xmm15", "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)",     \
      "st(7)"

/* Load, yield, (self-test: clobber register bad), read back: SSE-only machines. */
static void run_sse(struct probe_state *st, int bad)
{
    __asm__ volatile(ALL16(LD_X) X87_LOAD YIELD ALL16(BAD_X) ALL16(ST_X) X87_STORE OPERANDS);
}

/* Same with full YMM registers. */
static void run_avx(struct probe_state *st, int bad)
{
    __asm__ volatile(ALL16(LD_Y) X87_LOAD YIELD ALL16(BAD_Y) ALL16(ST_Y) X87_STORE
                     "vzeroupper\n\t" OPERANDS);
}

static uint64_t pattern(unsigned pid, unsigned seed, unsigned reg, unsigned lane)
{
    return TAG << 40 | (uint64_t)(pid & 0xffffff) << 16 | (uint64_t)(seed & 0xff) << 8 |
           (uint64_t)(reg & 0x3f) << 2 | (lane & 3);
}

/* Returns 1 and the pid when v looks like another process's pattern. */
static int foreign_pid(uint64_t v, unsigned pid, unsigned *other_r)
{
    if (v >> 40 != TAG || ((v >> 16) & 0xffffff) == (pid & 0xffffff))
        return 0;
    *other_r = (unsigned)((v >> 16) & 0xffffff);
    return 1;
}

struct mismatch {
    int count;
    char reg[24];
    uint64_t exp[2], got[2]; /* [0] = high qword, [1] = low qword; width 1 or 2 */
    int width;
    int foreign;
    unsigned foreign_pid;
};

/* Records one compared item; the first mismatch is the one reported. */
static void check(struct mismatch *m, unsigned pid, const char *reg, const uint64_t *exp,
                  const uint64_t *got, int width)
{
    unsigned other = 0;
    int diff = 0, foreign = 0;

    for (int i = 0; i < width; i++) {
        if (exp[i] != got[i]) {
            diff = 1;
            if (!foreign)
                foreign = foreign_pid(got[i], pid, &other);
        }
    }
    if (!diff)
        return;
    if (m->count++ == 0 || (foreign && !m->foreign)) {
        snprintf(m->reg, sizeof(m->reg), "%s", reg);
        memcpy(m->exp, exp, sizeof(uint64_t) * (size_t)width);
        memcpy(m->got, got, sizeof(uint64_t) * (size_t)width);
        m->width = width;
        m->foreign = foreign;
        m->foreign_pid = other;
    }
}

static void hex(char *out, size_t n, const uint64_t *v, int width)
{
    if (width == 2)
        snprintf(out, n, "0x%016llx%016llx", (unsigned long long)v[0], (unsigned long long)v[1]);
    else
        snprintf(out, n, "0x%016llx", (unsigned long long)v[0]);
}

/* Compares the read-back state with what was loaded. */
static void compare(const struct probe_state *st, unsigned pid, int avx, struct mismatch *m)
{
    char name[24];

    for (int r = 0; r < 16; r++) {
        uint64_t e[2] = { st->in[r][1], st->in[r][0] }, g[2] = { st->out[r][1], st->out[r][0] };
        snprintf(name, sizeof(name), "xmm%d", r);
        check(m, pid, name, e, g, 2);
        if (avx) {
            uint64_t eh[2] = { st->in[r][3], st->in[r][2] };
            uint64_t gh[2] = { st->out[r][3], st->out[r][2] };
            snprintf(name, sizeof(name), "ymm%d[255:128]", r);
            check(m, pid, name, eh, gh, 2);
        }
    }
    for (int i = 0; i < NX87; i++) {
        uint64_t e = (uint64_t)st->x87_in[i], g = (uint64_t)st->x87_out[i];
        snprintf(name, sizeof(name), "st%d", NX87 - 1 - i); /* last loaded is st0 */
        check(m, pid, name, &e, &g, 1);
    }
    {
        uint64_t e = st->fcw_in, g = st->fcw_out;
        check(m, pid, "fcw", &e, &g, 1);
        e = st->mx_in;
        g = st->mx_out;
        check(m, pid, "mxcsr", &e, &g, 1);
    }
}

static void report(const struct mismatch *m, unsigned pid, long iter, int self_test)
{
    struct gline l;
    char e[48], g[48];

    hex(e, sizeof(e), m->exp, m->width);
    hex(g, sizeof(g), m->got, m->width);
    gline_begin(&l, "EVENT");
    gline_str(&l, "type", "mismatch");
    gline_str(&l, "repro", "fpu-leak");
    gline_int(&l, "pid", pid);
    if (iter >= 0)
        gline_int(&l, "iter", iter);
    gline_str(&l, "reg", m->reg);
    gline_str(&l, "expected", e);
    gline_str(&l, "got", g);
    gline_bool(&l, "foreign", m->foreign);
    if (m->foreign)
        gline_int(&l, "foreign_pid", m->foreign_pid);
    gline_int(&l, "bad_regs", m->count);
    gline_bool(&l, "self_test", self_test);
    gline_emit(&l);
}

int main(int argc, char **argv)
{
    static struct probe_state state;
    struct probe_state *st = &state;
    struct mismatch m = { 0 };
    unsigned long seed = 0;
    double rate = 0;
    long iter = -1;
    const char *v;
    unsigned pid = (unsigned)getpid();
    uint64_t rng;
    int avx, bad = -1;

    if (((v = arg_find(argc, argv, "--seed")) && parse_ulong(v, &seed) < 0) ||
        ((v = arg_find(argc, argv, "--iter")) && parse_long(v, 0, 1L << 40, &iter) < 0) ||
        ((v = arg_find(argc, argv, "--self-test-corrupt")) && parse_rate(v, &rate) < 0)) {
        fprintf(stderr, "usage: fpu-probe [--seed=S] [--iter=N] [--self-test-corrupt=0..1]\n");
        return PROBE_EXIT_USAGE;
    }
    rng = rng_seed(seed);
    if (rate > 0 && rng_unit(&rng) < rate)
        bad = (int)(rng_next(&rng) % 16);
    avx = cpu_avx_usable() && !arg_find(argc, argv, "--sse-only");

    for (unsigned r = 0; r < 16; r++)
        for (unsigned lane = 0; lane < 4; lane++)
            st->in[r][lane] = pattern(pid, (unsigned)seed, r, lane);
    for (unsigned i = 0; i < NX87; i++)
        st->x87_in[i] = (int64_t)pattern(pid, (unsigned)seed, 16 + i, 0);
    st->fcw_in = FCW_PATTERN;
    st->mx_in = MXCSR_PATTERN;
    st->mx_def = MXCSR_DEFAULT;
    st->ts.tv_sec = 0;
    st->ts.tv_nsec = 100000 + (long)(rng_next(&rng) % 400000);
    st->npages = NPAGES;
    st->pages = mmap(NULL, NPAGES * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0);
    if (st->pages == MAP_FAILED) {
        perror("fpu-probe: mmap");
        return PROBE_EXIT_USAGE;
    }

    if (avx)
        run_avx(st, bad);
    else
        run_sse(st, bad);

    compare(st, pid, avx, &m);
    if (m.count) {
        report(&m, pid, iter, bad >= 0);
        return PROBE_EXIT_MISMATCH;
    }
    return PROBE_EXIT_OK;
}
