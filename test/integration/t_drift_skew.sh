#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# Drift and skew logs: each refresh logs time left, next refresh, producedAt
# skew and validity; a responder whose clock runs ahead is accepted within
# OCSPGuardMaxSkew with a warning.
source "$(dirname "$0")/../lib/harness.sh"
h_init drift_skew
RP=$(h_free_port) FP=$(h_free_port) SP=$(h_free_port) A=$(h_free_port) B=$(h_free_port)
h_pki "http://127.0.0.1:$FP/"
h_responder "$RP" -nmin 1
h_front "$FP" "$RP"
h_conf drift "$B" event "$(h_guard_load)
OCSPGuardCache none
$(h_vhost "$B" leaf)" >/dev/null
h_check "apache2 starts" h_httpd_start drift
drift() { [ "$(h_log_count drift 'OG00601: .*nextUpdate .* (in [0-9]* s), next refresh .*, producedAt skew [-+][0-9]* s, validity 60 s')" -ge 2 ]; }
h_check "drift lines (time left, next refresh, skew, validity) after a refresh" h_until 45 drift
h_httpd_stop drift

# a responder whose clock runs 200 s ahead: accepted (MaxSkew 300) with a skew warning
libfaketime=$(dpkg -L libfaketime 2>/dev/null | grep '/libfaketime.so.1$' | head -1)
if [ -n "$libfaketime" ]; then
    # preloaded directly (not through the faketime wrapper, which forks) so $! is the responder
    LD_PRELOAD=$libfaketime FAKETIME="+200s" FAKETIME_NO_CACHE=1 openssl ocsp -index "$H_DIR/pki/index.txt" -port "$SP" \
        -CA "$H_DIR/pki/ca.crt" -rsigner "$H_DIR/pki/responder.crt" -rkey "$H_DIR/pki/responder.key" \
        -nmin 5 -timeout 5 >>"$H_DIR/skewed.log" 2>&1 &
    H_PIDS+=("$!")
    h_wait_port "$SP" 10
    h_conf skew "$A" event "$(h_guard_load)
OCSPGuardCache none
OCSPGuardResponder http://127.0.0.1:$SP/
$(h_vhost "$A" leaf)" >/dev/null
    h_check "with a skewed responder apache2 starts" h_httpd_start skew
    h_check "the response is accepted within OCSPGuardMaxSkew" h_eq "$(h_status "$A")" good
    h_check "the skew warning names the certificate and the offset" \
        h_log_has skew "ocsp_guard:warn.*OG00607: vhost localhost:$A ($H_DIR/pki/leaf.crt), subject CN=localhost, serial 1001: .* 2[0-9][0-9] s ahead"
    h_httpd_stop skew
else
    echo "FAIL - libfaketime is not installed (build/deps installs faketime)"
    H_FAILED=1
fi
h_done
