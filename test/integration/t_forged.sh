#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# Issue 8, defect 1: someone on the path to the (plain HTTP) responder plants
# a certificate with the CA's name and their own key into a genuine,
# CA-signed response (the `certs` field is not signed), then answers with
# responses signed by that key: "revoked", valid for 50 years. The genuine
# response is stapled; the forged ones are refused and logged; the good
# staple stays until its nextUpdate and is never replaced by the forgery.
source "$(dirname "$0")/../lib/harness.sh"
h_init forged
GP=$(h_free_port) OP=$(h_free_port) AP=$(h_free_port) FP=$(h_free_port) HP=$(h_free_port)
h_pki "http://127.0.0.1:$FP/"
P=$H_DIR/pki

# The attacker's key and a self-signed certificate with the CA's subject.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$H_DIR/attacker.key" 2>/dev/null
openssl req -x509 -new -key "$H_DIR/attacker.key" -subj "/O=mod_ocsp_guard test/CN=Test CA" \
    -days 3650 -out "$H_DIR/planted.crt" 2>/dev/null
openssl x509 -in "$H_DIR/planted.crt" -outform DER -out "$H_DIR/planted.der"
# The attacker's responder says the leaf (serial 1001) is revoked.
revdate=$(date -u -d '-1 day' +%y%m%d%H%M%SZ)
awk -v d="$revdate" 'BEGIN{FS=OFS="\t"} $4=="1001"{$1="R"; $3=d",keyCompromise"} {print}' \
    "$P/index.txt" > "$H_DIR/attacker.index.txt"
cp "$P/index.txt.attr" "$H_DIR/attacker.index.txt.attr"

# The genuine responder: the CA signs itself (ResponderID byName), valid one minute.
openssl ocsp -index "$P/index.txt" -port "$GP" -CA "$P/ca.crt" -rsigner "$P/ca.crt" -rkey "$P/ca.key" \
    -nmin 1 -ignore_err -timeout 5 >>"$H_DIR/genuine.log" 2>&1 &
H_PIDS+=("$!")
# The attacker's responder: signs with the planted certificate's key, ResponderID byKey, 50 years.
openssl ocsp -index "$H_DIR/attacker.index.txt" -port "$AP" -CA "$P/ca.crt" \
    -rsigner "$H_DIR/planted.crt" -rkey "$H_DIR/attacker.key" -resp_key_id -ndays 18250 \
    -ignore_err -timeout 5 >>"$H_DIR/attacker.log" 2>&1 &
H_PIDS+=("$!")

# On the path: forwards to the genuine responder and puts the planted
# certificate first into the `certs` of every answer (signature untouched).
cat > "$H_DIR/onpath.py" <<'PY'
import socket, sys, threading
listen, upstream, planted = int(sys.argv[1]), int(sys.argv[2]), open(sys.argv[3], "rb").read()

def tlv(buf, off=0):
    """(whole TLV, value, end) of the DER element at off."""
    n, hl = buf[off + 1], 2
    if n & 0x80:
        hl = 2 + (n & 0x7F)
        n = int.from_bytes(buf[off + 2:off + hl], "big")
    return buf[off:off + hl + n], buf[off + hl:off + hl + n], off + hl + n

def elements(value):
    out, off = [], 0
    while off < len(value):
        whole, inner, off = tlv(value, off)
        out.append((whole, inner))
    return out

def enc(tag, value):
    n = len(value)
    ln = bytes([n]) if n < 0x80 else (lambda b: bytes([0x80 | len(b)]) + b)(n.to_bytes((n.bit_length() + 7) // 8, "big"))
    return bytes([tag]) + ln + value

def plant(resp):
    top = elements(tlv(resp)[1])               # responseStatus, [0] responseBytes
    if len(top) < 2:
        return resp
    oid, octets = elements(tlv(top[1][1])[1])  # ResponseBytes: responseType, response
    basic = elements(tlv(octets[1])[1])        # tbsResponseData, signatureAlgorithm, signature, [0] certs
    certs = tlv(basic[3][1])[1] if len(basic) > 3 else b""
    new = enc(0x30, b"".join(e[0] for e in basic[:3]) + enc(0xA0, enc(0x30, planted + certs)))
    return enc(0x30, top[0][0] + enc(0xA0, enc(0x30, oid[0] + enc(0x04, new))))

def handle(conn):
    try:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v)
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        up = socket.create_connection(("127.0.0.1", upstream), timeout=30)
        up.sendall(head + b"\r\n\r\n" + body)
        reply = b""
        while True:
            chunk = up.recv(65536)
            if not chunk:
                break
            reply += chunk
        up.close()
        rhead, _, rbody = reply.partition(b"\r\n\r\n")
        rbody = plant(rbody)
        lines = [l for l in rhead.split(b"\r\n") if not l.lower().startswith(b"content-length:")]
        conn.sendall(b"\r\n".join(lines) + b"\r\nContent-Length: %d\r\n\r\n" % len(rbody) + rbody)
        print("planted", flush=True)
    except (OSError, IndexError, ValueError) as e:
        print("error", e, flush=True)
    finally:
        conn.close()

srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", listen))
srv.listen(16)
while True:
    c, _ = srv.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
PY
python3 "$H_DIR/onpath.py" "$OP" "$GP" "$H_DIR/planted.der" >>"$H_DIR/onpath.log" 2>&1 &
H_PIDS+=("$!")
h_wait_port "$GP" 10 && h_wait_port "$AP" 10 && h_wait_port "$OP" 10
h_front "$FP" "$OP"

h_conf a "$HP" event "$(h_guard_load)
OCSPGuardCache none
$(h_vhost "$HP" leaf)" >/dev/null
h_check "apache2 starts" h_httpd_start a
good_staple() { [ "$(h_status "$HP")" = good ]; }
h_check "the genuine response (with the planted certificate) is stapled" h_until 15 good_staple
h_check "it carried the planted certificate" grep -q '^planted' "$H_DIR/onpath.log"
next_update=$(date -u -d "$(sed -n 's/^ *Next Update: //p' "$H_DIR/last_status" | head -1)" +%s)
h_check "its nextUpdate is about a minute ahead" test $((next_update - $(date +%s))) -gt 30

# From now on the path answers with the attacker's responses.
h_front_mode "upstream:$AP"
seen=""
while [ "$(date +%s)" -lt $((next_update - 3)) ]; do
    seen+=" $(h_status "$HP")"
    sleep 1
done
h_check "the forged response was fetched (a refresh happened)" \
    test "$(grep -c "^request upstream:$AP" "$H_DIR/front.log")" -ge 1
h_check "until the genuine response's nextUpdate only the good staple is sent" \
    h_eq "$(echo $seen | tr ' ' '\n' | sort -u | tr '\n' ' ')" "good "
h_check "the forged response is logged as refused, naming the signer and why" \
    h_log_has a 'ocsp_guard:warn.*OG00614: .*serial 1001: .*signer not authorised by the issuer (signed by responder certificate subject CN=Test CA,O=mod_ocsp_guard test, serial [0-9A-F]*: self-signed certificate).* good response'
no_staple() { [ "$(h_status "$HP")" = none ]; }
h_check "once it expired no staple is sent, and never the forged revocation" h_until 15 no_staple
h_check "the forged revocation was never accepted" h_eq "$(h_log_count a 'OG00605:')" 0
h_done
