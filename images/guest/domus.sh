#!/bin/busybox sh
# pvlab dom0 supervisor for domU trials: dom0's /init (rdinit=) when pvlab.domus is set.
#
# Starts the Xen toolstack (modules, xenfs, xenstored, xenconsoled, xen-init-dom0), creates
# each domU from a generated PV config (kernel, the reproducer initramfs, memory, vCPUs, no
# disk or network), relays every console line of each domU (and of dom0's own reproducer with
# pvlab.in_dom0=1) to the L1 console as "PVLAB-DOMU <name> <line>", and powers off.
# Every toolstack call runs under a timeout. Untagged protocol lines (docs/architecture.md):
#   PVLAB-BEGIN {"mode":"domus","places":"d1,d2",...}   once the toolstack is up
#   PVLAB-STAGE {"stage":"...","ms":N[,"place":"d1"]}  dom0 uptime at each step
#   PVLAB-ERROR {"error":"..."}                         toolstack failure (infra)
#   PVLAB-END
# Parameters from /proc/cmdline: pvlab.domus=N pvlab.domu_mem=MiB pvlab.domu_vcpus=N
# pvlab.domu_timeout=S pvlab.in_dom0=0|1 pvlab.corrupt_in=all|NAME[,NAME]; the reproducer's
# pvlab.repro/iterations/workers/self_test_corrupt/seed/churn/overcommit go on to each place
# (seed + index).
# Kernels: /pvlab/domus lists "NAME KERNEL" per domU.

/bin/busybox --install -s /bin 2>/dev/null
export PATH=/bin
for d in /usr/lib/xen-*/bin; do PATH=$PATH:$d; done
export LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu

ms() { read -r u _ </proc/uptime; echo "$((${u%.*} * 1000 + 10 * ${u#*.}))"; }
stage() { echo "PVLAB-STAGE {\"stage\":\"$1\",\"ms\":$(ms)${2:+,\"place\":\"$2\"}}"; }
fail() {
    echo "PVLAB-ERROR {\"error\":\"$1\"}"
    [ -e /proc/xen/capabilities ] && timeout 20 xl dmesg 2>&1 | tail -n 40 | sed 's/^/xl-dmesg: /'
    echo PVLAB-END
    sync
    poweroff -f
}

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /dev/pts /var/run/xenstored /var/lib/xenstored /var/log/xen/console /var/lib/xen \
    /var/run/xen /run/xen /tmp/pvlab
mount -t devpts devpts /dev/pts
stage dom0

arg() { # arg NAME DEFAULT: the value of pvlab.NAME on the kernel command line
    for w in $(cat /proc/cmdline); do
        case "$w" in "pvlab.$1="*) echo "${w#*=}"; return ;; esac
    done
    echo "$2"
}
MEM=$(arg domu_mem 256)
VCPUS=$(arg domu_vcpus 2)
TMO=$(arg domu_timeout 600)
IN_DOM0=$(arg in_dom0 0)
CORRUPT_IN=$(arg corrupt_in all)
REPRO=$(arg repro fpu-leak)
ITER=$(arg iterations 2000)
WORKERS=$(arg workers 0)
RATE=$(arg self_test_corrupt 0)
SEED=$(arg seed 0)
LAZY=$(arg lazy_fpu 0)
CHURN=$(arg churn 0)
OVERCOMMIT=$(arg overcommit 0)

for m in xen-privcmd xenfs xen-evtchn xen-gntdev xen-gntalloc; do
    [ -e /lib/modules/xen/$m.ko ] || continue # built in
    insmod /lib/modules/xen/$m.ko || fail "insmod $m failed"
done
mount -t xenfs xenfs /proc/xen || fail "cannot mount xenfs (is this dom0 a PV dom0?)"
timeout 30 xenstored --pid-file=/var/run/xenstored.pid || fail "xenstored did not start"
timeout 30 xenconsoled --log=guest --log-dir=/var/log/xen/console \
    --pid-file=/var/run/xenconsoled.pid || fail "xenconsoled did not start"
