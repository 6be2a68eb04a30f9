#!/usr/bin/env bash
# A full disk while an artifact is written into the cache: a clear error, and no half-written
# artifact is left for a later run to use. Needs root (mounts a tiny tmpfs as the cache).
. "$(dirname "$0")/lib.sh"
plan 4
T=$PVLAB_HOME
mnt=$T/small
mkdir -p $mnt
if ! mount -t tmpfs -o size=600k tmpfs $mnt 2>/dev/null; then
    for i in 1 2 3 4; do echo "ok $i # skip cannot mount a tmpfs (not root?)"; done
    exit 0
fi
trap 'umount $mnt 2>/dev/null; cleanup' EXIT

# a gzip'd "Xen" with a multiboot header, larger than the disk once gunzipped
perl -e 'print pack("V3", 0x1BADB002, 0, (-0x1BADB002) & 0xffffffff); print "\0" x (2 << 20)' \
    | gzip > $T/xen.gz
PVLAB_CACHE_DIR=$mnt/cache run_pvlab $T/run run --xen file:$T/xen.gz --print-qemu-cmd
cat $T/run.err | diag
check "exit status 128" [ $rc = 128 ]
check "the error says the disk is full and what to do" \
    grep -q "No space left on device (free some disk space" $T/run.err
check "no artifact was published" bash -c "[ -z \"\$(find $mnt/cache/artifacts -name xen.bin)\" ]"
check "no temp file left behind" bash -c "[ -z \"\$(find $mnt/cache -name '*.tmp*')\" ]"
