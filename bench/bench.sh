#!/usr/bin/env bash
# Benchmark Switchyard against nginx (direct upstream and reverse proxy) with wrk.
#
#   A: nginx returning a canned OpenAI chat completion (the upstream)
#   B: nginx reverse proxy to A (keep-alive upstream)
#   C: switchyard proxying to A
#
# Environment:
#   SWITCHYARD_BIN              switchyard binary (default .build/release/switchyard)
#   BENCH_THREADS               wrk threads (default 2)
#   BENCH_CONNECTIONS           wrk connections (default 32)
#   BENCH_DURATION              wrk duration of each measured run (default 10s)
#   BENCH_MODERATE_CONNECTIONS  connections for the moderate-load runs (default 4)
#   BENCH_MODERATE_DELAY_MS     pause after each answer per connection in the paced run (default 4,
#                               so 4 connections offer about 900 requests/s: a moderate load, not saturation)
#   BENCH_WARMUP                warm-up duration before each run (default 2s)
#   BENCH_SKIP_SWITCHYARD=1     only benchmark nginx (for testing the harness)
#
# Everything listens on 127.0.0.1; every process started here is stopped on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SWITCHYARD_BIN="${SWITCHYARD_BIN:-.build/release/switchyard}"
BENCH_THREADS="${BENCH_THREADS:-2}"
BENCH_CONNECTIONS="${BENCH_CONNECTIONS:-32}"
BENCH_DURATION="${BENCH_DURATION:-10s}"
BENCH_MODERATE_CONNECTIONS="${BENCH_MODERATE_CONNECTIONS:-4}"
BENCH_MODERATE_DELAY_MS="${BENCH_MODERATE_DELAY_MS:-4}"
BENCH_WARMUP="${BENCH_WARMUP:-2s}"
BENCH_SKIP_SWITCHYARD="${BENCH_SKIP_SWITCHYARD:-0}"

WORK="$ROOT/.build/bench"
USER_TOKEN="sk-bench-token"
BODY='{"model":"bench","messages":[{"role":"user","content":"Say hello in five words."}]}'

NGINX_PID=""
SWITCHYARD_PID=""
NGINX=""

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

cleanup() {
    local pid
    for pid in "$SWITCHYARD_PID" "$NGINX_PID"; do
        if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 1 50); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            kill -KILL "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
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

post() { # url -> response body; fails on non-2xx
    curl -sf --max-time 10 \
        -H "Authorization: Bearer $USER_TOKEN" \
        -H 'Content-Type: application/json' \
        -d @"$WORK/body.json" "$1"
}

# --- files -------------------------------------------------------------------

write_common_files() {
    printf '%s' "$BODY" >"$WORK/body.json"
    cat >"$WORK/post.lua" <<EOF
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $USER_TOKEN"
EOF
    cat "$WORK/post.lua" >"$WORK/post-paced.lua"
    printf 'function delay()\n    return %s\nend\n' "$BENCH_MODERATE_DELAY_MS" >>"$WORK/post-paced.lua"
}

write_nginx_conf() {
    # Canned response: must contain no single quotes or '$' (nginx string).
    local completion='{"id":"chatcmpl-bench0001","object":"chat.completion","created":1718000000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_bench","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there, nice to meet!","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":14,"completion_tokens":7,"total_tokens":21,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}'
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

    # A: upstream with a canned chat completion (request body is discarded)
    server {
        listen 127.0.0.1:$PORT_A;
        location = /v1/chat/completions {
            default_type application/json;
            return 200 '$completion';
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
}
EOF
}

write_seed() {
    cat >"$WORK/seed.toml" <<EOF
[server]
admin_token = "bench-admin-token"

[providers.upstream]
format = "openai"
base_url = "http://127.0.0.1:$PORT_A/v1"
api_key = "bench-upstream-key"

[models.bench]
backends = [ { provider = "upstream", model = "gpt-4o-mini" } ]

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
    post "http://127.0.0.1:$PORT_A/v1/chat/completions" >/dev/null || die "nginx upstream (A) request failed"
    post "http://127.0.0.1:$PORT_B/v1/chat/completions" >/dev/null || die "nginx reverse proxy (B) request failed"
    log "nginx up (pid $NGINX_PID): upstream 127.0.0.1:$PORT_A, proxy 127.0.0.1:$PORT_B, worker_processes 1"
}

check_switchyard_bin() {
    [[ -x "$SWITCHYARD_BIN" ]] \
        || die "switchyard binary not found at '$SWITCHYARD_BIN' (build with 'swift build -c release' or set SWITCHYARD_BIN)"
}

start_switchyard() {
    rm -f "$WORK"/bench.db "$WORK"/bench.db-*
    write_seed
    "$SWITCHYARD_BIN" serve --config "$WORK/seed.toml" --listen "127.0.0.1:$PORT_C" \
        --database "$WORK/bench.db" --log-level warning >"$WORK/switchyard.log" 2>&1 &
    SWITCHYARD_PID=$!
    if ! wait_for_http switchyard "http://127.0.0.1:$PORT_C/health" 30 "$SWITCHYARD_PID" \
        || ! curl -sf --max-time 2 -o /dev/null "http://127.0.0.1:$PORT_C/health"; then
        tail -n 30 "$WORK/switchyard.log" >&2 || true
        die "switchyard failed to start (log: $WORK/switchyard.log)"
    fi
    local response
    if ! response="$(post "http://127.0.0.1:$PORT_C/v1/chat/completions")"; then
        tail -n 30 "$WORK/switchyard.log" >&2 || true
        die "switchyard chat completion request failed"
    fi
    [[ "$response" == *'"choices"'* ]] || die "unexpected switchyard response: $response"
    log "switchyard up (pid $SWITCHYARD_PID) on 127.0.0.1:$PORT_C"
}

# --- measurement -------------------------------------------------------------

# wrk time string (e.g. 812.00us, 1.23ms, 2.00s, 1.00m) -> milliseconds
to_ms() {
    awk -v t="$1" 'BEGIN {
        if (t == "") { print "n/a"; exit }
        n = t + 0; u = t; sub(/^[0-9.]+/, "", u)
        f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : (u == "h") ? 3600000 : -1
        if (f < 0) { print "n/a"; exit }
        printf "%.2f", n * f
    }'
}

