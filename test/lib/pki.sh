#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# Generates a throwaway test PKI: a CA, leaf certificates whose AIA points at
# a local OCSP responder, a delegated responder certificate, and the index
# file `openssl ocsp` serves from. Usage: pki.sh DIR OCSP_URL
set -euo pipefail
dir=$1
url=$2
mkdir -p "$dir"
cd "$dir"

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

cat > ext.cnf <<CNF
[req]
distinguished_name=req_dn
[req_dn]
[testca]
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
[leaf]
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,DNS:*.test.example,IP:127.0.0.1
authorityInfoAccess=OCSP;URI:$url
[leaf_muststaple]
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,DNS:must.test.example,IP:127.0.0.1
authorityInfoAccess=OCSP;URI:$url
1.3.6.1.5.5.7.1.24=DER:30:03:02:01:05
[leaf_noocsp]
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,DNS:noocsp.test.example,IP:127.0.0.1
[leaf_muststaple_noocsp]
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
1.3.6.1.5.5.7.1.24=DER:30:03:02:01:05
[responder]
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=critical,OCSPSigning
CNF

key ca.key
openssl req -new -x509 -key ca.key -subj "/O=mod_ocsp_guard test/CN=Test CA" -days 3650 \
    -extensions testca -config ext.cnf -out ca.crt 2>/dev/null
serial=4096
issue() { # name subject extension-section
    key "$1.key"
    openssl req -new -key "$1.key" -subj "$2" -out "$1.csr" 2>/dev/null
    serial=$((serial + 1))
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -set_serial "$serial" -days 825 \
        -extfile ext.cnf -extensions "$3" -out "$1.crt" 2>/dev/null
    rm -f "$1.csr"
}
issue leaf "/CN=localhost" leaf
issue muststaple "/CN=must.test.example" leaf_muststaple
issue noocsp "/CN=noocsp.test.example" leaf_noocsp
issue muststaple_noocsp "/CN=must-noocsp.test.example" leaf_muststaple_noocsp
issue responder "/CN=Test OCSP Responder" responder

# index.txt: V <expiry> <empty revocation> <serial hex> unknown <subject>
: > index.txt
for c in leaf muststaple noocsp muststaple_noocsp; do
    exp=$(date -u -d "$(openssl x509 -in $c.crt -noout -enddate | cut -d= -f2)" +%y%m%d%H%M%SZ)
    ser=$(openssl x509 -in $c.crt -noout -serial | cut -d= -f2)
    subj=$(openssl x509 -in $c.crt -noout -subject -nameopt compat | sed 's/^subject=//')
    printf 'V\t%s\t\t%s\tunknown\t%s\n' "$exp" "$ser" "$subj" >> index.txt
done
echo "unique_subject = no" > index.txt.attr
