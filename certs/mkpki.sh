#!/bin/bash
# mkpki.sh OUTDIR - make a throw-away test PKI for smtpgate's tests and demo.
#
# Everything is generated fresh on each run (ECDSA P-256, fast); no private
# key is ever committed to the repository.  OUTDIR is created if needed and
# the files below are (re)written with these fixed names:
#
#   root-ca.pem  root-ca.key      trusted root CA (self-signed)
#   int-ca.pem   int-ca.key       intermediate CA, signed by the root
#   ca-bundle.pem                 the trust anchor to give clients: the root only
#
#   Server identities.  NAME.pem is the leaf alone, NAME.key its key, and
#   NAME-chain.pem is what a server sends (leaf, then intermediate if any):
#
#   good        by the intermediate; SAN DNS:localhost, DNS:mail.test,
#               IP:127.0.0.1, IP:::1; valid now
#   wrongname   by the intermediate; SAN DNS:wrong.test only (CN wrong.test)
#   untrusted   by untrusted-ca.pem (a separate root nobody trusts); good SANs
#   expired     by the intermediate; good SANs; valid 2020-01-01..2020-01-02
#   selfsigned  self-signed leaf (CA:FALSE) with the good SANs
#
#   untrusted-ca.pem untrusted-ca.key   the separate, untrusted root CA
#
#   notyet      by the intermediate; good SANs; valid 2040-01-01..2041-01-01
#   revoked     by the intermediate; good SANs; revoked in int-ca.crl
#   revint      by revint-ca, an intermediate the root has revoked; good SANs
#   client      a client certificate (clientAuth) by the intermediate;
#               client-chain.pem = client + intermediate; client-enc.key is
#               the same key encrypted with the password in client.pass
#   client2     another client certificate by the intermediate (a device
#               whose key is not pinned)
#   client-revoked  a client certificate revoked in int-ca.crl
#   client-untrusted  a client certificate by untrusted-ca
#
#   int-ca.crl.pem   the intermediate's CRL (revokes "revoked")
#   root-ca.crl.pem  the root's CRL (revokes revint-ca)
#   int-ca.crl.der   the intermediate's CRL in DER
#   ca-chain-bundle.pem  root + intermediate + revint-ca: a trust store in
#               which both intermediates' CRLs can be loaded
#
#   OCSP (answered by "openssl ocsp" run by the tests).  The AIA URL is
#   $MKPKI_OCSP_URL (default http://127.0.0.1:9/, a port nothing serves):
#
#   ocsp-signer      the intermediate's delegated OCSP signer (OCSPSigning)
#   int-ca.index.txt the intermediate's "openssl ca" index: ocsp-good,
#               expired and notyet valid; revoked, ocsp-revoked revoked;
#               any other serial (good, client, ...) is unknown to the
#               responder
#   ocsp-good   by the intermediate; good SANs; AIA OCSP URL; valid
#   ocsp-revoked  as ocsp-good, revoked in int-ca.index.txt only (not in
#               int-ca.crl, so the CRL tests are unchanged)
#   root-ocsp-signer root-ca.index.txt  the same for the root: int-ca valid,
#               revint-ca revoked
#
#   Key types (pins are tested with each), all by the intermediate with
#   the good SANs:
#
#   rsa         RSA 2048
#   ed25519     Ed25519
#   rsa1024     RSA 1024 (refused unless accept = weak-rsa-key)
#   sha1        P-256, but signed by the intermediate with SHA-1
#
#   Host-name cases (RFC 6125), by the intermediate; SAN as named:
#
#   wild-ok     DNS:*.mx.test          wild-com   DNS:*.com
#   wild-bare   DNS:*                  wild-mid   DNS:a.*.mx.test
#   wild-part   DNS:f*.mx.test         wild-couk  DNS:*.co.uk
#   ipdns       DNS:127.0.0.1 (a DNS name that looks like an address)
#   cn-ip       no SAN, CN 127.0.0.1   cn-only    no SAN, CN mail.test
#
#   fake-int-ca.crl.pem  a CRL that names the intermediate as its issuer
#               but is signed by another key (fake-int-ca, same subject)
#
# Exit status 0 on success; on failure openssl's output is printed.
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
out=$1
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "$out/.work.XXXXXX")
log=$work/openssl.log
trap 'rm -rf "$work"' EXIT
umask 077

