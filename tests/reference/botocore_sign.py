"""Reference signer: botocore's CloudFrontSigner with a `cryptography` RSA signer.

Reads a JSON array of cases (argv[1]) and writes a JSON array of results to stdout. Used by
tests/it/conformance.rs; botocore and cryptography are installed by scripts/test.
"""
import datetime
import json
import sys

from botocore.signers import CloudFrontSigner
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding


def main():
    cases = json.load(open(sys.argv[1], encoding="utf-8"))
    results = []
    for c in cases:
        out = {"id": c["id"]}
        if c["alg"] != "RSA_2048" or c["mode"] != "url":
            results.append(out)
            continue
        password = c["passphrase"].encode() if c["passphrase"] else None
        key = serialization.load_pem_private_key(open(c["key"], "rb").read(), password=password)
        digest = hashes.SHA256() if c["hash"] == "SHA256" else hashes.SHA1()
        signer = CloudFrontSigner(c["key_id"], lambda msg: key.sign(msg, padding.PKCS1v15(), digest))
        dlt = datetime.datetime.fromtimestamp(c["dlt"], datetime.timezone.utc)
        # botocore signs the URL as given; hand it the URL as a browser requests it.
        url = c["url_as_requested"]
        if not c["custom"]:
            out["url"] = signer.generate_presigned_url(url, date_less_than=dlt)
        else:
            dgt = datetime.datetime.fromtimestamp(c["dgt"], datetime.timezone.utc) if c["dgt"] is not None else None
            policy = signer.build_policy(c["policy_resource"], dlt, date_greater_than=dgt, ip_address=c["ip"])
            out["policy"] = policy
            out["url"] = signer.generate_presigned_url(url, policy=policy)
        if c["hash"] == "SHA256":
            out["url"] += "&Hash-Algorithm=SHA256"  # botocore predates SHA-256 support
        results.append(out)
    json.dump(results, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
