#!/usr/bin/env bash
# The libvirt backend with a real libvirtd: the test starts virtlogd and libvirtd itself (no
# systemd) with a private configuration and socket, runs the standard dom0 trial (Xen 4.17 +
# Linux 6.1, fpu-leak) as a transient libvirt domain, and checks that the domain was visible to
# virsh while it ran and is gone after; that a pvlab domain left by a dead pvlab process is
# destroyed and a pvlab-named domain without pvlab's metadata is not; and the connection errors
# (no libvirtd, permission denied, a URI without the QEMU driver): exit 128 with what to do.
. "$(dirname "$0")/../lib.sh"
plan 10
T=$PVLAB_HOME
LV=$T/libvirt
mkdir -p $LV/run
cat > $LV/libvirtd.conf <<EOC
unix_sock_dir = "$LV/run"
unix_sock_rw_perms = "0700"
unix_sock_ro_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
log_outputs = "3:file:$LV/libvirtd.log"
EOC
echo "log_outputs = \"3:file:$LV/virtlogd.log\"" > $LV/virtlogd.conf
stop_daemons() {
    for p in libvirtd virtlogd; do
        [ -f $LV/$p.pid ] && kill "$(cat $LV/$p.pid)" 2>/dev/null
    done
    return 0
}
trap 'stop_daemons; cleanup' EXIT INT TERM
virtlogd -d -f $LV/virtlogd.conf -p $LV/virtlogd.pid
libvirtd -d -f $LV/libvirtd.conf -p $LV/libvirtd.pid
URI="qemu:///system?socket=$LV/run/libvirt-sock"
for i in $(seq 1 50); do virsh -c "$URI" list >/dev/null 2>&1 && break; sleep 0.2; done
check "libvirtd answers on its private socket" bash -c "virsh -c \"$URI\" version >/dev/null"

# two idle domains: one left by a pvlab process that is gone, one only named like pvlab's
dead=$(bash -c 'echo $$')
idle() { # idle NAME METADATA: a 64 MiB machine with nothing to boot (SeaBIOS waits)
    cat <<EOD
<domain type='qemu'><name>$1</name>$2<memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64'>hvm</type></os><on_poweroff>destroy</on_poweroff>
<devices><emulator>$(command -v qemu-system-x86_64)</emulator><memballoon model='none'/></devices>
<seclabel type='static' model='dac' relabel='no'><label>+0:+0</label></seclabel></domain>
EOD
}
idle pvlab-$dead-trial-9 "<metadata><pvlab:trial xmlns:pvlab='urn:x-pvlab:trial:1' pid='$dead' host='$(hostname)' started='x'/></metadata>" > $T/stale.xml
idle pvlab-not-ours "" > $T/foreign.xml
virsh -c "$URI" create $T/stale.xml >/dev/null && virsh -c "$URI" create $T/foreign.xml >/dev/null
# watch virsh list while the trial runs
( while [ ! -e $T/stop-watch ]; do virsh -c "$URI" list --name >> $T/seen.txt 2>/dev/null; sleep 1; done ) &
watcher=$!
run_pvlab $T/lv run --xen 4.17 --linux 6.1 --iterations 2000 --backend libvirt --libvirt-uri "$URI" --json
touch $T/stop-watch; wait $watcher
tail -3 $T/lv.err | diag
check "the dom0 trial through libvirt passes" \
    bash -c "[ $rc = 0 ] && [ \"\$(json $T/lv.out '\$j->{trials}[0]{verdict}')\" = pass ]"
check "... its domain pvlab-<pid>-trial-1 was listed by virsh while it ran" \
    grep -Eq '^pvlab-[0-9]+-trial-1$' $T/seen.txt
check "... and is gone now" bash -c "! virsh -c '$URI' list --all --name | grep -Eq '^pvlab-[0-9]+-trial-1$'"
check "... the run records the backend" \
    bash -c "[ \"\$(json $T/lv.out '\$j->{params}{backend}')\" = libvirt ]"
check "the domain of a dead pvlab process was destroyed; the other pvlab-named one was not" \
    bash -c "! virsh -c '$URI' list --name | grep -qx 'pvlab-$dead-trial-9' && virsh -c '$URI' list --name | grep -qx pvlab-not-ours"
virsh -c "$URI" destroy pvlab-not-ours >/dev/null 2>&1

# errors: exit 128 before any trial, with what to do
run_pvlab $T/nod run --backend libvirt --libvirt-uri "qemu:///system?socket=$T/no-such-sock"
check "no libvirtd: exit 128, says to start it" \
    bash -c "[ $rc = 128 ] && grep -q 'libvirtd is not running' $T/nod.err && grep -q 'libvirtd -d' $T/nod.err"
# a socket another user owns, to a root without CAP_DAC_OVERRIDE: the EACCES a user sees
chown nobody $LV/run/libvirt-sock
setpriv --bounding-set -dac_override,-dac_read_search -- \
    "$PVLAB" run --backend libvirt --libvirt-uri "$URI" >$T/perm.out 2>$T/perm.err
prc=$?
chown root $LV/run/libvirt-sock
tail -2 $T/perm.err | diag
check "permission denied: exit 128, says who may connect" \
    bash -c "[ $prc = 128 ] && grep -q 'permission denied' $T/perm.err"
run_pvlab $T/drv run --backend libvirt --libvirt-uri test:///default
check "a URI without the QEMU driver: exit 128, names the driver needed" \
    bash -c "[ $rc = 128 ] && grep -q 'needs the QEMU driver' $T/drv.err"
check "no QEMU left behind" no_qemu_left