# Run openssl quietly; show what it said only when it fails.
ossl() {
	if ! openssl "$@" >>"$log" 2>&1; then
		echo "mkpki: openssl $1 failed:" >&2
		cat "$log" >&2
		exit 1
	fi
}

newkey() {
	ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	    -pkeyopt ec_param_enc:named_curve -out "$out/$1.key"
}

# newkey_rsa NAME BITS, newkey_ed25519 NAME
newkey_rsa() {
	ossl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:$2" \
	    -out "$out/$1.key"
}
newkey_ed25519() {
	ossl genpkey -algorithm ED25519 -out "$out/$1.key"
}

serial() {
	echo "0x$(openssl rand -hex 12)"
}

good_san="DNS:localhost,DNS:mail.test,IP:127.0.0.1,IP:::1"

cat >"$work/ext.cnf" <<'EOF'
[root_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[int_ext]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[leaf_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = ${ENV::LEAF_SAN}

[client_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[leaf_ocsp_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = ${ENV::LEAF_SAN}
authorityInfoAccess = OCSP;URI:${ENV::MKPKI_OCSP_URL}

[ocsp_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = critical, OCSPSigning
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
noCheck = ignored

[leaf_nosan_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[self_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
subjectAltName = ${ENV::LEAF_SAN}
EOF
export LEAF_SAN=$good_san
export MKPKI_OCSP_URL=${MKPKI_OCSP_URL:-http://127.0.0.1:9/}

# selfsigned NAME CN EXT: a self-signed certificate for NAME.key
selfsigned() {
	ossl req -new -x509 -key "$out/$1.key" -subj "/O=smtpgate test/CN=$2" \
	    -days 3650 -sha256 -set_serial "$(serial)" \
	    -config "$work/ext.cnf" -extensions "$3" -out "$out/$1.pem"
}

# issue NAME CN EXT CA [MD]: NAME.pem for NAME.key, signed by CA.pem/CA.key
# with digest MD (sha256 unless given)
issue() {
	ossl req -new -key "$out/$1.key" -subj "/O=smtpgate test/CN=$2" \
	    -config "$work/ext.cnf" -out "$work/$1.csr"
	ossl x509 -req -in "$work/$1.csr" -CA "$out/$4.pem" -CAkey "$out/$4.key" \
	    -set_serial "$(serial)" -days 825 "-${5:-sha256}" \
	    -extfile "$work/ext.cnf" -extensions "$3" -out "$out/$1.pem"
}

# The req command wants a [req] section when given -config.
printf '[req]\ndistinguished_name = dn\n[dn]\n' >>"$work/ext.cnf"

newkey root-ca
selfsigned root-ca "smtpgate test root CA" root_ext
newkey int-ca
issue int-ca "smtpgate test intermediate CA" int_ext root-ca
cp "$out/root-ca.pem" "$out/ca-bundle.pem"

newkey good
issue good localhost leaf_ext int-ca
cat "$out/good.pem" "$out/int-ca.pem" >"$out/good-chain.pem"

LEAF_SAN="DNS:wrong.test"
newkey wrongname
issue wrongname wrong.test leaf_ext int-ca
cat "$out/wrongname.pem" "$out/int-ca.pem" >"$out/wrongname-chain.pem"
LEAF_SAN=$good_san

newkey untrusted-ca
selfsigned untrusted-ca "smtpgate untrusted root CA" root_ext
newkey untrusted
issue untrusted localhost leaf_ext untrusted-ca
cp "$out/untrusted.pem" "$out/untrusted-chain.pem"

newkey selfsigned
selfsigned selfsigned localhost self_ext
cp "$out/selfsigned.pem" "$out/selfsigned-chain.pem"

# "openssl x509 -req" cannot back-date a certificate in OpenSSL 3.0, so the
# expired leaf goes through "openssl ca", which takes explicit dates.
mkdir -p "$work/ca/new"
: >"$work/ca/index.txt"
serial | sed 's/^0x//' >"$work/ca/serial"
cat >"$work/ca.cnf" <<EOF
[ca]
default_ca = exp
[exp]
dir = $work/ca
database = \$dir/index.txt
new_certs_dir = \$dir/new
serial = \$dir/serial
certificate = $out/int-ca.pem
private_key = $out/int-ca.key
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
organizationName = optional
commonName = supplied
EOF
# dated_leaf NAME START END: a localhost leaf from the intermediate with
# the given validity (openssl ca, so dates can lie in the past or future).
dated_leaf() {
	newkey "$1"
	ossl req -new -key "$out/$1.key" -subj "/O=smtpgate test/CN=localhost" \
	    -config "$work/ext.cnf" -out "$work/$1.csr"
	ossl ca -batch -notext -config "$work/ca.cnf" -in "$work/$1.csr" \
	    -startdate "$2" -enddate "$3" \
	    -extfile "$work/ext.cnf" -extensions leaf_ext -out "$out/$1.pem"
	cat "$out/$1.pem" "$out/int-ca.pem" >"$out/$1-chain.pem"
}
dated_leaf expired 20200101000000Z 20200102000000Z
# Not yet valid, by the same "openssl ca" set-up.
dated_leaf notyet 20400101000000Z 20410101000000Z

# A leaf the intermediate revokes, and the intermediate's CRL.
newkey revoked
issue revoked localhost leaf_ext int-ca
cat "$out/revoked.pem" "$out/int-ca.pem" >"$out/revoked-chain.pem"
ossl ca -config "$work/ca.cnf" -revoke "$out/revoked.pem" \
    -crl_reason keyCompromise
# Client certificates for the listener's verify_client: one revoked in
# the same CRL, one by the untrusted root, and a second good one.
newkey client-revoked
issue client-revoked "smtpgate revoked client" client_ext int-ca
cat "$out/client-revoked.pem" "$out/int-ca.pem" >"$out/client-revoked-chain.pem"
ossl ca -config "$work/ca.cnf" -revoke "$out/client-revoked.pem" \
    -crl_reason keyCompromise
newkey client-untrusted
issue client-untrusted "smtpgate untrusted client" client_ext untrusted-ca
cp "$out/client-untrusted.pem" "$out/client-untrusted-chain.pem"
newkey client2
issue client2 "smtpgate second client" client_ext int-ca
cat "$out/client2.pem" "$out/int-ca.pem" >"$out/client2-chain.pem"
ossl ca -config "$work/ca.cnf" -gencrl -crldays 30 -out "$out/int-ca.crl.pem"
ossl crl -in "$out/int-ca.crl.pem" -outform DER -out "$out/int-ca.crl.der"

# An intermediate the root revokes, a leaf under it, and the root's CRL.
newkey revint-ca
issue revint-ca "smtpgate revoked intermediate CA" int_ext root-ca
newkey revint
issue revint localhost leaf_ext revint-ca
cat "$out/revint.pem" "$out/revint-ca.pem" >"$out/revint-chain.pem"
mkdir -p "$work/rootca/new"
: >"$work/rootca/index.txt"
serial | sed 's/^0x//' >"$work/rootca/serial"
sed -e "s|$work/ca|$work/rootca|" -e "s|$out/int-ca|$out/root-ca|g" \
    "$work/ca.cnf" >"$work/rootca.cnf"
ossl ca -config "$work/rootca.cnf" -revoke "$out/revint-ca.pem" \
    -crl_reason cACompromise
ossl ca -config "$work/rootca.cnf" -gencrl -crldays 30 \
    -out "$out/root-ca.crl.pem"
cat "$out/root-ca.pem" "$out/int-ca.pem" "$out/revint-ca.pem" \
    >"$out/ca-chain-bundle.pem"

# A client certificate, and its key encrypted with a password.
newkey client
issue client "smtpgate client" client_ext int-ca
cat "$out/client.pem" "$out/int-ca.pem" >"$out/client-chain.pem"
printf 'test password\n' >"$out/client.pass"
ossl pkey -in "$out/client.key" -aes256 -passout "file:$out/client.pass" \
    -out "$out/client-enc.key"

# OCSP: the leaves go through "openssl ca" so that the index the responder
# reads knows them.  This comes after the CRLs so that they do not list
# ocsp-revoked.
ocsp_leaf() {
	newkey "$1"
	ossl req -new -key "$out/$1.key" -subj "/O=smtpgate test/CN=localhost" \
	    -config "$work/ext.cnf" -out "$work/$1.csr"
	ossl ca -batch -notext -config "$work/ca.cnf" -in "$work/$1.csr" \
	    -days 825 -extfile "$work/ext.cnf" -extensions leaf_ocsp_ext \
	    -out "$out/$1.pem"
	cat "$out/$1.pem" "$out/int-ca.pem" >"$out/$1-chain.pem"
}
ocsp_leaf ocsp-good
ocsp_leaf ocsp-revoked
ossl ca -config "$work/ca.cnf" -revoke "$out/ocsp-revoked.pem" \
    -crl_reason keyCompromise
newkey ocsp-signer
issue ocsp-signer "smtpgate test OCSP signer" ocsp_ext int-ca
# The .attr file carries unique_subject = no: the leaves share a subject.
cp "$work/ca/index.txt" "$out/int-ca.index.txt"
cp "$work/ca/index.txt.attr" "$out/int-ca.index.txt.attr"

ossl ca -config "$work/rootca.cnf" -valid "$out/int-ca.pem"
newkey root-ocsp-signer
issue root-ocsp-signer "smtpgate test root OCSP signer" ocsp_ext root-ca
cp "$work/rootca/index.txt" "$out/root-ca.index.txt"
cp "$work/rootca/index.txt.attr" "$out/root-ca.index.txt.attr"

# Key types.  KEYGEN NAME [ARG]: a leaf with the good SANs.
typed_leaf() {
	local name=$1 gen=$2 md=${4:-sha256}
	$gen "$name" ${3:+"$3"}
	issue "$name" localhost leaf_ext int-ca "$md"
	cat "$out/$name.pem" "$out/int-ca.pem" >"$out/$name-chain.pem"
}
typed_leaf rsa newkey_rsa 2048
typed_leaf ed25519 newkey_ed25519
typed_leaf rsa1024 newkey_rsa 1024
typed_leaf sha1 newkey "" sha1

# Host-name cases: named_leaf NAME SAN [CN].  An empty SAN: no SAN at all.
named_leaf() {
	newkey "$1"
	if [ -n "$2" ]; then
		LEAF_SAN=$2 issue "$1" "${3:-localhost}" leaf_ext int-ca
	else
		issue "$1" "$3" leaf_nosan_ext int-ca
	fi
	cat "$out/$1.pem" "$out/int-ca.pem" >"$out/$1-chain.pem"
}
named_leaf wild-ok "DNS:*.mx.test"
named_leaf wild-com "DNS:*.com"
named_leaf wild-bare "DNS:*"
named_leaf wild-mid "DNS:a.*.mx.test"
named_leaf wild-part "DNS:f*.mx.test"
named_leaf wild-couk "DNS:*.co.uk"
named_leaf ipdns "DNS:127.0.0.1"
named_leaf cn-ip "" 127.0.0.1
named_leaf cn-only "" mail.test

# A CRL that claims the intermediate as its issuer, signed by another key.
newkey fake-int-ca
selfsigned fake-int-ca "smtpgate test intermediate CA" root_ext
mkdir -p "$work/fakeca/new"
: >"$work/fakeca/index.txt"
serial | sed 's/^0x//' >"$work/fakeca/serial"
sed -e "s|$work/ca|$work/fakeca|" -e "s|$out/int-ca|$out/fake-int-ca|g" \
    "$work/ca.cnf" >"$work/fakeca.cnf"
ossl ca -config "$work/fakeca.cnf" -gencrl -crldays 30 \
    -out "$out/fake-int-ca.crl.pem"

chmod 0644 "$out"/*.pem "$out"/*.index.txt*
