#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# Start-up at scale: N SNI virtual hosts of one CA, started without the
# module, with mod_ocsp_guard and an empty cache, and again warm. Prints, per
# N: scale.N.start_base_s, .start_empty_s, .start_warm_s (medians of
# interleaved rounds), .start_warm_delta_s (median of the rounds' warm minus
# no-module differences), .start_warm_rounds (the samples), .filled_s (all
# stapled), .max_requests_per_s at the responder during the fill (scale.rate_limit:
# the OCSPGuardResponderRate it runs with: 20 in --quick, where it paces the
# fill of 50, 2000 else, above what the local responder answers),
# .fill_requests and .connections (TCP connections the responder's front
# accepted during the fill) and .connections_per_1000 (per 1,000 responses),
# .warm_requests, .warm_prime_ms, .warm_local_ms and .warm_wait_ms (priming,
# reading the local cache, and the parent's whole wait after forking the
# refresher, at the warm start),
# .parent_rss_extra_mib, .child_rss_extra_mib; .nowait_first_ms and
# .nowait_first_staple: the first handshake of a warm start with
# OCSPGuardStartupWait 0.
#   BENCH_QUICK=1 bench/scale.sh
set -u
source "$(dirname "$0")/lib.sh"
if [ "$QUICK" = 1 ]; then SCALES="50" RATE=20; else SCALES="1000 10000" RATE=2000; fi
SCALES=${BENCH_SCALES:-$SCALES}   # e.g. BENCH_SCALES=10000: one size only
# rounds of (warm start, start without the module) per size
if [ "$QUICK" = 1 ]; then ROUNDS=1; else ROUNDS=3; fi
ROUNDS=${BENCH_SCALE_ROUNDS:-$ROUNDS}
bench_setup scale
emit scale.sizes "$SCALES"
emit scale.concurrency 4        # OCSPGuardFetchConcurrency's default, used below
emit scale.rate_limit "$RATE"   # OCSPGuardResponderRate below
emit scale.rounds "$ROUNDS"
note "scale: $SCALES certificates"
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
worker_child() { # the child with the most threads: a worker, not the refresher
    local best=0 bestn=0 c n
    for c in $(pgrep -P "$1"); do
        n=$(awk '/^Threads/ {print $2}' "/proc/$c/status" 2>/dev/null || echo 0)
        [ "$n" -gt "$bestn" ] && { best=$c; bestn=$n; }
    done
    echo "$best"
}
requests() { grep -c '^request' "$1" 2>/dev/null || true; }
for n in $SCALES; do
    SD="$H_DIR/scale$n"
    mkdir -p "$SD"
    SRP=$(h_free_port) SFP=$(h_free_port) SHP=$(h_free_port)
    h_many_certs "$n" "$SD" "http://127.0.0.1:$SFP/" || { note "mkcerts failed"; continue; }
    openssl ocsp -index "$SD/index.txt" -port "$SRP" -CA "$PKI/ca.crt" -rsigner "$PKI/responder.crt" \
        -rkey "$PKI/responder.key" -nmin 60 -timeout 5 >>"$SD/responder.log" 2>&1 &
    H_PIDS+=("$!")
    h_wait_port "$SRP"
    echo pass > "$SD/front.mode"
    python3 "$BENCH_ROOT/test/lib/faultfront.py" "$SFP" "$SRP" "$SD/front.mode" >>"$SD/front.log" 2>&1 &
    H_PIDS+=("$!")
    h_wait_port "$SFP"
    vhosts=$(h_many_vhosts "$SHP" "$n" "$SD")
    H_LOGLEVEL=warn h_conf "base$n" "$SHP" event "$vhosts" >/dev/null
    H_LOGLEVEL=warn h_conf "scale$n" "$SHP" event "$(h_guard_load)
LogLevel warn ocsp_guard:info
OCSPGuardCache ocsp:$SD/cache
OCSPGuardResponderRate $RATE
$vhosts" >/dev/null
    H_LOGLEVEL=warn h_conf "nowait$n" "$SHP" event "$(h_guard_load)
