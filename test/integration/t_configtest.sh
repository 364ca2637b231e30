#!/bin/bash
# configtest (apache2 -t): what fails the test (errors) and what only warns.
source "$(dirname "$0")/../lib/harness.sh"
h_init configtest
A=$(h_free_port)
h_pki "http://127.0.0.1:1/"
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

h_done
