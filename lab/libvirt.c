#include "lab/libvirt.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "lab/domxml.h"
#include "util/log.h"
#include "util/xalloc.h"

struct libvirt {
    virConnectPtr conn;
    virDomainPtr dom;
    char *uri;
};

/* libvirt's last error message ("" when none). */
static const char *last_error(void)
{
    virErrorPtr err = virGetLastError();
    return err && err->message ? err->message : "";
}

static void quiet(void *ud, virErrorPtr err)
{
    (void)ud;
    log_debug("libvirt", "%s", err && err->message ? err->message : "?");
}

/* The connection failure as what the user should do. */
static void open_error(const char *uri, struct err *e)
{
    virErrorPtr err = virGetLastError();
    const char *msg = last_error();
    const char *u = uri ? uri : "libvirt's default URI";

    if (err && err->code == VIR_ERR_NO_CONNECT && strstr(msg, "no connection driver"))
        err_set(e, ERR_HOST,
                "libvirt has no driver for %s (%s): install libvirt's QEMU driver (apt-get install "
                "libvirt-daemon-driver-qemu) and restart libvirtd",
                u, msg);
    else if (strstr(msg, "Permission denied") || strstr(msg, "authentication") ||
             (err && err->code == VIR_ERR_AUTH_FAILED))
        err_set(e, ERR_HOST,
                "permission denied connecting to %s (%s): run pvlab as root or as a member of "
                "the libvirt group, or use a URI you may open",
                u, msg);
    else if (strstr(msg, "Failed to connect socket") || strstr(msg, "No such file") ||
             strstr(msg, "Connection refused"))
        err_set(e, ERR_HOST,
                "libvirtd is not running at %s (%s): start it (systemctl start libvirtd, or "
                "libvirtd -d), or set [lab] libvirt_uri to the socket of one that runs",
                u, msg);
    else
        err_set(e, ERR_HOST, "cannot connect to libvirt at %s: %s (check [lab] libvirt_uri)", u,
                msg);
}

int libvirt_open(const char *uri, struct libvirt **lv_r, struct err *e)
{
    struct libvirt *lv;
    const char *type;

    virSetErrorFunc(NULL, quiet);
    if (virInitialize() < 0) {
        err_set(e, ERR_HOST, "libvirt does not initialise: %s", last_error());
        return -1;
    }
    lv = xcalloc(1, sizeof(*lv));
    lv->uri = uri ? xstrdup(uri) : NULL;
    lv->conn = virConnectOpen(uri);
    if (!lv->conn) {
        open_error(uri, e);
        libvirt_close(lv);
        return -1;
    }
    type = virConnectGetType(lv->conn);
    if (!type || strcasecmp(type, "QEMU")) {
        err_set(e, ERR_HOST,
                "%s is a %s connection; pvlab's libvirt backend needs the QEMU driver "
                "(a qemu:///system or qemu:///session URI)",
                uri ? uri : "libvirt's default URI", type ? type : "unknown");
        libvirt_close(lv);
        return -1;
    }
    *lv_r = lv;
    return 0;
}

int libvirt_pid_alive(long pid)
{
    return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

int libvirt_reap(struct libvirt *lv, int *n_r, struct err *e)
{
    virDomainPtr *doms = NULL;
    char self[256] = "";
    int n;

    *n_r = 0;
    gethostname(self, sizeof(self) - 1);
    n = virConnectListAllDomains(lv->conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
    if (n < 0) {
        err_set(e, ERR_HOST, "cannot list libvirt's domains: %s", last_error());
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const char *name = virDomainGetName(doms[i]);
        char *meta = NULL, host[256];
        long pid;
        if (name && !strncmp(name, DOMXML_NAME_PREFIX, strlen(DOMXML_NAME_PREFIX)))
            meta = virDomainGetMetadata(doms[i], VIR_DOMAIN_METADATA_ELEMENT, DOMXML_NS,
                                        VIR_DOMAIN_AFFECT_LIVE);
        if (meta && domxml_parse_owner(meta, &pid, host, sizeof(host)) == 0 &&
            !strcmp(host, self) && !libvirt_pid_alive(pid)) {
            log_warn("libvirt", "destroying %s, left by pvlab process %ld, which is gone", name,
                     pid);
            if (virDomainDestroy(doms[i]) == 0)
                (*n_r)++;
        }
        free(meta);
        virDomainFree(doms[i]);
    }
    free(doms);
    return 0;
}

int libvirt_start(struct libvirt *lv, const char *xml, struct err *e)
{
    lv->dom = virDomainCreateXML(lv->conn, xml, VIR_DOMAIN_NONE);
    if (!lv->dom) {
        err_set(e, ERR_PROC, "libvirt could not start the domain: %s", last_error());
        return -1;
    }
    return 0;
}

int libvirt_running(struct libvirt *lv)
{
    int state = 0, reason = 0;

    if (!lv->dom)
        return 0;
    if (virDomainGetState(lv->dom, &state, &reason, 0) < 0)
        return 0; /* a transient domain that ended is gone */
    return state != VIR_DOMAIN_SHUTOFF && state != VIR_DOMAIN_CRASHED;
}

void libvirt_destroy(struct libvirt *lv)
{
    if (lv->dom && libvirt_running(lv))
        virDomainDestroy(lv->dom);
}

void libvirt_close(struct libvirt *lv)
{
    if (!lv)
        return;
    if (lv->dom)
        virDomainFree(lv->dom);
    if (lv->conn)
        virConnectClose(lv->conn);
    free(lv->uri);
    free(lv);
}
