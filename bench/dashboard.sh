#!/usr/bin/env bash
# pvlab serve under wrk on loopback: the compatibility page of a 3x3 and of a 30x30 matrix,
# each with 100 nights of history, and the runs API (GET /api/v1/runs: 100 of 300 runs).
# Prints requests per second and p99 latency for the server's modes: the default (2 polling
# threads, cached pages), a browser's gzip, a thread per connection, and every page rendered
# on every request (--no-cache). Goal on a 2-core machine: >= 2,000 req/s, p99 < 50 ms.
#   BENCH_SECS=10 (per measurement)  BENCH_CONNS=16  BENCH_THREADS=2 (wrk's)
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
PVLAB=$TOP/pvlab
SECS=${BENCH_SECS:-10}
CONNS=${BENCH_CONNS:-16}
WT=${BENCH_THREADS:-2}
if ! command -v wrk >/dev/null; then
    echo "bench/dashboard.sh: wrk is not installed (apt-get install wrk); skipped"
    exit 0
fi
W=$(mktemp -d /tmp/pvlab-bench-dash.XXXXXX)
SPID=""
trap '[ -n "$SPID" ] && kill $SPID 2>/dev/null; wait 2>/dev/null; rm -rf "$W"' EXIT
export PVLAB_HOME=$W

# gen LAB NAME N NIGHTS FIRST_RUN_ID DIR ID_BASE: one matrix envelope per night (N x N, one
# reproducer; local ids ID_BASE + 1 ...),
# verdicts drawn so that a few cells change from night to night
gen() {
    python3 - "$@" <<'EOF'
import json, random, sys
lab, name, out = sys.argv[1], sys.argv[2], sys.argv[6]
n, nights, first, base = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[7])
rnd = random.Random(n)
xen = ["4.%d" % i for i in range(n)]
lin = ["6.%d" % i for i in range(n)]
prev = {}
for night in range(nights):
    cells, changes = [], {}
    for xi, x in enumerate(xen):
        for li, l in enumerate(lin):
            r = rnd.random()
            v = "fail" if r < 0.03 else "infra" if r < 0.05 else "pass"
            p = prev.get((x, l))
            ch = None if p is None else ("REGRESSION" if p == "pass" and v == "fail" else
                 "FIXED" if p == "fail" and v == "pass" else "could-not-test" if v == "infra"
                 else "never-pass" if v == "fail" else "pass")
            prev[(x, l)] = v
            if ch: changes[ch] = changes.get(ch, 0) + 1
            it = 2000
            corr = 0 if v != "fail" else rnd.randint(1, 50)
            cells.append({"cell": len(cells), "xen": x, "linux": l, "repro": "fpu-leak",
                "xen_spec": x, "linux_spec": l, "options": {"lazy_fpu": False, "workers": 0},
                "run_id": first + night * n * n + len(cells), "verdict": v, "trials_planned": 2,
                "infra": 0, "infra_retries": 0,
                "rates": {"boots": 2, "boots_corrupt": 1 if corr else 0, "boot_share_lo95": 0,
                    "boot_share_hi95": 0.84, "iterations": 2 * it, "corruptions": corr,
                    "rate": corr / (2.0 * it), "rate_lo95": 0, "rate_hi95": 0.00075,
                    "dispersion": 1}, "change": ch})
    doc = {"id": base + night + 1, "name": name, "status": "done",
        "created": "2026-%02d-%02dT01:00:00Z" % (1 + night // 28, 1 + night % 28),
        "finished": None, "params": {"jobs": 2, "smp": 1}, "jobs": {"queued": 0, "leased": 0,
        "done": 2 * n * n}, "against": base + night if night else None, "changes": changes, "cells": cells}
    env = {"kind": "matrix", "id": "%s/matrix/%d" % (lab, base + night + 1), "lab": lab,
           "doc": doc}
    json.dump(env, open("%s/%s-%03d.json" % (out, name, night), "w"))
EOF
}