timeout 60 xen-init-dom0 >/tmp/pvlab/init-dom0.log 2>&1 || {
    sed 's/^/xen-init-dom0: /' /tmp/pvlab/init-dom0.log
    fail "xen-init-dom0 failed"
}
stage toolstack

places=""
[ "$IN_DOM0" = 1 ] && places="dom0"
while read -r name kernel; do places="${places:+$places,}$name"; done </pvlab/domus
echo "PVLAB-BEGIN {\"mode\":\"domus\",\"places\":\"$places\",\"domu_mem\":$MEM,\"domu_vcpus\":$VCPUS}"

# the reproducer's words for place $1 (index $2)
repro_args() {
    r=0
    case ",$CORRUPT_IN," in *",all,"* | *",$1,"*) r=$RATE ;; esac
    s=$SEED
    [ "$SEED" != 0 ] && s=$((SEED + $2))
    [ "$LAZY" = 1 ] && [ "$1" != dom0 ] && printf 'eagerfpu=off '
    echo "pvlab.repro=$REPRO pvlab.iterations=$ITER pvlab.workers=$WORKERS" \
        "pvlab.self_test_corrupt=$r pvlab.seed=$s pvlab.churn=$CHURN pvlab.overcommit=$OVERCOMMIT"
}

relays=""
relay() { # relay NAME FILE: tag each line of FILE as it grows
    tail -n +1 -F "$2" 2>/dev/null | sed "s/^/PVLAB-DOMU $1 /" &
    relays="$relays $!"
}

if [ "$IN_DOM0" = 1 ]; then
    /init --host --bin-dir=/bin --cmdline="$(repro_args dom0 0)" >/tmp/pvlab/dom0.log 2>&1 &
    dom0_pid=$!
    relay dom0 /tmp/pvlab/dom0.log
fi

i=0
created=""
while read -r name kernel; do
    i=$((i + 1))
    # panic=1: a domU kernel that panics reboots (and is destroyed) at once; kernels without
    # Xen's panic notifier (before 2.6.36) would spin until dom0's deadline
    cat >/tmp/pvlab/$name.cfg <<EOF
name = "$name"
type = "pv"
kernel = "$kernel"
ramdisk = "/pvlab/domu-initrd.gz"
extra = "console=hvc0 panic=1 $(repro_args "$name" "$i")"
memory = $MEM
vcpus = $VCPUS
on_poweroff = "destroy"
on_reboot = "destroy"
on_crash = "destroy"
EOF
    : >/var/log/xen/console/guest-$name.log
    relay "$name" /var/log/xen/console/guest-$name.log
    if timeout 120 xl create /tmp/pvlab/$name.cfg >/tmp/pvlab/$name.create 2>&1; then
        created="$created $name"
        stage created "$name"
    else
        sed "s/^/xl-create $name: /" /tmp/pvlab/$name.create
        stage create_failed "$name"
    fi
done </pvlab/domus

# wait for every domU to power off (the reproducer's last act), up to the deadline
left=$TMO
running="$created"
while [ -n "$running" ] && [ "$left" -gt 0 ]; do
    still=""
    for d in $running; do
        if timeout 20 xl domid "$d" >/dev/null 2>&1; then
            still="$still $d"
        else
            stage done "$d"
        fi
    done
    running="$still"
    [ -n "$running" ] && sleep 1
    left=$((left - 1))
done
for d in $running; do
    stage timeout "$d"
    timeout 20 xl destroy "$d" >/dev/null 2>&1
done
[ -n "$dom0_pid" ] && wait "$dom0_pid"
sleep 2 # the relays poll their files each second
kill $relays 2>/dev/null
ended_early=""
for d in $created; do
    grep -q PVLAB-END /var/log/xen/console/guest-$d.log || ended_early="$ended_early $d"
done
if [ -n "$running" ] || [ -n "$ended_early" ] ||
    [ "$(echo "$created" | wc -w)" != "$(wc -l </pvlab/domus)" ]; then
    timeout 20 xl dmesg 2>&1 | tail -n 40 | sed 's/^/xl-dmesg: /'
fi
stage end
echo PVLAB-END
sync
poweroff -f
