#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# configtest (apache2 -t): only what makes the configuration unsafe fails it
# (a must-staple certificate that cannot be stapled, a cache that cannot be
# used); one customer's missing chain is a warning naming the file, as in
# mod_ssl; certificates without an OCSP URL make one summary line;
# OCSPGuardConfigCheck strict turns every warning into an error.
source "$(dirname "$0")/../lib/harness.sh"
h_init configtest
A=$(h_free_port)
h_pki "http://127.0.0.1:1/"
ct() { "$H_APACHE2" -t -f "$H_DIR/$1.conf" "${@:2}" >"$H_DIR/$1.ct" 2>&1; }
ct_says() { grep -q -- "$2" "$H_DIR/$1.ct" || { echo "   configtest said: $(cat "$H_DIR/$1.ct")" >&2; return 1; }; }

# 50 certificates without OCSP URL: exit 0, one summary line, each named at info
vhosts=$(for i in $(seq 1 50); do h_vhost "$A" noocsp; done)
h_conf plain "$A" event "$(h_guard_load)
LogLevel warn ocsp_guard:notice
OCSPGuardCache ocsp:$H_DIR/cache
$vhosts" >/dev/null
h_check "no OCSP URL: configtest passes" ct plain
h_check "one summary line with the count and the first names" \
    h_eq "$(grep -c 'OG00509: configtest: 50 certificate(s) have no OCSP URL and are not stapled.*noocsp.crt' "$H_DIR/plain.ct")" 1
h_check "and no line per certificate at notice level" bash -c "! grep -q OG00508 '$H_DIR/plain.ct'"
sed -i 's/ocsp_guard:notice/ocsp_guard:info/' "$H_DIR/plain.conf"
ct plain
h_check "at LogLevel ocsp_guard:info each one is named" \
    h_eq "$(grep -c 'OG00508: configtest: vhost .*noocsp.crt (subject CN=noocsp.test.example, serial 1003): no OCSP URL' "$H_DIR/plain.ct")" 50

# must-staple without OCSP URL: error, non-zero exit
h_conf must "$A" event "$(h_guard_load)
$(h_vhost "$A" muststaple_noocsp)" >/dev/null
h_check "must-staple without OCSP URL fails configtest" bash -c "! $H_APACHE2 -t -f $H_DIR/must.conf >$H_DIR/must.ct 2>&1"
h_check "the error names must-staple and the certificate" ct_says must 'ocsp_guard:error.*OG00502:.*(subject CN=must-noocsp.test.example, serial 1004): must-staple certificate'

# issuer not in the configured chain: a warning naming the file, configtest passes
h_conf nochain "$A" event "$(h_guard_load)
$(h_vhost "$A" leaf | grep -v SSLCertificateChainFile)" >/dev/null
h_check "an issuer outside the chain: configtest still passes" ct nochain
h_check "with a warning naming the virtual host and the certificate file" \
    ct_says nochain "ocsp_guard:warn.*OG00505: configtest: vhost 127.0.0.1:$A (localhost), $H_DIR/pki/leaf.crt (subject CN=localhost, serial 1001): its issuer is not in the configured chain"
# the same with OCSPGuardConfigCheck strict: an error
h_conf nochain_strict "$A" event "$(h_guard_load)
OCSPGuardConfigCheck strict
$(h_vhost "$A" leaf | grep -v SSLCertificateChainFile)" >/dev/null
h_check "OCSPGuardConfigCheck strict: the missing issuer fails configtest" \
    bash -c "! $H_APACHE2 -t -f $H_DIR/nochain_strict.conf >$H_DIR/nochain_strict.ct 2>&1"
h_check "as an error" ct_says nochain_strict 'ocsp_guard:error.*OG00505:.*its issuer is not in the configured chain'
# a must-staple certificate lacking its issuer: an error in any mode
h_conf must_nochain "$A" event "$(h_guard_load)
$(h_vhost "$A" muststaple | grep -v SSLCertificateChainFile)" >/dev/null
h_check "a must-staple certificate without its issuer fails configtest" \
    bash -c "! $H_APACHE2 -t -f $H_DIR/must_nochain.conf >$H_DIR/must_nochain.ct 2>&1"
h_check "naming must-staple and the missing issuer" ct_says must_nochain 'ocsp_guard:error.*OG00503:.*must-staple certificate whose issuer is not in the configured chain'

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
