#!/usr/bin/env bash
# Snapshot trials with real boots (Xen 4.17 + Linux 6.1): one boot saves the ready machine and
# the further trials restore it. Each restored trial gets its own seed, so its patterns differ
# (seen in the self-test's mismatch events); the positive control still fails from a snapshot;
# a run with another CPU model does not reuse it; a truncated snapshot gives a fresh boot and a
# warning, never a verdict from it; --fresh-boot-every mixes fresh boots in; a matrix cell's
# trials restore its machine too; a restored trial's log carries the boot it came from.
. "$(dirname "$0")/lib.sh"
plan 12
T=$PVLAB_HOME
# snapshots of this test only: a cache of its own whose other entries are the shared cache's
shared=$PVLAB_CACHE_DIR
export PVLAB_CACHE_DIR=$T/cache-snap
mkdir -p $shared $PVLAB_CACHE_DIR
for f in "$shared"/*; do
    [ -e "$f" ] && [ "$(basename "$f")" != snapshots ] && ln -s "$f" $PVLAB_CACHE_DIR/
done
origin() { json "$1" "join ' ', map { (split / /, \$_->{snapshot})[0] } @{\$j->{trials}}"; }

run_pvlab $T/a run --xen 4.17 --linux 6.1 --trials 6 --fresh-boot-every 0 --iterations 60 \
    --self-test-corrupt 0.5 --json
tail -5 $T/a.err | diag
check "6 trials: the first boots and saves the machine, five restore it" \
    [ "$(origin $T/a.out)" = "made restored restored restored restored restored" ]
check "the positive control fails in every trial, restored ones too" \
    bash -c "[ $rc = 1 ] && [ \"\$(json $T/a.out 'join q( ), map { \$_->{verdict} } @{\$j->{trials}}')\" = 'fail fail fail fail fail fail' ]"
seeds=$(for i in 1 2 3 4 5 6; do grep -ao '"seed":[0-9]*' $T/state/runs/1/trial-$i.log | head -1; done | sort -u | wc -l)
check "every trial had its own seed" [ "$seeds" = 6 ]
# the self-test's mismatch events carry the expected register value: the per-process pattern
pat() { grep -a '"type":"mismatch"' $T/state/runs/1/trial-$1.log | grep -o '"expected":"[^"]*"' | sort -u | md5sum; }
sums=$(for i in 2 3 4 5 6; do pat $i; done)
empty=$(printf '' | md5sum)
check "the five restored trials draw five different patterns" \
    bash -c "[ \$(sort -u <<<'$sums' | wc -l) = 5 ] && ! grep -q '$empty' <<<'$sums'"
check "a restored trial's log starts with the boot it was saved from, then says so" \
    bash -c "grep -aq 'Xen version' $T/state/runs/1/trial-3.log &&
             grep -aq 'restored the machine of snapshot' $T/state/runs/1/trial-3.log &&
             ! grep -aq 'restored the machine' $T/state/runs/1/trial-1.log"
snap=$(ls $PVLAB_CACHE_DIR/snapshots/*.mig)
check "the snapshot is in the cache with its sha256" bash -c "[ -f '$snap' ] && [ -f '$snap.sha256' ]"

run_pvlab $T/b run --xen 4.17 --linux 6.1 --trials 2 --fresh-boot-every 0 --iterations 60 \
    --cpu-model max,-smap,-avx --json
ob=$(origin $T/b.out)
check "another CPU model: not reused (booted and saved its own)" \
    bash -c "[ '$ob' = 'made restored' ] && [ \$(ls $PVLAB_CACHE_DIR/snapshots/*.mig | wc -l) = 2 ]"

truncate -s 50M "$snap"
run_pvlab $T/c run --xen 4.17 --linux 6.1 --trials 2 --fresh-boot-every 0 --iterations 60 --json
tail -5 $T/c.err | diag
oc=$(origin $T/c.out)
check "a truncated snapshot: a warning, and a fresh boot that saves it again" \
    bash -c "grep -q 'cannot be restored' $T/c.err && [ '$oc' = 'made restored' ]"
check "... the verdicts are the honest ones (pass)" \
    bash -c "[ $rc = 0 ] && [ \"\$(json $T/c.out '\$j->{verdict}')\" = pass ]"

run_pvlab $T/d run --xen 4.17 --linux 6.1 --trials 4 --fresh-boot-every 2 --iterations 60 --json
check "--fresh-boot-every 2: trials 2 and 4 boot" \
    [ "$(origin $T/d.out)" = "restored fresh restored fresh" ]
cat >$T/m.conf <<'EOF'
[matrix]
name = e2e-snap
trials = 3
iterations = 60
[xen]
x4.17 = 4.17
[linux]
l6.1 = 6.1
[repro]
fpu-leak = fpu-leak
EOF
run_pvlab $T/m matrix run $T/m.conf --jobs 1 --fresh-boot-every 0 --format json
tail -3 $T/m.err | diag
mrun=$(json $T/m.out '$j->{cells}[0]{run_id}')
run_pvlab $T/ms show "$mrun" --json
om=$(origin $T/ms.out)
check "a matrix cell's trials restore its machine (saved by the runs above, or by its first)" \
    bash -c "[[ '$om' =~ ^(made|restored)\ restored\ restored$ ]] &&
             [ \"\$(json $T/m.out '\$j->{cells}[0]{verdict}')\" = pass ]"
check "no QEMU left behind" no_qemu_left
