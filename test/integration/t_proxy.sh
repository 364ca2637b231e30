#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# OCSPGuardProxy: the responder is reachable only through the proxy, also
# when httpd's environment says no_proxy for the responder's host.
source "$(dirname "$0")/../lib/harness.sh"
h_init proxy
RP=$(h_free_port) FP=$(h_free_port) HP=$(h_free_port) DEAD=$(h_free_port)
h_pki "http://127.0.0.1:$DEAD/"   # nothing listens there
h_responder "$RP"
h_front "$FP" "$RP"              # the front doubles as the HTTP proxy
h_conf a "$HP" event "$(h_guard_load)
OCSPGuardCache none
OCSPGuardProxy http://127.0.0.1:$FP
$(h_vhost "$HP" leaf)" >/dev/null
h_check "apache2 starts" h_httpd_start a
good_staple() { [ "$(h_status "$HP")" = good ]; }
h_check "a good staple through the proxy" h_until 10 good_staple
h_check "the request went through the proxy in absolute form" grep -q "^request pass [0-9]* proxied" "$H_DIR/front.log"
h_httpd_stop a

# no_proxy naming the responder's host must not send it around the proxy
HP2=$(h_free_port)
h_conf b "$HP2" event "$(h_guard_load)
OCSPGuardCache none
OCSPGuardProxy http://127.0.0.1:$FP
$(h_vhost "$HP2" leaf)" >/dev/null
before=$(grep -c "^request pass [0-9]* proxied" "$H_DIR/front.log")
start_no_proxy() { ( export no_proxy=127.0.0.1 NO_PROXY=127.0.0.1; h_httpd_start b ); }
h_check "apache2 starts with no_proxy=127.0.0.1 in its environment" start_no_proxy
h_check "its parent has no_proxy and NO_PROXY" \
    test "$(tr '\0' '\n' < "/proc/$(h_httpd_pid b)/environ" | grep -ci '^no_proxy=127.0.0.1$')" = 2
good_staple_b() { [ "$(h_status "$HP2")" = good ]; }
h_check "a good staple through the proxy despite no_proxy" h_until 10 good_staple_b
h_check "the request went through the proxy" \
    test "$(grep -c "^request pass [0-9]* proxied" "$H_DIR/front.log")" -gt "$before"
h_done
