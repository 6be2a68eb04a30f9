#!/usr/bin/env bash
# Reproducer plug-ins with real boots (Xen 4.17 + Linux 6.1). A shell check that fails when the
# guest has no AVX passes under the configured CPU model and fails under max,-smap,-avx: a real
# difference in the guest, nothing injected. A C plug-in is compiled once and cached; its exit
# codes reach the verdict (0 pass, 125 skip, XTF's 4 infra). Bad plug-ins are refused before
# any boot, each with its reason.
. "$(dirname "$0")/lib.sh"
plan 17
T=$PVLAB_HOME

# --- refused before any boot (exit 128, the reason on stderr) ---
run_pvlab $T/missing run --repro script:$T/nope.sh
check "a missing plug-in: exit 128, names the file" \
    bash -c "[ $rc = 128 ] && grep -q 'nope.sh' $T/missing.err"
mkdir -p $T/badconf && echo 'exit 0' > $T/badconf/x.sh
printf 'name = bad\nfile = x.sh\nmodel = sometimes\n' > $T/badconf/repro.conf
run_pvlab $T/conf run --repro script:$T/badconf
check "a manifest error names file:line" \
    bash -c "[ $rc = 128 ] && grep -q 'repro.conf:3' $T/conf.err && grep -q 'must be once or iterations' $T/conf.err"
printf '#include <stdio.h>\nint main(void) { return no_such_symbol; }\n' > $T/broken.c
run_pvlab $T/cc run --repro c:$T/broken.c
check "a C file that does not compile: the compiler's message" \
    bash -c "[ $rc = 128 ] && grep -q 'does not compile' $T/cc.err && grep -q 'no_such_symbol' $T/cc.err"
printf '#!/bin/bash\n[[ -e /proc ]] && echo yes\n' > $T/bash.sh
run_pvlab $T/bash run --repro script:$T/bash.sh
check "a bash script is refused: the guest has only busybox sh" \
    bash -c "[ $rc = 128 ] && grep -q 'only busybox sh' $T/bash.err"
run_pvlab $T/args run --repro fpu-leak --repro-args '--x'
check "--repro-args with a built-in is refused" \
    bash -c "[ $rc = 128 ] && grep -q 'repro-args is for plug-ins' $T/args.err"
run_pvlab $T/amp run --amplifier lazy-fpu,turbo
check "an unknown amplifier is refused, naming the known ones" \
    bash -c "[ $rc = 128 ] && grep -q \"unknown amplifier 'turbo'; known: lazy-fpu, mem-pressure, overcommit\" $T/amp.err"
check "no run was stored for any of them" \
    bash -c "[ \"\$(\"$PVLAB\" list --json | perl -MJSON::PP -e 'local \$/; print scalar @{decode_json(<STDIN>)}')\" = 0 ]"

# --- the AVX check: the guest's own CPU flags decide ---
avx="script:$TOP/repro/avx-visible"
run_pvlab $T/avx run --xen 4.17 --linux 6.1 --repro "$avx" --json
tail -3 $T/avx.err | diag
check "avx-visible passes under the configured CPU model" \
    bash -c "[ $rc = 0 ] && [ \"\$(json $T/avx.out '\$j->{verdict}')\" = pass ]"
check "... the run records the plug-in and its source's sha256" \
    bash -c "[ \"\$(json $T/avx.out '\$j->{params}{plugin}{source_sha256}')\" = \"\$(sha256sum $TOP/repro/avx-visible/avx-visible.sh | cut -c1-64)\" ]"
run_pvlab $T/noavx run --xen 4.17 --linux 6.1 --repro "$avx" --cpu-model max,-smap,-avx --json
tail -3 $T/noavx.err | diag
check "avx-visible fails under max,-smap,-avx (exit 1)" \
    bash -c "[ $rc = 1 ] && [ \"\$(json $T/noavx.out '\$j->{verdict}')\" = fail ]"
check "... its evidence is the check's own line" \
    bash -c "json $T/noavx.out 'join qq(\n), @{\$j->{trials}[0]{evidence}}' | grep -q \"no 'avx' in /proc/cpuinfo flags\""

# --- a C plug-in: compiled once, exit codes ---
# unique source, so the shared test cache cannot already hold it
{ echo "/* $T */"; cat $TOP/tests/fixtures/repro/exit-code.c; } > $T/exit-code.c
run_pvlab $T/c0 run --xen 4.17 --linux 6.1 --repro c:$T/exit-code.c --repro-args --code=0 --json
tail -3 $T/c0.err | diag
check "a C plug-in exiting 0 passes, and was compiled" \
    bash -c "[ $rc = 0 ] && grep -q '^compiled' $T/c0.err"
bin=$(ls $PVLAB_CACHE_DIR/repro/*/exit-code -t | head -1)
ino=$(stat -c %i "$bin")
run_pvlab $T/c125 run --xen 4.17 --linux 6.1 --repro c:$T/exit-code.c --repro-args --code=125 --json
tail -3 $T/c125.err | diag
check "exit 125 is skip (pvlab run exits 125)" \
    bash -c "[ $rc = 125 ] && [ \"\$(json $T/c125.out '\$j->{trials}[0]{verdict}')\" = skip ]"
check "... and the second run compiled nothing (the cached program, same file)" \
    bash -c "! grep -q '^compiled' $T/c125.err && [ \"\$(stat -c %i $bin)\" = $ino ]"
run_pvlab $T/c4 run --xen 4.17 --linux 6.1 --repro c:$T/exit-code.c --repro-args --code=4 --json
tail -3 $T/c4.err | diag
check "XTF's exit 4 (error) is infra, with its name" \
    bash -c "[ $rc = 125 ] && [ \"\$(json $T/c4.out '\$j->{trials}[0]{verdict}')\" = infra ] && json $T/c4.out '\$j->{trials}[0]{reason}' | grep -q 'XTF error'"
check "the guest got the seed the run recorded" \
    bash -c "grep -q \"seed \$(json $T/c4.out '\$j->{params}{seed}'), exiting 4\" \"\$(json $T/c4.out '\$j->{trials}[0]{log}')\""
check "no QEMU left behind" no_qemu_left
