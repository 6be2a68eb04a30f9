/*
 * memcmp-probe: the seed-memcmp reproducer's child, the test case from the original Xen bug #40
 * report kept as close to it as possible: malloc BUF_SIZE, memset it and a reference buffer
 * with IO_PATTERN, memcmp them. libc's memset/memcmp use SSE/AVX registers, so a process whose
 * vector registers are lost in the lazy-FPU window writes or compares wrong bytes. The report's
 * shell loops ran it again and again; here the supervisor execs it once per iteration.
 *
 * Usage: memcmp-probe [--seed=S] [--iter=N] [--self-test-corrupt=RATE]
 * Exit: 0 buffers equal; 3 mismatch (after printing one PVLAB-EVENT line; the original returned
 * 2, pvlab's probes share exit code 3); 4 bad usage or malloc failure.
 * Self-test: with probability RATE one byte of buf is flipped between memset and memcmp.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guest.h"

/* The report does not give BUF_SIZE; 256 KiB (64 fresh pages per buffer) keeps runs short. */
#define BUF_SIZE (256 << 10)
#define IO_PATTERN 0x5a

/* Reference buffer in .bss, like a global in the original: its pages are fresh at each run. */
static unsigned char cmp_buf[BUF_SIZE];

/* Prints the event for the first differing byte (the original dumped every qword instead). */
static void report(const unsigned char *buf, long iter, int self_test)
{
    struct gline l;
    size_t first = 0, count = 0;
    char exp[8], got[8], word[24];

    for (size_t i = 0; i < BUF_SIZE; i++) {
        if (buf[i] != cmp_buf[i]) {
            if (!count)
                first = i;
            count++;
        }
    }
    snprintf(exp, sizeof(exp), "0x%02x", cmp_buf[first]);
    snprintf(got, sizeof(got), "0x%02x", buf[first]);
    {
        uint64_t w;
        memcpy(&w, buf + (first & ~(size_t)7), sizeof(w));
        snprintf(word, sizeof(word), "0x%016llx", (unsigned long long)w);
    }
    gline_begin(&l, "EVENT");
    gline_str(&l, "type", "mismatch");
    gline_str(&l, "repro", "seed-memcmp");
    gline_int(&l, "pid", getpid());
    if (iter >= 0)
        gline_int(&l, "iter", iter);
    gline_int(&l, "offset", (long long)first);
    gline_str(&l, "expected", exp);
    gline_str(&l, "got", got);
    gline_str(&l, "got_qword", word);
    gline_int(&l, "bad_bytes", (long long)count);
    gline_bool(&l, "self_test", self_test);
    gline_emit(&l);
}

int main(int argc, char **argv)
{
    unsigned char *buf;
    unsigned long seed = 0;
    double rate = 0;
    long iter = -1;
    const char *v;
    uint64_t rng;
    int self_test = 0;

    if (((v = arg_find(argc, argv, "--seed")) && parse_ulong(v, &seed) < 0) ||
        ((v = arg_find(argc, argv, "--iter")) && parse_long(v, 0, 1L << 40, &iter) < 0) ||
        ((v = arg_find(argc, argv, "--self-test-corrupt")) && parse_rate(v, &rate) < 0)) {
        fprintf(stderr, "usage: memcmp-probe [--seed=S] [--iter=N] [--self-test-corrupt=0..1]\n");
        return PROBE_EXIT_USAGE;
    }
    rng = rng_seed(seed);

    buf = malloc(BUF_SIZE);
    if (!buf) {
        fprintf(stderr, "memcmp-probe: out of memory during malloc\n");
        return PROBE_EXIT_USAGE;
    }
    memset(buf, IO_PATTERN, BUF_SIZE);
    memset(cmp_buf, IO_PATTERN, BUF_SIZE);

    if (rate > 0 && rng_unit(&rng) < rate) {
        buf[rng_next(&rng) % BUF_SIZE] ^= 0xff;
        self_test = 1;
    }

    if (memcmp(buf, cmp_buf, BUF_SIZE)) {
        report(buf, iter, self_test);
        return PROBE_EXIT_MISMATCH;
    }
    return PROBE_EXIT_OK;
}
