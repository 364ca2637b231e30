#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# Regenerates the committed seed corpus under test/fuzz/corpus/ from the test
# PKI's real responses: `openssl ocsp` answers (good, revoked, unknown; signed
# by the CA and by its delegated responder; with and without nextUpdate),
# the socache_ocsp records that hold them, and argument strings.
#   test/fuzz/make-corpus.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bash "$here/../lib/pki.sh" "$work/pki" "http://127.0.0.1:1/" >/dev/null
cd "$work/pki"
out=$here/corpus
rm -rf "$out/verify" "$out/record" "$out/redis" "$here/pki"
mkdir -p "$out/verify" "$out/record" "$out/redis" "$here/pki"
# the certificates (not the keys) the responses are about, for fuzz_verify
cp ca.crt leaf.crt muststaple.crt noocsp.crt responder.crt "$here/pki/"
# revoke the must-staple certificate so the index has all three states
awk 'BEGIN{FS=OFS="\t"} $4=="1002"{$1="R"; $3="250101000000Z,keyCompromise"} {print}' index.txt > i && mv i index.txt
answer() { # answer NAME CERT SIGNER KEY [extra openssl ocsp args]
    local name=$1 cert=$2 signer=$3 key=$4
    shift 4
    openssl ocsp -issuer ca.crt -cert "$cert" -no_nonce -reqout "$work/$name.req" 2>/dev/null
    openssl ocsp -index index.txt -rsigner "$signer" -rkey "$key" -CA ca.crt -reqin "$work/$name.req" \
        -respout "$out/verify/$name.der" "$@" >/dev/null 2>&1
}
answer good-delegated leaf.crt responder.crt responder.key -ndays 1
answer good-by-ca leaf.crt ca.crt ca.key -nmin 30
answer good-no-next-update leaf.crt responder.crt responder.key
answer good-by-key leaf.crt responder.crt responder.key -resp_key_id -ndays 1
answer good-no-certs leaf.crt responder.crt responder.key -resp_no_certs -ndays 1
answer revoked muststaple.crt responder.crt responder.key -ndays 1
openssl x509 -in noocsp.crt -out "$work/other.crt"
sed -i 's/^V\(.*\t1003\t\)/X\1/' index.txt
answer unknown noocsp.crt responder.crt responder.key -ndays 1
# the records that hold them, written by the provider's own code
make -s -C "$here/../.." build/out/socache-ocsp-record
for der in "$out"/verify/*.der; do
    "$here/../../build/out/socache-ocsp-record" encode "$(sha1sum < "$der" | cut -c1-40)" 4102444800 "$der" \
        > "$out/record/$(basename "$der" .der).rec"
done
python3 - "$out" <<'PY'
import glob, os, sys
out = sys.argv[1]
# Redis replies for fuzz_redis: a cap selector byte (cap = byte * 64), then
# what a server could send: each record as a bulk reply, and the other kinds
for path in sorted(glob.glob(os.path.join(out, "record", "*.rec"))):
    rec = open(path, "rb").read()
    open(os.path.join(out, "redis", os.path.basename(path)[:-4] + ".resp"), "wb").write(
        b"\xff$%d\r\n" % len(rec) + rec + b"\r\n")
for i, reply in enumerate([b"+OK\r\n", b"-ERR wrong number of arguments\r\n", b":1\r\n",
                           b"$-1\r\n", b"$0\r\n\r\n", b"*2\r\n$1\r\na\r\n:2\r\n",
                           b"$536870912\r\n", b"-NOAUTH Authentication required.\r\n"]):
    open(os.path.join(out, "redis", "reply%d.resp" % i), "wb").write(b"\x10" + reply)
for i, arg in enumerate(["/var/cache/apache2/ocsp", "/d,redis=127.0.0.1:6379,prefix=p:,timeout=50",
                         ",redis=[::1]:6379", "/d,,x=y"]):
    open(os.path.join(out, "record", "args%d.txt" % i), "w").write(arg)
PY
ls "$out"/*/ | wc -l
