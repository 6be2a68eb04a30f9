#!/usr/bin/env bash
# domU trials on each Debian Xen: 4.14 (bullseye's toolstack) and 4.20 (trixie's), one domU
# each with the reproducer in dom0 as well; a domU kernel that is not a PV kernel is infra for
# that domU with xl's own error, its console kept; a Xen pvlab has no toolstack for is refused.
. "$(dirname "$0")/../lib.sh"
plan 10
T=$PVLAB_HOME

for x in 4.14 4.20; do
    run_pvlab $T/x$x run --xen $x --linux 6.1 --domus 1 --in dom0,domu --iterations 400 \
        --timeout 1200 --json
    tail -3 $T/x$x.err | diag
    check "Xen $x: one domU and dom0 both ran the reproducer: pass" \
        bash -c "[ $rc = 0 ] && json $T/x$x.out 'join q( ), map { \"\$_->{name}=\$_->{verdict}/\$_->{iterations}\" } @{\$j->{trials}[0]{places}{places}}' | grep -qx 'dom0=pass/400 d1=pass/400'"
    check "Xen $x: Xen $x ran, its toolstack came up" \
        bash -c "json $T/x$x.out '\$j->{xen}{version}' | grep -q '^$x' && json $T/x$x.out 'join q( ), map { \$_->{stage} } @{\$j->{trials}[0]{places}{stages}}' | grep -q 'toolstack created'"
done

run_pvlab $T/bad run --xen 4.17 --linux 6.1 --domu-linux 6.1 \
    --domu-linux file:$TOP/build/guest/accel-probe --iterations 300 --timeout 1200 --json
tail -3 $T/bad.err | diag
check "a domU kernel that is not PV: exit 125 (infra)" [ $rc = 125 ]
check "... the reason names d2 and carries xl's error" \
    bash -c "json $T/bad.out '\$j->{trials}[0]{reason}' | grep -q 'd2: xl create failed: .*error'"
check "... d1 still ran and passed" \
    bash -c "json $T/bad.out 'join q( ), map { \"\$_->{name}=\$_->{verdict}\" } @{\$j->{trials}[0]{places}{places}}' | grep -qx 'd1=pass d2=infra'"
check "... the console log keeps dom0's report of it" \
    bash -c "grep -q '^xl-create d2: ' \"\$(json $T/bad.out '\$j->{trials}[0]{log}')\""

xen_bin=$(ls $PVLAB_CACHE_DIR/artifacts/xen/*/xen.bin | head -1)
run_pvlab $T/filexen run --xen file:$xen_bin --linux 6.1 --domus 1
check "a file: Xen with --domus: exit 128, says the toolstack comes from Debian" \
    bash -c "[ $rc = 128 ] && grep -q 'use a Debian Xen' $T/filexen.err"
check "no QEMU left behind" no_qemu_left
