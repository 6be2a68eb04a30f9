#!/usr/bin/env bash
# bench/snapshot: a trial from a booted snapshot against a fresh boot (Xen 4.17 + Linux 6.1,
# fpu-leak, ITER iterations), measured in one run: `pvlab run --fresh-boot-every 2` boots and
# saves at trial 1, boots fresh at every even trial and restores at every odd one. Prints each
# trial's wall time and the time beyond the reproducer's own work (wall time minus the guest's
# elapsed_ms), the medians per origin and the ratio. Target: overhead of a restored trial <= 2 s.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
PVLAB="$TOP/pvlab"
ROUNDS=${ROUNDS:-3}
ITER=${ITER:-2000}
export PVLAB_HOME=$(mktemp -d /tmp/pvlab-bench.XXXXXX)
export PVLAB_CACHE_DIR=$PVLAB_HOME/cache # its own snapshots; the images are the test cache's
shared="${PVLAB_TEST_CACHE:-$TOP/build/test-cache}"
mkdir -p "$shared" "$PVLAB_CACHE_DIR"
for f in "$shared"/*; do [ -e "$f" ] && [ "$(basename "$f")" != snapshots ] && ln -s "$f" "$PVLAB_CACHE_DIR/"; done
trap 'rm -rf "$PVLAB_HOME"' EXIT
"$PVLAB" run --xen 4.17 --linux 6.1 --iterations "$ITER" --trials $((2 * ROUNDS + 1)) \
    --fresh-boot-every 2 --seed 4242 --json -q > "$PVLAB_HOME/run.json" || true
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
    printf "bench/snapshot: %d iterations; median wall: booted %.2f s, restored %.2f s, ratio %.2f; " .
        "beyond the reproducer: booted %.2f s, restored %.2f s (target <= 2 s)\n", $ARGV[1], $wb, $wr, $wb / $wr, $ob, $or;
' "$PVLAB_HOME/run.json" "$ITER"
