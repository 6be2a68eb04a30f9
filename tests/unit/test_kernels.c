/*
 * kernels/: spec parsing and the Debian table, mirror derivation from apt sources (both
 * formats), cache keys, the file provider on images made here, and atomic publication.
 * Nothing here touches the network; the debian provider is checked by hand (see the report).
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "kernels/kernels.h"
#include "kernels/kernels_priv.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/sha256.h"
#include "util/xalloc.h"

static char *tmpdir;

static int setup(void **state)
{
    char tmpl[] = "/tmp/pvlab-test-kernels-XXXXXX";
    tmpdir = xstrdup(mkdtemp(tmpl));
    return tmpdir ? 0 : -1;
}

static int teardown(void **state)
{
    fs_rmtree(tmpdir, NULL);
    free(tmpdir);
    return 0;
}

static char *tpath(const char *name)
{
    return xasprintf("%s/%s", tmpdir, name);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* Counts the entries of dir (excluding . and ..); -1 when it does not exist. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    if (!d)
        return -1;
    while ((de = readdir(d)))
        n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    closedir(d);
    return n;
}

/* ---- specs and the table ---- */

static void test_spec_parsing(void **state)
{
    struct parsed_spec ps;
    struct err e = ERR_INIT;

    assert_int_equal(kernels_parse_spec(ARTIFACT_XEN, "4.17", &ps, &e), 0);
    assert_int_equal(ps.provider, SPEC_DEBIAN);
    assert_string_equal(ps.entry->suite, "bookworm");
    assert_string_equal(ps.entry->package, "xen-hypervisor-4.17-amd64");

    assert_int_equal(kernels_parse_spec(ARTIFACT_XEN, "debian:4.20", &ps, &e), 0);
    assert_string_equal(ps.entry->suite, "trixie");
    assert_string_equal(ps.entry->member, "./boot/xen-4.20-amd64.gz");

    assert_int_equal(kernels_parse_spec(ARTIFACT_LINUX, "5.10", &ps, &e), 0);
    assert_string_equal(ps.entry->suite, "bullseye");
    assert_string_equal(ps.entry->package, "linux-image-amd64");

    assert_int_equal(kernels_parse_spec(ARTIFACT_LINUX, "file:/boot/vmlinuz", &ps, &e), 0);
    assert_int_equal(ps.provider, SPEC_FILE);
    assert_string_equal(ps.arg, "/boot/vmlinuz");
}

