#!/bin/sh
# Regenerates the test keys. The known answers in ../signer.rs must be recomputed after, with
# openssl, as the comments there say.
set -e
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa2048.pkcs8.pem
openssl rsa -in rsa2048.pkcs8.pem -traditional -out rsa2048.pkcs1.pem
openssl pkey -in rsa2048.pkcs8.pem -pubout -out rsa2048.pub.pem
openssl pkcs8 -topk8 -v2 aes-256-cbc -in rsa2048.pkcs8.pem -passout pass:correct-horse -out rsa2048.encrypted.pem
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out rsa1024.pem
openssl rsa -in rsa1024.pem -traditional -out rsa1024.pkcs1.pem
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out rsa3072.pem
openssl ecparam -name prime256v1 -genkey -out ec256.sec1.pem
openssl pkcs8 -topk8 -nocrypt -in ec256.sec1.pem -out ec256.pkcs8.pem
openssl pkey -in ec256.pkcs8.pem -pubout -out ec256.pub.pem
openssl ecparam -name secp384r1 -genkey -noout -out ec384.pem
openssl rsa -in rsa2048.pkcs8.pem -traditional -aes128 -passout pass:x -out rsa2048.legacy-encrypted.pem
