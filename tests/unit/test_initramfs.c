/*
 * images/cpio + images/payload: archives are parsed back by an independent newc reader written
 * here (and listed by the system's cpio tool when installed), so a wrong header field, padding
 * or gzip stream fails a test rather than being checked against the writer's own idea of it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "images/cpio.h"
#include "images/payload_priv.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/sha256.h"
#include "util/xalloc.h"

/* ---- a tiny newc reader ---- */

struct entry {
    char name[256];
    unsigned ino, mode, uid, gid, nlink, mtime, size, dmaj, dmin, rmaj, rmin;
    const unsigned char *data;
};

struct archive {
    unsigned char *raw;
    size_t len;
    struct entry e[64];
    int n;
};

static unsigned hexfield(const unsigned char *p)
{
    char t[9];
    memcpy(t, p, 8);
    t[8] = '\0';
    for (int i = 0; i < 8; i++)
        assert_true((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'A' && t[i] <= 'F'));
    return (unsigned)strtoul(t, NULL, 16);
}

static void assert_zero_pad(const unsigned char *p, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        assert_int_equal(p[i], 0);
}

/* Reads a whole file, gunzipping when it is gzip (gzread passes plain files through). */
static void slurp(const char *path, unsigned char **data_r, size_t *len_r)
{
    gzFile gz = gzopen(path, "rb");
    struct buf b = BUF_INIT;
    char chunk[65536];
    int r;

    assert_non_null(gz);
    while ((r = gzread(gz, chunk, sizeof(chunk))) > 0)
        buf_add(&b, chunk, (size_t)r);
    assert_true(r == 0);
    gzclose(gz);
    *data_r = (unsigned char *)buf_detach(&b, len_r);
}

/* Parses a newc archive strictly: magic, hex fields, 4-byte alignment, zero padding, trailer. */
static void parse(struct archive *a, const char *path)
{
    size_t off = 0;

    memset(a, 0, sizeof(*a));
    slurp(path, &a->raw, &a->len);
    for (;;) {
        const unsigned char *h = a->raw + off;
        struct entry *en = &a->e[a->n];
        unsigned namesize, check;
        size_t name_end, data_end;

        assert_int_equal(off % 4, 0);
        assert_true(off + 110 <= a->len);
        assert_memory_equal(h, "070701", 6);
        en->ino = hexfield(h + 6);
        en->mode = hexfield(h + 14);
        en->uid = hexfield(h + 22);
        en->gid = hexfield(h + 30);
        en->nlink = hexfield(h + 38);
        en->mtime = hexfield(h + 46);
        en->size = hexfield(h + 54);
        en->dmaj = hexfield(h + 62);
        en->dmin = hexfield(h + 70);
        en->rmaj = hexfield(h + 78);
        en->rmin = hexfield(h + 86);
        namesize = hexfield(h + 94);
        check = hexfield(h + 102);
        assert_int_equal(check, 0);
        assert_true(namesize >= 2 && namesize < sizeof(en->name));
        assert_true(off + 110 + namesize <= a->len);
        assert_int_equal(h[110 + namesize - 1], '\0');
        memcpy(en->name, h + 110, namesize);
        name_end = (off + 110 + namesize + 3) & ~(size_t)3;
        assert_zero_pad(a->raw, off + 110 + namesize, name_end);
        en->data = a->raw + name_end;
        data_end = name_end + en->size;
        assert_true(data_end <= a->len);
        off = (data_end + 3) & ~(size_t)3;
        assert_true(off <= a->len);
        assert_zero_pad(a->raw, data_end, off);
        if (!strcmp(en->name, "TRAILER!!!"))
            break;
        a->n++;
        assert_true(a->n < 64);
    }
    assert_int_equal(off, a->len); /* nothing after the trailer */
}

static const struct entry *find(const struct archive *a, const char *name)
{
    for (int i = 0; i < a->n; i++)
        if (!strcmp(a->e[i].name, name))
            return &a->e[i];
    return NULL;
}

static void archive_free(struct archive *a)
{
    free(a->raw);
}

