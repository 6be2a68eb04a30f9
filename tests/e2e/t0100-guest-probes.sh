#!/bin/bash
# Guest programs on the build machine itself (no VM): the probes must stay silent on an honest
# CPU (negative control) and report a mismatch under self_test_corrupt=1 (positive control);
# pvlab-init's supervisor, run with --host, must count, classify and stream correctly.
# Uses build/guest/* (run `make` first); a missing binary is a failure, not a skip.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
g=$top/build/guest
tmp=$(mktemp -d /tmp/pvlab-t0100.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "#   $l"; done; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else not_ok "$name"; fi; }

# Validates protocol lines: "PVLAB-TAG {json}" with well-formed JSON (python3 when present).
protocol_ok() {
    grep -E '^PVLAB-' "$1" | grep -vE '^PVLAB-END$' | python3 -c '
import json, sys
for line in sys.stdin:
    tag, _, body = line.rstrip("\n").partition(" ")
    assert tag in ("PVLAB-BEGIN", "PVLAB-PROGRESS", "PVLAB-EVENT", "PVLAB-RESULT", "PVLAB-ERROR"), tag
    assert isinstance(json.loads(body), dict), line
'
}
# Prints a numeric field of the RESULT line.
result_field() { sed -n 's/^PVLAB-RESULT .*"'"$2"'":\([0-9]*\).*/\1/p' "$1"; }

echo "1..19"

# 1-3: binaries exist and are static
for b in pvlab-init fpu-probe memcmp-probe; do
    if [ ! -x "$g/$b" ]; then
        not_ok "$b is built" "missing $g/$b: run make"
    elif readelf -l "$g/$b" 2>/dev/null | grep -q 'Requesting program interpreter'; then
        not_ok "$b is built and static" "$g/$b is dynamically linked"
    else
        ok "$b is built and static"
    fi
done

# 4-6: negative controls: honest CPU, every run exits 0 and prints nothing
negative() {
    local prog=$1 runs=$2; shift 2
    local bad=0 out
    for ((i = 0; i < runs; i++)); do
        out=$("$g/$prog" --seed=$i --iter=$i "$@" 2>&1)
        rc=$?
        if [ $rc -ne 0 ] || [ -n "$out" ]; then
            echo "# run $i: exit $rc: $out"
            bad=$((bad + 1))
            [ $bad -ge 3 ] && break
        fi
    done
    [ $bad -eq 0 ]
}
check "fpu-probe: 300 runs, no mismatch (negative control)" negative fpu-probe 300
check "fpu-probe --sse-only: 300 runs, no mismatch (negative control)" \
    negative fpu-probe 300 --sse-only=1
check "memcmp-probe: 100 runs, no mismatch (negative control)" negative memcmp-probe 100

# 7-9: positive controls: forced corruption is reported with the mismatch exit code
positive() {
    local prog=$1 repro=$2; shift 2
    local out rc
    out=$("$g/$prog" --iter=7 --self-test-corrupt=1 "$@" 2>&1)
    rc=$?
    echo "$out" > "$tmp/pos"
    [ $rc -eq 3 ] && [ "$(wc -l < "$tmp/pos")" -eq 1 ] &&
        grep -q '^PVLAB-EVENT {"type":"mismatch","repro":"'"$repro"'","pid":[0-9]*,"iter":7,' \
            "$tmp/pos" &&
        grep -q '"self_test":true}$' "$tmp/pos" && protocol_ok "$tmp/pos" ||
        { echo "# exit $rc: $out"; return 1; }
}
check "fpu-probe --self-test-corrupt=1 reports a mismatch, exit 3" positive fpu-probe fpu-leak
check "fpu-probe --sse-only --self-test-corrupt=1 reports a mismatch" \
    positive fpu-probe fpu-leak --sse-only=1
check "memcmp-probe --self-test-corrupt=1 reports a mismatch, exit 3" \
    positive memcmp-probe seed-memcmp

# 10: a fractional rate corrupts some processes, not all
partial() {
    local hits=0
    for ((i = 0; i < 100; i++)); do
        "$g/fpu-probe" --self-test-corrupt=0.5 > /dev/null 2>&1
        [ $? -eq 3 ] && hits=$((hits + 1))
    done
    echo "# $hits of 100 corrupted at rate 0.5"
    [ $hits -gt 10 ] && [ $hits -lt 90 ]
}
check "fpu-probe --self-test-corrupt=0.5 corrupts a fraction" partial