run_wrk() { # duration connections url outfile script
    local duration="$1" conns="$2" url="$3" out="$4" script="$5"
    local threads=$(( BENCH_THREADS < conns ? BENCH_THREADS : conns ))
    local limit=$(( $(to_seconds "$duration") + 30 ))
    timeout --kill-after=5 "$limit" \
        wrk -t "$threads" -c "$conns" -d "$duration" --latency -s "$script" "$url" >"$out" 2>&1 \
        || die "wrk failed against $url (see $out)"
}

cpu_ticks() { # pid -> user+system clock ticks so far
    awk '{print $14 + $15}' "/proc/$1/stat"
}

ROWS=()
declare -A RPS P99
CPU_PER_REQUEST="n/a"

# label key connections url [paced]
measure() {
    local label="$1" key="$2" conns="$3" url="$4" paced="${5:-}"
    local script="$WORK/post.lua" suffix=""
    [[ -n "$paced" ]] && { script="$WORK/post-paced.lua"; suffix="-paced"; label="$label, paced"; }
    local out="$WORK/wrk-$key-c$conns$suffix.txt"
    log "$label, $conns connections: warm-up $BENCH_WARMUP, run $BENCH_DURATION"
    run_wrk "$BENCH_WARMUP" "$conns" "$url" /dev/null "$script"
    local ticks_before=""
    [[ "$key" == switchyard && -z "$paced" && "$conns" == "$BENCH_CONNECTIONS" ]] && ticks_before="$(cpu_ticks "$SWITCHYARD_PID")"
    run_wrk "$BENCH_DURATION" "$conns" "$url" "$out" "$script"
    if [[ -n "$ticks_before" ]]; then
        local ticks_after requests
        ticks_after="$(cpu_ticks "$SWITCHYARD_PID")"
        requests="$(awk '/requests in/ {print $1}' "$out")"
        CPU_PER_REQUEST="$(awk -v t=$((ticks_after - ticks_before)) -v hz="$(getconf CLK_TCK)" -v n="$requests" \
            'BEGIN { if (n > 0) printf "%.0f", t / hz * 1e6 / n; else print "n/a" }')"
    fi

    local rps p50 p99 non2xx sock errors=()
    rps="$(awk '/^Requests\/sec:/ {print $2}' "$out")"
    p50="$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")"
    p99="$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")"
    non2xx="$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")"
    sock="$(sed -n 's/^ *Socket errors: *//p' "$out")"
    [[ -n "$non2xx" && "$non2xx" != 0 ]] && errors+=("WARN non-2xx: $non2xx")
    [[ -n "$sock" ]] && errors+=("WARN socket errors: $sock")
    [[ -z "$rps" ]] && errors+=("WARN could not parse wrk output")

    RPS[$key-$conns$suffix]="${rps:-0}"
    P99[$key-$conns$suffix]="$p99"
    local err_text="none"
    ((${#errors[@]})) && err_text="$(IFS=';'; echo "${errors[*]}")"
    ROWS+=("| $label | $conns | ${rps:-n/a} | $p50 | $p99 | $err_text |")
}

skipped_row() { ROWS+=("| $1 | $2 | skipped | - | - | BENCH_SKIP_SWITCHYARD=1 |"); }

report() {
    local C="$BENCH_CONNECTIONS" M="$BENCH_MODERATE_CONNECTIONS"
    echo "# Switchyard benchmark"
    echo
    echo "wrk: $BENCH_THREADS threads, $BENCH_DURATION per run (after $BENCH_WARMUP warm-up), POST /v1/chat/completions"
    echo
    echo "| target | connections | requests/s | p50 ms | p99 ms | errors |"
    echo "|---|---|---|---|---|---|"
    printf '%s\n' "${ROWS[@]}"
    echo
    if [[ "$BENCH_SKIP_SWITCHYARD" == 1 ]]; then
        echo "switchyard: skipped (BENCH_SKIP_SWITCHYARD=1)"
    else
        awk -v s="${RPS[switchyard-$C]}" -v n="${RPS[proxy-$C]}" \
            'BEGIN { if (n > 0) printf "switchyard/nginx-proxy throughput ratio: %.2f\n", s / n; else print "switchyard/nginx-proxy throughput ratio: n/a" }'
        awk -v s="${P99[switchyard-$M]}" -v n="${P99[proxy-$M]}" -v m="$M" \
            'BEGIN { if (s != "n/a" && n != "n/a") printf "p99 added vs nginx proxy at %s connections, saturating: %.2f ms\n", m, s - n; else printf "p99 added vs nginx proxy at %s connections: n/a\n", m }'
        awk -v s="${P99[switchyard-$M-paced]}" -v n="${P99[proxy-$M-paced]}" -v m="$M" -v d="$BENCH_MODERATE_DELAY_MS" \
            'BEGIN { if (s != "n/a" && n != "n/a") printf "p99 added vs nginx proxy at moderate load (%s connections, %s ms pause): %.2f ms\n", m, d, s - n; else print "p99 added at moderate load: n/a" }'
        echo "switchyard CPU per request at $C connections: $CPU_PER_REQUEST us"
        echo "switchyard peak RSS: $PEAK_RSS_MB MB"
    fi
    echo "machine: $(nproc) cores ($(uname -m), $(uname -r)), nginx worker_processes 1, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
}

peak_rss_mb() {
    local kb
    kb="$(awk '/^VmHWM:/ {print $2}' "/proc/$SWITCHYARD_PID/status" 2>/dev/null || true)"
    [[ -n "$kb" ]] || die "could not read VmHWM for switchyard (pid $SWITCHYARD_PID); did it exit?"
    awk -v kb="$kb" 'BEGIN { printf "%.1f", kb / 1024 }'
}

# --- main --------------------------------------------------------------------

main() {
    mkdir -p "$WORK"
    [[ "$BENCH_SKIP_SWITCHYARD" == 1 ]] || check_switchyard_bin
    install_tools
    write_common_files

    PORT_A="$(free_port)"; PORT_B="$(free_port)"; PORT_C="$(free_port)"
    while [[ "$PORT_B" == "$PORT_A" ]]; do PORT_B="$(free_port)"; done
    while [[ "$PORT_C" == "$PORT_A" || "$PORT_C" == "$PORT_B" ]]; do PORT_C="$(free_port)"; done

    write_nginx_conf
    start_nginx
    [[ "$BENCH_SKIP_SWITCHYARD" == 1 ]] || start_switchyard

    local path=/v1/chat/completions
    measure "upstream (nginx direct)" upstream "$BENCH_CONNECTIONS" "http://127.0.0.1:$PORT_A$path"
    measure "nginx reverse proxy" proxy "$BENCH_CONNECTIONS" "http://127.0.0.1:$PORT_B$path"
    if [[ "$BENCH_SKIP_SWITCHYARD" == 1 ]]; then
        skipped_row switchyard "$BENCH_CONNECTIONS"
    else
        measure switchyard switchyard "$BENCH_CONNECTIONS" "http://127.0.0.1:$PORT_C$path"
    fi
    measure "nginx reverse proxy" proxy "$BENCH_MODERATE_CONNECTIONS" "http://127.0.0.1:$PORT_B$path"
    measure "nginx reverse proxy" proxy "$BENCH_MODERATE_CONNECTIONS" "http://127.0.0.1:$PORT_B$path" paced
    if [[ "$BENCH_SKIP_SWITCHYARD" == 1 ]]; then
        skipped_row switchyard "$BENCH_MODERATE_CONNECTIONS"
    else
        measure switchyard switchyard "$BENCH_MODERATE_CONNECTIONS" "http://127.0.0.1:$PORT_C$path"
        measure switchyard switchyard "$BENCH_MODERATE_CONNECTIONS" "http://127.0.0.1:$PORT_C$path" paced
        PEAK_RSS_MB="$(peak_rss_mb)"
    fi

    report | tee "$WORK/results.md"
}

main "$@"
