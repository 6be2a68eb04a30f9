#!/usr/bin/env bash
# Real boot: Debian's Xen 4.17 + Linux 6.1 PV dom0 under QEMU, fpu-leak on a fixed kernel
# must pass (negative control), and the run must be in the store with what booted.
. "$(dirname "$0")/lib.sh"
plan 10
T=$PVLAB_HOME

run_pvlab $T/run run --xen 4.17 --linux 6.1 --repro fpu-leak --trials 1 --iterations 2000 --json
cat $T/run.err | tail -5 | diag
check "exit status 0 (no corruption)" [ $rc = 0 ]
check "verdict pass" [ "$(json $T/run.out '$j->{verdict}')" = pass ]
check "2000 iterations ran in dom0" [ "$(json $T/run.out '$j->{trials}[0]{iterations}')" = 2000 ]
check "no corruption evidence" [ "$(json $T/run.out 'scalar @{$j->{trials}[0]{evidence}}')" = 0 ]
check "the exact Xen package version is recorded" \
    bash -c "json $T/run.out '\$j->{xen}{version}' | grep -q '^4\.17\.'"
check "sha256 of the booted kernel is recorded" \
    bash -c "json $T/run.out '\$j->{linux}{sha256}' | grep -Eq '^[0-9a-f]{64}$'"
check "host stack recorded (accelerator, QEMU version)" \
    bash -c "json $T/run.out '\$j->{host}{accel}' | grep -Eq '^(tcg|kvm)$' &&
             json $T/run.out '\$j->{host}{qemu_version}' | grep -q QEMU"
log=$(json $T/run.out '$j->{trials}[0]{log}')
check "console log shows a Xen PV dom0" grep -q "Xen PV\|Booting kernel on Xen\|paravirtualized kernel on Xen" "$log"
id=$(json $T/run.out '$j->{id}')
run_pvlab $T/list list --json
check "pvlab list shows the run" [ "$(json $T/list.out '$j->[0]{id}')" = "$id" ]
run_pvlab $T/show show "$id"
check "pvlab show prints the verdict and the 95% bound" \
    bash -c "grep -q 'verdict: *pass' $T/show.out && grep -q '95% upper bound' $T/show.out"
