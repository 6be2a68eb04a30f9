#!/usr/bin/env bash
# bench/trial: pvlab's wall time for one trial (Xen 4.17 + Linux 6.1, fpu-leak, 2000 iterations,
# warm cache) against the same QEMU command run by hand (from `pvlab run --print-qemu-cmd`).
# Runs the pair ROUNDS times, alternating, and prints each time, the medians and their ratio.
# Target: ratio <= 1.1.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
PVLAB="$TOP/pvlab"
ROUNDS=${ROUNDS:-3}
ITER=${ITER:-2000}
export PVLAB_HOME=$(mktemp -d /tmp/pvlab-bench.XXXXXX)
export PVLAB_CACHE_DIR="${PVLAB_TEST_CACHE:-$TOP/build/test-cache}"
trap 'rm -rf "$PVLAB_HOME"' EXIT
args=(--xen 4.17 --linux 6.1 --repro fpu-leak --iterations "$ITER" --seed 4242)

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

"$PVLAB" run "${args[@]}" -q >/dev/null || true        # warm the cache (and the page cache)
cmd=$("$PVLAB" run "${args[@]}" -q --print-qemu-cmd)
pv_times=() hand_times=()
for i in $(seq "$ROUNDS"); do
    t0=$(now)
    "$PVLAB" run "${args[@]}" -q >/dev/null || true
    t1=$(now)
    bash -c "$cmd" </dev/null >/dev/null 2>&1 || true
    t2=$(now)
    grep -q PVLAB-RESULT "$PVLAB_HOME/state/console.log" || echo "warning: hand run printed no result" >&2
    pv=$(echo "$t1 - $t0" | bc -l); hand=$(echo "$t2 - $t1" | bc -l)
    pv_times+=("$pv"); hand_times+=("$hand")
    printf 'round %d: pvlab %.2f s, by hand %.2f s\n' "$i" "$pv" "$hand"
done
pvm=$(printf '%s\n' "${pv_times[@]}" | median)
hm=$(printf '%s\n' "${hand_times[@]}" | median)
printf 'bench/trial: %d iterations, median pvlab %.2f s, median by hand %.2f s, ratio %.3f (target <= 1.1)\n' \
    "$ITER" "$pvm" "$hm" "$(echo "$pvm / $hm" | bc -l)"
