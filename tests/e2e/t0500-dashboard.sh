#!/usr/bin/env bash
# pvlab serve end to end: a token, a fresh bisection (a test command on a repository made
# here) and the matrix and run fixtures posted as pvlab report posts them, then the pages as
# headless Chromium renders them (cells, links, the bisect chart), screenshots, and pvlab
# publish's static copy. Screenshots are kept in $PVLAB_SHOTS (default build/e2e/t0500).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/dash_lib.sh"
plan 28
T=$PVLAB_HOME
SHOTS=${PVLAB_SHOTS:-$TOP/build/e2e/t0500}
mkdir -p "$SHOTS"

# a configuration naming the bisected repository, with a commit URL
mkdir -p $T/det && (cd $T/det && git init -q && git config user.email t@example.org &&
    git config user.name Tester && for i in $(seq 1 16); do echo $i > counter
        [ $i -ge 11 ] && echo 1 > bug; git add -A; git commit -qm "commit $i"; done)
printf '[repos]\ndet = %s\n[repo_web]\ndet = https://git.example.org/det/commit/%%s\n' $T/det \
    > $T/pvlab.conf
export PVLAB_CONFIG=$T/pvlab.conf

TOKEN=$("$PVLAB" serve --db "$DB" --add-token lab1 2>$T/token.err)
check "--add-token prints a token once" bash -c "[[ '$TOKEN' =~ ^pvl_[0-9a-f]{64}$ ]]"
check "... and the database keeps only its sha256" \
    bash -c "! grep -qa '${TOKEN#pvl_}' $DB* && sqlite3 $DB 'SELECT sha256 FROM tokens' | grep -q \
        \$(printf %s '$TOKEN' | sha256sum | cut -c1-64)"

start_dash main
check "serve listens on a free loopback port" bash -c "[ '$URL' != 'http://127.0.0.1:' ]"

# a real bisection: the bug arrives at commit 11
cat > $T/det.sh <<'EOS'
#!/bin/sh
[ -f bug ] && exit 1
exit 0
EOS
chmod +x $T/det.sh
run_pvlab $T/b1 bisect start --repo $T/det --good HEAD~15 --bad HEAD --test-cmd $T/det.sh --json
want=$(git -C $T/det rev-parse HEAD~5)
check "the bisection found commit 11" [ "$(json $T/b1.out '$j->{result}{culprit}')" = "$want" ]
perl -MJSON::PP -e 'local $/; my $d = decode_json(<STDIN>); $d->{alias} = "det";
    print encode_json($d)' < $T/b1.out > $T/bisect.json
bid=$(json $T/bisect.json '$j->{id}')
ntrials=$(json $T/bisect.json 'scalar @{$j->{trials}}')

# post everything
fails=0
for m in 1 2 3; do
    envelope matrix $m $FIX/matrix-$m.json > $T/env.json; post /api/v1/results $T/env.json $TOKEN
    [ "$code" = 201 ] || fails=$((fails + 1))
done
for r in $(seq 12 23); do
    envelope run $r $FIX/run-$r.json > $T/env.json; post /api/v1/results $T/env.json $TOKEN
    [ "$code" = 201 ] || fails=$((fails + 1))
done
envelope bisect $bid $T/bisect.json > $T/env.json; post /api/v1/results $T/env.json $TOKEN
[ "$code" = 201 ] || fails=$((fails + 1))
check "16 results posted, each 201" [ $fails = 0 ]
post /api/v1/results $T/env.json $TOKEN
check "posting the same id again replaces it: 200, one row" \
    bash -c "[ $code = 200 ] && [ \$(curl -s $URL/api/v1/bisects | grep -o '\"id\":' | wc -l) = 1 ]"
totals="$(api_total /api/v1/runs) $(api_total /api/v1/matrices) $(api_total /api/v1/bisects)"
check "the API counts 12 runs, 3 matrices, 1 bisection ($totals)" [ "$totals" = "12 3 1" ]

# the compatibility table as Chromium renders it
dom "$URL/matrix/lab1/latest/m22" $T/matrix.dom
check "matrix page: 4 cells, 3 pass and 1 FIXED" bash -c \
    "[ \$(grep -o 'class=\"c c-' $T/matrix.dom | wc -l) = 4 ] && [ \$(grep -o 'c c-pass' $T/matrix.dom | wc -l) = 4 ] && grep -q 'ch-FIXED\">FIXED' $T/matrix.dom"
check "matrix page: Xen across, Linux down" bash -c \
    "grep -q '<th>Xen 4.17</th><th>Xen 4.20</th>' $T/matrix.dom && grep -q '<th class=\"row\">Linux 6.12</th>' $T/matrix.dom"
check "matrix page: every cell links to its run" bash -c \
    "for r in 20 21 22 23; do grep -q \"href=\\\"/run/lab1/\$r\\\"\" $T/matrix.dom || exit 1; done"
check "matrix page: the clean cells state their 95% upper bound" \
    bash -c "[ \$(grep -o 'rate ≤ 2.95% (95%)' $T/matrix.dom | wc -l) = 4 ]"
check "matrix page: the FIXED cell's history is pass, fail, pass (newest first)" \
    grep -q '<div class="hs"><b class="hp">P</b><b class="hf">F</b><b class="hp">P</b></div>' $T/matrix.dom
