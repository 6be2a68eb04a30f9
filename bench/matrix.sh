#!/usr/bin/env bash
# Trials per hour of the 2x2 matrix (Xen 4.17, 4.20 x Linux 6.1, 6.12, fpu-leak, 2 trials of
# 1000 iterations per cell: 8 boots) at --jobs 1 (the guest pvlab run uses: -smp 2) and at the
# default (as many trials as cores, one vCPU each), plus the two other shapes, each timed in
# turn (A B C D A B C D) so load drifts hit them alike. Prints each and the ratio.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
PVLAB=$TOP/pvlab
ROUNDS=${ROUNDS:-2}
W=$(mktemp -d /tmp/pvlab-bench-matrix.XXXXXX)
trap 'rm -rf "$W"' EXIT
export PVLAB_HOME=$W
export PVLAB_CACHE_DIR=${PVLAB_TEST_CACHE:-$TOP/build/test-cache}
cat >$W/m.conf <<'EOC'
[matrix]
name = bench-2x2
trials = 2
iterations = 1000
[xen]
4.17 = 4.17
4.20 = 4.20
[linux]
6.1 = 6.1
6.12 = 6.12
[repro]
fpu-leak = fpu-leak
EOC
cores=$(nproc)
# (--jobs $cores --smp 2 is left out: two -smp 2 TCG guests on 2 cores ran at 0.13x, see DESIGN.md)
shapes=("--jobs 1 --smp 2" "--jobs 1 --smp 1" "--jobs $cores --smp 1")
"$PVLAB" matrix run $W/m.conf --jobs 1 --smp 1 >/dev/null 2>&1 # warm the cache
declare -A total
for r in $(seq 1 "$ROUNDS"); do
    for s in "${shapes[@]}"; do
        t0=$(date +%s.%N)
        "$PVLAB" matrix run $W/m.conf $s >/dev/null 2>&1
        t1=$(date +%s.%N)
        total[$s]=$(echo "${total[$s]:-0} + $t1 - $t0" | bc -l)
        printf 'round %d  %-22s %7.1f s\n' "$r" "$s" "$(echo "$t1 - $t0" | bc -l)"
    done
done
echo "2x2 matrix, 8 boots of 1000 iterations, $ROUNDS rounds, $cores cores:"
base=""
for s in "${shapes[@]}"; do
    tph=$(echo "8 * $ROUNDS * 3600 / ${total[$s]}" | bc -l)
    [ -z "$base" ] && base=$tph
    printf '  %-22s %6.0f trials/hour  (%.2fx the --jobs 1 --smp 2 figure)\n' "$s" "$tph" \
        "$(echo "$tph / $base" | bc -l)"
done
