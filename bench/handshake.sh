#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# Handshake rate of mod_ocsp_guard, mod_ssl's and mod_md's stapling against
# stapling off, side by side: interleaved rounds, medians of per-round ratios.
# Prints handshake.COMBO.off_rate, handshake.COMBO.KIND_ratio and
# handshake.COMBO.staples (what each stapler sent, checked in its own round).
#   BENCH_QUICK=1 bench/handshake.sh
set -u
source "$(dirname "$0")/lib.sh"
if [ "$QUICK" = 1 ]; then
    ROUNDS=2 ROUND_S=1 THREADS=4 COMBOS="tls13:ec"
else
    ROUNDS=4 ROUND_S=2.5 THREADS=4 COMBOS="tls13:ec tls13:rsa tls12:ec tls12:rsa"
fi
bench_setup handshake
note "handshake rate ($COMBOS; $ROUNDS interleaved rounds of ${ROUND_S} s, $THREADS client threads)"
KINDS="off guard modssl md"
declare -A PORT
for k in $KINDS; do
    PORT[$k]=$(h_free_port)
    server_conf "rate_$k" "${PORT[$k]}" "$k"
    start_wait "rate_$k" || note "could not start $k"
done
sleep 3   # let every stapler fetch its first response
emit handshake.threads "$THREADS"
emit handshake.combos "${COMBOS//:/_}"
for combo in $COMBOS; do
    tls=${combo%%:*} key=${combo##*:} c=${combo//:/_}
    declare -A ratios=() rates=()
    for k in $KINDS; do ratios[$k]="" rates[$k]=""; done
    for ((r = 0; r < ROUNDS; r++)); do
        declare -A rate=()
        for k in $KINDS; do
            rate[$k]=$("$BIN/hsload" 127.0.0.1 "${PORT[$k]}" "$ROUND_S" "$THREADS" "$tls" "$key" | kv rate)
            rates[$k]+="${rate[$k]} "
        done
        for k in $KINDS; do ratios[$k]+="$(ratio "${rate[$k]}" "${rate[off]}") "; done
    done
    emit "handshake.$c.off_rate" "$(echo ${rates[off]} | tr ' ' '\n' | median)"
    for k in guard modssl md; do
        emit "handshake.$c.${k}_ratio" "$(echo ${ratios[$k]} | tr ' ' '\n' | median)"
        emit "handshake.$c.${k}_staple" "$(staple_at "${PORT[$k]}" "$tls" "$key")"
    done
done
for k in $KINDS; do h_httpd_stop "rate_$k"; done
h_done
