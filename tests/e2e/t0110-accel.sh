#!/usr/bin/env bash
# The accelerator is chosen by a probe guest, never by opening a device. Each host kind is made
# with a fake KVM device (a file that opens read-write) and a QEMU wrapper that behaves like that
# host under -accel kvm; everything else is the real QEMU:
#   none     - no KVM device: TCG, said in one line
#   abort    - KVM opens but QEMU aborts (`failed to set MSR`): TCG with QEMU's message; a real
#              trial passes; accel = kvm is a setup error (exit 128) with the hint
#   hang     - KVM opens but the guest prints nothing: TCG within the probe deadline
#   works    - a KVM that runs guests: KVM, recorded with a real trial; cached per CPU model
#   slow     - a KVM that runs guests slower than TCG: TCG, with both times
. "$(dirname "$0")/lib.sh"
plan 20
T=$PVLAB_HOME
touch $T/fake-kvm
REAL=$(command -v qemu-system-x86_64)

# wrapper NAME KVM-BEHAVIOUR [TCG-BEHAVIOUR [DEVICE [PROBE-DEADLINE]]]: a QEMU that runs the
# shell snippet for -accel kvm (and the other one for -accel tcg), and a config that uses it
wrapper() {
    cat >$T/qemu-$1 <<EOF
#!/bin/bash
accel=
for a in "\$@"; do [ "\$prev" = -accel ] && accel=\$a; prev=\$a; done
if [ "\$accel" = kvm ]; then
$2
fi
if [ "\$accel" = tcg ]; then
${3:-:}
fi
exec $REAL "\$@"
EOF
    chmod +x $T/qemu-$1
    printf '[qemu]\nbinary = %s\nkvm_device = %s\nprobe_timeout_s = %s\n' \
        "$T/qemu-$1" "${4:-$T/fake-kvm}" "${5:-3}" >$T/$1.conf
}
# a "KVM" that runs guests: TCG underneath (the real one), -cpu host mapped to a TCG model
as_tcg='args=(); for a in "$@"; do case $a in kvm) a=tcg;; host) a=max,-smap;; esac; args+=("$a"); done
exec '$REAL' "${args[@]}"'
wrapper none ':' ':' $T/no-such-kvm
wrapper abort 'echo "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69" >&2
echo "qemu-system-x86_64: kvm.c:3055: kvm_buf_set_msrs: Assertion failed." >&2
kill -ABRT $$'
wrapper hang 'exec sleep 600'
wrapper works "$as_tcg" 'sleep 1' "" 20
wrapper slow "sleep 2; $as_tcg" ':' "" 20

run_pvlab $T/none --config $T/none.conf host --json
check "no KVM device: tcg" [ "$(json $T/none.out '$j->{accel}{chosen}')" = tcg ]
check "... and the note says the device is not present" \
    bash -c "json $T/none.out '\$j->{accel}{note}' | grep -q 'no-such-kvm not present; using tcg'"
check "... the TCG model runs the probe guest" \
    [ "$(json $T/none.out '(grep { $_->{accel} eq "tcg" } @{$j->{cpu_models}})[0]{ok} ? 1 : 0')" = 1 ]

run_pvlab $T/abort --config $T/abort.conf run --iterations 50 --json
tail -3 $T/abort.err | diag
check "KVM aborting QEMU: the trial runs under tcg and passes" \
    bash -c "[ $rc = 0 ] && [ \"\$(json $T/abort.out '\$j->{host}{accel}')\" = tcg ]"
check "... one line on stderr says why, with QEMU's message" \
    grep -q "^kvm: $T/fake-kvm opens but QEMU was killed by signal 6 (Aborted).*failed to set MSR 0x10a.*using tcg$" $T/abort.err
check "... and the run records it" \
    bash -c "json $T/abort.out '\$j->{host}{accel_note}' | grep -q 'failed to set MSR'"
printf 'accel = kvm\n' >>$T/abort.conf
run_pvlab $T/abort2 --config $T/abort.conf run --iterations 50
check "accel = kvm on that host: exit 128 (a setup error, not a skip)" [ $rc = 128 ]
check "... naming QEMU's message and the hint to set accel = tcg" \
    bash -c "grep -q 'failed to set MSR' $T/abort2.err && grep -q 'set accel = tcg' $T/abort2.err"

start=$(date +%s)
run_pvlab $T/hang --config $T/hang.conf host --json
took=$(($(date +%s) - start))
check "KVM guest that prints nothing: tcg" [ "$(json $T/hang.out '$j->{accel}{chosen}')" = tcg ]
check "... the note names the deadline" \
    bash -c "json $T/hang.out '\$j->{accel}{note}' | grep -q 'opens but a probe guest printed nothing in 3 s; using tcg'"
check "... decided within the deadline plus the TCG probe (${took} s)" [ $took -lt 60 ]
check "... and no probe QEMU is left running" bash -c "! pgrep -xf 'sleep 600' >/dev/null"

run_pvlab $T/works --config $T/works.conf run --iterations 50 --json
tail -3 $T/works.err | diag
check "a KVM that runs guests: the trial runs under kvm and passes" \
    bash -c "[ $rc = 0 ] && [ \"\$(json $T/works.out '\$j->{host}{accel}')\" = kvm ]"
check "... with the KVM CPU model on QEMU's command line" \
    bash -c "json $T/works.out '\$j->{qemu_cmd}' | grep -q -- '-accel kvm -cpu host'"
check "... the note gives both probe times" \
    bash -c "json $T/works.out '\$j->{host}{accel_note}' | grep -Eq 'ran in [0-9.]+ s under KVM \([0-9.]+ s under TCG\); using kvm'"
run_pvlab $T/works2 --config $T/works.conf host --json
check "the decision is cached for this boot and QEMU" \
    [ "$(json $T/works2.out '$j->{accel}{cached} ? 1 : 0')" = 1 ]
printf 'cpu_kvm = max\n' >>$T/works.conf
run_pvlab $T/works3 --config $T/works.conf host --json
check "another KVM CPU model probes again" \
    bash -c "[ \"\$(json $T/works3.out '\$j->{accel}{cached} ? 1 : 0')\" = 0 ] &&
             [ \"\$(json $T/works3.out '\$j->{accel}{cpu_model}')\" = max ]"
run_pvlab $T/works4 --config $T/works.conf host --json --reprobe
check "--reprobe ignores the cache" [ "$(json $T/works4.out '$j->{accel}{cached} ? 1 : 0')" = 0 ]

run_pvlab $T/slow --config $T/slow.conf host --json
check "a KVM slower than TCG on the probe: tcg, with both times" \
    bash -c "[ \"\$(json $T/slow.out '\$j->{accel}{chosen}')\" = tcg ] &&
             json $T/slow.out '\$j->{accel}{note}' | grep -Eq 'took [0-9.]+ s under KVM but [0-9.]+ s under TCG; using tcg'"

run_pvlab $T/h host
check "pvlab host (human) shows QEMU, the accelerator and the tools" \
    bash -c "[ $rc = 0 ] && grep -q '^qemu: .*QEMU emulator version' $T/h.out &&
             grep -q '^accel: ' $T/h.out && grep -q 'debootstrap' $T/h.out"
