#!/bin/bash
# configtest and DUMP_OCSP, startup warm-up, must-staple, drift and skew logs.
source "$(dirname "$0")/../lib/harness.sh"
h_init configtest
RP=$(h_free_port) FP=$(h_free_port) SP=$(h_free_port)
A=$(h_free_port) B=$(h_free_port) C=$(h_free_port) D=$(h_free_port)
h_pki "http://127.0.0.1:$FP/"
h_responder "$RP" -nmin 1
h_front "$FP" "$RP"
ct() { "$H_APACHE2" -t -f "$H_DIR/$1.conf" "${@:2}" >"$H_DIR/$1.ct" 2>&1; }
ct_says() { grep -q -- "$2" "$H_DIR/$1.ct" || { echo "   configtest said: $(cat "$H_DIR/$1.ct")" >&2; return 1; }; }

# a plain certificate without OCSP URL: exit 0 with a warning
h_conf plain "$A" event "$(h_guard_load)
OCSPGuardCache ocsp:$H_DIR/cache
$(h_vhost "$A" noocsp)" >/dev/null
h_check "no OCSP URL: configtest passes" ct plain
h_check "with a warning naming the certificate" ct_says plain 'ocsp_guard:warn.*CN=noocsp.test.example, serial 1003: no OCSP URL in the certificate: not stapled'

# must-staple without OCSP URL: error, non-zero exit
h_conf must "$A" event "$(h_guard_load)
$(h_vhost "$A" muststaple_noocsp)" >/dev/null
h_check "must-staple without OCSP URL fails configtest" bash -c "! $H_APACHE2 -t -f $H_DIR/must.conf >$H_DIR/must.ct 2>&1"
h_check "the error names must-staple and the certificate" ct_says must 'ocsp_guard:error.*CN=must-noocsp.test.example, serial 1004: must-staple certificate'

# issuer not in the configured chain: error
h_conf nochain "$A" event "$(h_guard_load)
$(h_vhost "$A" leaf | grep -v SSLCertificateChainFile)" >/dev/null
h_check "an issuer outside the chain fails configtest" bash -c "! $H_APACHE2 -t -f $H_DIR/nochain.conf >$H_DIR/nochain.ct 2>&1"
h_check "the error says the issuer is not in the chain" ct_says nochain 'its issuer is not in the configured chain'

# a cache directory that cannot be created: error
h_conf baddir "$A" event "$(h_guard_load)
OCSPGuardCache ocsp:/proc/ocsp_guard_cannot_be_here
$(h_vhost "$A" leaf)" >/dev/null
h_check "an uncreatable cache directory fails configtest" bash -c "! $H_APACHE2 -t -f $H_DIR/baddir.conf >$H_DIR/baddir.ct 2>&1"
h_check "the error names the directory" ct_says baddir 'OCSPGuardCache ocsp:/proc/ocsp_guard_cannot_be_here: cannot create'

# two staplers, and a Redis that does not answer: warnings, exit 0
h_conf warn "$A" event "$(h_guard_load)
SSLStaplingCache shmcb:$H_DIR/stapling(32768)
OCSPGuardCache ocsp:$H_DIR/cache2,redis=127.0.0.1:1
$(h_vhost "$A" leaf 'SSLUseStapling on')" >/dev/null
h_check "warnings only: configtest passes" ct warn
h_check "SSLUseStapling on in a guarded vhost is a warning" ct_says warn 'ocsp_guard:warn.*SSLUseStapling on as well'
h_check "a Redis that does not answer is a warning" ct_says warn 'ocsp_guard:warn.*Redis 127.0.0.1:1 does not answer'

# cold start, empty cache, 2 s slow responder: the very first handshake has a staple
h_front_mode delay:2
h_conf cold "$B" event "$(h_guard_load)
OCSPGuardCache ocsp:$H_DIR/cache
Listen 127.0.0.1:$C
$(h_vhost "$B" leaf)
$(h_vhost "$C" muststaple)" >/dev/null
"$H_APACHE2" -f "$H_DIR/cold.conf" -k start
h_check "cold start with a 2 s responder: the first handshake carries a good staple" \
    h_eq "$(h_status "$B")" good
h_check "the must-staple certificate too" h_eq "$(h_status "$C" must.test.example)" good
h_front_mode pass
h_check "each certificate's outcome is logged" h_eq "$(h_log_count cold 'good response fetched')" 2
h_check "the startup wait is summarised" h_log_has cold 'startup: 2 of 2 certificate(s) have a verified staple'
h_check "DUMP_OCSP runs" ct cold -D DUMP_OCSP
h_check "DUMP_OCSP shows the responder URL and the cached good status from the file" \
    ct_says cold "CN=localhost *1001 *http://127.0.0.1:$FP/ *no *good *20[0-9-]*T[0-9:]*Z *20[0-9-]*T[0-9:]*Z *file"
h_check "and the must-staple column" ct_says cold "CN=must.test.example *1002 .* yes *good"
drift() { [ "$(h_log_count cold 'response fetched, nextUpdate .* (in [0-9]* s), next refresh .*, producedAt skew [-+][0-9]* s, validity 60 s')" -ge 3 ]; }
h_check "drift lines (time left, next refresh, skew, validity) after a refresh" h_until 45 drift
h_httpd_stop cold

# must-staple with the responder down and no cache: an error, not repeated within a minute
h_front_mode close
h_conf mustdown "$D" event "$(h_guard_load)
OCSPGuardCache none
OCSPGuardStartupWait 1
$(h_vhost "$D" muststaple)" >/dev/null
h_check "must-staple with the responder down starts" h_httpd_start mustdown
sleep 12   # past at least one monitor pass
h_check "the must-staple error is logged, once within the minute" \
    h_eq "$(h_log_count mustdown 'ocsp_guard:error.*CN=must.test.example, serial 1002 is must-staple and has no valid staple')" 1
h_httpd_stop mustdown
h_front_mode pass

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
        h_log_has skew 'ocsp_guard:warn.*CN=localhost, serial 1001: the responder.s producedAt is 2[0-9][0-9] s ahead of the local clock'
    h_httpd_stop skew
else
    echo "FAIL - libfaketime is not installed (build/deps installs faketime)"
    H_FAILED=1
fi
h_done
