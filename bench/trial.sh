#!/usr/bin/env bash
# bench/trial: one trial's wall time (Xen 4.17 + Linux 6.1, fpu-leak, ITER iterations, warm
# cache), two ways in one run.
# 1. pvlab booting every trial against the same QEMU command run by hand (from `pvlab run
#    --print-qemu-cmd`), ROUNDS times alternating: medians and ratio. Target: ratio <= 1.1.
# 2. A trial from a booted snapshot against a fresh boot: `pvlab run --fresh-boot-every 2`
#    boots and saves at trial 1, boots fresh at every even trial and restores at every odd one
#    (2 * ROUNDS + 1 trials). Prints each trial's wall time and the time beyond the reproducer's
#    own work (wall time minus the guest's elapsed_ms), the medians per origin and the ratio.
#    Target: a restored trial's time beyond the reproducer <= 2 s.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
PVLAB="$TOP/pvlab"
ROUNDS=${ROUNDS:-3}
ITER=${ITER:-2000}
export PVLAB_HOME=$(mktemp -d /tmp/pvlab-bench.XXXXXX)
shared="${PVLAB_TEST_CACHE:-$TOP/build/test-cache}"
export PVLAB_CACHE_DIR=$PVLAB_HOME/cache # its own snapshots; the images are the test cache's
mkdir -p "$shared" "$PVLAB_CACHE_DIR"
for f in "$shared"/*; do [ -e "$f" ] && [ "$(basename "$f")" != snapshots ] && ln -s "$f" "$PVLAB_CACHE_DIR/"; done
trap 'rm -rf "$PVLAB_HOME"' EXIT
args=(--xen 4.17 --linux 6.1 --repro fpu-leak --iterations "$ITER" --seed 4242)

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# 1. pvlab against QEMU by hand, every trial a boot
"$PVLAB" run "${args[@]}" --fresh-boot-every 1 -q >/dev/null || true # warm the cache
cmd=$("$PVLAB" run "${args[@]}" -q --print-qemu-cmd)
pv_times=() hand_times=()
for i in $(seq "$ROUNDS"); do
    t0=$(now)
    "$PVLAB" run "${args[@]}" --fresh-boot-every 1 -q >/dev/null || true
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

# 2. fresh boots against restored snapshots, in one run
"$PVLAB" run "${args[@]}" --trials $((2 * ROUNDS + 1)) --fresh-boot-every 2 --json -q \
    > "$PVLAB_HOME/run.json" || true
perl -MJSON::PP -e '
    local $/; open my $f, "<", $ARGV[0] or die; my $j = decode_json(<$f>);
    my (%wall, %over);
    for my $t (@{$j->{trials}}) {
        my $origin = ($t->{snapshot} // "fresh") =~ /^restored/ ? "restored" : "booted";
        open my $l, "<", $t->{log} or die; local $/; my $log = <$l>;
        my ($el) = $log =~ /PVLAB-RESULT .*"elapsed_ms":(\d+)/;
        my $over = ($t->{wall_ms} - ($el // 0)) / 1000;
        printf "trial %d %-8s %-5s wall %6.2f s, reproducer %6.2f s, beyond it %5.2f s\n",
            $t->{idx}, $origin, $t->{verdict}, $t->{wall_ms} / 1000, ($el // 0) / 1000, $over;
        push @{$wall{$origin}}, $t->{wall_ms} / 1000; push @{$over{$origin}}, $over;
    }
    sub med { my @a = sort { $a <=> $b } @_; @a % 2 ? $a[$#a / 2] : ($a[@a / 2 - 1] + $a[@a / 2]) / 2 }
    my ($wb, $wr, $ob, $or) = (med(@{$wall{booted}}), med(@{$wall{restored}}), med(@{$over{booted}}), med(@{$over{restored}}));
    printf "bench/trial snapshot: %d iterations; median wall: booted %.2f s, restored %.2f s, ratio %.2f; " .
        "beyond the reproducer: booted %.2f s, restored %.2f s (target <= 2 s)\n", $ARGV[1], $wb, $wr, $wb / $wr, $ob, $or;
' "$PVLAB_HOME/run.json" "$ITER"
