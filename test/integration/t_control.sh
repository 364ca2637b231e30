#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# Run-time control (issue 11): POST action=refresh makes the refresher fetch
# (the responder sees a request, the staple a new thisUpdate); a GET with the
# same parameters changes nothing; POST action=import staples a hand-fetched
# response while the responder cannot be reached, and stores it; a forged,
# an expired, another certificate's, an older and the same response are
# refused with a 4xx one-liner and the staple is unchanged; bad input gets a
# 4xx one-liner; without the handler nothing answers POST at all.
source "$(dirname "$0")/../lib/harness.sh"
h_init control
RP=$(h_free_port) FP=$(h_free_port) HP=$(h_free_port)
h_pki "http://127.0.0.1:$FP/"
P=$H_DIR/pki
h_responder "$RP" -nmin 10      # no refresh of its own within the test
h_front "$FP" "$RP"
ID=$(openssl x509 -in "$P/leaf.crt" -outform DER | sha1sum | cut -c1-40)
OTHER=$(openssl x509 -in "$P/muststaple.crt" -outform DER | sha1sum | cut -c1-40)

# Responses made offline from a request, as an operator's colleague would.
openssl ocsp -issuer "$P/ca.crt" -cert "$P/leaf.crt" -no_nonce -reqout "$H_DIR/req.der" >/dev/null 2>&1
openssl ocsp -issuer "$P/ca.crt" -cert "$P/muststaple.crt" -no_nonce -reqout "$H_DIR/req_other.der" >/dev/null 2>&1
mkresp() { # mkresp OUT REQ SIGNER_CRT SIGNER_KEY [openssl ocsp options]
    local out=$1 req=$2 crt=$3 key=$4
    shift 4
    openssl ocsp -index "$P/index.txt" -CA "$P/ca.crt" -rsigner "$crt" -rkey "$key" \
        -reqin "$req" -respout "$out" "$@" >/dev/null 2>&1
}
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$H_DIR/rogue.key" 2>/dev/null
openssl req -x509 -new -key "$H_DIR/rogue.key" -subj "/O=mod_ocsp_guard test/CN=Test CA" \
    -days 3650 -out "$H_DIR/rogue.crt" 2>/dev/null
mkresp "$H_DIR/older.der" "$H_DIR/req.der" "$P/ca.crt" "$P/ca.key" -nmin 30
mkresp "$H_DIR/forged.der" "$H_DIR/req.der" "$H_DIR/rogue.crt" "$H_DIR/rogue.key" -nmin 30
faketime -f '-2h' openssl ocsp -index "$P/index.txt" -CA "$P/ca.crt" -rsigner "$P/ca.crt" \
    -rkey "$P/ca.key" -reqin "$H_DIR/req.der" -respout "$H_DIR/expired.der" -nmin 1 >/dev/null 2>&1
mkresp "$H_DIR/other.der" "$H_DIR/req_other.der" "$P/ca.crt" "$P/ca.key" -nmin 30
head -c 70000 /dev/zero > "$H_DIR/huge.der"
h_check "test responses made (older, forged, expired, other certificate's)" \
    test -s "$H_DIR/older.der" -a -s "$H_DIR/forged.der" -a -s "$H_DIR/expired.der" -a -s "$H_DIR/other.der"
sleep 1   # thisUpdate has whole seconds: what the server fetches is newer than older.der

H_EXTRA_LOAD="LoadModule authz_host_module $H_MODDIR/mod_authz_host.so"

