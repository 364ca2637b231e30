#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# Must-staple is never failed for want of a short wait (issue 12 point 7).
# 1. Cold start, empty cache, a responder answering in 8 s, the default
#    OCSPGuardStartupWait 5 and OCSPGuardResponderTimeout 10: the first
#    handshakes for the must-staple certificate (openssl s_client -status, and
#    gnutls-cli --ocsp, which refuses a must-staple certificate without a
#    staple) get a good staple; a plain certificate on the same server does
#    not wait: once children accept (after the 5 s), its handshake completes
#    at once, without a staple, while the must-staple fetch is still in flight.
# 2. OCSPGuardStartupWait 0: a must-staple handshake made while the fetch is
#    in flight (3 s) waits for it and gets the staple; a plain one does not wait.
# 3. The bound: OCSPGuardMustStapleWait 2 with an 8 s responder gives up after
#    about 2 s; OCSPGuardMustStapleWait 0 never waits, and gnutls-cli fails the
#    handshake, as it would without the wait.
source "$(dirname "$0")/../lib/harness.sh"
h_init mswait
RP=$(h_free_port) FP=$(h_free_port)
h_pki "http://127.0.0.1:$FP/"
h_responder "$RP"
h_front "$FP" "$RP"

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# status_to FILE PORT [SNI]: "MS STATUS" of one openssl s_client -status handshake
status_to() {
    local t0 st out="$1.txt"
    t0=$(now_ms)
    timeout 30 openssl s_client -connect "127.0.0.1:$2" -servername "${3:-localhost}" -status \
        -CAfile "$H_DIR/pki/ca.crt" </dev/null >"$out" 2>&1
    if grep -q "OCSP response: no response sent" "$out"; then st=none
    elif grep -q "Cert Status: good" "$out"; then st=good
    else st=error; fi
    echo "$(( $(now_ms) - t0 )) $st" > "$1"
}
# gnutls_to FILE PORT: "MS EXIT" of one gnutls-cli --ocsp handshake (exit 0: trusted)
gnutls_to() {
    local t0 rc
    t0=$(now_ms)
    timeout 30 gnutls-cli --ocsp --x509cafile "$H_DIR/pki/ca.crt" --verify-hostname must.test.example \
        -p "$2" 127.0.0.1 </dev/null >"$1.txt" 2>&1
    rc=$?
    echo "$(( $(now_ms) - t0 )) $rc" > "$1"
}
ms_of() { cut -d' ' -f1 "$1"; }
what_of() { cut -d' ' -f2 "$1"; }
lt() { [ "$1" -lt "$2" ] || { echo "   $1 is not below $2" >&2; return 1; }; }
ge() { [ "$1" -ge "$2" ] || { echo "   $1 is not at least $2" >&2; return 1; }; }
accepting() { h_log_has "$1" 'resuming normal operations'; }
running() { kill -0 "$1" 2>/dev/null; }

# ---- 1. cold start, 8 s responder, StartupWait 5 (default), ResponderTimeout 10 (default)
B=$(h_free_port) C=$(h_free_port)
h_front_mode delay:8
h_conf cold "$B" event "$(h_guard_load)
OCSPGuardCache ocsp:$H_DIR/cache-cold
Listen 127.0.0.1:$C
$(h_vhost "$B" leaf)
$(h_vhost "$C" muststaple)" >/dev/null
t0=$(now_ms)
"$H_APACHE2" -f "$H_DIR/cold.conf" -k start
# the very first handshakes, made while the server is still starting
status_to "$H_DIR/first" "$C" must.test.example & first=$!
gnutls_to "$H_DIR/gnutls" "$C" & gnutls=$!
h_check "children accept after the 5 s start-up wait" h_until 15 accepting cold
accept_ms=$(( $(now_ms) - t0 ))
echo "   children accept $accept_ms ms after start"
status_to "$H_DIR/plain" "$B"
h_check "the must-staple handshake is still waiting for its fetch meanwhile" running "$first"
wait "$first" "$gnutls"
echo "   must-staple, openssl: $(cat "$H_DIR/first"); gnutls-cli: $(cat "$H_DIR/gnutls"); plain: $(cat "$H_DIR/plain")"
h_check "plain certificate: no wait, the handshake completes at once" lt "$(ms_of "$H_DIR/plain")" 1000
h_check "plain certificate: no staple yet (its fetch is in flight too)" h_eq "$(what_of "$H_DIR/plain")" none
h_check "the first must-staple handshake (openssl s_client) gets a good staple" \
    h_eq "$(what_of "$H_DIR/first")" good
