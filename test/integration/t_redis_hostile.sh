#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# A Redis that anyone may write to, or that misbehaves: an oversized value
# costs an apache2 child nothing, values from Redis are never written to the
# local directory, forged records are never stapled by mod_ocsp_guard, a
# silent Redis costs a handshake timeout= milliseconds, not seconds, and
# AUTH (password, or ACL user and password) comes from a file only root can
# read. mod_ssl's own stapling trusts cache values: shown, as the README says.
source "$(dirname "$0")/../lib/harness.sh"
h_init redis_hostile
RP=$(h_free_port) FP=$(h_free_port) RDP=$(h_free_port) R2P=$(h_free_port) BHP=$(h_free_port)
P1=$(h_free_port) P2=$(h_free_port) P3=$(h_free_port)
h_pki "http://127.0.0.1:$FP/"
h_responder "$RP"
h_front "$FP" "$RP"
start_redis() { # start_redis PORT [redis-server args...]
    redis-server --port "$1" --bind 127.0.0.1 --save "" --appendonly no --dir "$H_DIR" "${@:2}" \
        >>"$H_DIR/redis-$1.log" 2>&1 &
    H_PIDS+=("$!")
    h_wait_port "$1" 10
}
start_redis "$RDP"
leafhex=$(openssl x509 -in "$H_DIR/pki/leaf.crt" -outform DER | sha1sum | cut -d' ' -f1)
musthex=$(openssl x509 -in "$H_DIR/pki/muststaple.crt" -outform DER | sha1sum | cut -d' ' -f1)
good_at() { [ "$(h_status "$1" "${2:-localhost}")" = good ]; }
records_in() { find "$1" -type f -name '[0-9a-f]*' 2>/dev/null | wc -l; }

