#!/bin/bash
# Instructions that mod_ocsp_guard adds to a handshake, counted by callgrind
# (deterministic, unlike timings on a shared 2-core machine): one apache2 -X
# under valgrind, N full TLS 1.3 handshakes with status_request, then the
# inclusive cost of the stapling hook against the whole handshake.
#   bench/callgrind.sh [HANDSHAKES]
set -u
N=${1:-50}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/test/lib/harness.sh"
h_init callgrind
RP=$(h_free_port) HP=$(h_free_port)
h_pki "http://127.0.0.1:$RP/"
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
    "$ROOT/build/bench/hsload" --check 127.0.0.1 "$HP" tls13 ec >/dev/null 2>&1 && break
    sleep 0.3
done
good=0
for ((i = 0; i < N; i++)); do
    [ "$("$ROOT/build/bench/hsload" --check 127.0.0.1 "$HP" tls13 ec)" = "staple good" ] && good=$((good + 1))
done
kill -TERM "$VG"; wait "$VG" 2>/dev/null
ann=$(callgrind_annotate --inclusive=yes --threshold=100 "$H_DIR/cg.out" 2>/dev/null)
hs=$(echo "$ann" | awk '/SSL_do_handshake/ {gsub(",","",$1); print $1; exit}')
hook=$(echo "$ann" | awk '/ap_ssl_ocsp_get_resp \[/ {gsub(",","",$1); print $1; exit}')
echo "handshakes $((N + 1)) with a good staple $good"
echo "instructions per handshake $(( hs / (N + 1) )), in the stapling hook $(( hook / (N + 1) ))"
awk -v h="$hook" -v t="$hs" 'BEGIN {printf "hook share %.4f %%\n", 100 * h / t}'
h_done
