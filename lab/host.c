#include "lab/host.h"

#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "lab/accel.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/proc.h"
#include "util/xalloc.h"

/* Records whether nested virtualisation is on: it changes what the outer layer does. */
static char *nested_note(void)
{
    struct buf nested = BUF_INIT;
    char *r = NULL;

    if (buf_read_file(&nested, "/sys/module/kvm_intel/parameters/nested", NULL) < 0)
        buf_read_file(&nested, "/sys/module/kvm_amd/parameters/nested", NULL);
    buf_rtrim(&nested);
    if (nested.len)
        r = xasprintf("nested=%s", nested.data);
    buf_release(&nested);
    return r;
}

/* Finds QEMU and its version, chooses the accelerator; choice_r keeps the probe details. */
static int probe_stack(const struct config *c, int reprobe, struct host_stack *h,
                       struct accel_choice *choice_r, struct err *e)
{
    const char *argv[] = { c->qemu_binary, "--version", NULL };
    struct proc_spec spec = { 0 };
    struct buf out = BUF_INIT;
    struct utsname u;
    char *nested = NULL;
    int rc = -1;

    memset(h, 0, sizeof(*h));
    memset(choice_r, 0, sizeof(*choice_r));
    if (uname(&u) == 0) {
        h->l0_kernel = xstrdup(u.release);
        h->hostname = xstrdup(u.nodename);
    }
    h->qemu_binary = fs_which(c->qemu_binary);
    if (!h->qemu_binary) {
        err_set(e, ERR_TOOL,
                "QEMU binary '%s' not found; install it with 'apt-get install qemu-system-x86' "
                "(or scripts/install-deps.sh), or set [qemu] binary in the config",
                c->qemu_binary);
        goto out;
    }
    spec.argv = argv;
    spec.out = &out;
    spec.timeout_ms = 30000;
    if (proc_run(&spec, e) < 0) {
        err_prefix(e, "cannot ask QEMU for its version");
        goto out;
    }
    h->qemu_version = xstrndup(out.data, strcspn(out.data, "\n"));
    if (accel_choose(c, h->qemu_binary, reprobe, choice_r, e) < 0)
        goto out;
    h->accel = xstrdup(choice_r->accel);
    h->cpu_model = xstrdup(choice_r->cpu_model);
    nested = !strcmp(h->accel, "kvm") ? nested_note() : NULL;
    h->accel_note = nested ? xasprintf("%s (%s)", choice_r->note, nested) : xstrdup(choice_r->note);
    rc = 0;
out:
    free(nested);
    buf_release(&out);
    return rc;
}

int host_probe(const struct config *c, struct host_stack *h, struct err *e)
{
    struct accel_choice choice;
    int rc = probe_stack(c, 0, h, &choice, e);

    accel_choice_free(&choice);
    return rc;
}

/* The programs pvlab runs, with the Debian package that brings each. */
static const struct {
    const char *name, *package, *use;
} tools[] = {
    { "apt-get", "apt", "fetching Debian kernels and hypervisors" },
    { "dpkg-deb", "dpkg", "unpacking them" },
    { "gpgv", "gpgv", "checking the package lists' signatures" },
    { "busybox", "busybox-static", "the guest's shell" },
    { "git", "git", "bisecting and building from git" },
    { "make", "make", "building kernels and Xen" },
    { "gcc", "gcc", "building kernels and Xen" },
    { "flex", "flex", "building kernels" },
    { "bison", "bison", "building kernels" },
    { "bc", "bc", "building kernels" },
    { "perl", "perl", "building kernels" },
    { "debootstrap", "debootstrap", "toolchain chroots for old kernels" },
};

/* Reads "Key:   123 kB" from /proc/meminfo in KiB, -1 if absent. */
static long long meminfo_kb(const char *key)
{
    struct buf b = BUF_INIT;
    long long v = -1;
    const char *p;

    if (buf_read_file(&b, "/proc/meminfo", NULL) == 0 && (p = strstr(b.data, key)) &&
        p[strlen(key)] == ':')
        v = strtoll(p + strlen(key) + 1, NULL, 10);
    buf_release(&b);
    return v;
}

int host_report(const struct config *c, int reprobe, const char *const *cpus, struct host_report *r,
                struct err *e)
{
    struct err pe = ERR_INIT;
    size_t n = 0;

    memset(r, 0, sizeof(*r));
    if (probe_stack(c, reprobe, &r->stack, &r->accel, &pe) < 0) {
        r->problem = xstrdup(pe.msg);
    } else {
        /* the TCG yardstick, when the decision did not need one */
        if (!r->accel.tcg.stage && accel_probe_run(r->stack.qemu_binary, c->machine, "tcg",
                                                   c->cpu_tcg, 60000, &r->accel.tcg, e) < 0)
            return -1;
        for (; cpus && cpus[n]; n++)
            ;
        r->cpus = xcalloc(n ? n : 1, sizeof(*r->cpus));
        for (size_t i = 0; i < n; i++) {
            struct host_cpu_probe *cp = &r->cpus[r->ncpus];
            cp->model = xstrdup(cpus[i]);
            cp->accel = xstrdup(r->stack.accel);
            if (accel_probe_run(r->stack.qemu_binary, c->machine, cp->accel, cp->model,
                                !strcmp(cp->accel, "kvm") ? c->probe_timeout_s * 1000 : 60000,
                                &cp->probe, e) < 0) {
                free(cp->model);
                free(cp->accel);
                return -1;
            }
            r->ncpus++;
        }
        if (!r->accel.tcg.ok)
            r->problem =
                xasprintf("QEMU cannot run a guest even under TCG: %s", r->accel.tcg.reason);
    }
    r->cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
    r->mem_total_kb = meminfo_kb("MemTotal");
    r->mem_avail_kb = meminfo_kb("MemAvailable");
    r->cache_free = fs_free_bytes(c->cache_dir);
    r->state_free = fs_free_bytes(c->state_dir);
    r->ntools = sizeof(tools) / sizeof(tools[0]);
    r->tools = xcalloc(r->ntools, sizeof(*r->tools));
    for (size_t i = 0; i < r->ntools; i++) {
        r->tools[i].name = tools[i].name;
        r->tools[i].package = tools[i].package;
        r->tools[i].use = tools[i].use;
        r->tools[i].path = fs_which(tools[i].name);
    }
    return 0;
}

void host_report_free(struct host_report *r)
{
    host_stack_free(&r->stack);
    accel_choice_free(&r->accel);
    for (size_t i = 0; i < r->ncpus; i++) {
        free(r->cpus[i].model);
        free(r->cpus[i].accel);
        accel_probe_free(&r->cpus[i].probe);
    }
    free(r->cpus);
    for (size_t i = 0; i < r->ntools; i++)
        free(r->tools[i].path);
    free(r->tools);
    free(r->problem);
    memset(r, 0, sizeof(*r));
}

void host_stack_free(struct host_stack *h)
{
    free(h->qemu_binary);
    free(h->qemu_version);
    free(h->accel);
    free(h->accel_note);
    free(h->cpu_model);
    free(h->l0_kernel);
    free(h->hostname);
    memset(h, 0, sizeof(*h));
}

static char *dup0(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

void host_stack_copy(struct host_stack *dst, const struct host_stack *src)
{
    dst->qemu_binary = dup0(src->qemu_binary);
    dst->qemu_version = dup0(src->qemu_version);
    dst->accel = dup0(src->accel);
    dst->accel_note = dup0(src->accel_note);
    dst->cpu_model = dup0(src->cpu_model);
    dst->l0_kernel = dup0(src->l0_kernel);
    dst->hostname = dup0(src->hostname);
}
