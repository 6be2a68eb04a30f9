/* util/sha256: FIPS 180-4 vectors, incremental updates across block boundaries, file hashing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/buf.h"
#include "util/proc.h"
#include "util/sha256.h"
#include "util/xalloc.h"

static void test_vectors(void **state)
{
    char out[65];
    const char *s448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

    sha256_hex_buf("", 0, out);
    assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha256_hex_buf(NULL, 0, out);
    assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha256_hex_buf("abc", 3, out);
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sha256_hex_buf(s448, strlen(s448), out);
    assert_string_equal(out, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_million_a(void **state)
{
    struct sha256_ctx c;
    char chunk[1000], out[65];
    char *big = xmalloc(1000000);
    int i;

    /* incremental, in odd-sized chunks that straddle block boundaries */
    memset(chunk, 'a', sizeof(chunk));
    sha256_init(&c);
    for (i = 0; i < 1000; i++)
        sha256_update(&c, chunk, sizeof(chunk));
    sha256_final_hex(&c, out);
    assert_string_equal(out, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

    memset(big, 'a', 1000000);
    sha256_hex_buf(big, 1000000, out);
    assert_string_equal(out, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(big);
}

/* Every split point of a 200-byte message (padding edge cases at 55/56/63/64) agrees. */
static void test_split_points(void **state)
{
    unsigned char msg[200];
    char whole[65], part[65];
    struct sha256_ctx c;
    size_t n, k;

    for (n = 0; n < sizeof(msg); n++)
        msg[n] = (unsigned char)(n * 7 + 3);
    for (n = 50; n <= 130; n++) {
        sha256_hex_buf(msg, n, whole);
        for (k = 0; k <= n; k += 13) {
            sha256_init(&c);
            sha256_update(&c, msg, k);
            sha256_update(&c, msg + k, n - k);
            sha256_final_hex(&c, part);
            assert_string_equal(whole, part);
        }
    }
    /* 55 bytes of 'a' fits padding in one block; 56 needs two */
    memset(msg, 'a', 56);
    sha256_hex_buf(msg, 55, whole);
    assert_string_equal(whole, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
    sha256_hex_buf(msg, 56, whole);
    assert_string_equal(whole, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
}

/* A file of ~200 KiB hashes the same as coreutils' sha256sum. */
static void test_file_matches_sha256sum(void **state)
{
    char path[] = "/tmp/pvlab-sha256-XXXXXX";
    char out[65];
    struct buf sum = BUF_INIT;
    struct err e = ERR_INIT;
    FILE *f;
    int fd, i;

    fd = mkstemp(path);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    for (i = 0; i < 200000; i++)
        fputc((i * 31 + i / 7) & 0xff, f);
    fclose(f);

    assert_int_equal(sha256_file_hex(path, out, &e), 0);
    {
        const char *argv[] = { "sha256sum", path, NULL };
        struct proc_spec ps = { .argv = argv, .out = &sum, .timeout_ms = 30000 };
        if (proc_run(&ps, &e) < 0) {
            unlink(path);
            skip();
        }
    }
    assert_true(sum.len >= 64);
    assert_memory_equal(sum.data, out, 64);
    buf_release(&sum);
    unlink(path);
}

static void test_file_missing(void **state)
{
    struct err e = ERR_INIT;
    char out[65];

    assert_int_equal(sha256_file_hex("/nonexistent/pvlab/file", out, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    assert_non_null(strstr(e.msg, "/nonexistent/pvlab/file"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),      cmocka_unit_test(test_million_a),
        cmocka_unit_test(test_split_points), cmocka_unit_test(test_file_matches_sha256sum),
        cmocka_unit_test(test_file_missing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
