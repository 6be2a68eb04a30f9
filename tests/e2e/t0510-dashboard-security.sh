#!/usr/bin/env bash
# pvlab serve's defences, over real HTTP: writes without a valid token (401, nothing stored),
# bodies over the limit (413, announced or chunked), malformed JSON (400 saying what), SQL and
# HTML in every text field of posted documents (stored literally, shown escaped), path
# traversal in log URLs, and requests naming an unknown alias or a bad revision.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/dash_lib.sh"
plan 22
T=$PVLAB_HOME

mkdir -p $T/repo && (cd $T/repo && git init -q && git config user.email t@example.org &&
    git config user.name Tester && for i in 1 2 3 4; do echo $i > f; git add f
        git commit -qm "c$i"; done)
printf '[repos]\nrepo = %s\n' $T/repo > $T/pvlab.conf
export PVLAB_CONFIG=$T/pvlab.conf
TOKEN=$("$PVLAB" serve --db "$DB" --add-token lab1 2>/dev/null)
OTHER=$("$PVLAB" serve --db "$DB" --add-token lab2 2>/dev/null)
start_dash main --max-body-mb 1

envelope run 16 $FIX/run-16.json > $T/run.json
post /api/v1/results $T/run.json
check "POST without a token: 401" [ "$code" = 401 ]
post /api/v1/results $T/run.json "${TOKEN%?}x"
check "POST with a wrong token: 401" [ "$code" = 401 ]
"$PVLAB" serve --db "$DB" --revoke-token lab2 2>/dev/null
post /api/v1/results $T/run.json "$OTHER"
check "POST with a revoked token: 401" [ "$code" = 401 ]
check "... and nothing was stored" [ "$(api_total /api/v1/runs)" = 0 ]
post /api/v1/results $T/run.json "$TOKEN"
check "positive control: the same post with the token is stored (201)" \
    bash -c "[ $code = 201 ] && [ \$(curl -s $URL/api/v1/runs | grep -c lab1/run/16) = 1 ]"

# bodies over the limit (1 MiB here)
head -c $((2 << 20)) /dev/zero | tr '\0' ' ' > $T/big.json
post /api/v1/results $T/big.json "$TOKEN"
check "a 2 MiB body (Content-Length): 413" [ "$code" = 413 ]
code=$(curl -s -o $T/resp -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
    -H 'Transfer-Encoding: chunked' --data-binary @$T/big.json "$URL/api/v1/results")
check "a 2 MiB chunked body: 413" [ "$code" = 413 ]
perl -MJSON::PP -e 'local $/; my $e = decode_json(<STDIN>); $e->{doc}{pad} = "x" x 900000;
    print encode_json($e)' < $T/run.json > $T/near.json
post /api/v1/results $T/near.json "$TOKEN"
check "positive control: a 0.9 MiB body is taken (200: replaced)" [ "$code" = 200 ]

# malformed JSON
printf '{"kind": "run", "id": ' > $T/bad.json
post /api/v1/results $T/bad.json "$TOKEN"
check "malformed JSON: 400 saying where" \
    bash -c "[ $code = 400 ] && grep -q 'malformed JSON: .* at line 1, column' $T/resp"
printf '{"kind":"run","id":"lab1/run/17","lab":"lab1","doc":{"id":18}}' > $T/bad.json
post /api/v1/results $T/bad.json "$TOKEN"
check "an envelope whose doc.id disagrees: 400 saying so" \
    bash -c "[ $code = 400 ] && grep -q 'doc.id must be 17' $T/resp"

# SQL and HTML in every text field: stored literally, shown escaped
EVIL='<script>alert("x")</script><img src=x onerror=alert(1)>'"'"'; DROP TABLE results; --'
export EVIL
# inject FILE: every string of the document (at any depth) replaced by EVIL and its path
inject() {
    perl -MJSON::PP -e 'local $/; my $e = decode_json(<STDIN>);
        sub walk { my ($v, $p) = @_;
            if (ref $v eq "HASH") { $v->{$_} = walk($v->{$_}, "$p.$_") for keys %$v; return $v }
            if (ref $v eq "ARRAY") { $v->[$_] = walk($v->[$_], "$p.$_") for 0..$#$v; return $v }
            return (defined $v && !ref $v && $v !~ /^-?[0-9.e+-]+$/) ? "$ENV{EVIL} $p" : $v }
        $e->{doc} = walk($e->{doc}, "doc"); print encode_json($e)'
}
envelope run 16 $FIX/run-16.json | inject > $T/evil-run.json
envelope matrix 5 $FIX/matrix-2.json | perl -pe 's/"run_id":\d+/"run_id":16/g' | inject \
    > $T/evil-matrix.json
envelope bisect 7 $FIX/bisect-1.json | inject > $T/evil-bisect.json
ok_posts=0
for k in run matrix bisect; do
    post /api/v1/results $T/evil-$k.json "$TOKEN"
    case $code in 200|201) ok_posts=$((ok_posts + 1)) ;; *) cat $T/resp | diag ;; esac
