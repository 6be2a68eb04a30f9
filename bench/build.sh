#!/usr/bin/env bash
# bench/build.sh: build times of the minimal PV dom0 kernel (Linux 6.1 from Debian's
# linux-source-6.1, tinyconfig + dom0 fragment) and of the Xen hypervisor (Debian's 4.17 source
# package), as a bisect step sees them: each source becomes a git repository in a scratch
# directory, then
#   full         first build of a commit (cold private cache, cold ccache)
#   incremental  the next commit changes one file: same worktree and build dir, new key
#   cache hit    the same commit again: no make
# Uses a private cache (BENCH_CACHE, default a temp dir; removed unless KEEP=1). Slow: a full
# Linux build is ~10 min on 2 cores. SKIP_LINUX=1 / SKIP_XEN=1 leave one out.
set -eu
TOP=$(cd "$(dirname "$0")/.." && pwd)
PVLAB="$TOP/pvlab"
TARBALL=${TARBALL:-/usr/src/linux-source-6.1.tar.xz}
SCRATCH=$(mktemp -d /tmp/pvlab-bench-build.XXXXXX)
export PVLAB_HOME=$SCRATCH/home
export PVLAB_CACHE_DIR=${BENCH_CACHE:-$SCRATCH/cache}
unset PVLAB_CONFIG PVLAB_STATE_DIR
cleanup() { [ -n "${KEEP:-}" ] || rm -rf "$SCRATCH"; }
trap cleanup EXIT INT TERM

now() { date +%s.%N; }
secs() { echo "$1 $2" | awk '{ printf "%.1f", $2 - $1 }'; }

# commit_all DIR MSG: one commit of everything in DIR (forced: Debian's linux-source .gitignore
# ignores every top-level entry)
commit_all() {
    git -C "$1" -c user.email=bench@pvlab -c user.name=bench add -A -f >/dev/null
    git -C "$1" -c user.email=bench@pvlab -c user.name=bench commit -qm "$2"
}

# bench_one NAME KIND REPO FILE: full, incremental (FILE gets a one-line change), cache hit
bench_one() {
    local name=$1 kind=$2 repo=$3 file=$4 t0 t1 full incr hit
    t0=$(now)
    "$PVLAB" build "$kind" --repo "$repo" --json -q >"$SCRATCH/$name-full.json"
    t1=$(now); full=$(secs "$t0" "$t1")
    printf '\n/* pvlab bench: one-line change */\n' >>"$repo/$file"
    commit_all "$repo" "bench: touch $file"
    t0=$(now)
    "$PVLAB" build "$kind" --repo "$repo" --json -q >"$SCRATCH/$name-incr.json"
    t1=$(now); incr=$(secs "$t0" "$t1")
    t0=$(now)
    "$PVLAB" build "$kind" --repo "$repo" --json -q >"$SCRATCH/$name-hit.json"
    t1=$(now); hit=$(secs "$t0" "$t1")
    if ! grep -q '"cache_hit":true' "$SCRATCH/$name-hit.json"; then
        echo "$name: the third build was no cache hit" >&2
        exit 1
    fi
    printf '%-34s full %7ss   incremental (%s) %6ss   cache hit %5ss\n' "$name" "$full" \
        "$file" "$incr" "$hit"
}

echo "bench/build: $(nproc) CPUs, make -j2, $(gcc --version | head -1)"
if [ -z "${SKIP_LINUX:-}" ]; then
    if [ ! -r "$TARBALL" ]; then
        echo "linux: $TARBALL missing (apt-get install linux-source-6.1); skipped"
    else
        mkdir -p "$SCRATCH/linux"
        tar -xf "$TARBALL" -C "$SCRATCH/linux" --strip-components=1
        git -C "$SCRATCH/linux" init -q
        commit_all "$SCRATCH/linux" "linux-source-6.1"
        bench_one "linux 6.1 PV dom0 (tinyconfig)" linux "$SCRATCH/linux" \
            drivers/xen/events/events_base.c
    fi
fi
if [ -z "${SKIP_XEN:-}" ]; then
    src=$("$PVLAB" build xen --debian-source --fetch-only -q 2>"$SCRATCH/xen-src.err" || true)
    if [ -z "$src" ]; then
        echo "xen: apt-get source xen failed; skipped"; tail -3 "$SCRATCH/xen-src.err"
    else
        cp -a "$src" "$SCRATCH/xen"
        git -C "$SCRATCH/xen" init -q
        commit_all "$SCRATCH/xen" "xen source"
        bench_one "xen 4.17 hypervisor (release)" xen "$SCRATCH/xen" xen/common/kernel.c
    fi
fi
