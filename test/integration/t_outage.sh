#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# Responses valid for one minute (openssl ocsp -nmin 1). During a responder
# outage of every kind the last good response keeps being stapled until its
# nextUpdate, and never after; failures are logged once per state change.
source "$(dirname "$0")/../lib/harness.sh"
h_init outage
RP=$(h_free_port) FP=$(h_free_port) HP=$(h_free_port)
h_pki "http://127.0.0.1:$FP/"
h_responder "$RP" -nmin 1
h_front "$FP" "$RP"
h_conf a "$HP" event "$(h_guard_load)
OCSPGuardCache none
OCSPGuardResponderTimeout 2
$(h_vhost "$HP" leaf)" >/dev/null
h_check "apache2 starts" h_httpd_start a
good_staple() { [ "$(h_status "$HP")" = good ]; }
h_check "a good staple" h_until 10 good_staple
next=$(sed -n 's/^ *Next Update: //p' "$H_DIR/last_status" | head -1)
next_s=$(date -u -d "$next" +%s)
echo "   nextUpdate $next ($(( next_s - $(date +%s) )) s from now)"
modes=(close http500 garbage wrongtype delay:5)
good_before=1 expired_served=0 i=0
while [ "$(date +%s)" -lt $((next_s + 6)) ]; do
    h_front_mode "${modes[$((i % ${#modes[@]}))]}"
    i=$((i + 1))
    now=$(date +%s)
    st=$(h_status "$HP")
    if [ "$st" = good ]; then
        nu=$(date -u -d "$(sed -n 's/^ *Next Update: //p' "$H_DIR/last_status" | head -1)" +%s)
        [ "$nu" -gt "$now" ] || { expired_served=1; echo "   expired staple served at $now (nextUpdate $nu)"; }
    elif [ "$now" -lt $((next_s - 2)) ]; then
        good_before=0
        echo "   no staple at $now, $((next_s - now)) s before nextUpdate"
    fi
    sleep 2
done
h_check "the last good response is stapled until nextUpdate" h_eq "$good_before" 1
h_check "no expired response is ever stapled" h_eq "$expired_served" 0
h_check "after nextUpdate there is no staple" h_eq "$(h_status "$HP")" none
h_check "the responder was tried during the outage" test "$(h_front_count)" -ge 3
h_check "the outage is logged once while the old response is valid" \
    h_eq "$(h_log_count a 'OG0061[0246]: .* good response')" 1
h_check "the expiry is logged once at error level" \
    h_eq "$(h_log_count a 'ocsp_guard:error.*OG00619:')" 1
h_check "a warning when less than a quarter of the validity is left" \
    h_log_has a "ocsp_guard:warn.*OG00406: .*serial 1001: only [0-9]* s of the response's 60 s "
h_check "the parent process never crashed" bash -c "! grep -q 'seg fault' '$H_DIR/a.error.log'"
h_front_mode pass
h_done