LogLevel warn ocsp_guard:info
OCSPGuardCache ocsp:$SD/cache
OCSPGuardResponderRate $RATE
OCSPGuardStartupWait 0
$vhosts" >/dev/null
    t0=$(date +%s.%N); start_wait "base$n"; base_times=$(elapsed "$t0")
    sleep 2
    bp=$(h_httpd_pid "base$n"); base_parent=$(rss_kb "$bp"); base_child=$(rss_kb "$(worker_child "$bp")")
    h_httpd_stop "base$n"
    before=$(requests "$SD/front.log")
    t0=$(date +%s.%N); start_wait "scale$n"; emit "scale.$n.start_empty_s" "$(elapsed "$t0")"
    filled="none"
    for ((i = 0; i < 3000; i++)); do
        if [ "$(h_log_count "scale$n" 'OG00601: .*: good')" -ge "$n" ]; then filled=$(elapsed "$t0"); break; fi
        sleep 0.1
    done
    emit "scale.$n.filled_s" "$filled"
    emit "scale.$n.max_requests_per_s" "$(tail -n +$((before + 1)) "$SD/front.log" |
        awk '/^request/ {c[$3]++} END {m=0; for (s in c) if (c[s]>m) m=c[s]; print m}')"
    tail -n +$((before + 1)) "$SD/front.log" > "$SD/fill.log"
    fill_requests=$(requests "$SD/fill.log") fill_conns=$(h_front_conns "$SD/fill.log")
    emit "scale.$n.fill_requests" "$fill_requests"
    emit "scale.$n.connections" "$fill_conns"
    emit "scale.$n.connections_per_1000" "$(awk -v c="$fill_conns" -v r="$fill_requests" \
        'BEGIN {if (r > 0) printf "%.1f", c * 1000 / r; else print "n/a"}')"
    gp=$(h_httpd_pid "scale$n"); g_parent=$(rss_kb "$gp"); g_child=$(rss_kb "$(worker_child "$gp")")
    emit "scale.$n.parent_rss_extra_mib" $(( (g_parent - base_parent) / 1024 ))
    emit "scale.$n.child_rss_extra_mib" $(( (g_child - base_child) / 1024 ))
    h_httpd_stop "scale$n"
    # Warm starts and starts without the module, interleaved (the order
    # alternating), so that what else the machine does weighs on both:
    # medians, and the median of each round's difference.
    warm_times="" deltas="" prime_ms="" local_ms="" wait_ms="" warm_requests=0
    for ((round = 1; round <= ROUNDS; round++)); do
        for kind in $( ((round % 2)) && echo "warm base" || echo "base warm"); do
            if [ "$kind" = base ]; then
                t0=$(date +%s.%N); start_wait "base$n"; tb=$(elapsed "$t0")
                base_times="$base_times $tb"
                h_httpd_stop "base$n"
                continue
            fi
            before=$(requests "$SD/front.log")
            t0=$(date +%s.%N); start_wait "scale$n"; tw=$(elapsed "$t0")
            warm_times="$warm_times $tw"
            # where its extra time went: priming (OG00001), and reading and
            # verifying the local cache before children accept (OG00701)
            prime_ms="$prime_ms $(grep 'OG00001:' "$H_DIR/scale$n.error.log" | tail -1 | sed -n 's/.*read in \([0-9]*\) ms.*/\1/p')"
            local_ms="$local_ms $(grep 'OG00701:' "$H_DIR/scale$n.error.log" | tail -1 | sed -n 's/.*local cache was read (\([0-9]*\) ms).*/\1/p')"
            # and the parent's whole wait after forking the refresher (OG00407)
            wait_ms="$wait_ms $(grep 'OG00407:' "$H_DIR/scale$n.error.log" | tail -1 | sed -n 's/.*staple after \([0-9]*\) ms.*/\1/p')"
            sleep 1
            warm_requests=$(( warm_requests + $(requests "$SD/front.log") - before ))
            h_httpd_stop "scale$n"
        done
        deltas="$deltas $(awk -v w="$tw" -v b="$tb" 'BEGIN {printf "%.2f", w - b}')"
    done
    emit "scale.$n.start_base_s" "$(echo $base_times | tr ' ' '\n' | median)"
    emit "scale.$n.start_warm_s" "$(echo $warm_times | tr ' ' '\n' | median)"
    emit "scale.$n.start_warm_delta_s" "$(echo $deltas | tr ' ' '\n' | median)"
    emit "scale.$n.start_warm_rounds" "$ROUNDS (base:$base_times; warm:$warm_times)"
    emit "scale.$n.warm_prime_ms" "$(echo $prime_ms | tr ' ' '\n' | median)"
    emit "scale.$n.warm_local_ms" "$(echo $local_ms | tr ' ' '\n' | median)"
    emit "scale.$n.warm_wait_ms" "$(echo $wait_ms | tr ' ' '\n' | median)"
    emit "scale.$n.warm_requests" "$warm_requests"
    # OCSPGuardStartupWait 0, warm cache: the first handshake, made while the
    # server starts, for the first virtual host (httpd primes the virtual
    # hosts last to first, so its response is read last)
    "$H_APACHE2" -f "$H_DIR/nowait$n.conf" -k start &
    starter=$!
    first=$("$BIN/hsload" --first 127.0.0.1 "$SHP" 120 h0.bench.example)
    wait "$starter"
    emit "scale.$n.nowait_first_ms" "$(echo "$first" | kv first_ms)"
    emit "scale.$n.nowait_first_staple" "$(echo "$first" | kv staple)"
    for ((i = 0; i < 300; i++)); do [ -s "$H_DIR/nowait$n.pid" ] && break; sleep 0.1; done
    h_httpd_stop "nowait$n"
done
h_done