static int file_starts_with_gzip_magic(const char *path)
{
    unsigned char m[2] = { 0, 0 };
    FILE *f = fopen(path, "rb");
    size_t r;

    assert_non_null(f);
    r = fread(m, 1, 2, f);
    fclose(f);
    return r == 2 && m[0] == 0x1f && m[1] == 0x8b;
}

static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    assert_non_null(d);
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void write_file(const char *path, const void *data, size_t len)
{
    struct err e = ERR_INIT;
    assert_int_equal(fs_write_atomic(path, data, len, &e), 0);
}

static int files_equal(const char *a, const char *b)
{
    unsigned char *da, *db;
    size_t la, lb;
    FILE *f;
    int eq;

    f = fopen(a, "rb");
    assert_non_null(f);
    da = xmalloc(1 << 24);
    la = fread(da, 1, 1 << 24, f);
    fclose(f);
    f = fopen(b, "rb");
    assert_non_null(f);
    db = xmalloc(1 << 24);
    lb = fread(db, 1, 1 << 24, f);
    fclose(f);
    eq = la == lb && !memcmp(da, db, la);
    free(da);
    free(db);
    return eq;
}

/* ---- fixtures ---- */

struct fx {
    char dir[64];
};

static int fx_setup(void **state)
{
    struct fx *f = xcalloc(1, sizeof(*f));

    snprintf(f->dir, sizeof(f->dir), "/tmp/pvlab-test-initramfs.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    fs_rmtree(f->dir, NULL);
    free(f);
    return 0;
}

/* Builds the sample archive every cpio test uses. */
static void build_sample(const char *dir, const char *out, enum cpio_compress how)
{
    struct err e = ERR_INIT;
    struct cpio *c = NULL;
    char *src = xasprintf("%s/src.bin", dir);

    write_file(src, "hello, dom0\n", 12);
    assert_int_equal(cpio_open(out, how, &c, &e), 0);
    assert_int_equal(cpio_add_dir(c, "/bin", 0755, &e), 0);
    assert_int_equal(cpio_add_dir(c, "tmp", 01777, &e), 0);
    assert_int_equal(cpio_add_chardev(c, "dev/console", 0600, 5, 1, &e), 0);
    assert_int_equal(cpio_add_file(c, "init", 0755, src, &e), 0);
    for (int i = 0; i <= 5; i++) { /* every padding remainder */
        char name[16];
        snprintf(name, sizeof(name), "pad%d", i);
        assert_int_equal(cpio_add_data(c, name, 0644, "abcde", (size_t)i, &e), 0);
    }
    assert_int_equal(cpio_add_symlink(c, "bin/sh", "busybox", &e), 0);
    assert_int_equal(cpio_commit(c, &e), 0);
    free(src);
}

/* ---- cpio writer ---- */

static void test_plain_roundtrip(void **state)
{
    struct fx *f = *state;
    char *out = xasprintf("%s/a.cpio", f->dir);
    struct archive a;
    const struct entry *en;

    build_sample(f->dir, out, CPIO_PLAIN);
    assert_false(file_starts_with_gzip_magic(out));
    parse(&a, out);
    assert_int_equal(a.n, 11);

    en = find(&a, "bin"); /* leading slash stripped */
    assert_non_null(en);
    assert_int_equal(en->mode, 040755);
    assert_int_equal(en->nlink, 2);
    assert_int_equal(en->size, 0);
    assert_int_equal(find(&a, "tmp")->mode, 041777);

    en = find(&a, "dev/console");
    assert_non_null(en);
    assert_int_equal(en->mode, 020600);
    assert_int_equal(en->rmaj, 5);
    assert_int_equal(en->rmin, 1);
    assert_int_equal(en->size, 0);

    en = find(&a, "init");
    assert_non_null(en);
    assert_int_equal(en->mode, 0100755);
    assert_int_equal(en->size, 12);
    assert_memory_equal(en->data, "hello, dom0\n", 12);

    for (int i = 0; i <= 5; i++) {
        char name[16];
        snprintf(name, sizeof(name), "pad%d", i);
        en = find(&a, name);
        assert_non_null(en);
        assert_int_equal(en->mode, 0100644);
        assert_int_equal(en->size, i);
        assert_memory_equal(en->data, "abcde", (size_t)i);
    }

    en = find(&a, "bin/sh");
    assert_non_null(en);
    assert_int_equal(en->mode, 0120777);
    assert_int_equal(en->size, 7);
    assert_memory_equal(en->data, "busybox", 7);

    for (int i = 0; i < a.n; i++) { /* deterministic metadata, inodes in order */
        assert_int_equal(a.e[i].ino, (unsigned)i + 1);
        assert_int_equal(a.e[i].mtime, 0);
        assert_int_equal(a.e[i].uid, 0);
        assert_int_equal(a.e[i].gid, 0);
    }
    archive_free(&a);
    free(out);
}

static void test_gzip_is_gzip_of_plain(void **state)
{
    struct fx *f = *state;
    char *plain = xasprintf("%s/p.cpio", f->dir), *gz = xasprintf("%s/g.cpio.gz", f->dir);
    unsigned char *dp, *dg;
    size_t lp, lg;

    build_sample(f->dir, plain, CPIO_PLAIN);
    build_sample(f->dir, gz, CPIO_GZIP);
    assert_true(file_starts_with_gzip_magic(gz));
    slurp(plain, &dp, &lp);
    slurp(gz, &dg, &lg);
    assert_int_equal(lp, lg);
    assert_memory_equal(dp, dg, lp);
    free(dp);
    free(dg);
    free(plain);
    free(gz);
}

static void test_deterministic(void **state)
{
    struct fx *f = *state;
    char *a = xasprintf("%s/1.cpio.gz", f->dir), *b = xasprintf("%s/2.cpio.gz", f->dir);

    build_sample(f->dir, a, CPIO_GZIP);
    sleep(1); /* a timestamp leaking into the output would now differ */
    build_sample(f->dir, b, CPIO_GZIP);
    assert_true(files_equal(a, b));
    free(a);
    free(b);
}

/* The system's cpio must list the same names (skipped when cpio is not installed). */
static void test_system_cpio_agrees(void **state)
{
    struct fx *f = *state;
    char *out = xasprintf("%s/a.cpio", f->dir), *cmd, *tool = fs_which("cpio");
    char line[512];
    struct buf got = BUF_INIT;
    FILE *p;

    if (!tool) {
        free(out);
        skip();
    }
    build_sample(f->dir, out, CPIO_PLAIN);
    cmd = xasprintf("cpio --quiet -it < '%s'", out);
    p = popen(cmd, "r");
    assert_non_null(p);
    while (fgets(line, sizeof(line), p))
        buf_adds(&got, line);
    assert_int_equal(pclose(p), 0);
    assert_string_equal(got.data,
                        "bin\ntmp\ndev/console\ninit\npad0\npad1\npad2\npad3\npad4\npad5\n"
                        "bin/sh\n");
    buf_release(&got);
    free(cmd);
    free(tool);
    free(out);
}

static void test_abort_and_errors_leave_nothing(void **state)
{
    struct fx *f = *state;
    char *out = xasprintf("%s/x.cpio.gz", f->dir), *missing = xasprintf("%s/nope", f->dir);
    struct err e = ERR_INIT;
    struct cpio *c = NULL;

    assert_int_equal(cpio_open(out, CPIO_GZIP, &c, &e), 0);
    assert_int_equal(dir_entries(f->dir), 1); /* the temp file, not out */
    assert_false(fs_exists(out));
    assert_int_equal(cpio_add_dir(c, "bin", 0755, &e), 0);
    assert_int_equal(cpio_add_file(c, "init", 0755, missing, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    assert_non_null(strstr(e.msg, "nope"));
    assert_int_equal(cpio_add_dir(c, "", 0755, &e), -1);
    assert_int_equal(cpio_add_dir(c, "a/../../b", 0755, &e), -1);
    cpio_abort(c);
    assert_int_equal(dir_entries(f->dir), 0);

    cpio_abort(NULL);
    free(out);
    out = xasprintf("%s/no/such/dir/x.cpio", f->dir);
    c = NULL;
    assert_int_equal(cpio_open(out, CPIO_PLAIN, &c, &e), -1);
    assert_null(c);
    assert_int_equal(dir_entries(f->dir), 0);
    free(out);
    free(missing);
}

static void test_commit_replaces_existing(void **state)
{
    struct fx *f = *state;
    char *out = xasprintf("%s/x.cpio", f->dir);
    struct err e = ERR_INIT;
    struct cpio *c = NULL;
    struct archive a;

    write_file(out, "old", 3);
    assert_int_equal(cpio_open(out, CPIO_PLAIN, &c, &e), 0);
    assert_int_equal(cpio_add_data(c, "new", 0644, "n", 1, &e), 0);
    { /* still the old file while writing */
        struct stat sb;
        assert_int_equal(stat(out, &sb), 0);
        assert_int_equal(sb.st_size, 3);
    }
    assert_int_equal(cpio_commit(c, &e), 0);
    assert_int_equal(dir_entries(f->dir), 1);
    parse(&a, out);
    assert_int_equal(a.n, 1);
    assert_string_equal(a.e[0].name, "new");
    archive_free(&a);
    free(out);
}

/* ---- payload ---- */

/* A minimal 64-bit ELF header: static, or with a PT_INTERP program header. */
static void write_fake_elf(const char *path, int dynamic, const char *tag)
{
    struct buf b = BUF_INIT;
    Elf64_Ehdr eh;
    Elf64_Phdr ph;

    memset(&eh, 0, sizeof(eh));
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = EM_X86_64;
    eh.e_version = EV_CURRENT;
    eh.e_ehsize = sizeof(eh);
    eh.e_phentsize = sizeof(ph);
    eh.e_phoff = sizeof(eh);
    eh.e_phnum = 1;
    memset(&ph, 0, sizeof(ph));
    ph.p_type = dynamic ? PT_INTERP : PT_LOAD;
    buf_add(&b, &eh, sizeof(eh));
    buf_add(&b, &ph, sizeof(ph));
    buf_adds(&b, tag);
    write_file(path, b.data, b.len);
    chmod(path, 0755);
    buf_release(&b);
}

/* guest dir with fake static pvlab-init, fpu-probe, memcmp-probe, plus a fake busybox. */
static void make_inputs(const char *dir, char **guest_r, char **bb_r)
{
    char *g = xasprintf("%s/guest", dir), *p;
    struct err e = ERR_INIT;

    assert_int_equal(fs_mkdirs(g, &e), 0);
    p = xasprintf("%s/pvlab-init", g);
    write_fake_elf(p, 0, "init-v1");
    free(p);
    p = xasprintf("%s/fpu-probe", g);
    write_fake_elf(p, 0, "fpu-v1");
    free(p);
    p = xasprintf("%s/memcmp-probe", g);
    write_fake_elf(p, 0, "memcmp-v1");
    free(p);
    *bb_r = xasprintf("%s/busybox", dir);
    write_fake_elf(*bb_r, 0, "busybox-v1");
    *guest_r = g;
}

static void test_payload_layout(void **state)
{
    struct fx *f = *state;
    char *guest, *bb, *path = NULL, *sha = NULL, *cache = xasprintf("%s/cache", f->dir);
    char *prefix = xasprintf("%s/initramfs/", cache), *cmd, line[128] = "";
    struct err e = ERR_INIT;
    struct archive a;
    const struct entry *en;
    static const char *const applets[] = { "sh", "ls", "cat", "dmesg", "poweroff" };
    FILE *p;

    make_inputs(f->dir, &guest, &bb);
    assert_int_equal(payload_build(cache, guest, bb, NULL, &path, &sha, &e), 0);
    assert_int_equal(strncmp(path, prefix, strlen(prefix)), 0);
    assert_int_equal(strlen(path + strlen(prefix)), 64 + strlen(".cpio.gz"));
    assert_string_equal(path + strlen(path) - 8, ".cpio.gz");
    assert_true(file_starts_with_gzip_magic(path));

    /* sha256_r is the archive's digest as sha256sum sees it */
    cmd = xasprintf("sha256sum '%s'", path);
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(line, sizeof(line), p));
    pclose(p);
    assert_int_equal(strlen(sha), 64);
    assert_memory_equal(line, sha, 64);

    parse(&a, path);
    en = find(&a, "init");
    assert_non_null(en);
    assert_int_equal(en->mode, 0100755);
    assert_non_null(memmem(en->data, en->size, "init-v1", 7));
    assert_non_null(
        memmem(find(&a, "bin/fpu-probe")->data, find(&a, "bin/fpu-probe")->size, "fpu-v1", 6));
    assert_non_null(memmem(find(&a, "bin/memcmp-probe")->data, find(&a, "bin/memcmp-probe")->size,
                           "memcmp-v1", 9));
    assert_int_equal(find(&a, "bin/busybox")->mode, 0100755);
    for (size_t i = 0; i < sizeof(applets) / sizeof(applets[0]); i++) {
        char name[32];
        snprintf(name, sizeof(name), "bin/%s", applets[i]);
        en = find(&a, name);
        assert_non_null(en);
        assert_int_equal(en->mode, 0120777);
        assert_memory_equal(en->data, "busybox", 7);
    }
    en = find(&a, "dev/console");
    assert_non_null(en);
    assert_int_equal(en->mode, 020600);
    assert_int_equal(en->rmaj, 5);
    assert_int_equal(en->rmin, 1);
    assert_int_equal(find(&a, "dev")->mode, 040755);
    assert_int_equal(find(&a, "proc")->mode, 040755);
    assert_int_equal(find(&a, "sys")->mode, 040755);
    assert_int_equal(find(&a, "tmp")->mode, 041777);
    archive_free(&a);
    free(path);
    free(sha);
    free(guest);
    free(bb);
    free(cache);
    free(prefix);
    free(cmd);
}

/* A plug-in lands under pvlab/repro with its manifest, and is part of the cache key. */
static void test_payload_plugin(void **state)
{
    struct fx *f = *state;
    char *guest, *bb, *p0 = NULL, *s0 = NULL, *p1 = NULL, *s1 = NULL, *p2 = NULL, *s2 = NULL;
    char *cache = xasprintf("%s/cache", f->dir), *prog = xasprintf("%s/check.sh", f->dir);
    struct payload_plugin pl = { "check", prog, "name check\nkind script\nmodel once\n" };
    struct err e = ERR_INIT;
    struct archive a;
    const struct entry *en;

    make_inputs(f->dir, &guest, &bb);
    write_file(prog, "exit 0\n", 7);
    assert_int_equal(payload_build(cache, guest, bb, NULL, &p0, &s0, &e), 0);
    assert_int_equal(payload_build(cache, guest, bb, &pl, &p1, &s1, &e), 0);
    assert_string_not_equal(p0, p1);
    parse(&a, p1);
    en = find(&a, "pvlab/repro/check");
    assert_non_null(en);
    assert_int_equal(en->mode, 0100755);
    assert_memory_equal(en->data, "exit 0\n", 7);
    en = find(&a, "pvlab/repro/manifest");
    assert_non_null(en);
    assert_memory_equal(en->data, pl.manifest, strlen(pl.manifest));
    assert_non_null(find(&a, "bin/grep")); /* scripts get the common applets */
    archive_free(&a);
    parse(&a, p0); /* negative control: no plug-in, no /pvlab */
    assert_null(find(&a, "pvlab/repro/manifest"));
    archive_free(&a);
    /* another program or another manifest (arguments) is another archive */
    write_file(prog, "exit 1\n", 7);
    assert_int_equal(payload_build(cache, guest, bb, &pl, &p2, &s2, &e), 0);
    assert_string_not_equal(p1, p2);
    free(p2);
    free(s2);
    pl.manifest = "name check\nkind script\nmodel once\narg --x\n";
    assert_int_equal(payload_build(cache, guest, bb, &pl, &p2, &s2, &e), 0);
    assert_string_not_equal(p1, p2);
    free(p0);
    free(s0);
    free(p1);
    free(s1);
    free(p2);
    free(s2);
    free(guest);
    free(bb);
    free(cache);
    free(prog);
}

static void test_payload_reuse_and_key(void **state)
{
    struct fx *f = *state;
    char *guest, *bb, *p1 = NULL, *s1 = NULL, *p2 = NULL, *s2 = NULL, *p3 = NULL, *s3 = NULL;
    char *cache = xasprintf("%s/cache", f->dir), *fpu;
    struct err e = ERR_INIT;
    struct stat st1, st2;

    make_inputs(f->dir, &guest, &bb);
    assert_int_equal(payload_build(cache, guest, bb, NULL, &p1, &s1, &e), 0);
    assert_int_equal(stat(p1, &st1), 0);
    sleep(1);
    assert_int_equal(payload_build(cache, guest, bb, NULL, &p2, &s2, &e), 0);
    assert_string_equal(p1, p2);
    assert_string_equal(s1, s2);
    assert_int_equal(stat(p2, &st2), 0);
    assert_int_equal(st1.st_ino, st2.st_ino); /* reused, not rebuilt */
    assert_int_equal(st1.st_mtime, st2.st_mtime);

    fpu = xasprintf("%s/fpu-probe", guest); /* new probe contents: new key, new archive */
    write_file(fpu, "x", 1);
    write_fake_elf(fpu, 0, "fpu-v2");
    assert_int_equal(payload_build(cache, guest, bb, NULL, &p3, &s3, &e), 0);
    assert_string_not_equal(p1, p3);
    assert_string_not_equal(s1, s3);
    assert_true(fs_exists(p1));

    /* rebuilding from scratch gives the same bytes (same sha) */
    assert_int_equal(unlink(p3), 0);
    free(p3);
    p3 = NULL;
    free(s2);
    s2 = NULL;
    assert_int_equal(payload_build(cache, guest, bb, NULL, &p3, &s2, &e), 0);
    assert_string_equal(s2, s3);
    {
        char *idir = xasprintf("%s/initramfs", cache);
        /* two archives, their sha256 records and the lock: no temp files left behind */
        assert_int_equal(dir_entries(idir), 5);
        free(idir);
    }
    free(p1);
    free(s1);
    free(p2);
    free(s2);
    free(p3);
    free(s3);
    free(fpu);
    free(guest);
    free(bb);
    free(cache);
}

static ino_t inode_of(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return st.st_ino;
}

/* A damaged cached archive (truncated, or without its sha256 record) is rebuilt, not reused. */
static void test_payload_damaged_cache_rebuilt(void **state)
{
    struct fx *f = *state;
    char *guest, *bb, *p1 = NULL, *s1 = NULL, *p2 = NULL, *s2 = NULL;
    char *cache = xasprintf("%s/cache", f->dir), *side, got[SHA256_HEX_LEN + 1];
    struct err e = ERR_INIT;
    struct buf rec = BUF_INIT;
    struct stat st1, st2;
    ino_t ino;

    make_inputs(f->dir, &guest, &bb);
    assert_int_equal(payload_build(cache, guest, bb, NULL, &p1, &s1, &e), 0);
    side = xasprintf("%s.sha256", p1);
    assert_int_equal(buf_read_file(&rec, side, &e), 0);
    assert_int_equal(rec.len, 65);
    assert_memory_equal(rec.data, s1, 64);
    assert_int_equal(rec.data[64], '\n');
    assert_int_equal(stat(p1, &st1), 0);

    /* negative control: an intact archive is reused as it is */
    sleep(1);
    assert_int_equal(payload_build(cache, guest, bb, NULL, &p2, &s2, &e), 0);
    assert_string_equal(s2, s1);
    assert_int_equal(stat(p2, &st2), 0);
    assert_int_equal(st1.st_ino, st2.st_ino);
    assert_int_equal(st1.st_mtime, st2.st_mtime);
    free(p2);
    free(s2);

    /* truncated: rebuilt (a new file renamed into place) with the first build's bytes */
    assert_int_equal(truncate(p1, st1.st_size / 2), 0);
    assert_int_equal(payload_build(cache, guest, bb, NULL, &p2, &s2, &e), 0);
    assert_string_equal(p2, p1);
    assert_string_equal(s2, s1);
    assert_int_equal(sha256_file_hex(p1, got, &e), 0);
    assert_string_equal(got, s1);
    assert_int_not_equal(inode_of(p1), st1.st_ino);
    free(p2);
    free(s2);

    /* no sha256 record (an archive from an older pvlab, or a crash between the two renames) */
    ino = inode_of(p1);
    assert_int_equal(unlink(side), 0);
    assert_int_equal(payload_build(cache, guest, bb, NULL, &p2, &s2, &e), 0);
    assert_string_equal(s2, s1);
    assert_int_not_equal(inode_of(p1), ino);
    assert_true(fs_exists(side));

    buf_release(&rec);
    free(p1);
    free(s1);
    free(p2);
    free(s2);
    free(side);
    free(guest);
    free(bb);
    free(cache);
}

static void test_payload_errors(void **state)
{
    struct fx *f = *state;
    char *guest, *bb, *path = NULL, *sha = NULL, *cache = xasprintf("%s/cache", f->dir), *p;
    struct err e = ERR_INIT;

    make_inputs(f->dir, &guest, &bb);

    p = xasprintf("%s/memcmp-probe", guest);
    assert_int_equal(unlink(p), 0);
    assert_int_equal(payload_build(cache, guest, bb, NULL, &path, &sha, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    assert_non_null(strstr(e.msg, "memcmp-probe"));
    assert_non_null(strstr(e.msg, "make"));
    write_fake_elf(p, 1, "dynamic probe");
    assert_int_equal(payload_build(cache, guest, bb, NULL, &path, &sha, &e), -1);
    assert_non_null(strstr(e.msg, "dynamically linked"));
    write_fake_elf(p, 0, "memcmp");
    free(p);

    write_fake_elf(bb, 1, "dynamic busybox");
    assert_int_equal(payload_build(cache, guest, bb, NULL, &path, &sha, &e), -1);
    assert_int_equal(e.code, ERR_TOOL);
    assert_non_null(strstr(e.msg, "apt-get install busybox-static"));
    assert_int_equal(unlink(bb), 0);
    assert_int_equal(payload_build(cache, guest, bb, NULL, &path, &sha, &e), -1);
    assert_int_equal(e.code, ERR_TOOL);
    assert_non_null(strstr(e.msg, "apt-get install busybox-static"));
    write_file(bb, "#!/bin/sh\n", 10);
    assert_int_equal(payload_build(cache, guest, bb, NULL, &path, &sha, &e), -1);
    assert_non_null(strstr(e.msg, "not a 64-bit ELF"));
    assert_null(path);
    assert_null(sha);
    p = xasprintf("%s/initramfs", cache); /* nothing written for failed builds */
    assert_true(!fs_exists(p) || dir_entries(p) == 0);
    free(p);
    free(guest);
    free(bb);
    free(cache);
}

static void test_payload_env(void **state)
{
    struct fx *f = *state;
    char *guest, *bb, *path = NULL, *sha = NULL, *cache = xasprintf("%s/cache", f->dir);
    struct err e = ERR_INIT;

    make_inputs(f->dir, &guest, &bb);
    setenv("PVLAB_GUEST_DIR", guest, 1);
    setenv("PVLAB_BUSYBOX", bb, 1);
    assert_int_equal(payload_initramfs(cache, NULL, &path, &sha, &e), 0);
    assert_true(fs_exists(path));
    free(path);
    free(sha);
    path = sha = NULL;
    setenv("PVLAB_GUEST_DIR", "/nonexistent-pvlab-guest", 1);
    assert_int_equal(payload_initramfs(cache, NULL, &path, &sha, &e), -1);
    assert_non_null(strstr(e.msg, "/nonexistent-pvlab-guest/pvlab-init"));
    assert_non_null(strstr(e.msg, "make"));
    unsetenv("PVLAB_GUEST_DIR");
    unsetenv("PVLAB_BUSYBOX");
    free(guest);
    free(bb);
    free(cache);
}

static void test_elf_static_on_real_binaries(void **state)
{
    struct err e = ERR_INIT;

    assert_int_equal(payload_elf_is_static("/bin/sh", &e), 0); /* Debian's dash is dynamic */
    assert_int_equal(payload_elf_is_static("/etc/passwd", &e), -1);
    assert_int_equal(payload_elf_is_static("/nonexistent", &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_plain_roundtrip, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_gzip_is_gzip_of_plain, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_deterministic, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_system_cpio_agrees, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_abort_and_errors_leave_nothing, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_commit_replaces_existing, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_payload_layout, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_payload_plugin, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_payload_reuse_and_key, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_payload_damaged_cache_rebuilt, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_payload_errors, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_payload_env, fx_setup, fx_teardown),
        cmocka_unit_test(test_elf_static_on_real_binaries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