h_conf a "$HP" event "$(h_guard_load)
OCSPGuardCache ocsp:$H_DIR/cache
$(h_vhost "$HP" leaf "<Location /ocsp-guard-status>
    SetHandler ocsp-guard-status
    Require ip 127.0.0.1
  </Location>")" >/dev/null
h_check "apache2 starts" h_httpd_start a
good_staple() { [ "$(h_status "$HP")" = good ]; }
h_check "a good staple" h_until 10 good_staple
this_update() { h_status "$HP" >/dev/null; sed -n 's/^ *This Update: //p' "$H_DIR/last_status" | head -1; }
URL="https://127.0.0.1:$HP/ocsp-guard-status"
# call METHOD QUERY [curl options]: prints "CODE BODY"
call() {
    local method=$1 query=$2
    shift 2
    local code
    code=$(curl -sk -o "$H_DIR/body" -w '%{http_code}' -X "$method" "$URL${query:+?$query}" "$@")
    echo "$code $(head -c 300 "$H_DIR/body")"
}
import() { call POST "action=import&id=${2:-$ID}" -H 'Content-Type: application/ocsp-response' \
    --data-binary "@$1"; }

tu0=$(this_update)
n0=$(h_front_count)
sleep 1
# --- refresh
r=$(call POST "action=refresh&id=$ID")
h_check "POST action=refresh is accepted (202): $r" h_eq "${r%% *}" 202
responder_asked() { [ "$(h_front_count)" -gt "$n0" ]; }
new_this_update() { [ "$(this_update)" != "$tu0" ]; }
h_check "the responder sees a request" h_until 5 responder_asked
h_check "the staple shows a new thisUpdate" h_until 5 new_this_update
h_check "the refresh is logged with the client" h_log_has a "OG01010: control: 127.0.0.1 asked for a refresh of vhost localhost:$HP ($H_DIR/pki/leaf.crt), subject CN=localhost, serial 1001"
tu1=$(this_update)
n1=$(h_front_count)
r=$(call POST "" -d "action=refresh&id=all")
h_check "a form body works too, id=all (202): $r" h_eq "${r%% *}" 202
# --- GET changes nothing
sleep 6   # past the forced-refresh spacing
n1=$(h_front_count)
tu1=$(this_update)
call GET "action=refresh&id=$ID" >/dev/null
call GET "action=import&id=$ID" >/dev/null
sleep 3
h_check "a GET with action=refresh asks the responder nothing" h_eq "$(h_front_count)" "$n1"
h_check "and the staple is unchanged" h_eq "$(this_update)" "$tu1"

# --- bad input: 4xx one-liners, nothing changes
check_code() { # check_code WANT DESCRIPTION RESULT
    h_check "$2 ($1): ${3#* }" h_eq "${3%% *}" "$1"
}
check_code 400 "no action" "$(call POST "id=$ID")"
check_code 400 "unknown action" "$(call POST "action=revoke&id=$ID")"
check_code 400 "unknown parameter" "$(call POST "action=refresh&id=$ID&x=1")"
check_code 400 "malformed id" "$(call POST "action=refresh&id=12ab")"
check_code 400 "id=all is for refresh only" "$(import "$H_DIR/older.der" all)"
check_code 404 "unknown id" "$(call POST "action=refresh&id=$(printf '%040d' 0)")"
check_code 415 "import with the wrong content type" \
    "$(call POST "action=import&id=$ID" -H 'Content-Type: text/plain' --data-binary "@$H_DIR/older.der")"
check_code 413 "import over 64 KiB" "$(import "$H_DIR/huge.der")"
check_code 400 "empty import" "$(call POST "action=import&id=$ID" -H 'Content-Type: application/ocsp-response')"
check_code 403 "a request from a web page (Origin)" \
    "$(call POST "action=refresh&id=$ID" -H 'Origin: https://evil.example')"
check_code 405 "PUT" "$(call PUT "action=refresh&id=$ID")"
h_check "the staple is unchanged by all of it" h_eq "$(this_update)" "$tu1"

# --- import while the responder cannot be reached
h_front_mode close
sleep 1
openssl ocsp -issuer "$P/ca.crt" -cert "$P/leaf.crt" -url "http://127.0.0.1:$RP/" -no_nonce \
    -noverify -respout "$H_DIR/fresh.der" >/dev/null 2>&1
want=$(openssl ocsp -respin "$H_DIR/fresh.der" -resp_text -noverify | sed -n 's/^ *This Update: //p' | head -1)
r=$(import "$H_DIR/fresh.der")
h_check "a hand-fetched response is imported (200): $r" h_eq "${r%% *}" 200
h_check "the answer says stapled" bash -c "[[ '$r' == '200 stapled: good response'* ]]"
h_check "the staple is the imported response" h_eq "$(this_update)" "$want"
h_check "the refresher logs the import" h_log_has a "OG01011: vhost localhost:$HP ($H_DIR/pki/leaf.crt), subject CN=localhost, serial 1001: imported response stapled"
h_check "the status view says where it came from (source import)" bash -c "curl -sk '$URL?id=$ID' |
    python3 -c 'import json, sys; sys.exit(json.load(sys.stdin)[\"certificates\"][0][\"source\"] != \"import\")'"
stored() { [ -n "$(find "$H_DIR/cache" -type f -newer "$H_DIR/fresh.der" 2>/dev/null)" ]; }
h_check "and stores it in the cache" h_until 5 stored
check_code 409 "the same response again" "$(import "$H_DIR/fresh.der")"
check_code 409 "an older genuine response" "$(import "$H_DIR/older.der")"
check_code 400 "a forged response (another key, the CA's name)" "$(import "$H_DIR/forged.der")"
check_code 400 "an expired response" "$(import "$H_DIR/expired.der")"
check_code 400 "another certificate's response" "$(import "$H_DIR/other.der")"
check_code 404 "a response for a certificate not stapled here" "$(import "$H_DIR/other.der" "$OTHER")"
check_code 400 "garbage" "$(import "$P/ca.crt")"
h_check "the staple is still the imported one" h_eq "$(this_update)" "$want"
h_check "refusals are logged by the refresher" \
    h_eq "$(h_log_count a "OG01012: vhost localhost:$HP ($H_DIR/pki/leaf.crt), subject CN=localhost, serial 1001: imported response refused")" 6

# --- a refresher that does not answer: 503 at once, nothing changes
h_front_mode pass
rpid=$(sed -n 's/.*OG00402: refresher \([0-9]*\) started.*/\1/p' "$H_DIR/a.error.log" | tail -1)
kill -STOP "$rpid"
sleep 7   # its heartbeat goes stale
start=$(date +%s)
r=$(call POST "action=refresh&id=$ID")
check_code 503 "refresh while the refresher is stopped" "$r"
check_code 503 "import while the refresher is stopped" "$(import "$H_DIR/older.der")"
h_check "answered without waiting" test $(( $(date +%s) - start )) -le 2
kill -CONT "$rpid"
h_check "the staple is still the imported one" h_eq "$(this_update)" "$want"
h_check "apache2 stops" h_httpd_stop a

# --- without SetHandler: POST is not ours
h_conf b "$HP" event "$(h_guard_load)
OCSPGuardCache none
$(h_vhost "$HP" leaf)" >/dev/null
h_check "apache2 starts without the handler" h_httpd_start b
h_check "a good staple" h_until 10 good_staple
n2=$(h_front_count)
r=$(call POST "action=refresh&id=$ID")
h_check "POST without the handler configured is not control (got ${r%% *})" test "${r%% *}" != 202
sleep 3
h_check "and asks the responder nothing" h_eq "$(h_front_count)" "$n2"
h_done
