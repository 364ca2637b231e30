#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# Rollback: after the responder revoked the certificate, a man in the
# middle replays an older, genuine and still valid "good" response. The
# revocation stays stapled; after a full stop and start (not graceful) it
# comes from the cache; once it has expired nothing is stapled, and after
# another restart the expired revocation kept in the cache still refuses
# the replay. Never "good".
source "$(dirname "$0")/../lib/harness.sh"
h_init rollback
RP=$(h_free_port) FP=$(h_free_port) HP=$(h_free_port)
h_pki "http://127.0.0.1:$FP/"
h_responder "$RP" -nmin 10
h_front "$FP" "$RP"

# what the attacker recorded earlier: a genuine good response, valid 10 min
openssl ocsp -issuer "$H_DIR/pki/ca.crt" -cert "$H_DIR/pki/leaf.crt" -url "http://127.0.0.1:$RP/" \
    -no_nonce -noverify -respout "$H_DIR/good.der" >"$H_DIR/capture.txt" 2>&1
h_check "a genuine good response is captured" grep -q 'leaf.crt: good' "$H_DIR/capture.txt"
sleep 2   # thisUpdate has whole seconds: the revocation is strictly newer

# the certificate is revoked; responses now valid one minute (refresh ~30 s)
h_stop_pid "$H_RESPONDER_PID"
h_revoke 1001
h_responder "$RP" -nmin 1

h_conf a "$HP" event "$(h_guard_load)
OCSPGuardCache ocsp:$H_DIR/cache
$(h_vhost "$HP" leaf)" >/dev/null
# every staple seen goes to $H_DIR/staples: none may be "good"
staple() { h_status "$HP" | tee -a "$H_DIR/staples"; }
status_is() { [ "$(staple)" = "$1" ]; }  # status_is WANT: one handshake
sample() { # sample N: N handshakes' staples, space separated
    local i out=()
    for ((i = 0; i < $1; i++)); do
        out+=("$(staple)")
        sleep 0.2
    done
    echo "${out[*]}"
}
cached() { [ -n "$(find "$H_DIR/cache" -type f 2>/dev/null)" ]; }
replayed() { [ "$(grep -c '^request file:' "$H_DIR/front.log" 2>/dev/null)" -ge "$1" ]; }
five() { echo "$1 $1 $1 $1 $1"; }

h_check "apache2 starts" h_httpd_start a
h_check "the revocation is stapled" h_until 10 status_is revoked
h_check "and stored in the cache" h_until 5 cached

h_front_mode "file:$H_DIR/good.der"
h_check "the next refresh gets the replayed good response" h_until 45 replayed 1
sleep 1
h_check "the replay is not stapled: still revoked" h_eq "$(sample 5)" "$(five revoked)"
h_check "the replay is refused and logged" \
    h_log_has a 'ocsp_guard:warn.*OG00616: .*serial 1001'

h_httpd_stop a
h_check "apache2 stops and starts again, the replay going on" h_httpd_start a
h_check "after the restart: still revoked" h_eq "$(sample 5)" "$(five revoked)"
h_check "the revocation came from the cache" h_log_has a 'OG0060[23]: .*: revoked'
h_check "the restarted refresher also gets the replay" h_until 45 replayed 2

# the revocation expires (one minute); the replay is still valid for minutes
h_check "once the revocation expired: no staple" h_until 45 status_is none
h_check "the record outlives the revocation's nextUpdate" cached
h_httpd_stop a
h_check "apache2 starts again with an expired revocation in the cache" h_httpd_start a
h_check "the replay is still refused: no staple" h_eq "$(sample 5)" "$(five none)"
h_check "the expired revocation is the floor" \
    h_log_has a 'OG00621: .*serial 1001'
h_check "never a good staple, at any point" h_eq "$(grep -c good "$H_DIR/staples")" 0
h_done
