#!/usr/bin/env bash
# The lab and the dashboard together, both real (pvlab serve, libcurl, SQLite):
# - results made while the dashboard is down wait in the spool (the command still succeeds),
#   and `pvlab report` delivers them once it is up, each stored once however often it is sent;
#   an envelope the dashboard refuses is set aside and the rest still go;
# - `pvlab worker` takes an on-demand request, bisects on this lab and answers it (found, with
#   the bisection linked); refuses what this lab has no repository for; after kill -9 the
#   request comes back when its lease ends and the same lab resumes its stored bisection.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/dash_lib.sh"
plan 21
T=$PVLAB_HOME

# a repository whose bug arrives at commit 11 of 16; a test command that takes its time
mkdir -p $T/det && (cd $T/det && git init -q && git config user.email t@example.org &&
    git config user.name Tester && for i in $(seq 1 16); do echo $i > counter
        [ $i -ge 11 ] && echo 1 > bug; git add -A; git commit -qm "commit $i"; done)
want=$(git -C $T/det rev-parse HEAD~5)
cat > $T/det.sh <<'EOS'
#!/bin/sh
sleep "${DET_SLEEP:-0}"
[ -f bug ] && exit 1
exit 0
EOS
chmod +x $T/det.sh

TOKEN=$("$PVLAB" serve --db "$DB" --add-token lab1 2>/dev/null)
conf() { # URL: the lab's (and the dashboard's) configuration
    printf '[reporter]\nurl = %s\ntoken = %s\nlab = lab1\nretries = 0\ntimeout_s = 5\n' "$1" "$TOKEN"
    printf '[repos]\ndet = %s\n[repo_test]\ndet = %s\n' $T/det $T/det.sh
}

# --- 1. the dashboard is down: results wait in the spool
conf http://127.0.0.1:1 > $T/down.conf
export PVLAB_CONFIG=$T/down.conf
run_pvlab $T/b1 bisect start --repo $T/det --good HEAD~15 --bad HEAD --test-cmd $T/det.sh --p 1
check "a bisection while the dashboard is down still succeeds, with a warning" \
    bash -c "[ $rc = 0 ] && grep -q 'pvlab report. sends it later' $T/b1.err"