# Binary-safe Redis access, and a response's signature flipped in its DER;
# the record around it is read and rewritten with socache-ocsp-record.
cat > "$H_DIR/rtool.py" <<'PY'
import socket, sys
def call(port, *args):
    s = socket.create_connection(("127.0.0.1", int(port)))
    s.sendall(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
    f = s.makefile("rb")
    line = f.readline()
    if line.startswith(b"$"):
        n = int(line[1:])
        return None if n < 0 else f.read(n + 2)[:-2]
    return line
op = sys.argv[1]
if op == "get":                              # get PORT KEY FILE
    open(sys.argv[4], "wb").write(call(sys.argv[2], b"GET", sys.argv[3].encode()))
elif op == "set":                            # set PORT KEY FILE
    assert call(sys.argv[2], b"SET", sys.argv[3].encode(), open(sys.argv[4], "rb").read()).startswith(b"+OK")
elif op == "dersig":                         # dersig IN OUT SKIP: flip the last bit of the response's signature
    value = bytearray(open(sys.argv[2], "rb").read())
    def tlv(buf, i):                         # (content start, content end) of the DER element at i
        n = buf[i + 1]
        if n < 0x80:
            return i + 2, i + 2 + n
        k = n & 0x7f
        n = int.from_bytes(buf[i + 2:i + 2 + k], "big")
        return i + 2 + k, i + 2 + k + n
    def children(buf, start, end):
        while start < end:
            c, e = tlv(buf, start)
            yield start, c, e
            start = e
    skip = int(sys.argv[4])                  # mod_ssl puts a flag byte before the DER
    c, e = tlv(value, skip)                  # OCSPResponse
    kids = list(children(value, c, e))
    c, e = tlv(value, kids[1][1])            # [0] EXPLICIT ResponseBytes
    rb = list(children(value, c, e))
    _, oc, oe = rb[1]                        # OCTET STRING holding BasicOCSPResponse
    c, e = tlv(value, oc)
    basic = list(children(value, c, e))
    value[basic[2][2] - 1] ^= 0x01           # signature BIT STRING, last byte
    open(sys.argv[3], "wb").write(bytes(value))
PY
rtool() { python3 "$H_DIR/rtool.py" "$@"; }
tampersig() { # tampersig IN OUT SKIP: the record with its response's signature flipped
    "$H_RECORD_TOOL" value "$1" > "$1.value" &&
        rtool dersig "$1.value" "$1.badvalue" "$3" &&
        "$H_RECORD_TOOL" setvalue "$1" "$1.badvalue" > "$2"
}

# ---------------------------------------------------------------- mod_ssl
ssl_node() { # ssl_node NAME PORT MPM REDIS_ARGS [extra]
    h_conf "$1" "$2" "$3" "LoadModule socache_ocsp_module $H_MODULES/mod_socache_ocsp.so
SSLStaplingCache ocsp:$H_DIR/$1-cache,redis=$4
SSLUseStapling on
SSLStaplingResponderTimeout 2
SSLStaplingReturnResponderErrors off
${5:-}
$(h_vhost "$2" leaf)" >/dev/null
}
ssl_node ssl1 "$P1" event "127.0.0.1:$RDP"
h_check "mod_ssl: starts with the responder up" h_httpd_start ssl1
h_check "mod_ssl: good staple" good_at "$P1"
consumer=$(ls "$H_DIR/ssl1-cache")
sslkey="socache_ocsp:$consumer:$leafhex"
h_check "mod_ssl: the response is shared in Redis" \
    h_eq "$(redis-cli -p "$RDP" exists "$sslkey")" 1
h_httpd_stop ssl1
rtool get "$RDP" "$sslkey" "$H_DIR/ssl.rec"

h_front_mode close
ssl_node ssl2 "$P1" event "127.0.0.1:$RDP"
h_check "mod_ssl, responder down: starts" h_httpd_start ssl2
h_check "mod_ssl staples from Redis" good_at "$P1"
signature() { grep -A4 'Signature Value' "$H_DIR/last_status" | head -5; }
genuine=$(signature)
h_check "what came from Redis is not written to the local directory" \
    h_eq "$(records_in "$H_DIR/ssl2-cache")" 0
h_httpd_stop ssl2

# what the README warns about: mod_ssl staples whatever Redis holds
h_check "a tampered copy of mod_ssl's record" tampersig "$H_DIR/ssl.rec" "$H_DIR/ssl.bad" 1
rtool set "$RDP" "$sslkey" "$H_DIR/ssl.bad"
h_httpd_start ssl2
h_check "mod_ssl staples a tampered response from Redis (it trusts the cache)" good_at "$P1"
h_check "one whose signature is not the responder's" test -n "$genuine" -a "$(signature)" != "$genuine"
h_httpd_stop ssl2

# 64 MB under the key: a prefork child (one, so it is the one measured)
# reads at most one record's worth of it
head -c 67108864 /dev/zero | redis-cli -p "$RDP" -x set "$sslkey" >/dev/null
h_check "a 64 MB value is in Redis" h_eq "$(redis-cli -p "$RDP" strlen "$sslkey")" 67108864
ssl_node ssl3 "$P2" prefork "127.0.0.1:$RDP" "MinSpareServers 1
MaxSpareServers 1"
h_check "mod_ssl (prefork) starts" h_httpd_start ssl3
child=""
h_until 10 eval 'child=$(pgrep -P "$(h_httpd_pid ssl3)" | head -1); [ -n "$child" ]'
hwm() { awk '/^VmHWM/ { print $2 }' "/proc/$1/status"; }
before=$(hwm "$child")
h_status "$P2" >/dev/null
after=$(hwm "$child")
echo "   child $child VmHWM ${before} kB -> ${after} kB"
h_check "the child that read the key grew by less than 8 MB" test $((after - before)) -lt 8192
h_check "the oversized value is logged and ignored" \
    h_log_has ssl3 "socache_ocsp:warn.*OG00812: .*Redis key $sslkey holds more than [0-9]* bytes"
h_httpd_stop ssl3

# a Redis that accepts and never answers: timeout=100 bounds each operation
h_silent_listener "$BHP"
ssl_node ssl4 "$P1" event "127.0.0.1:$BHP,timeout=100"
h_check "mod_ssl with a silent Redis starts" h_httpd_start ssl4
t0=$(date +%s%N)
h_status "$P1" >/dev/null
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "   first handshake with a silent Redis: $ms ms"
h_check "the handshake waited for Redis about 100 ms, not whole seconds" test "$ms" -lt 800
h_check "the timeout is logged with its value" h_log_has ssl4 "no answer to GETRANGE within 100 ms"
h_httpd_stop ssl4

# ---------------------------------------------------------- mod_ocsp_guard
h_front_mode pass
guard_node() { # guard_node NAME PORT CACHEARGS [vhosts]
    h_conf "$1" "$2" event "$(h_guard_load)
OCSPGuardCache ocsp:$3
OCSPGuardStartupWait 2
${4:-$(h_vhost "$2" leaf)}" >/dev/null
}
guard_node ga "$P1" "$H_DIR/ga-cache,redis=127.0.0.1:$RDP" "Listen 127.0.0.1:$P3
$(h_vhost "$P1" leaf)
$(h_vhost "$P3" muststaple)"
gkey="socache_ocsp:ocsp_guard:$leafhex"
h_check "guard: node a staples both certificates" h_httpd_start ga
h_check "guard: leaf" good_at "$P1"
h_check "guard: must-staple" good_at "$P3" must.test.example
shared() { [ "$(redis-cli -p "$RDP" exists "$gkey" "socache_ocsp:ocsp_guard:$musthex")" = 2 ]; }
h_check "guard: both shared in Redis" h_until 5 shared
h_httpd_stop ga
rtool get "$RDP" "$gkey" "$H_DIR/leaf.rec"
rtool get "$RDP" "socache_ocsp:ocsp_guard:$musthex" "$H_DIR/must.rec"

h_front_mode close
forged() { # forged WHAT FILE: node b, responder down, forged record in Redis
    rtool set "$RDP" "$gkey" "$2"
    rm -rf "$H_DIR/gb-cache"
    guard_node gb "$P1" "$H_DIR/gb-cache,redis=127.0.0.1:$RDP"
    h_check "guard, $1: node b starts" h_httpd_start gb
    sleep 3
    h_check "guard, $1: never stapled" h_eq "$(h_status "$P1")" none
    h_check "guard, $1: never written to the local directory" h_eq "$(records_in "$H_DIR/gb-cache")" 0
    h_httpd_stop gb
}
h_check "a tampered copy of the guard's record" tampersig "$H_DIR/leaf.rec" "$H_DIR/leaf.bad" 0
forged "a tampered response" "$H_DIR/leaf.bad"
h_check "another certificate's record under this one's key" bash -c '"$1" rekey "$2" "$3" > "$4"' _ "$H_RECORD_TOOL" "$H_DIR/must.rec" "$leafhex" "$H_DIR/other.rec"
forged "another certificate's genuine response" "$H_DIR/other.rec"

# ------------------------------------------------------------------- AUTH
h_front_mode pass
start_redis "$R2P" --requirepass s3cret --user alice on '>alicepw' '~*' '+@all'
mkdir -m 700 "$H_DIR/secrets"
printf 's3cret\n' > "$H_DIR/secrets/pw" && chmod 600 "$H_DIR/secrets/pw"
printf 'alice\nalicepw\n' > "$H_DIR/secrets/acl" && chmod 400 "$H_DIR/secrets/acl"
printf 'guess\n' > "$H_DIR/secrets/wrong" && chmod 600 "$H_DIR/secrets/wrong"
printf 's3cret\n' > "$H_DIR/secrets/open" && chmod 644 "$H_DIR/secrets/open"
ln -s "$H_DIR/secrets/pw" "$H_DIR/secrets/link"
r2() { redis-cli -p "$R2P" --no-auth-warning "$@"; }

guard_node gc "$P1" "$H_DIR/gc-cache,redis=127.0.0.1:$R2P,auth=$H_DIR/secrets/pw"
h_check "AUTH password: configtest passes" bash -c "$H_APACHE2 -t -f $H_DIR/gc.conf >$H_DIR/gc.ct 2>&1"
h_check "AUTH password: without a Redis warning" bash -c "! grep -q Redis $H_DIR/gc.ct"
h_check "AUTH password: starts and staples" h_httpd_start gc
h_check "AUTH password: good" good_at "$P1"
in_r2() { [ "$(r2 "${@:2}" exists "$1")" = 1 ]; }
h_check "AUTH password: shared in the password-protected Redis" h_until 5 in_r2 "$gkey" -a s3cret
h_httpd_stop gc

guard_node gd "$P1" "$H_DIR/gd-cache,redis=127.0.0.1:$R2P,prefix=acl:,auth=$H_DIR/secrets/acl"
h_check "AUTH ACL user: starts and staples" h_httpd_start gd
h_check "AUTH ACL user: good" good_at "$P1"
h_check "AUTH ACL user: shared as that user" h_until 5 in_r2 "acl:ocsp_guard:$leafhex" --user alice --pass alicepw
h_httpd_stop gd

guard_node ge "$P1" "$H_DIR/ge-cache,redis=127.0.0.1:$R2P,auth=$H_DIR/secrets/wrong"
h_check "wrong password: configtest warns, naming the file and Redis's answer" \
    bash -c "$H_APACHE2 -t -f $H_DIR/ge.conf 2>&1 | grep -q 'warn.*Redis 127.0.0.1:$R2P refuses the credentials of $H_DIR/secrets/wrong.*WRONGPASS'"
h_check "wrong password: starts and staples from the responder" h_httpd_start ge
h_check "wrong password: good" good_at "$P1"
h_check "wrong password: a clear error in the log" \
    h_until 5 h_log_has ge "socache_ocsp:error.*OG00801: .*Redis 127.0.0.1:$R2P refused AUTH: WRONGPASS"
h_httpd_stop ge

for f in open link; do
    guard_node "bad$f" "$P1" "$H_DIR/gf-cache,redis=127.0.0.1:$R2P,auth=$H_DIR/secrets/$f"
    h_check "auth file ($f): refused when the configuration is read" \
        bash -c "! $H_APACHE2 -t -f $H_DIR/bad$f.conf >$H_DIR/bad$f.ct 2>&1"
done
h_check "an auth file open to others is named, with the mode required" \
    grep -q "auth file $H_DIR/secrets/open has mode 0644, open to group or others; refused (it must be a regular file owned by root with mode 0600 or 0400)" "$H_DIR/badopen.ct"
h_check "a symlink as auth file is named" grep -q "auth file $H_DIR/secrets/link is a symbolic link" "$H_DIR/badlink.ct"
h_done
