#!/usr/bin/env bash
# Bad input gets a clear error, a hint and a non-zero exit, before anything boots.
. "$(dirname "$0")/lib.sh"
plan 17
T=$PVLAB_HOME

run_pvlab $T/help --help
check "pvlab --help explains the commands" grep -q "bisect lab\|run .*boot" $T/help.out
for c in run list show; do
    run_pvlab $T/h$c $c --help
    check "pvlab $c --help exits 0 and documents options" \
        bash -c "[ $rc = 0 ] && grep -q 'usage: pvlab $c' $T/h$c.out"
done

run_pvlab $T/v run --xen 4.99 --print-qemu-cmd
check "unknown Xen version: exit 128" [ $rc = 128 ]
check "unknown Xen version: lists the known ones" grep -q "4.14.*4.17.*4.20" $T/v.err

PVLAB_CACHE_DIR=$T/fresh-cache run_pvlab $T/l run --linux 9.9 --print-qemu-cmd
check "unknown Linux version lists 6.1" bash -c "[ $rc = 128 ] && grep -q '6.1' $T/l.err"
check "... said before anything was fetched (no apt state, no packages)" \
    bash -c "[ ! -d $T/fresh-cache/apt ] && [ ! -d $T/fresh-cache/debs ]"

run_pvlab $T/f run --xen file:/nonexistent/xen.gz --print-qemu-cmd
check "missing file is named" bash -c "[ $rc = 128 ] && grep -q /nonexistent/xen.gz $T/f.err"

run_pvlab $T/r run --repro nosuch
check "unknown reproducer lists the known ones" \
    bash -c "[ $rc = 128 ] && grep -q 'fpu-leak' $T/r.err && grep -q 'seed-memcmp' $T/r.err"

run_pvlab $T/n run --trials zero
check "non-numeric --trials is refused" bash -c "[ $rc = 128 ] && grep -q -- '--trials' $T/n.err"

printf '[qemu]\nmemory_mb = 2048\nmemroy = 1\n' > $T/bad.conf
run_pvlab $T/c --config $T/bad.conf run
check "malformed config names file, line and key" \
    bash -c "[ $rc = 128 ] && grep -q 'bad.conf:3:.*memroy' $T/c.err"

printf '[qemu]\nbinary = qemu-system-nosuch\n' > $T/noqemu.conf
run_pvlab $T/q --config $T/noqemu.conf run
check "missing QEMU says how to install it" \
    bash -c "[ $rc = 128 ] && grep -q 'apt-get install qemu-system-x86' $T/q.err"

touch $T/afile
PVLAB_CACHE_DIR=$T/afile/cache run_pvlab $T/w run
check "unwritable cache dir is reported as such" \
    bash -c "[ $rc = 128 ] && grep -qi 'cache directory' $T/w.err"

run_pvlab $T/s show 424242
check "unknown run id: clear error" bash -c "[ $rc != 0 ] && grep -q 'no run 424242' $T/s.err"

run_pvlab $T/x frobnicate
check "unknown command lists the commands" bash -c "[ $rc = 2 ] && grep -q 'run, list' $T/x.err"

run_pvlab $T/ls list
check "list on an empty store says so" bash -c "[ $rc = 0 ] && grep -q 'no runs yet' $T/ls.out"