# 11: full supervisor run, honest CPU
init_run() { "$g/pvlab-init" --host "$@" > "$tmp/out" 2>&1; }
clean_run() {
    init_run --cmdline="pvlab.repro=fpu-leak pvlab.iterations=300 pvlab.seed=5" || return 1
    head -n1 "$tmp/out" | grep -q '^PVLAB-BEGIN {"repro":"fpu-leak","iterations":300,' &&
        grep -q '^PVLAB-RESULT {"repro":"fpu-leak","iterations":300,"corruptions":0,"mismatches":0,"deaths":0,"exec_failures":0,"self_test":false,' "$tmp/out" &&
        [ "$(grep -c '^PVLAB-PROGRESS' "$tmp/out")" -eq 10 ] &&
        [ "$(tail -n1 "$tmp/out")" = PVLAB-END ] && ! grep -q '^PVLAB-EVENT' "$tmp/out" &&
        protocol_ok "$tmp/out" || { sed 's/^/# /' "$tmp/out" | tail -5; return 1; }
}
check "pvlab-init --host: 300 fresh execs, RESULT with 0 corruptions" clean_run

# 12: every self-test corruption is counted and streamed, lines never interleave
selftest_run() {
    init_run --cmdline="pvlab.repro=seed-memcmp pvlab.iterations=200 pvlab.workers=9 pvlab.self_test_corrupt=1" ||
        return 1
    [ "$(result_field "$tmp/out" corruptions)" = 200 ] &&
        [ "$(result_field "$tmp/out" mismatches)" = 200 ] &&
        [ "$(grep -c '^PVLAB-EVENT {"type":"mismatch"' "$tmp/out")" -eq 200 ] &&
        grep -q '"self_test":true,' "$tmp/out" && protocol_ok "$tmp/out" ||
        { sed 's/^/# /' "$tmp/out" | tail -5; return 1; }
}
check "pvlab-init --host self_test_corrupt=1: 200 of 200 counted and streamed" selftest_run

# 13: probes dying by a signal are deaths with an EVENT each; other failures are exec failures
deaths_run() {
    mkdir -p "$tmp/fake"
    printf '#!/bin/sh\ncase "$2" in --iter=3|--iter=5) kill -SEGV $$;; --iter=7) kill -BUS $$;; --iter=4) exit 1;; esac\nexit 0\n' \
        > "$tmp/fake/fpu-probe"
    chmod +x "$tmp/fake/fpu-probe"
    init_run --bin-dir="$tmp/fake" --cmdline="pvlab.repro=fpu-leak pvlab.iterations=10 pvlab.workers=3" ||
        return 1
    [ "$(result_field "$tmp/out" deaths)" = 3 ] && [ "$(result_field "$tmp/out" corruptions)" = 3 ] &&
        [ "$(result_field "$tmp/out" exec_failures)" = 1 ] &&
        grep -q '^PVLAB-EVENT {"type":"death","repro":"fpu-leak","iter":3,"pid":[0-9]*,"signal":11,"signame":"SIGSEGV"}$' "$tmp/out" &&
        grep -q '"iter":7,"pid":[0-9]*,"signal":7,"signame":"SIGBUS"}$' "$tmp/out" &&
        protocol_ok "$tmp/out" || { sed 's/^/# /' "$tmp/out"; return 1; }
}
check "pvlab-init --host: SIGSEGV/SIGBUS probes are death events, exit 1 is an exec failure" \
    deaths_run

# 14: a supervisor killed by the bug: pid 1 streams supervisor-death, no RESULT, then END
sup_death_run() {
    init_run --test-kill-supervisor --cmdline="pvlab.repro=fpu-leak pvlab.iterations=100000"
    grep -q '^PVLAB-EVENT {"type":"supervisor-death","repro":"fpu-leak","pid":[0-9]*,"signal":11,"signame":"SIGSEGV",' "$tmp/out" &&
        ! grep -q '^PVLAB-RESULT' "$tmp/out" && [ "$(tail -n1 "$tmp/out")" = PVLAB-END ] &&
        protocol_ok "$tmp/out" || { sed 's/^/# /' "$tmp/out" | tail -5; return 1; }
}
check "pvlab-init --host: supervisor death is streamed, no RESULT" sup_death_run