TOKEN=$("$PVLAB" serve --db $W/d.db --add-token bench 2>/dev/null)
start() {
    "$PVLAB" serve --db $W/d.db --listen 127.0.0.1:0 "$@" >$W/serve.out 2>$W/serve.err &
    SPID=$!
    for _ in $(seq 1 100); do
        PORT=$(sed -n 's,.*127.0.0.1:\([0-9]*\)/.*,\1,p' $W/serve.out)
        [ -n "$PORT" ] && break
        sleep 0.1
    done
    URL=http://127.0.0.1:$PORT
}
stop() { kill $SPID; wait $SPID 2>/dev/null || true; SPID=""; }
post() {
    local c
    c=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
        --data-binary @"$1" $URL/api/v1/results)
    case $c in 200|201) ;; *) echo "post $1: HTTP $c" >&2; exit 1 ;; esac
}

mkdir -p $W/docs
t0=$(date +%s.%N)
gen bench m3 3 100 1 $W/docs 0
gen bench m30 30 100 100000 $W/docs 100
start
for f in $W/docs/*.json; do post $f; done
# the runs API: 300 runs (a real run document each)
for i in $(seq 1 300); do
    perl -MJSON::PP -e 'local $/; my $d = decode_json(<STDIN>); $d->{id} = $ARGV[0] + 0;
        print encode_json({kind => "run", id => "bench/run/$ARGV[0]", lab => "bench", doc => $d})' \
        $i < $TOP/tests/fixtures/dashboard/run-17.json > $W/run.json
    post $W/run.json
done
t1=$(date +%s.%N)
printf 'posted 200 matrices (100 x 3x3, 100 x 30x30: %s MB) and 300 runs in %.1f s\n' \
    "$(du -cm $W/docs/*.json | tail -1 | cut -f1)" "$(echo "$t1 - $t0" | bc -l)"
for p in /matrix/bench/latest/m3 /matrix/bench/latest/m30 /api/v1/runs; do
    printf '%-26s %8d bytes (%d gzip)\n' "$p" "$(curl -s $URL$p | wc -c)" \
        "$(curl -s -H 'Accept-Encoding: gzip' $URL$p | wc -c)"
done
# one uncached render of the big page, for scale
stop
start --no-cache
printf 'one render of the 30x30 page with 100 nights (no cache): %.1f ms\n' \
    "$(curl -s -o /dev/null -w '%{time_total}' $URL/matrix/bench/latest/m30 | awk '{print $1 * 1000}')"
stop

# measure MODE PATH [curl-like header]: one wrk run; prints req/s and p99
measure() {
    local mode=$1 path=$2 hdr=${3:-} out rps p99
    out=$(wrk -t$WT -c$CONNS -d${SECS}s --latency ${hdr:+-H "$hdr"} "$URL$path" 2>&1)
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    errs=$(awk '/Non-2xx|Socket errors/' <<<"$out" | tr '\n' ' ')
    printf '%-22s %-26s %-5s %10s req/s   p99 %8s  %s\n' "$mode" "$path" "${hdr:+gzip}" "$rps" \
        "$p99" "$errs"
}

echo "wrk -t$WT -c$CONNS -d${SECS}s on $(nproc) cores (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
start
for p in /matrix/bench/latest/m3 /matrix/bench/latest/m30 /api/v1/runs; do
    measure "2 threads, cache" $p
done
measure "2 threads, cache" /matrix/bench/latest/m30 "Accept-Encoding: gzip"
stop
start --threads 0
for p in /matrix/bench/latest/m3 /matrix/bench/latest/m30 /api/v1/runs; do
    measure "thread/connection" $p
done
stop
start --threads 1
measure "1 thread, cache" /matrix/bench/latest/m30
stop
start --no-cache
for p in /matrix/bench/latest/m3 /matrix/bench/latest/m30 /api/v1/runs; do
    measure "2 threads, no cache" $p
done
stop
