#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# Dual stack (RFC 8305): the responder's name resolves to an IPv6 address
# whose packets are silently dropped and an IPv4 address that works. With
# OCSPGuardResponderTimeout 10 a good staple appears within 2 s of start,
# fetched over IPv4, and the error log has one line naming the responder
# and the failed family, however many certificates it serves.
# Runs itself inside a network and mount namespace of its own (unshare):
# a veth pair with 192.0.2.10 and 2001:db8::10, an nft (or ip6tables) rule
# dropping TCP to the IPv6 address, /etc/hosts bind-mounted for the name.
source "$(dirname "$0")/../lib/harness.sh"
NAME=ocsp.dualstack.test
V4=192.0.2.10 V6=2001:db8::10
N=5

if [ "${1:-}" != --inside ]; then
    why=""
    for tool in unshare ip; do
        command -v "$tool" >/dev/null || why="$tool is not installed"
    done
    command -v nft >/dev/null || command -v ip6tables >/dev/null || why="neither nft nor ip6tables is installed"
    if [ -z "$why" ] && ! out=$(unshare --net --mount true 2>&1); then
        why="cannot create a network and mount namespace (unshare --net --mount: $out)"
    fi
    if [ -n "$why" ]; then
        echo "SKIP - t_dualstack: $why"
        exit 0
    fi
    exec unshare --net --mount --propagation private bash "$0" --inside
fi

h_init dualstack
RP=$(h_free_port) FP=$(h_free_port) HP=$(h_free_port)
setup_net() {
    ip link set lo up &&
    ip link add og0 type veth peer name og1 &&
    ip addr add "$V4/24" dev og0 &&
    ip -6 addr add "$V6/64" dev og0 nodad &&
    ip link set og0 up && ip link set og1 up || return 1
    # the IPv6 route silently loses the responder's packets
    if command -v nft >/dev/null; then
        nft add table ip6 og_test &&
        nft add chain ip6 og_test input '{ type filter hook input priority 0; }' &&
        nft add rule ip6 og_test input ip6 daddr "$V6" tcp dport "$FP" drop
    else
        ip6tables -A INPUT -d "$V6" -p tcp --dport "$FP" -j DROP
    fi || return 1
    printf '127.0.0.1 localhost\n%s %s\n%s %s\n' "$V6" "$NAME" "$V4" "$NAME" > "$H_DIR/hosts" &&
    chmod 644 "$H_DIR/hosts" &&
    mount --bind "$H_DIR/hosts" /etc/hosts
}
if ! err=$(setup_net 2>&1); then
    echo "SKIP - t_dualstack: cannot set up the namespace's network ($err)"
    exit 0
fi

h_pki "http://$NAME:$FP/"
P="$H_DIR/pki"
h_more_leaves ds ds.test.example 30000 "$N"   # ds1.. are used, beside leaf
h_responder "$RP"
h_front "$FP" "$RP" "::"     # listens on both families: only the rule stops IPv6

# the fixture: the name resolves to both, IPv6 is silent, IPv4 answers
probe() { # probe ADDRESS: connected, or the error after 0.5 s
    python3 -c 'import socket,sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET); s.settimeout(0.5)
try:
    s.connect((sys.argv[1], int(sys.argv[2]))); print("connected")
except OSError as e:
    print(type(e).__name__)' "$1" "$FP"
}
resolved() { getent ahosts "$NAME" | awk '{print $1}' | uniq | tr '\n' ' '; }
h_check "$NAME resolves to $V6 then $V4" h_eq "$(resolved)" "$V6 $V4 "
h_check "IPv6 to the responder is silently dropped" h_eq "$(probe "$V6")" TimeoutError
h_check "IPv4 to the responder connects" h_eq "$(probe "$V4")" connected
: > "$H_DIR/front.log"

vhosts="$(h_vhost "$HP" leaf)"
for ((i = 1; i < N; i++)); do
    vhosts="$vhosts
<VirtualHost 127.0.0.1:$HP>
  ServerName ds$i.test.example
  SSLEngine on
  SSLCertificateFile $P/ds$i.crt
  SSLCertificateKeyFile $P/leaf.key
  SSLCertificateChainFile $P/ca.crt
</VirtualHost>"
done
h_conf a "$HP" event "$(h_guard_load)
OCSPGuardCache none
OCSPGuardResponderTimeout 10
$vhosts" >/dev/null
good_staple() { [ "$(h_status "$HP")" = good ]; }
t0=$(date +%s.%N)
h_check "apache2 starts" h_httpd_start a
h_until 10 good_staple
took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}')
echo "   first good staple $took s after start"
h_check "a good staple within 2 s of start (took $took s)" awk -v t="$took" 'BEGIN{exit !(t < 2)}'
all_fetched() { [ "$(h_log_count a 'OG00601: .*: good')" -ge "$N" ]; }
h_check "all $N certificates are fetched" h_until 10 all_fetched
h_check "every request reached the responder over IPv4" \
    h_eq "$(grep '^request' "$H_DIR/front.log" | grep -vc "peer=\(::ffff:\)\?$V4\$")" 0
h_check "one log line names the responder and the failed family" \
    h_eq "$(h_log_count a "OG01201: OCSP responder $NAME:$FP: IPv6 fails (\[$V6\]:$FP: no connection within")" 1
h_check "and no other family line" h_eq "$(h_log_count a 'OG0120[12]')" 1
grep 'OG01201' "$H_DIR/a.error.log" | sed 's/^.*OG01201/   OG01201/'
h_done
