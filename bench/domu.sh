#!/usr/bin/env bash
# bench/domu: where a domU trial's time goes (Xen 4.17, dom0 Linux 6.1, two domUs 6.1 and
# 5.10, fpu-leak, ITER iterations each, warm cache), from dom0's own stage records: dom0 up,
# toolstack up, each domU created and done; the whole trial's wall time; and, as the yardstick,
# a dom0-only trial of the same iterations. Target: dom0 up to the first domU result <= 40 s.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
PVLAB="$TOP/pvlab"
ROUNDS=${ROUNDS:-2}
ITER=${ITER:-1000}
export PVLAB_HOME=$(mktemp -d /tmp/pvlab-bench.XXXXXX)
export PVLAB_CACHE_DIR="${PVLAB_TEST_CACHE:-$TOP/build/test-cache}"
trap 'rm -rf "$PVLAB_HOME"' EXIT
domu=(--xen 4.17 --linux 6.1 --domu-linux 6.1 --domu-linux 5.10 --iterations "$ITER" --seed 4242)

"$PVLAB" run "${domu[@]}" -q >/dev/null || true   # warm: toolstack, modules, ELF kernels
for i in $(seq "$ROUNDS"); do
    "$PVLAB" run "${domu[@]}" -q --json >"$PVLAB_HOME/r.json" || true
    perl -MJSON::PP -e '
        local $/; my $j = decode_json(<STDIN>); my $t = $j->{trials}[0];
        my %s; my ($first);
        for my $x (@{$t->{places}{stages}}) {
            my $k = $x->{stage} . ($x->{place} ? " $x->{place}" : "");
            $s{$k} = $x->{ms} / 1000;
            $first = $s{$k} if $x->{stage} eq "done" && !defined $first;
        }
        printf "round %d: verdict %s, trial wall %.1f s; dom0 %.1f, toolstack %.1f, created d1 %.1f, d2 %.1f, done d1 %.1f, d2 %.1f (s of dom0 uptime); dom0 up to first domU result %.1f s\n",
            $ARGV[0], $t->{verdict}, $t->{wall_ms} / 1000, $s{dom0}, $s{toolstack},
            $s{"created d1"}, $s{"created d2"}, $s{"done d1"}, $s{"done d2"}, $first - $s{dom0};
    ' "$i" <"$PVLAB_HOME/r.json"
    "$PVLAB" run --xen 4.17 --linux 6.1 --iterations "$ITER" --seed 4242 -q --json \
        >"$PVLAB_HOME/d.json" || true
    perl -MJSON::PP -e 'local $/; my $j = decode_json(<STDIN>);
        printf "round %d: dom0-only trial of %d iterations: wall %.1f s\n", $ARGV[0],
            $j->{trials}[0]{iterations}, $j->{trials}[0]{wall_ms} / 1000' "$i" <"$PVLAB_HOME/d.json"
done
