#!/usr/bin/env bash
# Over 400 lines: the setup, every measurement and the table of one run, which must share ports and processes.
# The request path's benchmark (issue 13's targets): one run, one table, same upstreams.
#
#   A: nginx returning a canned OpenAI chat completion (/v1/chat/completions) and a canned
#      Anthropic message (/v1/messages): the plain upstream
#   B: nginx as a keep-alive reverse proxy to A (and, unbuffered, to S: the reference for streams)
#   C: switchyard relaying to A (models bench, bench-params, bench-anthropic) and to S (bench-stream)
#   S: switchyard-load sse-upstream: streams of N events paced G ms apart (and a canned completion)
#   V: a second switchyard, under valgrind --tool=callgrind, for instructions per request
#   D: switchyard-niofloor, a bare SwiftNIO HTTP/1.1 relay to A (no gateway logic): the floor under C
#
# Measured, in this order:
#   1. latency at 1 connection (wrk -t1 -c1 --latency) against A, B, C and D: p50 and p99, and what
#      B, C and D add to A (medians over BENCH_ROUNDS rounds, A, B, C, D in turn);
#   2. throughput at saturation (wrk, BENCH_CONNECTIONS connections) against A, B, C and D, the same
#      way; C's and D's CPU per request from /proc/PID/stat (user+system ticks over their measured
#      runs / requests);
#   3. streaming: BENCH_STREAMS concurrent streams (switchyard-load streams) straight to S, then
#      through B, C and D in front of S, in turn, BENCH_STREAM_RUNS times: completed streams, time
#      to first byte, gaps between events (medians over the runs), B's (nginx's worker), C's and D's
#      CPU per relayed event, C's RSS idle / peak during the streams / after them;
#   4. instructions per request (callgrind, whole process, all threads) of V for a pass-through
#      chat request, one whose version has `params` overrides and one translated to Anthropic's format;
#      and per relayed stream event (BENCH_CALLGRIND_STREAMS streams from S at once).
#
# Environment:
#   SWITCHYARD_BIN            switchyard binary (default .build/release/switchyard)
#   LOAD_BIN                  switchyard-load binary (default: beside SWITCHYARD_BIN)
#   FLOOR_BIN                 switchyard-niofloor binary (default: beside SWITCHYARD_BIN; D is skipped without it)
#   BENCH_THREADS             wrk threads at saturation (default 2)
#   BENCH_CONNECTIONS         wrk connections at saturation (default 32)
#   BENCH_DURATION            wrk duration of each measured run (default 10s)
#   BENCH_WARMUP              wrk warm-up before the first round of each target (default 2s)
#   BENCH_ROUNDS              wrk rounds, A, B, C in turn; the table shows each figure's median
#                             over the rounds (default 3)
#   BENCH_STREAMS             concurrent streams (default 256)
#   BENCH_STREAM_EVENTS       events per stream (default 200)
#   BENCH_STREAM_GAP_MS       pause between events, in ms (default 5)
#   BENCH_STREAM_RUNS         streams runs, each straight to the upstream and then through the
#                             gateway; the table shows each figure's median over the runs (default 3)
#   BENCH_SETTLE_SECONDS      wait after the streams before reading RSS "after load" (default 5)
#   BENCH_CALLGRIND_REQUESTS  sequential requests counted under callgrind, per case (default 2000)
#   BENCH_CALLGRIND_WARMUP    requests before counting starts, per case (default 200)
#   BENCH_CALLGRIND_STREAMS   concurrent streams counted under callgrind (default 16; 4 of warm-up before)
#   BENCH_SKIP_CALLGRIND=1    leave out part 4
#   BENCH_ONLY_CALLGRIND=1    only part 4 (instruction counts, for comparing a change quickly)
#   BENCH_SKIP_SWITCHYARD=1   only nginx and the stream upstream (for testing the harness)
#
# Everything listens on 127.0.0.1; every process started here is stopped on exit; every run is
# bounded in count or time. Raw outputs stay in .build/bench/ (wrk-*.txt, streams-*.json,
# callgrind-*.json, callgrind.out.*: callgrind_annotate reads them); the table also goes to
# .build/bench/results.md, and its figures by name to .build/bench/results.json.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SWITCHYARD_BIN="${SWITCHYARD_BIN:-.build/release/switchyard}"
LOAD_BIN="${LOAD_BIN:-$(dirname "$SWITCHYARD_BIN")/switchyard-load}"
FLOOR_BIN="${FLOOR_BIN:-$(dirname "$SWITCHYARD_BIN")/switchyard-niofloor}"
BENCH_THREADS="${BENCH_THREADS:-2}"
BENCH_CONNECTIONS="${BENCH_CONNECTIONS:-32}"
BENCH_DURATION="${BENCH_DURATION:-10s}"
BENCH_WARMUP="${BENCH_WARMUP:-2s}"
BENCH_ROUNDS="${BENCH_ROUNDS:-3}"
BENCH_STREAMS="${BENCH_STREAMS:-256}"
BENCH_STREAM_EVENTS="${BENCH_STREAM_EVENTS:-200}"
BENCH_STREAM_GAP_MS="${BENCH_STREAM_GAP_MS:-5}"
BENCH_STREAM_RUNS="${BENCH_STREAM_RUNS:-3}"
BENCH_SETTLE_SECONDS="${BENCH_SETTLE_SECONDS:-5}"
BENCH_CALLGRIND_REQUESTS="${BENCH_CALLGRIND_REQUESTS:-2000}"
BENCH_CALLGRIND_WARMUP="${BENCH_CALLGRIND_WARMUP:-200}"
BENCH_CALLGRIND_STREAMS="${BENCH_CALLGRIND_STREAMS:-16}"
BENCH_SKIP_CALLGRIND="${BENCH_SKIP_CALLGRIND:-0}"
BENCH_ONLY_CALLGRIND="${BENCH_ONLY_CALLGRIND:-0}"
BENCH_SKIP_SWITCHYARD="${BENCH_SKIP_SWITCHYARD:-0}"

WORK="$ROOT/.build/bench"
USER_TOKEN="sk-bench-token"
MESSAGES='"messages":[{"role":"user","content":"Say hello in five words."}]'
BODY="{\"model\":\"bench\",$MESSAGES}"
STREAM_BODY="{\"model\":\"bench-stream\",\"stream\":true,\"stream_options\":{\"include_usage\":true},$MESSAGES}"

NGINX_PID=""
SSE_PID=""
SWITCHYARD_PID=""
FLOOR_PID=""
VALGRIND_PID=""
SAMPLER_PID=""
NGINX=""
STARTED_AT="$(date +%s)"

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

