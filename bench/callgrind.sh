#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# Instructions that mod_ocsp_guard adds to a handshake, counted by callgrind
# (deterministic, unlike timings on a shared 2-core machine): one apache2 -X
# under valgrind, N full TLS 1.3 handshakes with status_request, then the
# inclusive cost of the stapling hook against the whole handshake.
# Prints callgrind.handshakes, .stapled, .per_handshake, .hook, .share_percent.
#   bench/callgrind.sh [HANDSHAKES]
set -u
N=${1:-50}
source "$(dirname "$0")/lib.sh"
h_init callgrind
RP=$(h_free_port) HP=$(h_free_port)
h_pki "http://127.0.0.1:$RP/" >&2
h_responder "$RP"
h_conf g "$HP" prefork "$(h_guard_load)
OCSPGuardCache none
$(h_vhost "$HP" leaf 'SSLSessionTickets off')" >/dev/null
sed -i 's/^User www-data//; s/^Group www-data//' "$H_DIR/g.conf"
valgrind --tool=callgrind --callgrind-out-file="$H_DIR/cg.out" "$H_APACHE2" -X -f "$H_DIR/g.conf" \
    >"$H_DIR/valgrind.log" 2>&1 &
VG=$!
H_PIDS+=("$VG")
for ((i = 0; i < 200; i++)); do
    "$BIN/hsload" --check 127.0.0.1 "$HP" tls13 ec >/dev/null 2>&1 && break
    sleep 0.3
done
good=0
for ((i = 0; i < N; i++)); do
    [ "$(staple_at "$HP" tls13 ec)" = good ] && good=$((good + 1))
done
kill -TERM "$VG"; wait "$VG" 2>/dev/null
ann=$(callgrind_annotate --inclusive=yes --threshold=100 "$H_DIR/cg.out" 2>/dev/null)
# callgrind_annotate's rows: "COUNT (PERCENT)  FILE:FUNCTION [OBJECT]"
hs=$(echo "$ann" | sed -n 's/^ *\([0-9,]*\) .*SSL_do_handshake .*/\1/p' | head -1 | tr -d ,)
hook=$(echo "$ann" | sed -n 's/^ *\([0-9,]*\) .*ap_ssl_ocsp_get_resp \[.*/\1/p' | head -1 | tr -d ,)
emit callgrind.handshakes $((N + 1))
emit callgrind.stapled "$good"
emit callgrind.per_handshake $(( ${hs:-0} / (N + 1) ))
emit callgrind.hook $(( ${hook:-0} / (N + 1) ))
emit callgrind.share_percent "$(awk -v h="${hook:-0}" -v t="${hs:-0}" 'BEGIN {printf "%.4f", t ? 100 * h / t : 0}')"
h_done
