#!/bin/sh
# Regenerates the certificate fixtures with the OpenSSL 3 command line, the
# way administrators make them. The test certificate is valid for 100 years.
# Password of every PFX and encrypted key: Correct-Horse-9
set -eu
cd "$(dirname "$0")"
pw=pass:Correct-Horse-9
openssl req -x509 -newkey rsa:2048 -nodes -keyout key-pkcs8.pem -out cert.pem -days 36500 -subj "/CN=galmirror test app" 2>/dev/null
# OpenSSL 3 defaults: AES-256-CBC with PBKDF2 and an HMAC-SHA-256 MAC.
openssl pkcs12 -export -in cert.pem -inkey key-pkcs8.pem -out modern.pfx -passout "$pw"
# The legacy 3DES/SHA-1 format older Windows exports produce.
openssl pkcs12 -export -in cert.pem -inkey key-pkcs8.pem -out legacy-3des.pfx -passout "$pw" \
	-certpbe PBE-SHA1-3DES -keypbe PBE-SHA1-3DES -macalg sha1
openssl pkcs12 -export -nokeys -in cert.pem -out nokey.pfx -passout "$pw"
openssl rsa -in key-pkcs8.pem -traditional -out key-pkcs1.pem 2>/dev/null
cat cert.pem key-pkcs8.pem > combined-pkcs8.pem
cat key-pkcs1.pem cert.pem > combined-pkcs1.pem
openssl pkcs8 -topk8 -v2 aes256 -in key-pkcs8.pem -passout "$pw" | cat cert.pem - > combined-encrypted-pkcs8.pem
openssl rsa -in key-pkcs8.pem -aes256 -traditional -passout "$pw" 2>/dev/null | cat cert.pem - > combined-encrypted-pkcs1.pem
rm key-pkcs8.pem key-pkcs1.pem
# Thumbprints as OpenSSL computes them, for the tests to compare against.
openssl x509 -in cert.pem -noout -fingerprint -sha1 > cert.fingerprints
openssl x509 -in cert.pem -noout -fingerprint -sha256 >> cert.fingerprints
