#!/usr/bin/env bash
# --cpu-model: a run's own QEMU CPU model reaches the guest and the record. With AVX taken out
# of the model, dom0's reproducer reports no AVX (a real difference in the guest); with the
# configured model it reports AVX (the control). A model QEMU does not know is refused before
# any trial, with QEMU's own words.
. "$(dirname "$0")/lib.sh"
plan 6
T=$PVLAB_HOME

run_pvlab $T/bad run --cpu-model nosuchcpu
check "unknown CPU model: exit 128, QEMU's message and a hint" \
    bash -c "[ $rc = 128 ] && grep -q \"unable to find CPU model 'nosuchcpu'\" $T/bad.err && grep -q 'cpu help' $T/bad.err"

run_pvlab $T/noavx run --xen 4.17 --linux 6.1 --iterations 50 --cpu-model max,-smap,-avx --json
tail -2 $T/noavx.err | diag
check "a run without AVX in the model passes" [ $rc = 0 ]
check "... its host stack records that model" \
    bash -c "json $T/noavx.out '\$j->{host}{cpu_model}' | grep -qx 'max,-smap,-avx'"
check "... and dom0 saw no AVX" \
    bash -c "grep 'PVLAB-BEGIN' \"\$(json $T/noavx.out '\$j->{trials}[0]{log}')\" | grep -q '\"avx\":false'"

run_pvlab $T/avx run --xen 4.17 --linux 6.1 --iterations 50 --json
check "with the configured model dom0 sees AVX (control)" \
    bash -c "[ $rc = 0 ] && grep 'PVLAB-BEGIN' \"\$(json $T/avx.out '\$j->{trials}[0]{log}')\" | grep -q '\"avx\":true'"
check "no QEMU left behind" no_qemu_left