static void test_spec_unknown_lists_known(void **state)
{
    struct parsed_spec ps;
    struct err e = ERR_INIT;

    assert_int_equal(kernels_parse_spec(ARTIFACT_XEN, "4.99", &ps, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    assert_string_equal(e.msg,
                        "unknown Xen version '4.99'; known: 4.14, 4.17, 4.20 (or file:PATH)");

    assert_int_equal(kernels_parse_spec(ARTIFACT_LINUX, "debian:9.9", &ps, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    assert_string_equal(e.msg,
                        "unknown Linux version '9.9'; known: 5.10, 6.1, 6.12 (or file:PATH)");

    /* a Linux version is not a Xen version */
    assert_int_equal(kernels_parse_spec(ARTIFACT_XEN, "6.1", &ps, &e), -1);
    assert_int_equal(kernels_parse_spec(ARTIFACT_XEN, "", &ps, &e), -1);
    assert_int_equal(e.code, ERR_USAGE);
    assert_int_equal(kernels_parse_spec(ARTIFACT_XEN, "file:", &ps, &e), -1);
    assert_int_equal(e.code, ERR_USAGE);

    assert_string_equal(artifact_known(ARTIFACT_XEN), "4.14, 4.17, 4.20");
    assert_string_equal(artifact_known(ARTIFACT_LINUX), "5.10, 6.1, 6.12");
}

static void test_table_consistent(void **state)
{
    for (size_t i = 0; i < debian_table_len; i++) {
        const struct debian_entry *d = &debian_table[i];
        assert_ptr_equal(debian_table_find(d->kind, d->version), d);
        if (d->kind == ARTIFACT_XEN) {
            /* the package and the file inside carry the version they are listed under */
            assert_non_null(strstr(d->package, d->version));
            assert_non_null(d->member);
            assert_non_null(strstr(d->member, d->version));
        } else {
            assert_string_equal(d->package, "linux-image-amd64");
            assert_null(d->member);
        }
    }
}

static void test_apt_record_parsing(void **state)
{
    const char *rec = "Package: linux-image-amd64\n"
                      "Version: 6.1.158-1\n"
                      "Depends: linux-image-6.1.0-41-amd64 (= 6.1.158-1)\n"
                      "SHA256: abcd\n"
                      "\n"
                      "Package: other\nVersion: 9\n";
    char *dep = debian_field(rec, "Depends"), *pkg = NULL, *ver = NULL;

    assert_string_equal(dep, "linux-image-6.1.0-41-amd64 (= 6.1.158-1)");
    assert_int_equal(debian_first_depend(dep, &pkg, &ver), 0);
    assert_string_equal(pkg, "linux-image-6.1.0-41-amd64");
    assert_string_equal(ver, "6.1.158-1");
    free(dep);
    free(pkg);
    free(ver);

    dep = debian_field(rec, "Version");
    assert_string_equal(dep, "6.1.158-1"); /* first record only */
    free(dep);
    assert_null(debian_field(rec, "SHA2"));
    assert_null(debian_field(rec, "Missing"));

    assert_int_equal(debian_first_depend("linux-image-6.12.118+deb13-amd64, foo | bar", &pkg, &ver),
                     0);
    assert_string_equal(pkg, "linux-image-6.12.118+deb13-amd64");
    assert_null(ver);
    free(pkg);
    assert_int_equal(debian_first_depend("  ", &pkg, &ver), -1);
}

/* ---- mirror derivation ---- */

static const char deb822_system[] = "Types: deb\n"
                                    "# http://snapshot.example/archive/debian/20250520T000000Z\n"
                                    "URIs: http://mirror.example/debian\n"
                                    "Suites: bookworm bookworm-updates\n"
                                    "Components: main\n"
                                    "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
                                    "\n"
                                    "Types: deb\n"
                                    "URIs: http://mirror.example/debian-security/\n"
                                    "Suites: bookworm-security\n"
                                    "Components: main\n"
                                    "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n";

static void test_mirror_deb822(void **state)
{
    const struct apt_source_file f[] = {
        { "debian.sources", deb822_system },
        /* disabled by renaming: apt ignores it, so must we */
        { "other.sources.disabled-by-farm",
          "Types: deb\nURIs: http://wrong.example/debian\nSuites: bookworm\nComponents: main\n" },
        { "google.list.disabled-by-farm", "deb http://wrong.example/apt bookworm main\n" },
    };
    char *m = NULL, *s = NULL;
    struct err e = ERR_INIT;

    assert_int_equal(aptsrc_derive(f, 3, "bookworm", &m, &s, &e), 0);
    assert_string_equal(m, "http://mirror.example/debian");
    assert_string_equal(s, "http://mirror.example/debian-security"); /* trailing / dropped */
    free(m);
    free(s);
}

static void test_mirror_one_line(void **state)
{
    const struct apt_source_file f[] = {
        { "sources.list",
          "# deb http://commented.example/debian bookworm main\n"
          "deb-src http://src.example/debian bookworm main\n"
          "deb http://contrib-only.example/debian bookworm contrib\n"
          "deb [ arch=amd64 signed-by=/usr/share/keyrings/k.gpg ] http://one.example/debian "
          "bookworm main contrib # trailing comment\n"
          "deb http://two.example/debian bookworm main\n"
          "deb [signed-by=/k.gpg] http://sec.example/debian-security bookworm-security main\n" },
    };
    char *m = NULL, *s = NULL;
    struct err e = ERR_INIT;

    assert_int_equal(aptsrc_derive(f, 1, "bookworm", &m, &s, &e), 0);
    assert_string_equal(m, "http://one.example/debian"); /* the first main one wins */
    assert_string_equal(s, "http://sec.example/debian-security");
    free(m);
    free(s);
}

static void test_mirror_deb822_details(void **state)
{
    const struct apt_source_file f[] = {
        { "a.sources",
          "Enabled: no\nTypes: deb\nURIs: http://disabled.example/debian\nSuites: trixie\n"
          "Components: main\n"
          "\n"
          "  \n"
          "Types: deb-src deb\n"
          "URIs: http://first.example/debian\n"
          "  http://second.example/debian\n"
          "Suites: trixie\n"
          "Components: contrib main\n" },
    };
    char *m = NULL, *s = NULL;
    struct err e = ERR_INIT;

    assert_int_equal(aptsrc_derive(f, 1, "trixie", &m, &s, &e), 0);
    assert_string_equal(m, "http://first.example/debian");
    assert_null(s); /* no security source: not an error, just none */
    free(m);
}

static void test_mirror_not_found(void **state)
{
    const struct apt_source_file f[] = {
        { "ubuntu.list", "deb http://archive.example/ubuntu noble main\n" },
        { "x.sources", "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n"
                       "Components: contrib\n" },
    };
    char *m = (char *)"sentinel", *s = (char *)"sentinel";
    struct err e = ERR_INIT;

    assert_int_equal(aptsrc_derive(f, 2, "bookworm", &m, &s, &e), -1);
    assert_int_equal(e.code, ERR_CONFIG);
    assert_non_null(strstr(e.msg, "`mirror`"));
    assert_null(m);
    assert_null(s);
    assert_int_equal(aptsrc_derive(NULL, 0, "bookworm", &m, &s, &e), -1);
}

/* The same derivation from files on disk under a fake root. */
static void test_mirror_from_root(void **state)
{
    char *root = tpath("root"), *d = tpath("root/etc/apt/sources.list.d");
    char *p = NULL, *m = NULL, *s = NULL;
    struct err e = ERR_INIT;

    assert_int_equal(fs_mkdirs(d, &e), 0);
    p = tpath("root/etc/os-release");
    write_file(p, "NAME=\"Debian\"\nVERSION_CODENAME=trixie\n", 38);
    free(p);
    p = tpath("root/etc/apt/sources.list.d/debian.sources");
    write_file(p, deb822_system, strlen(deb822_system)); /* bookworm only: wrong suite */
    free(p);
    assert_int_equal(aptsrc_from_system(root, &m, &s, &e), -1);
    assert_int_equal(e.code, ERR_CONFIG);

    p = tpath("root/etc/apt/sources.list");
    write_file(p,
               "deb http://mirror.example/debian trixie main\n"
               "deb http://mirror.example/debian-security trixie-security main\n",
               108);
    free(p);
    assert_int_equal(aptsrc_from_system(root, &m, &s, &e), 0);
    assert_string_equal(m, "http://mirror.example/debian");
    assert_string_equal(s, "http://mirror.example/debian-security");
    free(m);
    free(s);
    free(root);
    free(d);
}

/* ---- cache keys ---- */

static void test_cache_key_stable(void **state)
{
    char k1[65], k2[65], k3[65], want[65];
    const char *tuple = "debian\nxen-hypervisor-4.17-amd64\n4.17.5-1\n";

    cache_key("debian", "xen-hypervisor-4.17-amd64", "4.17.5-1", k1);
    cache_key("debian", "xen-hypervisor-4.17-amd64", "4.17.5-1", k2);
    assert_string_equal(k1, k2);
    /* pinned: changing it would orphan every existing cache */
    sha256_hex_buf(tuple, strlen(tuple), want);
    assert_string_equal(k1, want);
    assert_string_equal(k1, "9c0466078e1848cc3c23903c17c6bc4d17b56351c3d660215d8fe54e4bac05f8");
    cache_key("debian", "xen-hypervisor-4.17-amd64", "4.17.5-2", k3);
    assert_string_not_equal(k1, k3);
    cache_key("debian", "xen-hypervisor-4.17-amd6", "44.17.5-1", k3); /* no ambiguity */
    assert_string_not_equal(k1, k3);
}

/* ---- file provider ---- */

/* A fake Xen: 16 KiB with a valid multiboot header at 0x88 (as in the real xen binary). */
static void make_fake_xen(unsigned char *img, size_t len)
{
    unsigned int magic = 0x1BADB002u, flags = 0x00010003u, sum = 0u - magic - flags;

    for (size_t i = 0; i < len; i++)
        img[i] = (unsigned char)(i * 131 + 7);
    memcpy(img, "\177ELF", 4);
    memcpy(img + 0x88, &magic, 4);
    memcpy(img + 0x8c, &flags, 4);
    memcpy(img + 0x90, &sum, 4);
}

static void gzip_to(const char *path, const void *data, size_t len)
{
    gzFile gz = gzopen(path, "wb9");
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, data, (unsigned)len), (int)len);
    assert_int_equal(gzclose(gz), Z_OK);
}

static void test_file_xen_gzip(void **state)
{
    unsigned char img[16384];
    char *gz = tpath("xen-fake.gz"), *cache = tpath("cache1");
    struct kernels_opts o = { .cache_dir = cache };
    struct artifact a = ARTIFACT_INIT, b = ARTIFACT_INIT;
    struct err e = ERR_INIT;
    struct buf got = BUF_INIT;
    char want[65], want_src[65], *spec = xasprintf("file:%s", gz);
    struct stat st1, st2;

    make_fake_xen(img, sizeof(img));
    gzip_to(gz, img, sizeof(img));
    sha256_hex_buf(img, sizeof(img), want);
    assert_int_equal(sha256_file_hex(gz, want_src, &e), 0);

    assert_int_equal(artifact_resolve(&o, ARTIFACT_XEN, spec, &a, &e), 0);
    assert_string_equal(a.spec, spec);
    assert_string_equal(a.provider, "file");
    assert_string_equal(a.version, "file");
    assert_null(a.package);
    assert_null(a.suite);
    assert_string_equal(a.sha256, want);
    assert_string_equal(a.source_sha256, want_src);
    assert_non_null(strstr(a.path, want_src)); /* keyed by the given file's content */
    assert_int_equal(buf_read_file(&got, a.path, &e), 0);
    assert_int_equal(got.len, sizeof(img)); /* stored gunzipped */
    assert_memory_equal(got.data, img, sizeof(img));

    /* second resolve: a cache hit, the file is not rewritten */
    assert_int_equal(stat(a.path, &st1), 0);
    assert_int_equal(artifact_resolve(&o, ARTIFACT_XEN, spec, &b, &e), 0);
    assert_string_equal(a.path, b.path);
    assert_string_equal(b.sha256, want);
    assert_string_equal(b.source_sha256, want_src);
    assert_string_equal(b.provider, "file");
    assert_int_equal(stat(b.path, &st2), 0);
    assert_int_equal(st1.st_ino, st2.st_ino);

    artifact_free(&a);
    artifact_free(&b);
    artifact_free(&b); /* idempotent */
    buf_release(&got);
    free(gz);
    free(cache);
    free(spec);
}

static void test_file_xen_plain_and_linux(void **state)
{
    unsigned char img[16384], bz[4096];
    char *xen = tpath("xen-plain"), *lin = tpath("bzImage"), *cache = tpath("cache2");
    struct kernels_opts o = { .cache_dir = cache };
    struct artifact a = ARTIFACT_INIT;
    struct err e = ERR_INIT;
    char want[65], *spec;

    make_fake_xen(img, sizeof(img));
    write_file(xen, img, sizeof(img));
    spec = xasprintf("file:%s", xen);
    assert_int_equal(artifact_resolve(&o, ARTIFACT_XEN, spec, &a, &e), 0);
    sha256_hex_buf(img, sizeof(img), want);
    assert_string_equal(a.sha256, want);
    assert_string_equal(a.source_sha256, want);
    assert_int_equal(a.kind, ARTIFACT_XEN);
    artifact_free(&a);
    free(spec);

    memset(bz, 0x90, sizeof(bz));
    memcpy(bz + 0x202, "HdrS", 4);
    write_file(lin, bz, sizeof(bz));
    spec = xasprintf("file:%s", lin);
    assert_int_equal(artifact_resolve(&o, ARTIFACT_LINUX, spec, &a, &e), 0);
    sha256_hex_buf(bz, sizeof(bz), want);
    assert_string_equal(a.sha256, want); /* copied as-is */
    assert_int_equal(a.kind, ARTIFACT_LINUX);
    assert_non_null(strstr(a.path, "/artifacts/linux/"));
    assert_true(fs_exists(a.path));
    artifact_free(&a);
    free(spec);
    free(xen);
    free(lin);
    free(cache);
}

static void test_file_errors(void **state)
{
    unsigned char junk[4096], img[16384];
    char *cache = tpath("cache3"), *bad = tpath("garbage"), *trunc = tpath("trunc.gz");
    char *full = tpath("full.gz"), *xdir = NULL, *spec = NULL;
    struct kernels_opts o = { .cache_dir = cache };
    struct artifact a = ARTIFACT_INIT;
    struct err e = ERR_INIT;
    struct buf gzdata = BUF_INIT;

    assert_int_equal(artifact_resolve(&o, ARTIFACT_XEN, "file:/nonexistent/xen.gz", &a, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    assert_non_null(strstr(e.msg, "/nonexistent/xen.gz"));
    assert_null(a.path);

    assert_int_equal(artifact_resolve(&o, ARTIFACT_LINUX, "file:/tmp", &a, &e), -1);
    assert_int_equal(e.code, ERR_USAGE);

    memset(junk, 'x', sizeof(junk));
    write_file(bad, junk, sizeof(junk));
    spec = xasprintf("file:%s", bad);
    assert_int_equal(artifact_resolve(&o, ARTIFACT_LINUX, spec, &a, &e), -1);
    assert_int_equal(e.code, ERR_USAGE);
    assert_non_null(strstr(e.msg, "not a Linux kernel"));
    assert_int_equal(artifact_resolve(&o, ARTIFACT_XEN, spec, &a, &e), -1);
    assert_int_equal(e.code, ERR_USAGE);
    assert_non_null(strstr(e.msg, "multiboot"));
    free(spec);

    /* a truncated gzip of a valid image must not become an artifact */
    make_fake_xen(img, sizeof(img));
    gzip_to(full, img, sizeof(img));
    assert_int_equal(buf_read_file(&gzdata, full, &e), 0);
    write_file(trunc, gzdata.data, gzdata.len / 2);
    spec = xasprintf("file:%s", trunc);
    assert_int_equal(artifact_resolve(&o, ARTIFACT_XEN, spec, &a, &e), -1);
    assert_int_equal(e.code, ERR_USAGE);
    assert_non_null(strstr(e.msg, "gzip"));
    free(spec);

    /* none of the failures left anything (final or temp) in the cache */
    xdir = xasprintf("%s/artifacts/xen", cache);
    assert_true(count_entries(xdir) <= 0);
    free(xdir);
    xdir = xasprintf("%s/artifacts/linux", cache);
    assert_true(count_entries(xdir) <= 0);

    if (geteuid() != 0) { /* root reads everything */
        chmod(bad, 0);
        spec = xasprintf("file:%s", bad);
        assert_int_equal(artifact_resolve(&o, ARTIFACT_XEN, spec, &a, &e), -1);
        assert_int_equal(e.code, ERR_USAGE);
        assert_non_null(strstr(e.msg, "not readable"));
        free(spec);
    }
    buf_release(&gzdata);
    free(xdir);
    free(cache);
    free(bad);
    free(trunc);
    free(full);
}

/* The keyring problem is read from apt-get's own output, stdout or stderr, nothing else. */
static void test_apt_unsigned(void **state)
{
    assert_true(debian_apt_unsigned(
        "Err:2 http://deb.debian.org/debian trixie InRelease\n  The following signatures "
        "couldn't be verified because the public key is not available: "
        "NO_PUBKEY 762F67A0B2C39DE4\n"));
    assert_true(debian_apt_unsigned("E: The repository 'http://deb.debian.org/debian trixie "
                                    "InRelease' is not signed.\n"));
    assert_false(debian_apt_unsigned("Err:1 http://deb.debian.org/debian bookworm InRelease\n"
                                     "  Temporary failure resolving 'deb.debian.org'\n"));
    assert_false(debian_apt_unsigned(""));
}

/* ---- checking specs before anything is fetched ---- */

/*
 * spec fails artifact_check_spec with code and a message holding needle, and artifact_resolve
 * fails on it with the same code and the same message.
 */
static void check_fails_like_resolve(enum artifact_kind kind, const char *spec, int code,
                                     const char *needle)
{
    char *cache = tpath("cache-check");
    struct kernels_opts o = { .cache_dir = cache };
    struct artifact a = ARTIFACT_INIT;
    struct err e = ERR_INIT, er = ERR_INIT;

    assert_int_equal(artifact_check_spec(kind, spec, &e), -1);
    assert_int_equal(e.code, code);
    assert_non_null(strstr(e.msg, needle));
    assert_int_equal(artifact_resolve(&o, kind, spec, &a, &er), -1);
    assert_int_equal(er.code, e.code);
    assert_string_equal(er.msg, e.msg);
    assert_int_equal(artifact_check_spec(kind, spec, NULL), -1); /* e may be NULL */
    free(cache);
}

/* A git repository whose Makefile names Linux 6.1.7, one commit. */
static char *make_git_tree(const char *name)
{
    char *dir = tpath(name), *mk = xasprintf("%s/Makefile", dir), *cmd;
    const char *text = "VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 7\n";

    assert_int_equal(fs_mkdirs(dir, NULL), 0);
    write_file(mk, text, strlen(text));
    cmd = xasprintf("cd %s && git init -q && git -c user.email=t@t -c user.name=t add -A && "
                    "git -c user.email=t@t -c user.name=t commit -qm one",
                    dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(mk);
    return dir;
}

static void test_check_spec(void **state)
{
    unsigned char bz[4096], junk[512];
    char *old_path = xstrdup(getenv("PATH")), *lin = tpath("chk-bzImage");
    char *junkf = tpath("chk-junk"), *tarball = tpath("chk-src.tar.xz"), *repo, *spec;
    struct err e = ERR_INIT;

    memset(bz, 0x90, sizeof(bz));
    memcpy(bz + 0x202, "HdrS", 4);
    write_file(lin, bz, sizeof(bz));
    memset(junk, 'x', sizeof(junk));
    write_file(junkf, junk, sizeof(junk));
    write_file(tarball, junk, sizeof(junk));

    /* without git: no provider's tool may run (apt-get, dpkg-deb, tar would be ERR_TOOL) */
    setenv("PATH", tmpdir, 1);
    assert_int_equal(artifact_check_spec(ARTIFACT_XEN, "4.17", &e), 0);
    assert_int_equal(artifact_check_spec(ARTIFACT_LINUX, "debian:6.12", &e), 0);
    spec = xasprintf("file:%s", lin);
    assert_int_equal(artifact_check_spec(ARTIFACT_LINUX, spec, &e), 0);
    assert_int_equal(artifact_check_spec(ARTIFACT_XEN, spec, &e), 0); /* Xen: checked later */
    free(spec);
    spec = xasprintf("tarball:%s", tarball);
    assert_int_equal(artifact_check_spec(ARTIFACT_LINUX, spec, &e), 0);
    free(spec);
    assert_int_equal(artifact_check_spec(ARTIFACT_XEN, "debsrc:bookworm", &e), 0);
    assert_int_equal(artifact_check_spec(ARTIFACT_XEN, "debsrc:", &e), 0); /* bookworm */
    spec = tpath("cache-check");
    assert_false(fs_exists(spec)); /* touched nothing */
    free(spec);

    check_fails_like_resolve(ARTIFACT_LINUX, "9.9", ERR_NOTFOUND,
                             "unknown Linux version '9.9'; known: 5.10, 6.1, 6.12");
    check_fails_like_resolve(ARTIFACT_XEN, "debian:6.1", ERR_NOTFOUND, "unknown Xen version");
    check_fails_like_resolve(ARTIFACT_XEN, "", ERR_USAGE, "no Xen version given");
    assert_int_equal(artifact_check_spec(ARTIFACT_XEN, NULL, &e), -1);
    assert_int_equal(e.code, ERR_USAGE);
    check_fails_like_resolve(ARTIFACT_LINUX, "file:", ERR_USAGE, "names no file");
    check_fails_like_resolve(ARTIFACT_LINUX, "file:/nonexistent/vmlinuz", ERR_NOTFOUND,
                             "/nonexistent/vmlinuz does not exist");
    check_fails_like_resolve(ARTIFACT_XEN, "file:/tmp", ERR_USAGE, "not a regular file");
    spec = xasprintf("file:%s", junkf);
    check_fails_like_resolve(ARTIFACT_LINUX, spec, ERR_USAGE, "not a Linux kernel");
    free(spec);
    check_fails_like_resolve(ARTIFACT_LINUX, "tarball:/nonexistent/linux.tar.xz", ERR_NOTFOUND,
                             "source tarball /nonexistent/linux.tar.xz not found");
    check_fails_like_resolve(ARTIFACT_LINUX, "tarball:", ERR_USAGE, "names no source");
    check_fails_like_resolve(ARTIFACT_XEN, "debsrc:nosuchsuite", ERR_NOTFOUND,
                             "unknown Debian suite 'nosuchsuite' in 'debsrc:nosuchsuite'; "
                             "known: bullseye, bookworm, trixie");
    /* debsrc: builds Xen only */
    check_fails_like_resolve(ARTIFACT_LINUX, "debsrc:bookworm", ERR_NOTFOUND,
                             "unknown Linux version 'debsrc:bookworm'");
    setenv("PATH", old_path, 1);

    /* git: a repository, a revision in it, a version in its Makefile */
    repo = make_git_tree("chk-repo");
    spec = xasprintf("git:%s", repo);
    assert_int_equal(artifact_check_spec(ARTIFACT_LINUX, spec, &e), 0);
    free(spec);
    spec = xasprintf("git:%s@HEAD", repo);
    assert_int_equal(artifact_check_spec(ARTIFACT_LINUX, spec, &e), 0);
    free(spec);
    spec = xasprintf("git:%s@nosuchrev", repo);
    check_fails_like_resolve(ARTIFACT_LINUX, spec, ERR_NOTFOUND, "unknown revision 'nosuchrev'");
    free(spec);
    /* the builder's choices after '?': toolchain= and base= (Linux only); nothing else */
    spec = xasprintf("git:%s@HEAD?toolchain=bullseye,base=allnoconfig", repo);
    assert_int_equal(artifact_check_spec(ARTIFACT_LINUX, spec, &e), 0);
    free(spec);
    spec = xasprintf("git:%s@nosuchrev?toolchain=bullseye", repo); /* the rev is still checked */
    check_fails_like_resolve(ARTIFACT_LINUX, spec, ERR_NOTFOUND, "unknown revision 'nosuchrev'");
    free(spec);
    spec = xasprintf("git:%s@HEAD?toolchian=bullseye", repo);
    check_fails_like_resolve(ARTIFACT_LINUX, spec, ERR_USAGE,
                             "unknown build option 'toolchian=bullseye'");
    free(spec);
    spec = xasprintf("git:%s@HEAD?base=", repo);
    check_fails_like_resolve(ARTIFACT_LINUX, spec, ERR_USAGE, "unknown build option 'base='");
    free(spec);
    check_fails_like_resolve(ARTIFACT_XEN, "debsrc:bookworm?base=defconfig", ERR_USAGE,
                             "base= is for Linux");
    spec = xasprintf("git:%s", repo); /* no xen/Makefile in it */
    assert_int_equal(artifact_check_spec(ARTIFACT_XEN, spec, &e), -1);
    assert_non_null(strstr(e.msg, "xen/Makefile"));
    free(spec);
    check_fails_like_resolve(ARTIFACT_LINUX, "git:/nonexistent/linux", ERR_NOTFOUND,
                             "git tree /nonexistent/linux does not exist");
    check_fails_like_resolve(ARTIFACT_LINUX, "git:", ERR_USAGE, "names no source");
    spec = xasprintf("git:%s", tmpdir); /* a directory, not a repository */
    check_fails_like_resolve(ARTIFACT_LINUX, spec, ERR_USAGE, "is not a git repository");
    free(spec);

    free(repo);
    free(old_path);
    free(lin);
    free(junkf);
    free(tarball);
}

/* ---- atomic publication ---- */

struct half_ctx {
    int errnum;
};

/* A fill that writes part of the file and then fails like a full disk. */
static int half_fill(void *ctx, const char *file, struct err *e)
{
    struct half_ctx *h = ctx;
    write_file(file, "\177ELF half", 9);
    err_sys(e, h->errnum, "cannot write %s", file);
    return -1;
}

static int good_fill(void *ctx, const char *file, struct err *e)
{
    unsigned char img[16384];
    make_fake_xen(img, sizeof(img));
    write_file(file, img, sizeof(img));
    return 0;
}

static void test_no_half_written_artifact(void **state)
{
    char *cache = tpath("cache4"), *xdir = NULL, *final = NULL, *stale = NULL, *p = NULL;
    struct artifact a = ARTIFACT_INIT;
    struct half_ctx h = { ENOSPC };
    struct err e = ERR_INIT;
    const char *key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    a.provider = xstrdup("file");
    a.version = xstrdup("file");
    assert_int_equal(cache_publish(cache, ARTIFACT_XEN, key, half_fill, &h, &a, &e), -1);
    assert_int_equal(e.code, ERR_NOSPACE);
    assert_non_null(strstr(e.msg, "disk space"));
    final = cache_entry_dir(cache, ARTIFACT_XEN, key);
    assert_false(fs_exists(final));
    xdir = xasprintf("%s/artifacts/xen", cache);
    assert_int_equal(count_entries(xdir), 0); /* not even the temp directory */
    assert_int_equal(cache_lookup(cache, ARTIFACT_XEN, key, &a, &e), 0);

    /* a run killed mid-way leaves .tmp-<key>.<pid>: never used, swept by the next publish */
    stale = xasprintf("%s/.tmp-%s.999999999", xdir, key);
    assert_int_equal(fs_mkdirs(stale, &e), 0);
    p = xasprintf("%s/xen.bin", stale);
    write_file(p, "\177ELF partial", 12);
    assert_int_equal(cache_lookup(cache, ARTIFACT_XEN, key, &a, &e), 0);
    assert_int_equal(cache_publish(cache, ARTIFACT_XEN, key, good_fill, NULL, &a, &e), 0);
    assert_false(fs_exists(stale));
    assert_int_equal(count_entries(xdir), 1);
    free(p);
    p = xasprintf("%s/xen.bin", final);
    assert_string_equal(a.path, p);
    assert_true(fs_exists(a.path));

    /* an entry damaged behind our back is detected and dropped, not used */
    write_file(a.path, "\177ELF damaged", 12);
    assert_int_equal(cache_lookup(cache, ARTIFACT_XEN, key, &a, &e), 0);
    assert_false(fs_exists(final));

    artifact_free(&a);
    free(cache);
    free(xdir);
    free(final);
    free(stale);
    free(p);
}

/* Writes to a full device report ERR_NOSPACE (the link keeps unlink away from /dev/full). */
static void test_disk_full(void **state)
{
    unsigned char img[16384];
    char *src = tpath("xen-src"), *gz = tpath("xen-src.gz"), *dst = tpath("full-link");
    struct err e = ERR_INIT;

    if (!fs_exists("/dev/full"))
        skip();
    make_fake_xen(img, sizeof(img));
    write_file(src, img, sizeof(img));
    gzip_to(gz, img, sizeof(img));
    assert_int_equal(symlink("/dev/full", dst), 0);
    assert_int_equal(image_copy(src, dst, &e), -1);
    assert_int_equal(e.code, ERR_NOSPACE);
    unlink(dst);
    assert_int_equal(symlink("/dev/full", dst), 0);
    err_clear(&e);
    assert_int_equal(image_gunzip(gz, dst, &e), -1);
    assert_int_equal(e.code, ERR_NOSPACE);
    unlink(dst);
    free(src);
    free(gz);
    free(dst);
}

static void test_missing_tools(void **state)
{
    char *old = xstrdup(getenv("PATH"));
    char *cache = tpath("cache5");
    struct kernels_opts o = { .cache_dir = cache };
    struct artifact a = ARTIFACT_INIT;
    struct err e = ERR_INIT;

    setenv("PATH", tmpdir, 1); /* no apt-get, dpkg-deb, tar here */
    assert_int_equal(artifact_resolve(&o, ARTIFACT_XEN, "4.17", &a, &e), -1);
    setenv("PATH", old, 1);
    assert_int_equal(e.code, ERR_TOOL);
    assert_non_null(strstr(e.msg, "install"));
    assert_false(fs_exists(cache)); /* failed before touching anything */

    o.cache_dir = NULL;
    assert_int_equal(artifact_resolve(&o, ARTIFACT_XEN, "4.17", &a, &e), -1);
    assert_int_equal(e.code, ERR_CONFIG);
    free(old);
    free(cache);
}

/* DT_NEEDED of a real dynamic program (pvlab itself) and of a static one (a guest probe). */
static void test_elf_needed(void **state)
{
    struct sv need = SV_INIT;
    struct err e = ERR_INIT;
    char *txt = tpath("not-elf");
    int libc = 0;

    assert_int_equal(elf_needed(PVLAB_TOP "/pvlab", &need, &e), 0);
    for (size_t i = 0; i < need.n; i++)
        libc |= !strcmp(need.v[i], "libc.so.6");
    assert_true(libc);
    sv_clear(&need);
    assert_int_equal(elf_needed(PVLAB_GUEST_DIR "/fpu-probe", &need, &e), 0);
    assert_int_equal(need.n, 0);
    write_file(txt, "#!/bin/sh\n", 10);
    assert_int_equal(elf_needed(txt, &need, &e), -1);
    assert_non_null(strstr(e.msg, "not a 64-bit ELF"));
    sv_clear(&need);
    free(txt);
}

/* Writes a minimal bzImage (boot protocol 2.08+) whose payload is `payload`. */
static void write_bzimage(const char *path, const void *payload, size_t plen)
{
    unsigned char hdr[5 * 512];
    unsigned poff = 0x100, len = (unsigned)plen;
    FILE *f = fopen(path, "wb");

    memset(hdr, 0, sizeof(hdr));
    hdr[0x1f1] = 4; /* setup sectors: the protected-mode part starts at (4 + 1) * 512 */
    memcpy(hdr + 0x202, "HdrS", 4);
    memcpy(hdr + 0x248, &poff, 4);
    memcpy(hdr + 0x24c, &len, 4);
    assert_non_null(f);
    assert_int_equal(fwrite(hdr, 1, sizeof(hdr), f), sizeof(hdr));
    for (unsigned i = 0; i < poff; i++)
        fputc(0, f);
    assert_int_equal(fwrite(payload, 1, plen, f), plen);
    fputs("SIZE", f); /* the trailing size word real images carry */
    fclose(f);
}

/* A domU kernel becomes an ELF: a gzip payload is unpacked once and cached by the image's hash;
 * a payload that is no kernel is refused, an ELF is used as it is. */
static void test_kernel_pv_elf(void **state)
{
    struct buf elf = BUF_INIT;
    struct kernels_opts o = { 0 };
    struct artifact a = ARTIFACT_INIT;
    struct err e = ERR_INIT;
    char *img = tpath("bzImage"), *bad = tpath("bzImage-bad"), *got = NULL;
    unsigned char *gz;
    uLongf gz_len;
    struct buf out = BUF_INIT;
    char sum[65];

    assert_int_equal(buf_read_file(&elf, PVLAB_GUEST_DIR "/memcmp-probe", &e), 0);
    { /* gzip with zlib: deflateInit2 with 16 + MAX_WBITS writes the gzip wrapper */
        z_stream z;
        memset(&z, 0, sizeof(z));
        gz_len = compressBound(elf.len) + 64;
        gz = xmalloc(gz_len);
        assert_int_equal(deflateInit2(&z, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
                         Z_OK);
        z.next_in = (unsigned char *)elf.data;
        z.avail_in = (uInt)elf.len;
        z.next_out = gz;
        z.avail_out = (uInt)gz_len;
        assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
        gz_len = z.total_out;
        deflateEnd(&z);
    }
    write_bzimage(img, gz, gz_len);
    o.cache_dir = tmpdir;
    a.path = img;
    assert_int_equal(sha256_file_hex(img, sum, &e), 0);
    a.sha256 = sum;
    assert_int_equal(kernel_pv_elf(&o, &a, &got, &e), 0);
    assert_int_equal(buf_read_file(&out, got, &e), 0);
    assert_int_equal(out.len, elf.len);
    assert_memory_equal(out.data, elf.data, elf.len);
    assert_non_null(strstr(got, sum)); /* cached under the image's hash */
    free(got);
    got = NULL;

    /* a payload that unpacks to something else: refused, nothing cached for it */
    write_bzimage(bad, "not compressed at all", 21);
    assert_int_equal(sha256_file_hex(bad, sum, &e), 0);
    a.path = bad;
    assert_int_equal(kernel_pv_elf(&o, &a, &got, &e), -1);
    assert_int_equal(e.code, ERR_USAGE);
    assert_null(got);

    /* an ELF kernel is its own answer */
    a.path = PVLAB_GUEST_DIR "/memcmp-probe";
    err_clear(&e);
    assert_int_equal(kernel_pv_elf(&o, &a, &got, &e), 0);
    assert_string_equal(got, PVLAB_GUEST_DIR "/memcmp-probe");
    free(got);
    free(gz);
    free(img);
    free(bad);
    buf_release(&elf);
    buf_release(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_parsing),
        cmocka_unit_test(test_spec_unknown_lists_known),
        cmocka_unit_test(test_table_consistent),
        cmocka_unit_test(test_apt_record_parsing),
        cmocka_unit_test(test_apt_unsigned),
        cmocka_unit_test(test_mirror_deb822),
        cmocka_unit_test(test_mirror_one_line),
        cmocka_unit_test(test_mirror_deb822_details),
        cmocka_unit_test(test_mirror_not_found),
        cmocka_unit_test(test_mirror_from_root),
        cmocka_unit_test(test_cache_key_stable),
        cmocka_unit_test(test_file_xen_gzip),
        cmocka_unit_test(test_file_xen_plain_and_linux),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_no_half_written_artifact),
        cmocka_unit_test(test_disk_full),
        cmocka_unit_test(test_missing_tools),
        cmocka_unit_test(test_check_spec),
        cmocka_unit_test(test_elf_needed),
        cmocka_unit_test(test_kernel_pv_elf),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
