#!/usr/bin/env bash
# domU trials: dom0 (Xen 4.17, Linux 6.1) starts two PV domUs with the toolstack, one 6.1 and
# one 5.10, and the reproducer runs in each. Positive control: the detector self-test in d2
# only fails the trial and names d2, not d1. Negative control: the same domUs without it pass,
# and the toolstack, modules and dom0 initramfs are reused, not built again. Bad requests are
# refused before anything boots.
. "$(dirname "$0")/lib.sh"
plan 16
T=$PVLAB_HOME

run_pvlab $T/bad0 run --domus 0
check "--domus 0: exit 128, says the range" bash -c "[ $rc = 128 ] && grep -q 'from 1 to 8' $T/bad0.err"
run_pvlab $T/badmem run --xen 4.17 --linux 6.1 --domus 4 --domu-mem 512
check "domUs that do not fit beside dom0: exit 128 before booting, says so" \
    bash -c "[ $rc = 128 ] && grep -q 'do not fit' $T/badmem.err && ! grep -q '^trial' $T/badmem.err"
run_pvlab $T/badin run --in dom0,domu
check "--in without domUs: exit 128, says domUs are needed" \
    bash -c "[ $rc = 128 ] && grep -q 'need domUs' $T/badin.err"
run_pvlab $T/badst run --domus 2 --self-test-corrupt 0.05 --self-test-in d3
check "--self-test-in a place that does not exist: exit 128, named" \
    bash -c "[ $rc = 128 ] && grep -q \"no place 'd3'\" $T/badst.err"

run_pvlab $T/st run --xen 4.17 --linux 6.1 --domu-linux 6.1 --domu-linux 5.10 \
    --iterations 400 --self-test-corrupt 0.05 --self-test-in d2 --timeout 1200 --json
tail -5 $T/st.err | diag
check "self-test in d2: exit 1 (corruption seen)" [ $rc = 1 ]
check "the trial's reason names d2" \
    bash -c "json $T/st.out '\$j->{trials}[0]{reason}' | grep -q '^corruption in d2: detector self-test'"
check "... and not d1" \
    bash -c "! json $T/st.out '\$j->{trials}[0]{reason}' | grep -q 'd1'"
check "d1 passed with its iterations, on Linux 6.1" \
    bash -c "json $T/st.out 'join q( ), map { \"\$_->{name}=\$_->{verdict}/\$_->{iterations}/\$_->{kernel}\" } @{\$j->{trials}[0]{places}{places}}' | grep -q 'd1=pass/400/6\.1\.'"
check "d2 failed on Linux 5.10" \
    bash -c "json $T/st.out 'join q( ), map { \"\$_->{name}=\$_->{verdict}/\$_->{kernel}\" } @{\$j->{trials}[0]{places}{places}}' | grep -q 'd2=fail/5.10'"
check "evidence lines are tagged with d2" \
    bash -c "json $T/st.out 'join qq(\n), @{\$j->{trials}[0]{evidence}}' | grep -q '^d2: PVLAB-EVENT'"
check "dom0's stages are recorded (toolstack, each domU created and done)" \
    bash -c "json $T/st.out 'join q( ), map { \$_->{stage} . (\$_->{place} ? qq(:\$_->{place}) : q()) } @{\$j->{trials}[0]{places}{stages}}' | grep -q 'toolstack created:d1 created:d2.*done:d'"

run_pvlab $T/ok run --xen 4.17 --linux 6.1 --domu-linux 6.1 --domu-linux 5.10 \
    --iterations 400 --timeout 1200
tail -8 $T/ok.out | diag
check "the same domUs without the self-test: exit 0 (pass)" [ $rc = 0 ]
check "pvlab show lists each place and dom0's stages" \
    bash -c "grep -q 'd1    pass  400 iterations' $T/ok.out && grep -q 'd2    pass  400 iterations' $T/ok.out && grep -q 'dom0 stages' $T/ok.out"
check "the second run built nothing: no fetch or extract of the toolstack or modules" \
    bash -c "! grep -Eq 'extract|dom0 toolstack\$|domU kernel as ELF' $T/ok.err"
check "Xen ran with eager FPU switching under TCG, recorded in the run" \
    bash -c "json $T/st.out '\$j->{params}{xen_cmdline}' | grep -q 'spec-ctrl=eager-fpu'"
check "no QEMU left behind" no_qemu_left
