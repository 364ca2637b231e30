#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# Graceful restart (event and prefork): stapling goes on without a new fetch.
source "$(dirname "$0")/../lib/harness.sh"
h_init graceful
RP=$(h_free_port) FP=$(h_free_port)
h_pki "http://127.0.0.1:$FP/"
h_responder "$RP"
h_front "$FP" "$RP"
for mpm in event prefork worker; do
    HP=$(h_free_port)
    h_conf "$mpm" "$HP" "$mpm" "$(h_guard_load)
OCSPGuardCache none
$(h_vhost "$HP" leaf)" >/dev/null
    before=$(h_front_count)
    h_check "$mpm: apache2 starts" h_httpd_start "$mpm"
    good_staple() { [ "$(h_status "$HP")" = good ]; }
    h_check "$mpm: a good staple" h_until 10 good_staple
    h_check "$mpm: one responder request" h_eq "$(( $(h_front_count) - before ))" 1
    h_httpd_graceful "$mpm"
    carried() { h_log_has "$mpm" 'OG00001: .* 1 carried over'; }
    h_check "$mpm: graceful restart carries the response over" h_until 10 carried
    h_check "$mpm: a good staple right after the graceful restart" good_staple
    for i in 1 2 3; do h_status "$HP" >/dev/null; done
    h_check "$mpm: no new responder request after the graceful restart" \
        h_eq "$(( $(h_front_count) - before ))" 1
    refreshers=$(pgrep -f "$H_DIR/$mpm.conf" | wc -l)
    h_httpd_stop "$mpm"
    h_check "$mpm: nothing left running after stop" h_eq "$(pgrep -f "$H_DIR/$mpm.conf" | wc -l)" 0
    echo "   $mpm ran $refreshers processes"
done
h_done
