#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# Three httpd nodes sharing one real redis-server: a node started while the
# responder is down staples from its first handshake; Redis stopped and
# restarted under traffic loses no staple; garbage or a tampered response
# written into Redis by hand is never stapled.
source "$(dirname "$0")/../lib/harness.sh"
h_init cluster
RP=$(h_free_port) FP=$(h_free_port) RDP=$(h_free_port)
A=$(h_free_port) B=$(h_free_port) C=$(h_free_port)
h_pki "http://127.0.0.1:$FP/"
h_responder "$RP"
h_front "$FP" "$RP"
start_redis() {
    redis-server --port "$RDP" --bind 127.0.0.1 --save "" --appendonly no \
        --dir "$H_DIR" >>"$H_DIR/redis.log" 2>&1 &
    H_REDIS_PID=$!
    H_PIDS+=("$H_REDIS_PID")
    h_wait_port "$RDP" 10
}
start_redis
node() { # node NAME PORT
    h_conf "$1" "$2" event "$(h_guard_load)
OCSPGuardCache ocsp:$H_DIR/cache-$1,redis=127.0.0.1:$RDP
$(h_vhost "$2" leaf)" >/dev/null
}
good_at() { [ "$(h_status "$1")" = good ]; }
node a "$A"; node b "$B"; node c "$C"
h_check "node a starts with the responder up" h_httpd_start a
h_check "node a staples" good_at "$A"
key="socache_ocsp:ocsp_guard:$(openssl x509 -in "$H_DIR/pki/leaf.crt" -outform DER | sha1sum | cut -d' ' -f1)"
h_check "node a shared the response in Redis" h_until 5 test "$(redis-cli -p "$RDP" exists "$key")" = 1
ttl=$(redis-cli -p "$RDP" ttl "$key")
# openssl ocsp without -ndays/-nmin sends no nextUpdate: valid one hour
h_check "the Redis TTL is the response's remaining life (at most 1 h)" \
    test "$ttl" -gt 3000 -a "$ttl" -le 3600
h_front_mode close
h_check "node b starts while the responder is down" h_httpd_start b
h_check "node b staples from its first handshake" good_at "$B"
h_check "node b got it from Redis, not the responder" h_log_has b 'OG0060[23]: .*: good'

# Redis down and back under traffic
lost=0
for i in $(seq 1 6); do good_at "$A" || lost=1; good_at "$B" || lost=1; done
h_stop_pid "$H_REDIS_PID"
for i in $(seq 1 10); do good_at "$A" || lost=1; good_at "$B" || lost=1; sleep 0.2; done
start_redis
for i in $(seq 1 10); do good_at "$A" || lost=1; good_at "$B" || lost=1; sleep 0.2; done
h_check "no staple lost while Redis was stopped and restarted" h_eq "$lost" 0

# garbage in Redis for a node with an empty local tier and no responder
redis-cli -p "$RDP" set "$key" "this is not a record" >/dev/null
h_check "node c starts with garbage in Redis and no responder" h_httpd_start c
h_check "node c staples nothing from garbage" h_eq "$(h_status "$C")" none
h_check "the garbage is logged" h_log_has c "socache_ocsp:warn.*OG00813: .*Redis key $key"
h_httpd_stop c

# a well-formed record whose response was tampered with
rec=$(find "$H_DIR/cache-a" -type f | head -1)
"$H_RECORD_TOOL" tamper "$rec" > "$H_DIR/tampered.rec"
redis-cli -p "$RDP" -x set "$key" < "$H_DIR/tampered.rec" >/dev/null
rm -rf "$H_DIR/cache-c"
h_check "node c starts with a tampered response in Redis" h_httpd_start c
h_check "node c never staples the tampered response" h_eq "$(h_status "$C")" none
h_check "nodes a and b still staple" good_at "$A"
h_check "node b too" good_at "$B"
h_done