run_pvlab $T/r1 run --trials 1 --iterations 200
check "... and so does a run (a real boot)" [ $rc = 0 ]
nspool=$(ls $T/state/spool/*.json 2>/dev/null | wc -l)
check "both wait in the spool ($nspool files)" [ "$nspool" = 2 ]

start_dash main
conf "$URL" > $T/up.conf
export PVLAB_CONFIG=$T/up.conf
run_pvlab $T/rep1 report --json
check "pvlab report sends them: 2 sent, none left" \
    bash -c "[ $rc = 0 ] && [ \"\$(json $T/rep1.out '\$j->{sent}')\" = 2 ] && [ \"\$(json $T/rep1.out '\$j->{left}')\" = 0 ]"
totals="$(api_total /api/v1/runs) $(api_total /api/v1/bisects)"
check "the dashboard holds 1 run and 1 bisection ($totals)" [ "$totals" = "1 1" ]
get /api/v1/runs/lab1/1
check "... the run as the lab stored it (verdict, what booted)" bash -c \
    "[ $code = 200 ] && [ \"\$(json $T/resp '\$j->{verdict}')\" = pass ] && [ \"\$(json $T/resp '\$j->{linux}{sha256}')\" = \"\$(sqlite3 $T/state/pvlab.db 'SELECT linux_sha256 FROM runs WHERE id = 1')\" ]"

# sent again (a crash between the post and the unlink): stored once
run_pvlab $T/rep2 report --json
check "a second report has nothing new" bash -c \
    "[ \"\$(json $T/rep2.out '\$j->{spooled}')\" = 0 ] && [ \"\$(json $T/rep2.out '\$j->{sent}')\" = 0 ]"
"$PVLAB" bisect status 1 --json > $T/b1.json
envelope bisect 1 $T/b1.json > $T/state/spool/00000099-bisect-1.json
printf '{"kind":"run","id":"lab1/run/77","lab":"lab1","doc":"not a document"}' \
    > $T/state/spool/00000098-run-77.json
run_pvlab $T/rep3 report --json
nb=$(api_total /api/v1/bisects)
check "a resent result is stored once; a refused one is set aside, the rest go" bash -c \
    "[ \"\$(json $T/rep3.out '\$j->{sent}')\" = 1 ] && [ $nb = 1 ] &&
     [ -f $T/state/spool/rejected/00000098-run-77.json ] && [ ! -e $T/state/spool/00000099-bisect-1.json ]"

# --- 2. on-demand requests
req() { # BODY: posts a request, its id in $rid
    printf '%s' "$1" > $T/req.json
    post /api/v1/requests $T/req.json $TOKEN
    rid=$(json $T/resp '$j->{id}')
}
req '{"alias":"det","good":"HEAD~15","bad":"HEAD","axis":"test-cmd","options":{"p":1}}'
run_pvlab $T/w1 worker --once --json
check "the worker handles one request" bash -c "[ $rc = 0 ] && [ \"\$(json $T/w1.out '\$j->{handled}')\" = 1 ]"
get /api/v1/requests/$rid
cp $T/resp $T/req1.json
check "the request is answered: found, with the bisection linked" bash -c \
    "[ \"\$(json $T/req1.json '\$j->{outcome}')\" = found ] && [[ \"\$(json $T/req1.json '\$j->{bisect}')\" =~ ^lab1/bisect/[0-9]+\$ ]]"
check "... the reason names the culprit" grep -q "culprit ${want:0:12}" $T/req1.json
check "... its progress counted the trials" bash -c "[ \"\$(json $T/req1.json '\$j->{progress}{trials}')\" -ge 3 ]"
bis=$(json $T/req1.json '$j->{bisect}')
get /api/v1/bisects/${bis%%/bisect/*}/${bis##*/}
check "the dashboard has the bisection: culprit, alias and the request it answers" bash -c \
    "[ \"\$(json $T/resp '\$j->{result}{culprit}')\" = $want ] && [ \"\$(json $T/resp '\$j->{alias}')\" = det ] &&
     [ \"\$(json $T/resp '\$j->{request}')\" = $rid ]"

run_pvlab $T/w2 worker --once --json
check "an empty queue: nothing handled, exit 0" \
    bash -c "[ $rc = 0 ] && [ \"\$(json $T/w2.out '\$j->{handled}')\" = 0 ]"

# a lab without the repository refuses, with the reason
grep -v '^det' $T/up.conf | grep -v '^\[repo[s_]' > $T/norepo.conf
req '{"alias":"det","good":"HEAD~15","bad":"HEAD","axis":"test-cmd"}'
PVLAB_CONFIG=$T/norepo.conf run_pvlab $T/w3 worker --once
get /api/v1/requests/$rid
check "a lab without the alias refuses the request, saying why" bash -c \
    "[ \"\$(json $T/resp '\$j->{state}')\" = refused ] && grep -q \"this lab has no repository 'det'\" $T/resp"

# a wrong token: an error, not a loop
sed "s/^token = .*/token = pvl_$(printf '0%.0s' $(seq 1 64))/" $T/up.conf > $T/badtok.conf
PVLAB_CONFIG=$T/badtok.conf run_pvlab $T/w4 worker --once
check "a refused token stops the worker with the reason (exit 2)" \
    bash -c "[ $rc = 2 ] && grep -q 'refused this lab.s token' $T/w4.err"

# --- 3. kill -9 mid-bisection; the lease runs out; the same lab resumes
stop_dash
start_dash again --lease 3
conf "$URL" > $T/up.conf
req '{"alias":"det","good":"HEAD~15","bad":"HEAD","axis":"test-cmd","options":{"p":1}}'
DET_SLEEP=1 "$PVLAB" worker --once --json >$T/w5.out 2>$T/w5.err &
wpid=$!
for i in $(seq 1 300); do
    n=$(curl -s $URL/api/v1/requests/$rid | perl -MJSON::PP -e 'local $/; my $p = decode_json(<STDIN>)->{progress}; print $p ? $p->{trials} // 0 : 0')
    [ "${n:-0}" -ge 2 ] && break
    sleep 0.1
done
kill -9 $wpid
wait $wpid 2>/dev/null
pkill -9 -f "$T/det.sh" 2>/dev/null
local_id=$(curl -s $URL/api/v1/requests/$rid | perl -MJSON::PP -e 'local $/; print decode_json(<STDIN>)->{progress}{local_id}')
before=$(sqlite3 $T/state/pvlab.db "SELECT count(*) FROM bisect_trials WHERE bisection_id = $local_id")
check "killed after $before recorded trials of bisection $local_id" [ "$before" -ge 2 ]
sleep 4 # the lease (3 s) runs out
DET_SLEEP=0 run_pvlab $T/w6 worker --once --json
check "the request comes back and this lab resumes its bisection" \
    grep -q "resuming this lab's bisection $local_id" $T/w6.err
get /api/v1/requests/$rid
check "... and answers it: found, the same bisection" bash -c \
    "[ \"\$(json $T/resp '\$j->{outcome}')\" = found ] && [ \"\$(json $T/resp '\$j->{bisect}')\" = lab1/bisect/$local_id ]"
seqs=$(sqlite3 $T/state/pvlab.db "SELECT count(*), count(DISTINCT seq), max(seq) FROM bisect_trials WHERE bisection_id = ${local_id:-0}")
check "... no trial repeated or lost ($seqs: count, distinct, max)" \
    bash -c "IFS='|' read a b c <<< '$seqs'; [ \$a = \$b ] && [ \$a = \$c ] && [ \$a -gt ${before:-999} ]"
check "nothing else bisected it: one bisection for the request" \
    [ "$(sqlite3 $T/state/pvlab.db "SELECT count(*) FROM bisections WHERE params_json LIKE '%\"request\":$rid%'")" = 1 ]