stop_pid() { # pid [seconds to wait after TERM]
    local pid="$1" wait_s="${2:-5}" i
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < wait_s * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    stop_pid "$SAMPLER_PID" 1
    stop_pid "$VALGRIND_PID" 30
    stop_pid "$SWITCHYARD_PID"
    stop_pid "$FLOOR_PID"
    stop_pid "$SSE_PID"
    stop_pid "$NGINX_PID"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- setup -------------------------------------------------------------------

as_root() {
    if [[ "$(id -u)" -eq 0 ]]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else return 1
    fi
}

find_nginx() {
    NGINX="$(command -v nginx || true)"
    [[ -z "$NGINX" && -x /usr/sbin/nginx ]] && NGINX=/usr/sbin/nginx
    [[ -n "$NGINX" ]]
}

install_tools() {
    local missing=()
    find_nginx || missing+=(nginx)
    command -v wrk >/dev/null || missing+=(wrk)
    command -v curl >/dev/null || missing+=(curl)
    command -v python3 >/dev/null || missing+=(python3)
    command -v objcopy >/dev/null || missing+=(binutils)
    command -v cc >/dev/null || missing+=(gcc)
    if [[ "$BENCH_SKIP_CALLGRIND" != 1 && "$BENCH_SKIP_SWITCHYARD" != 1 ]]; then
        command -v valgrind >/dev/null && command -v callgrind_control >/dev/null || missing+=(valgrind)
    fi
    ((${#missing[@]} == 0)) && return 0

    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! as_root apt-get install -y "${missing[@]}" >"$WORK/apt.log" 2>&1; then
        as_root apt-get update >>"$WORK/apt.log" 2>&1 || true
        as_root apt-get install -y "${missing[@]}" >>"$WORK/apt.log" 2>&1 \
            || die "apt-get install ${missing[*]} failed (see $WORK/apt.log)"
    fi
    find_nginx || die "nginx not found after install"
    command -v wrk >/dev/null || die "wrk not found after install"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

pick_ports() {
    local name port taken=" "
    for name in PORT_A PORT_B PORT_BS PORT_C PORT_S PORT_V PORT_F; do
        port="$(free_port)"
        while [[ "$taken" == *" $port "* ]]; do port="$(free_port)"; done
        taken+="$port "
        printf -v "$name" '%s' "$port"
    done
}

# "10s" / "1m" / "2h" / "10" -> seconds
to_seconds() {
    local d="$1"
    case "$d" in
        *s) echo "${d%s}" ;;
        *m) echo $(( ${d%m} * 60 )) ;;
        *h) echo $(( ${d%h} * 3600 )) ;;
        *)  echo "$d" ;;
    esac
}

wait_for_http() { # name url timeout_s pid
    local name="$1" url="$2" timeout="$3" pid="$4" i
    for ((i = 0; i < timeout * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || return 1
        curl -s -o /dev/null --max-time 1 "$url" && return 0
        sleep 0.1
    done
    log "$name did not answer $url within ${timeout}s"
    return 1
}

POST_TIMEOUT=10
post() { # url body -> response body; fails on non-2xx
    curl -sf --max-time "$POST_TIMEOUT" \
        -H "Authorization: Bearer $USER_TOKEN" \
        -H 'Content-Type: application/json' \
        -d "$2" "$1"
}

json_get() { # file dotted.key -> value ("n/a" when absent or null)
    python3 - "$1" "$2" <<'EOF'
import json, sys
value = json.load(open(sys.argv[1]))
for key in sys.argv[2].split("."):
    value = value.get(key) if isinstance(value, dict) else None
print("n/a" if value is None else value)
EOF
}

# --- files -------------------------------------------------------------------

write_wrk_script() {
    cat >"$WORK/post.lua" <<EOF
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $USER_TOKEN"
EOF
}

write_nginx_conf() {
    # Canned responses: must contain no single quotes or '$' (nginx string).
    local completion='{"id":"chatcmpl-bench0001","object":"chat.completion","created":1718000000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_bench","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there, nice to meet!","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":14,"completion_tokens":7,"total_tokens":21,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}'
    local message='{"id":"msg_bench0001","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"text","text":"Hello there, nice to meet!"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":14,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":7}}'
    local user_line=""
    # Workers would otherwise run as nobody, who cannot write the temp dirs.
    [[ "$(id -u)" -eq 0 ]] && user_line="user root root;"

    mkdir -p "$WORK/nginx/tmp"
    cat >"$WORK/nginx/nginx.conf" <<EOF
$user_line
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;

events {
    worker_connections 4096;
}

http {
    access_log off;
    client_body_temp_path $WORK/nginx/tmp/client_body;
    proxy_temp_path       $WORK/nginx/tmp/proxy;
    fastcgi_temp_path     $WORK/nginx/tmp/fastcgi;
    uwsgi_temp_path       $WORK/nginx/tmp/uwsgi;
    scgi_temp_path        $WORK/nginx/tmp/scgi;
    keepalive_timeout 65;
    keepalive_requests 1000000;

    # A: upstream with canned answers (request bodies are discarded)
    server {
        listen 127.0.0.1:$PORT_A;
        location = /v1/chat/completions {
            default_type application/json;
            return 200 '$completion';
        }
        location = /v1/messages {
            default_type application/json;
            return 200 '$message';
        }
        location / {
            return 404;
        }
    }

    upstream bench_upstream {
        server 127.0.0.1:$PORT_A;
        keepalive 64;
        keepalive_requests 1000000;
    }

    # B: reverse proxy to A
    server {
        listen 127.0.0.1:$PORT_B;
        location / {
            proxy_pass http://bench_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }

    upstream stream_upstream {
        server 127.0.0.1:$PORT_S;
        keepalive 256;
    }

    # B for streams: reverse proxy to S, each event passed on as it arrives
    server {
        listen 127.0.0.1:$PORT_BS;
        location / {
            proxy_pass http://stream_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }
    }
}
EOF
}

# Active health checks are off, so that nothing but the measured requests runs in the gateway
# (callgrind's counts stay repeatable).
write_seed() {
    cat >"$WORK/seed.toml" <<EOF
[server]
admin_token = "bench-admin-token"

[settings]
health_check_interval_seconds = 0

[providers.upstream]
format = "openai"
base_url = "http://127.0.0.1:$PORT_A/v1"
api_key = "bench-upstream-key"

[providers.anthropic]
format = "anthropic"
base_url = "http://127.0.0.1:$PORT_A/v1"
api_key = "x"

[providers.sse]
format = "openai"
base_url = "http://127.0.0.1:$PORT_S/v1"
api_key = "bench-upstream-key"

# Pass-through: the body goes upstream with only "model" changed.
[models.bench]
backends = [ { provider = "upstream", model = "gpt-4o-mini" } ]

# A version with params overrides: the body is rewritten as a JSON tree.
[models.bench-params.versions.v1]
params = { temperature = 0.5 }
backends = [ { provider = "upstream", model = "gpt-4o-mini" } ]

# Translation: OpenAI request -> Anthropic Messages request, and the answer back.
[models.bench-anthropic]
backends = [ { provider = "anthropic", model = "claude-sonnet-4-5" } ]

# Streams from switchyard-load sse-upstream.
[models.bench-stream]
backends = [ { provider = "sse", model = "gpt-4o-mini" } ]

[users.bench]
token = "$USER_TOKEN"
EOF
}

# --- processes ---------------------------------------------------------------

start_nginx() {
    local conf="$WORK/nginx/nginx.conf" errlog="$WORK/nginx/error.log"
    "$NGINX" -t -q -p "$WORK/nginx" -e "$errlog" -c "$conf" 2>"$WORK/nginx/test.log" \
        || { cat "$WORK/nginx/test.log" >&2; die "nginx config test failed"; }
    "$NGINX" -p "$WORK/nginx" -e "$errlog" -c "$conf" 2>>"$errlog" &
    NGINX_PID=$!
    if ! wait_for_http nginx "http://127.0.0.1:$PORT_A/" 10 "$NGINX_PID"; then
        tail -n 20 "$errlog" >&2 || true
        die "nginx failed to start"
    fi
    post "http://127.0.0.1:$PORT_A/v1/chat/completions" "$BODY" >/dev/null || die "nginx upstream (A) request failed"
    post "http://127.0.0.1:$PORT_B/v1/chat/completions" "$BODY" >/dev/null || die "nginx reverse proxy (B) request failed"
    log "nginx up (pid $NGINX_PID): upstream 127.0.0.1:$PORT_A, proxy 127.0.0.1:$PORT_B, worker_processes 1"
}

start_sse_upstream() {
    "$LOAD_BIN" sse-upstream --port "$PORT_S" --events "$BENCH_STREAM_EVENTS" --gap-ms "$BENCH_STREAM_GAP_MS" \
        >"$WORK/sse-upstream.log" 2>&1 &
    SSE_PID=$!
    wait_for_http sse-upstream "http://127.0.0.1:$PORT_S/health" 10 "$SSE_PID" \
        || { cat "$WORK/sse-upstream.log" >&2; die "switchyard-load sse-upstream failed to start"; }
    log "stream upstream up (pid $SSE_PID) on 127.0.0.1:$PORT_S: $BENCH_STREAM_EVENTS events, $BENCH_STREAM_GAP_MS ms apart"
}

check_binaries() {
    [[ -x "$LOAD_BIN" ]] || die "switchyard-load not found at '$LOAD_BIN' (build with 'swift build -c release' or set LOAD_BIN)"
    [[ "$BENCH_SKIP_SWITCHYARD" == 1 || -x "$SWITCHYARD_BIN" ]] \
        || die "switchyard binary not found at '$SWITCHYARD_BIN' (build with 'swift build -c release' or set SWITCHYARD_BIN)"
}

# Every model answers, plain and streamed, before anything is measured.
smoke_test() { # port name
    local base="http://127.0.0.1:$1/v1/chat/completions" name="$2" model response
    for model in bench bench-params bench-anthropic bench-stream; do
        if ! response="$(post "$base" "{\"model\":\"$model\",$MESSAGES}")" || [[ "$response" != *'"choices"'* ]]; then
            die "$name: model $model did not answer a chat completion: ${response:-request failed}"
        fi
    done
    response="$(post "$base" "$STREAM_BODY")" || die "$name: streamed request failed"
    [[ "$response" == *'data: [DONE]'* ]] || die "$name: streamed answer has no [DONE]: ${response:0:300}"
}

start_switchyard() {
    rm -f "$WORK"/bench.db "$WORK"/bench.db-*
    "$SWITCHYARD_BIN" serve --config "$WORK/seed.toml" --listen "127.0.0.1:$PORT_C" \
        --database "$WORK/bench.db" --log-level warning >"$WORK/switchyard.log" 2>&1 &
    SWITCHYARD_PID=$!
    if ! wait_for_http switchyard "http://127.0.0.1:$PORT_C/health" 30 "$SWITCHYARD_PID"; then
        tail -n 30 "$WORK/switchyard.log" >&2 || true
        die "switchyard failed to start (log: $WORK/switchyard.log)"
    fi
    smoke_test "$PORT_C" switchyard
    log "switchyard up (pid $SWITCHYARD_PID) on 127.0.0.1:$PORT_C"
}

# --- measurement -------------------------------------------------------------

# wrk time string (e.g. 812.00us, 1.23ms, 2.00s, 1.00m) -> microseconds
to_us() {
    awk -v t="$1" 'BEGIN {
        if (t == "") { print "n/a"; exit }
        n = t + 0; u = t; sub(/^[0-9.]+/, "", u)
        f = (u == "us") ? 1 : (u == "ms") ? 1000 : (u == "s") ? 1e6 : (u == "m") ? 6e7 : (u == "h") ? 3.6e9 : -1
        if (f < 0) { print "n/a"; exit }
        printf "%.0f", n * f
    }'
}

run_wrk() { # duration threads connections url outfile
    local duration="$1" threads="$2" conns="$3" url="$4" out="$5"
    local limit=$(( $(to_seconds "$duration") + 30 ))
    timeout --kill-after=5 "$limit" \
        wrk -t "$threads" -c "$conns" -d "$duration" --latency -s "$WORK/post.lua" "$url" >"$out" 2>&1 \
        || die "wrk failed against $url (see $out)"
}

cpu_ticks() { # pid -> user+system clock ticks so far, all threads
    awk '{print $14 + $15}' "/proc/$1/stat"
}

declare -A R        # every figure of the table, by name
WARNINGS=()

# The median of whitespace-separated numbers ("n/a" when there are none).
median() {
    printf '%s\n' $1 | grep -v '^n/a$' | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

declare -A RUNS     # per figure, its value in each round
declare -A TICKS REQUESTS

# key connections url round [pid whose CPU per request to measure]: one wrk run (the first round
# after a warm-up); its figures are appended to RUNS.
measure_wrk() {
    local key="$1" conns="$2" url="$3" round="$4" pid="${5:-}"
    local threads=$(( BENCH_THREADS < conns ? BENCH_THREADS : conns ))
    local out="$WORK/wrk-$key-c$conns-$round.txt"
    if [[ "$round" == 1 ]]; then
        log "$key, $conns connection(s): warm-up $BENCH_WARMUP, then round $round of $BENCH_ROUNDS: $BENCH_DURATION"
        run_wrk "$BENCH_WARMUP" "$threads" "$conns" "$url" /dev/null
    else
        log "$key, $conns connection(s): round $round of $BENCH_ROUNDS: $BENCH_DURATION"
    fi
    local ticks_before=""
    [[ -n "$pid" ]] && ticks_before="$(cpu_ticks "$pid")"
    run_wrk "$BENCH_DURATION" "$threads" "$conns" "$url" "$out"
    local id="$key-c$conns" requests
    requests="$(awk '/requests in/ {print $1}' "$out")"
    if [[ -n "$ticks_before" ]]; then
        TICKS[$id]=$(( ${TICKS[$id]:-0} + $(cpu_ticks "$pid") - ticks_before ))
        REQUESTS[$id]=$(( ${REQUESTS[$id]:-0} + ${requests:-0} ))
    fi
    RUNS[$id-rps]+=" $(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$out")"
    RUNS[$id-p50]+=" $(to_us "$(awk '$1 == "50%" {print $2}' "$out")")"
    RUNS[$id-p99]+=" $(to_us "$(awk '$1 == "99%" {print $2}' "$out")")"
    local non2xx sock
    non2xx="$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")"
    sock="$(sed -n 's/^ *Socket errors: *//p' "$out")"
    [[ -n "$non2xx" && "$non2xx" != 0 ]] && WARNINGS+=("$key at $conns connection(s), round $round: $non2xx non-2xx answers")
    [[ -n "$sock" ]] && WARNINGS+=("$key at $conns connection(s), round $round: socket errors: $sock")
    grep -q '^Requests/sec:' "$out" || WARNINGS+=("$key at $conns connection(s), round $round: could not parse wrk output ($out)")
    return 0
}

# A, B and C at one connection count, BENCH_ROUNDS rounds in turn; each figure the median of its
# rounds, the gateway's CPU per request over all of them.
measure_wrk_rounds() { # connections
    local conns="$1" path=/v1/chat/completions round key figure
    for ((round = 1; round <= BENCH_ROUNDS; round++)); do
        measure_wrk upstream "$conns" "http://127.0.0.1:$PORT_A$path" "$round"
        measure_wrk proxy "$conns" "http://127.0.0.1:$PORT_B$path" "$round"
        [[ "$BENCH_SKIP_SWITCHYARD" == 1 ]] || measure_wrk switchyard "$conns" "http://127.0.0.1:$PORT_C$path" "$round" "$SWITCHYARD_PID"
        [[ -z "$FLOOR_PID" ]] || measure_wrk floor "$conns" "http://127.0.0.1:$PORT_F$path" "$round" "$FLOOR_PID"
    done
    for key in upstream proxy switchyard floor; do
        for figure in rps p50 p99; do
            [[ -n "${RUNS[$key-c$conns-$figure]:-}" ]] && R[$key-c$conns-$figure]="$(median "${RUNS[$key-c$conns-$figure]}")"
        done
    done
    local id
    for id in "switchyard-c$conns" "floor-c$conns"; do
        if [[ -n "${TICKS[$id]:-}" ]]; then
            R[$id-cpu]="$(awk -v t="${TICKS[$id]}" -v hz="$(getconf CLK_TCK)" -v n="${REQUESTS[$id]}" \
                'BEGIN { if (n > 0) printf "%.0f", t / hz * 1e6 / n; else print "n/a" }')"
        fi
    done
}

# D: the bare SwiftNIO relay (switchyard-niofloor) to A, when built: what NIO's HTTP layers and the
# sockets cost with no gateway logic at all.
start_floor() { # upstream port, its name, a body to try
    [[ -x "$FLOOR_BIN" ]] || { WARNINGS+=("no $FLOOR_BIN (swift build -c release --product switchyard-niofloor): the NIO floor is not measured"); return 0; }
    "$FLOOR_BIN" "$PORT_F" "$1" >"$WORK/floor-$2.log" 2>&1 &
    FLOOR_PID=$!
    wait_for_http floor "http://127.0.0.1:$PORT_F/" 10 "$FLOOR_PID" || die "switchyard-niofloor failed to start"
    post "http://127.0.0.1:$PORT_F/v1/chat/completions" "$3" >/dev/null || die "switchyard-niofloor request failed"
    log "NIO floor relay up (pid $FLOOR_PID): 127.0.0.1:$PORT_F → $2"
}

rss_kb() { awk "/^$2:/ {print \$2}" "/proc/$1/status" 2>/dev/null || echo 0; }

# Samples VmRSS every 50 ms into a file until stopped (at most 20 minutes).
start_rss_sampler() { # pid file
    (
        for ((i = 0; i < 24000; i++)); do
            rss_kb "$1" VmRSS >>"$2"
            sleep 0.05
        done
    ) &
    SAMPLER_PID=$!
}

# One streams run: key (direct or gateway), run number, url. Its JSON goes to streams-KEY-N.json.
run_streams() {
    local key="$1" run="$2" url="$3" out="$WORK/streams-$1-$2.json"
    local limit=$(( BENCH_STREAM_EVENTS * BENCH_STREAM_GAP_MS / 1000 + 60 ))
    log "$key, run $run of $BENCH_STREAM_RUNS: $BENCH_STREAMS concurrent streams of $BENCH_STREAM_EVENTS events, $BENCH_STREAM_GAP_MS ms apart"
    timeout --kill-after=5 $(( limit + 10 )) "$LOAD_BIN" streams --url "$url" --token "$USER_TOKEN" --body "$STREAM_BODY" \
        --concurrency "$BENCH_STREAMS" --timeout-s "$limit" >"$out" 2>"$WORK/streams-$key-$run.err" \
        || die "switchyard-load streams failed against $url (see $WORK/streams-$key-$run.err)"
    local completed
    completed="$(json_get "$out" completed)"
    [[ "$completed" == "$BENCH_STREAMS" ]] || WARNINGS+=("$key run $run: only $completed of $BENCH_STREAMS streams completed ($out)")
}

# The median over the runs of one figure of streams-KEY-*.json (the minimum for "completed").
streams_figure() { # key dotted.field
    python3 - "$WORK" "$1" "$2" <<'EOF2'
import glob, json, statistics, sys
work, key, field = sys.argv[1:]
values = []
for path in sorted(glob.glob(f"{work}/streams-{key}-*.json")):
    value = json.load(open(path))
    for part in field.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is not None:
        values.append(value)
if not values:
    print("n/a")
elif field == "completed":
    print(min(values))
else:
    print(statistics.median(values))
EOF2
}

# Microseconds of CPU per event relayed in the runs of KEY, from the ticks they took.
cpu_per_event() { # key ticks
    local run events=0
    for ((run = 1; run <= BENCH_STREAM_RUNS; run++)); do
        events=$(( events + $(json_get "$WORK/streams-$1-$run.json" events_total) ))
    done
    awk -v t="$2" -v hz="$(getconf CLK_TCK)" -v n="$events" 'BEGIN { if (n > 0) printf "%.1f", t / hz * 1e6 / n; else print "n/a" }'
}

# Streams straight to the upstream, through nginx (B), the gateway (C) and the floor (D), in turn,
# BENCH_STREAM_RUNS times each; each relay's CPU over its runs, the gateway's RSS sampled throughout.
measure_streams() { # direct url, gateway url (empty: none), floor url (empty: none)
    local direct_url="$1" gateway_url="${2:-}" floor_url="${3:-}" run ticks=0 floor_ticks=0 proxy_ticks=0 before events=0
    local proxy_url="http://127.0.0.1:$PORT_BS${direct_url#http://127.0.0.1:$PORT_S}" nginx_worker
    # The worker relays; the master only watches it.
    nginx_worker="$(pgrep -P "$NGINX_PID" | head -n 1)"
    rm -f "$WORK"/streams-*.json "$WORK"/streams-*.err
    if [[ -n "$gateway_url" ]]; then
        # Peak RSS from here on: "5" resets VmHWM to the current RSS (Linux 4.0+).
        echo 5 >"/proc/$SWITCHYARD_PID/clear_refs" 2>/dev/null || WARNINGS+=("could not reset VmHWM; peak RSS is the sampled maximum")
        : >"$WORK/rss-samples.txt"
        start_rss_sampler "$SWITCHYARD_PID" "$WORK/rss-samples.txt"
    fi
    for ((run = 1; run <= BENCH_STREAM_RUNS; run++)); do
        run_streams direct "$run" "$direct_url"
        before="$(cpu_ticks "$nginx_worker")"
        run_streams proxy "$run" "$proxy_url"
        proxy_ticks=$(( proxy_ticks + $(cpu_ticks "$nginx_worker") - before ))
        if [[ -n "$gateway_url" ]]; then
            before="$(cpu_ticks "$SWITCHYARD_PID")"
            run_streams gateway "$run" "$gateway_url"
            ticks=$(( ticks + $(cpu_ticks "$SWITCHYARD_PID") - before ))
        fi
        if [[ -n "$floor_url" ]]; then
            before="$(cpu_ticks "$FLOOR_PID")"
            run_streams floor "$run" "$floor_url"
            floor_ticks=$(( floor_ticks + $(cpu_ticks "$FLOOR_PID") - before ))
        fi
    done
    [[ -z "$floor_url" ]] || R[floor-cpu-event]="$(cpu_per_event floor "$floor_ticks")"
    R[proxy-cpu-event]="$(cpu_per_event proxy "$proxy_ticks")"
    local key field
    for key in direct proxy gateway; do
        [[ "$key" == gateway && -z "$gateway_url" ]] && continue
        R[$key-completed]="$(streams_figure "$key" completed)"
        for field in ttfb_ms.p50 ttfb_ms.p99 ttfb_ms.max gap_ms.p50 gap_ms.p99 gap_ms.max wall_s; do
            R[$key-${field/./-}]="$(streams_figure "$key" "$field")"
        done
    done
    [[ -n "$gateway_url" ]] || return 0
    stop_pid "$SAMPLER_PID" 1
    SAMPLER_PID=""
    for ((run = 1; run <= BENCH_STREAM_RUNS; run++)); do
        events=$(( events + $(json_get "$WORK/streams-gateway-$run.json" events_total) ))
    done
    R[gateway-events]="$events"
    R[gateway-cpu-event]="$(cpu_per_event gateway "$ticks")"
    local hwm sampled
    hwm="$(rss_kb "$SWITCHYARD_PID" VmHWM)"
    sampled="$(sort -n "$WORK/rss-samples.txt" | tail -n 1)"
    R[rss-peak]="$(awk -v a="${hwm:-0}" -v b="${sampled:-0}" 'BEGIN { printf "%.1f", (a > b ? a : b) / 1024 }')"
}

# --- callgrind -----------------------------------------------------------------

# The total Ir of one dump file.
callgrind_total() { awk '/^totals:/ {print $2; exit} /^summary:/ && $2 > 0 {s = $2} END { if (s) print s }' "$1" | head -n 1; }

start_valgrind() {
    # valgrind 3.19 cannot read the DWARF that swiftc emits ("Possibly corrupted debuginfo file"):
    # it runs a copy without debug sections. The code, and so the instruction count, is the same.
    local copy="$WORK/switchyard-callgrind"
    objcopy --strip-debug "$SWITCHYARD_BIN" "$copy"
    # An async main ends the main thread in dispatch_main, whose signal thread calls sigsuspend
    # with a mask in libdispatch's read-only data; valgrind 3.19 writes into that mask and dies
    # (SIGSEGV in valgrind itself). The shim passes sigsuspend a copy on the stack; only that
    # idle main thread ever calls it.
    cat >"$WORK/sigsuspend-shim.c" <<'EOF'
#define _GNU_SOURCE
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

int sigsuspend(const sigset_t *mask) {
    sigset_t copy = *mask;
    return (int)syscall(SYS_rt_sigsuspend, &copy, (size_t)(_NSIG / 8));
}
EOF
    cc -O2 -shared -fPIC -o "$WORK/sigsuspend-shim.so" "$WORK/sigsuspend-shim.c" || die "cannot build the sigsuspend shim (cc)"
    rm -f "$WORK"/callgrind.db "$WORK"/callgrind.db-* "$WORK"/callgrind.out.* "$WORK"/callgrind-control.log
    LD_PRELOAD="$WORK/sigsuspend-shim.so" valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$WORK/callgrind.out.%p" \
        "$copy" serve --config "$WORK/seed.toml" --listen "127.0.0.1:$PORT_V" \
        --database "$WORK/callgrind.db" --log-level warning >"$WORK/valgrind.log" 2>&1 &
    VALGRIND_PID=$!
    if ! wait_for_http "switchyard under callgrind" "http://127.0.0.1:$PORT_V/health" 300 "$VALGRIND_PID"; then
        tail -n 30 "$WORK/valgrind.log" >&2 || true
        die "switchyard did not start under valgrind (log: $WORK/valgrind.log)"
    fi
    POST_TIMEOUT=120 smoke_test "$PORT_V" "switchyard under callgrind"
    log "switchyard under callgrind up (pid $VALGRIND_PID) on 127.0.0.1:$PORT_V"
}

DUMPS=0
# key model: warm up, count BENCH_CALLGRIND_REQUESTS sequential requests, Ir per request.
measure_instructions() {
    local key="$1" model="$2" body="{\"model\":\"$2\",$MESSAGES}" url="http://127.0.0.1:$PORT_V/v1/chat/completions"
    local limit=$(( (BENCH_CALLGRIND_REQUESTS + BENCH_CALLGRIND_WARMUP) / 10 + 120 ))
    log "callgrind, $key: $BENCH_CALLGRIND_WARMUP requests of warm-up, then $BENCH_CALLGRIND_REQUESTS counted"
    "$LOAD_BIN" requests --url "$url" --token "$USER_TOKEN" --body "$body" --count "$BENCH_CALLGRIND_WARMUP" --timeout-s "$limit" \
        >/dev/null 2>"$WORK/callgrind-$key.err" || die "warm-up under callgrind failed (see $WORK/callgrind-$key.err)"
    # The pauses let the batched outcome writes (every 250 ms) of the warm-up finish before counting
    # starts, and those of the counted requests finish before it stops: they are part of a request's cost.
    sleep 2
    callgrind_control -z "$VALGRIND_PID" >>"$WORK/callgrind-control.log" 2>&1 || die "callgrind_control -z failed (see $WORK/callgrind-control.log)"
    callgrind_control -i on "$VALGRIND_PID" >>"$WORK/callgrind-control.log" 2>&1 || die "callgrind_control -i on failed (see $WORK/callgrind-control.log)"
    "$LOAD_BIN" requests --url "$url" --token "$USER_TOKEN" --body "$body" --count "$BENCH_CALLGRIND_REQUESTS" --timeout-s "$limit" \
        >"$WORK/callgrind-$key.json" 2>>"$WORK/callgrind-$key.err" || die "requests under callgrind failed (see $WORK/callgrind-$key.err)"
    sleep 2
    stop_counting "$key"
    R[ir-$key]="$(awk -v t="$COUNTED" -v n="$BENCH_CALLGRIND_REQUESTS" 'BEGIN { printf "%.0f", t / n }')"
}

# Instructions per relayed stream event: streams from S through V, per-stream costs included.
measure_stream_instructions() {
    local url="http://127.0.0.1:$PORT_V/v1/chat/completions" limit=$((BENCH_STREAM_EVENTS * BENCH_STREAM_GAP_MS / 10 + 300))
    log "callgrind, stream: 4 streams of warm-up, then $BENCH_CALLGRIND_STREAMS at once, $BENCH_STREAM_EVENTS events each, counted"
    "$LOAD_BIN" streams --url "$url" --token "$USER_TOKEN" --body "$STREAM_BODY" --concurrency 4 --timeout-s "$limit" \
        >/dev/null 2>"$WORK/callgrind-stream.err" || die "stream warm-up under callgrind failed (see $WORK/callgrind-stream.err)"
    sleep 2
    callgrind_control -z "$VALGRIND_PID" >>"$WORK/callgrind-control.log" 2>&1 || die "callgrind_control -z failed (see $WORK/callgrind-control.log)"
    callgrind_control -i on "$VALGRIND_PID" >>"$WORK/callgrind-control.log" 2>&1 || die "callgrind_control -i on failed (see $WORK/callgrind-control.log)"
    "$LOAD_BIN" streams --url "$url" --token "$USER_TOKEN" --body "$STREAM_BODY" --concurrency "$BENCH_CALLGRIND_STREAMS" \
        --timeout-s "$limit" >"$WORK/callgrind-stream.json" 2>>"$WORK/callgrind-stream.err" \
        || die "streams under callgrind failed (see $WORK/callgrind-stream.err)"
    sleep 2
    stop_counting stream
    R[ir-stream-event]="$(awk -v t="$COUNTED" -v n="$((BENCH_CALLGRIND_STREAMS * BENCH_STREAM_EVENTS))" 'BEGIN { printf "%.0f", t / n }')"
}

# Switches counting off, dumps as `key` and sets COUNTED to the dump's total instructions (not in a
# subshell: DUMPS counts the dumps).
COUNTED=""
stop_counting() {
    local key="$1"
    callgrind_control -i off "$VALGRIND_PID" >>"$WORK/callgrind-control.log" 2>&1 || die "callgrind_control -i off failed (see $WORK/callgrind-control.log)"
    callgrind_control -d "$key" "$VALGRIND_PID" >>"$WORK/callgrind-control.log" 2>&1 || die "callgrind_control -d failed (see $WORK/callgrind-control.log)"
    DUMPS=$((DUMPS + 1))
    local dump="$WORK/callgrind.out.$VALGRIND_PID.$DUMPS" total="" i
    for ((i = 0; i < 300; i++)); do
        [[ -s "$dump" ]] && total="$(callgrind_total "$dump")"
        [[ -n "$total" ]] && break
        sleep 0.1
    done
    [[ -n "$total" ]] || die "no callgrind dump at $dump"
    COUNTED="$total"
}

# --- report --------------------------------------------------------------------

# Formatting helpers: numbers with thousands separators, differences with a sign.
num() { awk -v v="$1" -v d="${2:-0}" 'BEGIN { if (v == "n/a" || v == "") { print "n/a"; exit }
    s = sprintf("%." d "f", v); neg = (s ~ /^-/); if (neg) s = substr(s, 2)
    split(s, p, "."); i = p[1]; o = ""; while (length(i) > 3) { o = "," substr(i, length(i) - 2) o; i = substr(i, 1, length(i) - 3) }
    o = i o; if (d > 0) o = o "." p[2]; print (neg ? "-" : "") o }'; }
diff_of() { # a b [decimals] -> a - b with its sign and thousands separators
    local d
    d="$(awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || a == "" || b == "") print "n/a"; else print a - b }')"
    [[ "$d" == n/a ]] && { echo n/a; return; }
    awk -v d="$d" 'BEGIN { exit !(d >= 0) }' && printf '+'
    num "$d" "${3:-0}"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }

report() {
    local C="$BENCH_CONNECTIONS" skip="$BENCH_SKIP_SWITCHYARD" sw
    local cg_skip=$(( BENCH_SKIP_CALLGRIND == 1 || skip == 1 ))
    sy() { [[ "$skip" == 1 ]] && echo "skipped" || echo "$1"; }
    cg() { ((cg_skip)) && echo "skipped" || echo "$1"; }
    echo "# Switchyard request path: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "| measure | upstream direct | nginx as proxy | Switchyard | target |"
    echo "|---|---|---|---|---|"
    local pass="${R[ir-pass]:-n/a}"
    if [[ "$BENCH_ONLY_CALLGRIND" == 1 ]]; then
        echo "| instructions per request: pass-through | — | — | $(num "$pass") | before / after |"
        echo "| instructions per request: \`params\` override | — | — | $(num "${R[ir-params]:-n/a}") ($(diff_of "${R[ir-params]:-n/a}" "$pass")) | reported |"
        echo "| instructions per request: Anthropic translation | — | — | $(num "${R[ir-anthropic]:-n/a}") ($(diff_of "${R[ir-anthropic]:-n/a}" "$pass")) | reported |"
        echo "| instructions per relayed stream event | — | — | $(num "${R[ir-stream-event]:-n/a}") | before / after |"
        return
    fi
    local k p
    for p in p50 p99; do
        local target="added ≤ 80 µs"; [[ "$p" == p99 ]] && target="added ≤ 300 µs"
        echo "| 1 connection: $p latency (added to direct) | $(num "${R[upstream-c1-$p]}") µs" \
            "| $(num "${R[proxy-c1-$p]}") µs ($(diff_of "${R[proxy-c1-$p]}" "${R[upstream-c1-$p]}") µs)" \
            "| $(sy "$(num "${R[switchyard-c1-$p]:-n/a}") µs ($(diff_of "${R[switchyard-c1-$p]:-n/a}" "${R[upstream-c1-$p]}") µs)") | $target |"
    done
    echo "| $C connections: requests/s (× nginx as proxy) | $(num "${R[upstream-c$C-rps]}") | $(num "${R[proxy-c$C-rps]}")" \
        "| $(sy "$(num "${R[switchyard-c$C-rps]:-n/a}") ($(ratio "${R[switchyard-c$C-rps]:-n/a}" "${R[proxy-c$C-rps]}") ×)") | ≥ 0.5 × nginx (aim 0.8) |"
    echo "| CPU per proxied request ($C connections) | — | — | $(sy "${R[switchyard-c$C-cpu]:-n/a} µs") | ≤ 50 µs |"
    if [[ -n "${R[floor-c$C-rps]:-}" ]]; then
        echo "| D, bare SwiftNIO relay (no gateway logic): requests/s at $C connections (× nginx) / CPU per request | — | — |" \
            "$(num "${R[floor-c$C-rps]}") ($(ratio "${R[floor-c$C-rps]}" "${R[proxy-c$C-rps]}") ×) / ${R[floor-c$C-cpu]:-n/a} µs | the floor under C |"
        echo "| D: 1 connection p50 / p99 latency (added to direct) | — | — |" \
            "$(num "${R[floor-c1-p50]:-n/a}") / $(num "${R[floor-c1-p99]:-n/a}") µs ($(diff_of "${R[floor-c1-p50]:-n/a}" "${R[upstream-c1-p50]}") / $(diff_of "${R[floor-c1-p99]:-n/a}" "${R[upstream-c1-p99]}") µs) | the floor under C |"
    fi
    echo "| instructions per request: pass-through | — | — | $(cg "$(num "$pass")") | before / after |"
    echo "| instructions per request: \`params\` override | — | — | $(cg "$(num "${R[ir-params]:-n/a}") ($(diff_of "${R[ir-params]:-n/a}" "$pass"))") | reported |"
    echo "| instructions per request: Anthropic translation | — | — | $(cg "$(num "${R[ir-anthropic]:-n/a}") ($(diff_of "${R[ir-anthropic]:-n/a}" "$pass"))") | reported |"
    echo "| instructions per relayed stream event | — | — | $(cg "$(num "${R[ir-stream-event]:-n/a}")") | before / after |"
    local S="$BENCH_STREAMS"
    echo "| $S streams × $BENCH_STREAM_EVENTS events $BENCH_STREAM_GAP_MS ms apart: completed (worst of $BENCH_STREAM_RUNS runs) | ${R[direct-completed]}/$S | ${R[proxy-completed]}/$S" \
        "| $(sy "${R[gateway-completed]:-n/a}/$S") | all |"
    echo "| streams: first byte p50 / p99 (added p99) | $(num "${R[direct-ttfb_ms-p50]}" 2) / $(num "${R[direct-ttfb_ms-p99]}" 2) ms" \
        "| $(num "${R[proxy-ttfb_ms-p50]}" 2) / $(num "${R[proxy-ttfb_ms-p99]}" 2) ms ($(diff_of "${R[proxy-ttfb_ms-p99]}" "${R[direct-ttfb_ms-p99]}" 2) ms)" \
        "| $(sy "$(num "${R[gateway-ttfb_ms-p50]:-n/a}" 2) / $(num "${R[gateway-ttfb_ms-p99]:-n/a}" 2) ms ($(diff_of "${R[gateway-ttfb_ms-p99]:-n/a}" "${R[direct-ttfb_ms-p99]}" 2) ms)") | added p99 ≤ 1 ms |"
    echo "| streams: gap between events p99 / max (added) | $(num "${R[direct-gap_ms-p99]}" 2) / $(num "${R[direct-gap_ms-max]}" 2) ms" \
        "| $(num "${R[proxy-gap_ms-p99]}" 2) / $(num "${R[proxy-gap_ms-max]}" 2) ms ($(diff_of "${R[proxy-gap_ms-p99]}" "${R[direct-gap_ms-p99]}" 2) / $(diff_of "${R[proxy-gap_ms-max]}" "${R[direct-gap_ms-max]}" 2) ms)" \
        "| $(sy "$(num "${R[gateway-gap_ms-p99]:-n/a}" 2) / $(num "${R[gateway-gap_ms-max]:-n/a}" 2) ms ($(diff_of "${R[gateway-gap_ms-p99]:-n/a}" "${R[direct-gap_ms-p99]}" 2) / $(diff_of "${R[gateway-gap_ms-max]:-n/a}" "${R[direct-gap_ms-max]}" 2) ms)") | no added gap over 5 ms |"
    echo "| streams: CPU per relayed event | — | ${R[proxy-cpu-event]} µs | $(sy "${R[gateway-cpu-event]:-n/a} µs") | ≤ 5 µs |"
    [[ -z "${R[floor-cpu-event]:-}" ]] || echo "| D: streams, CPU per relayed event | — | — | ${R[floor-cpu-event]} µs | the floor under C |"
    echo "| Switchyard RSS: idle / peak during the streams / ${BENCH_SETTLE_SECONDS} s after | — | —" \
        "| $(sy "${R[rss-idle]:-n/a} / ${R[rss-peak]:-n/a} / ${R[rss-after]:-n/a} MB") | ≤ 64 MB, back near idle |"
    echo
    echo "- Latency: wrk -t1 -c1 --latency, $BENCH_ROUNDS rounds of $BENCH_DURATION per target (A, B, C in turn; $BENCH_WARMUP of warm-up before the first), each figure the median of its rounds; wrk keeps every request's latency in 1 µs buckets, so its percentiles are exact to the microsecond. Added = minus the upstream called directly."
    echo "- Throughput: wrk -t$BENCH_THREADS -c$C, the same way. CPU per request: user+system ticks of the gateway (/proc/PID/stat, $(getconf CLK_TCK)/s) over its measured runs / requests answered."
    echo "- Instructions: valgrind --tool=callgrind (Ir of the whole process, all threads) over $BENCH_CALLGRIND_REQUESTS sequential requests on one keep-alive connection from switchyard-load (not under valgrind), counted between callgrind_control -i on and -i off (2 s before the first and after the last request, so the batched outcome writes are in) after $BENCH_CALLGRIND_WARMUP requests of warm-up, / $BENCH_CALLGRIND_REQUESTS. In brackets: minus pass-through. Run to run these vary by about 3 % (valgrind runs the gateway's threads one at a time, and how often its event loops sleep and wake varies), so smaller differences are noise. \`params\`: a version with params = { temperature = 0.5 }; Anthropic: an anthropic-format provider at nginx answering a fixed Messages JSON. Per stream event: $BENCH_CALLGRIND_STREAMS streams at once from sse-upstream (after 4 of warm-up), counted the same way, / their $((BENCH_CALLGRIND_STREAMS * BENCH_STREAM_EVENTS)) events (the streams' own request costs included)."
    echo "- Streams: switchyard-load streams opens $S connections, then sends all requests at once; upstream: switchyard-load sse-upstream, directly, then through Switchyard. First byte: request written → first body byte. Gap: time between consecutive event boundaries (blank lines) as the client reads them, over all streams (the last two events, usage and [DONE], come together). Each figure is the median over $BENCH_STREAM_RUNS runs, direct, through nginx (proxy_buffering off, keep-alive upstream) and through Switchyard in turn; added = through the relay minus direct. CPU per event: the relay's ticks during its runs (nginx: its one worker) / events it relayed (Switchyard: ${R[gateway-events]:-n/a}); D: the same streams through switchyard-niofloor in front of the stream upstream, its ticks over its runs / events."
    echo "- RSS (VmRSS, /proc/PID/status): idle = after start and one request per model; peak = VmHWM reset just before the streams (or the 50 ms samples' maximum, if higher); after = ${BENCH_SETTLE_SECONDS} s after the last stream ended."
    ((${#WARNINGS[@]})) && printf -- '- WARNING: %s\n' "${WARNINGS[@]}"
    echo "- Machine: $(nproc) cores ($(uname -m), $(uname -r)); nginx worker_processes 1; clients, upstreams and gateway share the cores. Run took $(( $(date +%s) - STARTED_AT )) s."
}

# --- main --------------------------------------------------------------------

main() {
    mkdir -p "$WORK"
    rm -f "$WORK"/wrk-*.txt "$WORK"/streams-*.json "$WORK"/streams-*.err "$WORK"/callgrind-*.json "$WORK"/callgrind-*.err \
        "$WORK"/callgrind.out.* "$WORK"/results.md "$WORK"/results.json
    check_binaries
    install_tools
    pick_ports
    write_wrk_script
    write_nginx_conf
    write_seed
    start_nginx
    start_sse_upstream
    [[ "$BENCH_ONLY_CALLGRIND" == 1 ]] || start_floor "$PORT_A" A "$BODY"
    if [[ "$BENCH_SKIP_SWITCHYARD" != 1 ]]; then
        start_switchyard
        sleep 1
        R[rss-idle]="$(awk -v kb="$(rss_kb "$SWITCHYARD_PID" VmRSS)" 'BEGIN { printf "%.1f", kb / 1024 }')"
    fi

    local path=/v1/chat/completions
    if [[ "$BENCH_ONLY_CALLGRIND" == 1 ]]; then
        stop_pid "$SWITCHYARD_PID"
        SWITCHYARD_PID=""
    else
        measure_wrk_rounds 1
        measure_wrk_rounds "$BENCH_CONNECTIONS"
        stop_pid "$FLOOR_PID"
        FLOOR_PID=""
        # The floor again, now in front of the stream upstream: what relaying an event costs without the gateway.
        start_floor "$PORT_S" S "$STREAM_BODY"
    fi
    local floor_streams=""
    [[ -z "$FLOOR_PID" ]] || floor_streams="http://127.0.0.1:$PORT_F$path"

    if [[ "$BENCH_ONLY_CALLGRIND" == 1 ]]; then
        :
    elif [[ "$BENCH_SKIP_SWITCHYARD" == 1 ]]; then
        measure_streams "http://127.0.0.1:$PORT_S$path" "" "$floor_streams"
    else
        measure_streams "http://127.0.0.1:$PORT_S$path" "http://127.0.0.1:$PORT_C$path" "$floor_streams"
        sleep "$BENCH_SETTLE_SECONDS"
        R[rss-after]="$(awk -v kb="$(rss_kb "$SWITCHYARD_PID" VmRSS)" 'BEGIN { printf "%.1f", kb / 1024 }')"
        stop_pid "$SWITCHYARD_PID"
        SWITCHYARD_PID=""
    fi

    if [[ "$BENCH_SKIP_SWITCHYARD" != 1 && "$BENCH_SKIP_CALLGRIND" != 1 ]]; then
        start_valgrind
        measure_instructions pass bench
        measure_instructions params bench-params
        measure_instructions anthropic bench-anthropic
        measure_stream_instructions
        stop_pid "$VALGRIND_PID" 30
        VALGRIND_PID=""
    fi

    report | tee "$WORK/results.md"
    write_results_json
}

# Every figure of the table by name, for comparing two runs with a script.
write_results_json() {
    local key
    for key in "${!R[@]}"; do printf '%s\t%s\n' "$key" "${R[$key]}"; done | python3 -c '
import json, sys
figures = {}
for line in sys.stdin:
    key, _, value = line.rstrip("\n").partition("\t")
    for kind in (int, float, str):
        try:
            figures[key] = kind(value)
            break
        except ValueError:
            pass
json.dump(dict(sorted(figures.items())), open(sys.argv[1], "w"), indent=1)
' "$WORK/results.json"
}

main "$@"
