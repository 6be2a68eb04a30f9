# Helpers of the dashboard tests (t05xx), sourced after lib.sh: a private `pvlab serve` on a
# free loopback port, posting envelopes with curl, headless Chromium.
FIX="$TOP/tests/fixtures/dashboard"
DB="$PVLAB_HOME/dashboard.db"
DASH_PIDS=""

# start_dash NAME [serve options...]: starts pvlab serve on 127.0.0.1:0, sets URL (and
# URL_NAME), waits until it listens
start_dash() {
    local name=$1 port="" i
    shift
    "$PVLAB" serve --db "$DB" --listen 127.0.0.1:0 "$@" >"$PVLAB_HOME/$name.out" \
        2>"$PVLAB_HOME/$name.err" &
    DASH_PIDS="$DASH_PIDS $!"
    for i in $(seq 1 100); do
        port=$(sed -n 's,.*listening on http://127.0.0.1:\([0-9]*\)/.*,\1,p' "$PVLAB_HOME/$name.out")
        [ -n "$port" ] && break
        sleep 0.1
    done
    URL="http://127.0.0.1:$port"
    eval "URL_$name=\$URL"
}

stop_dash() {
    local p
    for p in $DASH_PIDS; do kill "$p" 2>/dev/null; done
    for p in $DASH_PIDS; do wait "$p" 2>/dev/null; done
    DASH_PIDS=""
}
trap 'stop_dash; cleanup' EXIT INT TERM

# envelope KIND LOCAL_ID FILE [LAB]: the envelope pvlab report posts, on stdout
envelope() {
    perl -MJSON::PP -e 'local $/; open my $f, "<", $ARGV[2] or die "$ARGV[2]: $!";
        my $d = decode_json(<$f>); $d->{id} = $ARGV[1] + 0;
        print JSON::PP->new->canonical->encode({kind => $ARGV[0], lab => $ARGV[3],
            id => "$ARGV[3]/$ARGV[0]/$ARGV[1]", doc => $d})' "$1" "$2" "$3" "${4:-lab1}"
}

# post PATH FILE [TOKEN]: POST FILE as the body; the status in $code, the answer in $PVLAB_HOME/resp
post() {
    local auth=()
    [ -n "${3:-}" ] && auth=(-H "Authorization: Bearer $3")
    code=$(curl -s -o "$PVLAB_HOME/resp" -w '%{http_code}' "${auth[@]}" \
        -H 'Content-Type: application/json' --data-binary "@$2" "$URL$1")
}

# get PATH: the status in $code, the body in $PVLAB_HOME/resp
get() {
    code=$(curl -s --path-as-is -o "$PVLAB_HOME/resp" -w '%{http_code}' "$URL$1")
}

# api_total PATH: the "total" of a list answer
api_total() {
    curl -s "$URL$1" | perl -MJSON::PP -e 'local $/; print decode_json(<STDIN>)->{total}'
}

chromium_run() {
    timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$(mktemp -d "$PVLAB_HOME/chromium.XXXXXX")" --hide-scrollbars "$@" \
        2>>"$PVLAB_HOME/chromium.err"
}

# dom URL OUT: the DOM Chromium renders
dom() {
    chromium_run --dump-dom "$1" >"$2"
}

# shot URL FILE [WIDTH,HEIGHT]: a screenshot
shot() {
    chromium_run --screenshot="$2" --window-size="${3:-1280,900}" "$1" >/dev/null
}