h_check "gnutls-cli --ocsp, which enforces must-staple, accepts the first handshake" \
    h_eq "$(what_of "$H_DIR/gnutls")" 0
h_check "gnutls-cli saw a valid staple" grep -q "The certificate is trusted" "$H_DIR/gnutls.txt"
h_check "it came after the responder's 8 s, past the 5 s start-up wait" ge "$(ms_of "$H_DIR/first")" 7000
h_check "the wait is logged: the handshake waited for the fetch in flight and got the staple" \
    h_log_has cold 'OG00703: vhost .*, subject CN=must.test.example, serial 1002 (must-staple): the handshake waited [0-9]* ms for the fetch in flight: stapled'
h_check "no must-staple error while its first fetch was in flight" \
    h_eq "$(h_log_count cold 'OG00405:')" 0
h_httpd_stop cold

# ---- 2. StartupWait 0: a handshake during the fetch waits for it
D=$(h_free_port) E=$(h_free_port)
h_front_mode delay:3
h_conf inflight "$D" event "$(h_guard_load)
OCSPGuardCache none
OCSPGuardStartupWait 0
Listen 127.0.0.1:$E
$(h_vhost "$D" leaf)
$(h_vhost "$E" muststaple)" >/dev/null
h_check "StartupWait 0: starts" h_httpd_start inflight
h_check "StartupWait 0: accepts at once" h_until 5 accepting inflight
status_to "$H_DIR/ms2" "$E" must.test.example & ms2=$!
gnutls_to "$H_DIR/gnutls2" "$E" & gnutls2=$!
status_to "$H_DIR/plain2" "$D"
wait "$ms2" "$gnutls2"
echo "   must-staple: $(cat "$H_DIR/ms2"); gnutls-cli: $(cat "$H_DIR/gnutls2"); plain: $(cat "$H_DIR/plain2")"
h_check "StartupWait 0: the must-staple handshake waited for the fetch and got a good staple" \
    h_eq "$(what_of "$H_DIR/ms2")" good
h_check "StartupWait 0: gnutls-cli --ocsp accepts it" h_eq "$(what_of "$H_DIR/gnutls2")" 0
h_check "StartupWait 0: the plain handshake did not wait" lt "$(ms_of "$H_DIR/plain2")" 1000
h_check "StartupWait 0: and had no staple yet" h_eq "$(what_of "$H_DIR/plain2")" none
h_httpd_stop inflight

# ---- 3. the bound, and 0 = off
F=$(h_free_port) G=$(h_free_port)
h_front_mode delay:8
h_conf bound "$F" event "$(h_guard_load)
OCSPGuardCache none
OCSPGuardStartupWait 0
OCSPGuardMustStapleWait 2
$(h_vhost "$F" muststaple)" >/dev/null
h_conf off "$G" event "$(h_guard_load)
OCSPGuardCache none
OCSPGuardStartupWait 0
$(h_vhost "$G" muststaple "OCSPGuardMustStapleWait 0")" >/dev/null
h_check "MustStapleWait 2: starts" h_httpd_start bound
h_check "MustStapleWait 0 (per virtual host): starts" h_httpd_start off
h_until 5 accepting bound
h_until 5 accepting off
sleep 0.5                    # both fetches are in flight now (8 s)
status_to "$H_DIR/ms3" "$F" must.test.example
gnutls_to "$H_DIR/gnutls4" "$G"
echo "   MustStapleWait 2: $(cat "$H_DIR/ms3"); MustStapleWait 0, gnutls-cli: $(cat "$H_DIR/gnutls4")"
h_check "MustStapleWait 2: the handshake gives up after about 2 s" \
    bash -c "[ $(ms_of "$H_DIR/ms3") -ge 1900 ] && [ $(ms_of "$H_DIR/ms3") -lt 3500 ]"
h_check "MustStapleWait 2: without a staple" h_eq "$(what_of "$H_DIR/ms3")" none
h_check "MustStapleWait 2: logged" h_log_has bound 'OG00703: .*must-staple): the handshake waited [0-9]* ms for the fetch in flight: still no staple'
h_check "MustStapleWait 0: no wait" lt "$(ms_of "$H_DIR/gnutls4")" 1500
h_check "MustStapleWait 0: gnutls-cli --ocsp refuses the handshake without a staple" \
    h_eq "$(what_of "$H_DIR/gnutls4")" 1
h_check "MustStapleWait 0: because the must-staple status is missing" \
    grep -q "requires the server to include an OCSP status in its response, but the OCSP status is missing" "$H_DIR/gnutls4.txt"
h_httpd_stop bound
h_httpd_stop off
h_done
