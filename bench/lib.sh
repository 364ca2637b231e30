# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# Shared by the benchmark scripts: the test harness, a PKI with an ECDSA and
# an RSA leaf, the real responder behind the fault front, server
# configurations for each stapler, and the key=value output every script
# prints on stdout (progress goes to stderr). Source it from bench/*.sh.
BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$BENCH_ROOT/test/lib/harness.sh"
BIN="$BENCH_ROOT/build/bench"
QUICK=${BENCH_QUICK:-0}

emit() { echo "$1=$2"; }             # one result line
note() { echo "== $*" >&2; }
# kv KEY: the value of KEY in key=value lines on stdin
kv() { sed -n "s/^$1=//p" | head -1; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "nan"} else if (NR%2) {print a[(NR+1)/2]} else {printf "%.4f\n", (a[NR/2]+a[NR/2+1])/2}}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.4f", (b>0)?a/b:0}'; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}'; }

# bench_setup NAME: work dir, PKI (ECDSA leaf plus an RSA leaf of the same
# name), the responder on RP behind the front on FP.
bench_setup() {
    h_init "bench-$1"
    RP=$(h_free_port) FP=$(h_free_port)
    h_pki "http://127.0.0.1:$FP/" >&2
    PKI="$H_DIR/pki"
    openssl genrsa -out "$PKI/rsa.key" 2048 2>/dev/null
    openssl req -new -key "$PKI/rsa.key" -subj "/CN=localhost" -out "$PKI/rsa.csr" 2>/dev/null
    openssl x509 -req -in "$PKI/rsa.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -set_serial 8193 -days 90 \
        -extfile "$PKI/ext.cnf" -extensions leaf -out "$PKI/rsa.crt" 2>/dev/null
    printf 'V\t351231235959Z\t\t2001\tunknown\t/CN=localhost\n' >> "$PKI/index.txt"
    chmod -R a+rX "$PKI"
    h_responder "$RP"
    h_front "$FP" "$RP"
}

tls_vhost() { # tls_vhost PORT EXTRA
    echo "SSLSessionTickets off
<VirtualHost 127.0.0.1:$1>
  ServerName localhost
  SSLEngine on
  SSLCertificateFile $PKI/leaf.crt
  SSLCertificateKeyFile $PKI/leaf.key
  SSLCertificateFile $PKI/rsa.crt
  SSLCertificateKeyFile $PKI/rsa.key
  SSLCertificateChainFile $PKI/ca.crt
  ${2:-}
</VirtualHost>"
}

# server_conf NAME PORT KIND [CACHEDIR]: off, guard, guard-nowait, modssl, md
server_conf() {
    local name=$1 port=$2 kind=$3 cache=${4:-$H_DIR/cache-$1} body
    case $kind in
        off) body=$(tls_vhost "$port") ;;
        guard) body="$(h_guard_load)
OCSPGuardCache ocsp:$cache
$(tls_vhost "$port")" ;;
        guard-nowait) body="$(h_guard_load)
OCSPGuardCache ocsp:$cache
OCSPGuardStartupWait 0
$(tls_vhost "$port")" ;;
        modssl) body="SSLStaplingCache shmcb:$H_DIR/$name.stapling(512000)
$(tls_vhost "$port" "SSLUseStapling on")" ;;
        md) body="LoadModule md_module $H_MODDIR/mod_md.so
MDStoreDir $cache
MDStapling on
MDStapleOthers on
$(tls_vhost "$port")" ;;
    esac
    H_LOGLEVEL=warn h_conf "$name" "$port" event "$body" >/dev/null
}

start_wait() { # start_wait NAME: start, wait until the pid file exists (up to 300 s)
    "$H_APACHE2" -f "$H_DIR/$1.conf" -k start || return 1
    local i
    for ((i = 0; i < 3000; i++)); do [ -s "$H_DIR/$1.pid" ] && return 0; sleep 0.1; done
    return 1
}

# staple_at PORT [tls] [key]: good, revoked, none, ... as a client sees it
staple_at() { "$BIN/hsload" --check 127.0.0.1 "$1" ${2:-} ${3:-} | kv staple; }