dom "$URL/nightly" $T/nightly.dom
check "nightly: the REGRESSION and the FIXED night, newest first" bash -c \
    "grep -q 'ch-REGRESSION' $T/nightly.dom && grep -q 'ch-FIXED' $T/nightly.dom && [ \$(grep -n 'lab1/matrix/3' $T/nightly.dom | head -1 | cut -d: -f1) -le \$(grep -n 'lab1/matrix/2' $T/nightly.dom | head -1 | cut -d: -f1) ]"
dom "$URL/run/lab1/16" $T/run.dom
check "run page: artifacts with sha256, the evidence, the console and its download link" bash -c \
    "grep -q 'xen-hypervisor-4.17-amd64' $T/run.dom && grep -q 'PVLAB-EVENT {\"type\":\"mismatch\"' $T/run.dom && grep -q 'class=\"log\"' $T/run.dom && grep -q 'href=\"/run/lab1/16/log/1\"' $T/run.dom"
get /run/lab1/16/log/1
check "the log download is the console, as text" \
    bash -c "[ $code = 200 ] && grep -q PVLAB-END $T/resp && ! grep -q '<html' $T/resp"
dom "$URL/bisect/lab1/$bid" $T/bisect.dom
check "bisect page: the chart has one point per trial" bash -c \
    "grep -q '<svg' $T/bisect.dom && [ \$(grep -o '<circle' $T/bisect.dom | wc -l) = $ntrials ]"
check "bisect page: the answer, linked through the alias's web URL" \
    grep -q "href=\"https://git.example.org/det/commit/$want\"" $T/bisect.dom
check "bisect page: one row per step" \
    bash -c "[ \$(grep -o '<td class=\"num\">[0-9]*</td><td>\(check\|bisect\|verify\)' $T/bisect.dom | wc -l) = $ntrials ]"
dom "$URL/" $T/index.dom
check "overview: latest matrix per name, runs, bisections" bash -c \
    "grep -q 'href=\"/matrix/lab1/latest/m22\"' $T/index.dom && grep -q 'href=\"/run/lab1/23\"' $T/index.dom && grep -q \"href=\\\"/bisect/lab1/$bid\\\"\" $T/index.dom"

# screenshots: wide screen and a phone
shot "$URL/matrix/lab1/latest/m22" $SHOTS/matrix.png
shot "$URL/run/lab1/16" $SHOTS/run.png 1280,2300
shot "$URL/bisect/lab1/$bid" $SHOTS/bisect.png 1280,1300
shot "$URL/nightly" $SHOTS/nightly.png 1280,700
shot "$URL/" $SHOTS/index.png 1280,1000
shot "$URL/matrix/lab1/latest/m22" $SHOTS/matrix-phone.png 390,844
check "screenshots of matrix, run, bisect, nightly, overview, phone" bash -c \
    "for f in matrix run bisect nightly index matrix-phone; do [ \$(stat -c %s $SHOTS/\$f.png) -gt 15000 ] || exit 1; done"
echo "# screenshots in $SHOTS"

# the served page is the same HTML for a phone: the table scrolls inside its own box
check "the table is inside a horizontally scrolling box" \
    grep -q '<div class="scroll"><table class="compat">' $T/matrix.dom

# pvlab publish: the same pages as files with relative links
run_pvlab $T/pub publish --out $T/site --db "$DB"
check "publish writes the site" bash -c "[ $rc = 0 ] && [ -f $T/site/index.html ] && [ -f $T/site/matrix/lab1/3.html ] && [ -f $T/site/run/lab1/16/log/1.txt ] && [ -f $T/site/bisect/lab1/$bid.html ] && [ -f $T/site/api/v1/runs/lab1/16.json ]"
check "published links are relative" bash -c \
    "grep -q 'href=\"../../run/lab1/20.html\"' $T/site/matrix/lab1/3.html && ! grep -q 'href=\"/' $T/site/matrix/lab1/3.html $T/site/index.html"
dom "file://$T/site/matrix/lab1/latest/m22.html" $T/static.dom
check "a published page renders from files: its run links resolve" bash -c \
    "grep -q 'href=\"../../../run/lab1/20.html\"' $T/static.dom && [ -f $T/site/run/lab1/20.html ]"

# requests through the API, shown on the pages
printf '{"alias":"det","good":"HEAD~15","bad":"HEAD","axis":"linux","xen":"4.17","repro":"fpu-leak"}' > $T/req.json
post /api/v1/requests $T/req.json $TOKEN
check "a request on a configured alias is queued" bash -c "[ $code = 201 ] && grep -q '\"state\":\"queued\"' $T/resp"
post /api/v1/requests/claim /dev/null $TOKEN
check "a worker claims it" bash -c "[ $code = 200 ] && grep -q '\"good_sha\":\"$(git -C $T/det rev-parse HEAD~15)\"' $T/resp"
printf '{"phase":"bisect","trials":3,"best_prob":0.41}' > $T/prog.json
post /api/v1/requests/1/progress $T/prog.json $TOKEN
dom "$URL/request/1" $T/request.dom
check "the request page shows the last progress" bash -c \
    "[ $code = 200 ] && grep -q 'Running on lab1' $T/request.dom && grep -q '0.41' $T/request.dom"
printf '{"outcome":"found","bisect":"lab1/bisect/%s"}' $bid > $T/done.json
post /api/v1/requests/1/done $T/done.json $TOKEN
dom "$URL/requests" $T/requests.dom
check "done: the requests page links the answer" bash -c \
    "[ $code = 200 ] && grep -q \"href=\\\"/bisect/lab1/$bid\\\"\" $T/requests.dom"
shot "$URL/request/1" $SHOTS/request.png 1280,800