done
check "documents with SQL and HTML in every string are accepted" [ $ok_posts = 3 ]
totals="$(api_total /api/v1/runs) $(api_total /api/v1/matrices) $(api_total /api/v1/bisects)"
check "the database is intact: 1 run, 1 matrix, 1 bisection counted ($totals)" [ "$totals" = "1 1 1" ]
curl -s $URL/api/v1/runs/lab1/16 > $T/api-run.json
check "stored literally: the API gives the strings back unchanged" \
    bash -c "[ \"\$(json $T/api-run.json '\$j->{trials}[0]{reason}')\" = \"\$EVIL doc.trials.0.reason\" ]"
leaks=""
for p in /run/lab1/16 /matrix/lab1/5 /bisect/lab1/7 / /nightly; do
    get $p
    [ "$code" = 200 ] || leaks="$leaks $p:$code"
    grep -q '<script>\|<img src=x' $T/resp && leaks="$leaks $p:raw"
    grep -q '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;&#39;; DROP TABLE' $T/resp || leaks="$leaks $p:not-shown"
done
check "every page shows them escaped, never as markup (${leaks:-none})" [ -z "$leaks" ]
get /run/lab1/16
check "... in each field of the run page (reason, console, evidence, host, versions)" bash -c \
    "for f in trials.0.reason trials.0.console trials.0.evidence.0 host.hostname xen.version qemu_cmd; do grep -q \"DROP TABLE results; -- doc.\$f\" $T/resp || exit 1; done"
curl -s -D $T/hdr -o /dev/null $URL/run/lab1/16
check "pages forbid scripts (Content-Security-Policy) and sniffing" bash -c \
    "grep -qi \"content-security-policy: default-src 'none'\" $T/hdr && grep -qi 'x-content-type-options: nosniff' $T/hdr"

# path traversal in log URLs
travs="/run/lab1/16/log/../../../../etc/passwd /run/lab1/16/log/..%2f..%2f..%2fetc%2fpasswd /run/lab1/16/log/%2e%2e/%2e%2e/etc/passwd /run/..%2f..%2fetc/16/log/1 /run/lab1/16/log/1/../../../../../etc/passwd"
bad=""
for p in $travs; do
    get "$p"
    [ "$code" = 404 ] || bad="$bad $p:$code"
    grep -q 'root:' $T/resp && bad="$bad $p:leak"
done
check "path traversal in log URLs is refused: 404, nothing read (${bad:-none})" [ -z "$bad" ]
envelope run 16 $FIX/run-16.json > $T/run.json; post /api/v1/results $T/run.json "$TOKEN"
get /run/lab1/16/log/1
check "positive control: the real log URL answers" bash -c "[ $code = 200 ] && grep -q PVLAB-END $T/resp"

# requests: only configured aliases, only real revisions
printf '{"alias":"nosuch","good":"HEAD~3","bad":"HEAD","axis":"linux"}' > $T/r1.json
post /api/v1/requests $T/r1.json "$TOKEN"
check "a request naming an unknown alias: 400 with the known ones" \
    bash -c "[ $code = 400 ] && grep -q \"unknown repository alias 'nosuch'; this dashboard knows: repo\" $T/resp"
printf '{"alias":"%s","good":"HEAD~3","bad":"HEAD","axis":"linux"}' $T/repo > $T/r2.json
post /api/v1/requests $T/r2.json "$TOKEN"
check "a request naming a path: 400" bash -c "[ $code = 400 ] && grep -q 'unknown repository alias' $T/resp"
printf '{"alias":"repo","good":"v9.9-nosuch","bad":"HEAD","axis":"linux"}' > $T/r3.json
post /api/v1/requests $T/r3.json "$TOKEN"
check "a request naming a bad revision: 400 with the reason" \
    bash -c "[ $code = 400 ] && grep -q \"good 'v9.9-nosuch' is not a commit of repository 'repo'\" $T/resp"
check "... and none was queued" [ "$(api_total /api/v1/requests)" = 0 ]
