#include "lab/host.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/fsutil.h"
#include "util/proc.h"
#include "util/xalloc.h"

/* Returns 1 when /dev/kvm can be opened read-write; note_r says why not otherwise. */
static int kvm_usable(char **note_r)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    struct buf nested = BUF_INIT;

    if (fd < 0) {
        *note_r = xasprintf("/dev/kvm %s", errno == ENOENT ? "not present" : strerror(errno));
        return 0;
    }
    close(fd);
    /* PV guests need no nested VMX, but record it: it changes what the outer layer does */
    if (buf_read_file(&nested, "/sys/module/kvm_intel/parameters/nested", NULL) < 0)
        buf_read_file(&nested, "/sys/module/kvm_amd/parameters/nested", NULL);
    buf_rtrim(&nested);
    *note_r = xasprintf("/dev/kvm usable%s%s", nested.len ? ", nested=" : "", nested.data);
    buf_release(&nested);
    return 1;
}

int host_probe(const struct config *c, struct host_stack *h, struct err *e)
{
    const char *argv[] = { c->qemu_binary, "--version", NULL };
    struct proc_spec spec = { 0 };
    struct buf out = BUF_INIT;
    struct utsname u;
    int kvm;
    int rc = -1;

    memset(h, 0, sizeof(*h));
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
    {
        size_t n = strcspn(out.data, "\n");
        h->qemu_version = xstrndup(out.data, n);
    }
    kvm = kvm_usable(&h->accel_note);
    if (c->accel == ACCEL_KVM && !kvm) {
        err_set(e, ERR_USAGE, "accel = kvm but %s; use accel = auto or tcg", h->accel_note);
        goto out;
    }
    h->accel = xstrdup(c->accel == ACCEL_TCG || !kvm ? "tcg" : "kvm");
    h->cpu_model = xstrdup(!strcmp(h->accel, "kvm") ? c->cpu_kvm : c->cpu_tcg);
    if (uname(&u) == 0) {
        h->l0_kernel = xstrdup(u.release);
        h->hostname = xstrdup(u.nodename);
    }
    rc = 0;
out:
    buf_release(&out);
    return rc;
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
