#!/bin/bash
# apache2 -t -D DUMP_OCSP: one row per certificate with the cached response.
source "$(dirname "$0")/../lib/harness.sh"
h_init dump_ocsp
RP=$(h_free_port) FP=$(h_free_port) B=$(h_free_port) C=$(h_free_port)
h_pki "http://127.0.0.1:$FP/"
h_responder "$RP"
h_front "$FP" "$RP"
ct() { "$H_APACHE2" -t -f "$H_DIR/$1.conf" "${@:2}" >"$H_DIR/$1.ct" 2>&1; }
ct_says() { grep -q -- "$2" "$H_DIR/$1.ct" || { echo "   configtest said: $(cat "$H_DIR/$1.ct")" >&2; return 1; }; }
h_conf cold "$B" event "$(h_guard_load)
OCSPGuardCache ocsp:$H_DIR/cache
Listen 127.0.0.1:$C
$(h_vhost "$B" leaf)
$(h_vhost "$C" muststaple)" >/dev/null
h_check "apache2 starts" h_httpd_start cold
h_check "a good staple" h_eq "$(h_status "$B")" good
h_check "the must-staple certificate too" h_eq "$(h_status "$C" must.test.example)" good
h_httpd_stop cold
h_check "DUMP_OCSP runs" ct cold -D DUMP_OCSP
h_check "DUMP_OCSP shows the responder URL and the cached good status from the file" \
    ct_says cold "CN=localhost *1001 *http://127.0.0.1:$FP/ *no *good *20[0-9-]*T[0-9:]*Z *20[0-9-]*T[0-9:]*Z *file"
h_check "and the must-staple column" ct_says cold "CN=must.test.example *1002 .* yes *good"
h_done