# 15-16: bad parameters are PVLAB-ERROR lines, before any BEGIN
error_run() {
    init_run --cmdline="$1"
    [ "$(wc -l < "$tmp/out")" -eq 1 ] && grep -q "^PVLAB-ERROR {\"msg\":\".*$2" "$tmp/out" ||
        { sed 's/^/# /' "$tmp/out"; return 1; }
}
check "pvlab-init: unknown reproducer is PVLAB-ERROR naming the known ones" \
    error_run "pvlab.repro=nope" "known: fpu-leak, seed-memcmp, self-test-hang"
check "pvlab-init: iterations out of range is PVLAB-ERROR" \
    error_run "pvlab.repro=fpu-leak pvlab.iterations=0" "pvlab.iterations=0"

# 17-19: plug-ins (a manifest and a program in --repro-dir): the iterations model counts fail
# codes as corruption and deaths as deaths, a skip code ends the run; the once model's exit is
# the verdict and its output is echoed, and kept as evidence when it fails
plugin_dir() { # plugin_dir MODEL SCRIPT
    rm -rf "$tmp/pl" && mkdir -p "$tmp/pl" &&
        printf 'name chk\nkind script\nmodel %s\narg --k=v\n' "$1" > "$tmp/pl/manifest" &&
        printf '%s\n' "$2" > "$tmp/pl/chk"
}
plugin_iter_run() {
    plugin_dir iterations 'case "$PVLAB_ITER" in 2|6) echo bad; exit 1;; 4) exit 5;; 8) kill -SEGV $$;; esac; [ "$1" = --k=v ]'
    init_run --repro-dir="$tmp/pl" --cmdline="pvlab.repro=plugin pvlab.iterations=10 pvlab.workers=3" || return 1
    grep -q '^PVLAB-BEGIN {"repro":"chk","iterations":10,.*"plugin":"script","model":"iterations"}' "$tmp/out" &&
        [ "$(result_field "$tmp/out" mismatches)" = 3 ] && [ "$(result_field "$tmp/out" deaths)" = 1 ] &&
        [ "$(result_field "$tmp/out" iterations)" = 10 ] &&
        [ "$(grep -c '^PVLAB-EVENT {"type":"check-failed","repro":"chk"' "$tmp/out")" = 3 ] &&
        grep -q '"how":"exit 5 (XTF failure)"' "$tmp/out" && grep -q '"outcome":"fail"' "$tmp/out" &&
        protocol_ok "$tmp/out" || { sed 's/^/# /' "$tmp/out"; return 1; }
}
check "pvlab-init plug-in, iterations: exit 1 and XTF 5 are corruptions, SIGSEGV a death" plugin_iter_run
plugin_skip_run() {
    plugin_dir iterations '[ "$PVLAB_ITER" -ge 5 ] && exit 3; exit 0'
    init_run --repro-dir="$tmp/pl" --cmdline="pvlab.repro=plugin pvlab.iterations=500 pvlab.workers=2" || return 1
    grep -q '"outcome":"skip","why":"exit 3 (XTF skip)"' "$tmp/out" &&
        [ "$(result_field "$tmp/out" iterations)" -lt 500 ] && protocol_ok "$tmp/out" ||
        { sed 's/^/# /' "$tmp/out" | tail -5; return 1; }
}
check "pvlab-init plug-in, iterations: XTF skip stops the run with outcome skip" plugin_skip_run
plugin_once_run() {
    plugin_dir once 'echo "seed=$PVLAB_SEED args=$*"; echo "the last word"; exit 1'
    init_run --repro-dir="$tmp/pl" --cmdline="pvlab.repro=plugin pvlab.iterations=99 pvlab.seed=42" || return 1
    grep -q '^PVLAB-BEGIN {"repro":"chk","iterations":1,"workers":1,' "$tmp/out" &&
        grep -qx 'repro| seed=42 args=--k=v' "$tmp/out" &&
        [ "$(grep -c '^PVLAB-EVENT {"type":"evidence","repro":"chk","line":' "$tmp/out")" = 2 ] &&
        grep -q '^PVLAB-RESULT {"repro":"chk","iterations":1,"corruptions":1,.*"outcome":"fail","why":"exit 1","last":"the last word"}' "$tmp/out" &&
        protocol_ok "$tmp/out" || { sed 's/^/# /' "$tmp/out"; return 1; }
}
check "pvlab-init plug-in, once: output echoed, exit 1 is fail with its lines as evidence" plugin_once_run

[ $fails -eq 0 ]
