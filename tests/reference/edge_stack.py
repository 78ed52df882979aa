"""The edge test's stack in the emulator, made with boto3 (an SDK independent of the edge's),
and its reference signer, botocore's CloudFrontSigner. Used by tests/it/edge.rs.

    edge_stack.py create ENDPOINT DIR APP_DOMAIN   -> JSON ids, key paths
    edge_stack.py set-group ENDPOINT GROUP_ID KEY_ID...
    edge_stack.py sign CASES.json                  -> JSON [{"url": ...} | {"cookie": ...}]

A sign case: {"key": PEM path, "key_id", "alg": "RSA"|"EC", "hash": "SHA1"|"SHA256",
"mode": "url"|"cookies", "url", "resource" (custom policy; null = canned), "expires"}.
"""
import datetime
import json
import sys
import uuid

import boto3
from botocore.signers import CloudFrontSigner
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER = "216adef6-5c7f-47e4-b989-5492eafa07d3"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
ALL_VIEWER_AND_CLOUDFRONT_HEADERS = "33f36d7e-f396-46d9-90e0-52428a34d9dc"
BUCKET = "edge-media"


def client(service, endpoint):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def public_pem(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def write_private(key, path):
    with open(path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))


def behavior(origin, methods, key_groups, cache, orp=None, pattern=None):
    b = {
        "TargetOriginId": origin,
        "ViewerProtocolPolicy": "https-only",
        "AllowedMethods": {"Quantity": len(methods), "Items": methods,
                           "CachedMethods": {"Quantity": 2, "Items": ["GET", "HEAD"]}},
        "TrustedKeyGroups": {"Enabled": bool(key_groups), "Quantity": len(key_groups), "Items": key_groups},
        "CachePolicyId": cache,
    }
    if orp:
        b["OriginRequestPolicyId"] = orp
    if pattern:
        b["PathPattern"] = pattern
    return b


def create(endpoint, directory, app_domain):
    cf = client("cloudfront", endpoint)
    s3 = client("s3", endpoint)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="index.html", Body=b"<h1>root object</h1>")
    s3.put_object(Bucket=BUCKET, Key="photos/cat.txt", Body=b"a cat from S3")
    s3.put_object(Bucket=BUCKET, Key="errors/not-found.html", Body=b"<p>not here</p>")
    keys = {"rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "ec": ec.generate_private_key(ec.SECP256R1()),
            # Never uploaded: a key CloudFront does not know.
            "stranger": rsa.generate_private_key(public_exponent=65537, key_size=2048)}
    out = {}
    for name, key in keys.items():
        path = f"{directory}/{name}.pem"
        write_private(key, path)
        out[f"{name}_pem"] = path
    ids = []
    for name in ("rsa", "ec"):
        pk = cf.create_public_key(PublicKeyConfig={
            "CallerReference": str(uuid.uuid4()), "Name": f"edge-{name}-{uuid.uuid4().hex[:8]}",
            "EncodedKey": public_pem(keys[name])})["PublicKey"]
        out[f"{name}_key_id"] = pk["Id"]
        ids.append(pk["Id"])
    group = cf.create_key_group(KeyGroupConfig={"Name": f"edge-{uuid.uuid4().hex[:8]}", "Items": ids})["KeyGroup"]
    out["key_group_id"] = group["Id"]
    oac = lambda kind: cf.create_origin_access_control(OriginAccessControlConfig={
        "Name": f"edge-{kind}-{uuid.uuid4().hex[:8]}", "SigningProtocol": "sigv4",
        "SigningBehavior": "always", "OriginAccessControlOriginType": kind})["OriginAccessControl"]["Id"]
    # What infra/cdn.tf attaches to the media: security headers, CORS for one app origin.
    headers_policy = cf.create_response_headers_policy(ResponseHeadersPolicyConfig={
        "Name": f"edge-{uuid.uuid4().hex[:8]}",
        "CorsConfig": {
            "AccessControlAllowOrigins": {"Quantity": 1, "Items": ["https://app.example"]},
            "AccessControlAllowHeaders": {"Quantity": 1, "Items": ["range"]},
            "AccessControlAllowMethods": {"Quantity": 2, "Items": ["GET", "HEAD"]},
            "AccessControlAllowCredentials": True,
            "AccessControlExposeHeaders": {"Quantity": 1, "Items": ["ETag"]},
            "AccessControlMaxAgeSec": 3600,
            "OriginOverride": True,
        },
        "SecurityHeadersConfig": {
            "ContentTypeOptions": {"Override": True},
            "FrameOptions": {"FrameOption": "SAMEORIGIN", "Override": True},
        },
    })["ResponseHeadersPolicy"]["Id"]
    all_methods = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
    kg = [group["Id"]]
    ordered = [
        behavior("app", ["GET", "HEAD"], [], CACHING_DISABLED, ALL_VIEWER_EXCEPT_HOST, "/app/public/*"),
        behavior("app", all_methods, kg, CACHING_DISABLED, ALL_VIEWER_EXCEPT_HOST, "app/*"),
        behavior("app", ["GET", "HEAD"], [], CACHING_OPTIMIZED, None, "/plain/*"),
        behavior("app", ["GET", "HEAD"], [], CACHING_DISABLED, ALL_VIEWER_AND_CLOUDFRONT_HEADERS, "/cf/*"),
        dict(behavior("app", ["GET", "HEAD", "OPTIONS"], [], CACHING_DISABLED, ALL_VIEWER, "/all/*"),
             ResponseHeadersPolicyId=headers_policy),
    ]
    config = {
        "CallerReference": str(uuid.uuid4()), "Comment": "cfcookie edge test", "Enabled": True,
        "DefaultRootObject": "index.html",
        "Origins": {"Quantity": 2, "Items": [
            {"Id": "media", "DomainName": f"{BUCKET}.s3.us-east-1.amazonaws.com",
             "S3OriginConfig": {"OriginAccessIdentity": ""}, "OriginAccessControlId": oac("s3")},
            {"Id": "app", "DomainName": app_domain, "OriginAccessControlId": oac("lambda"),
             "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "https-only"}},
        ]},
        "DefaultCacheBehavior": behavior("media", ["GET", "HEAD", "OPTIONS"], kg, CACHING_OPTIMIZED),
        "CacheBehaviors": {"Quantity": len(ordered), "Items": ordered},
        "CustomErrorResponses": {"Quantity": 1, "Items": [
            {"ErrorCode": 404, "ResponsePagePath": "/errors/not-found.html", "ResponseCode": "404",
             "ErrorCachingMinTTL": 10}]},
    }
    dist = cf.create_distribution(DistributionConfig=config)["Distribution"]
    out["distribution_id"] = dist["Id"]
    out["domain_name"] = dist["DomainName"]
    return out


def set_group(endpoint, group_id, key_ids):
    cf = client("cloudfront", endpoint)
    got = cf.get_key_group(Id=group_id)
    cfg = got["KeyGroup"]["KeyGroupConfig"]
    cfg["Items"] = key_ids
    cf.update_key_group(Id=group_id, IfMatch=got["ETag"], KeyGroupConfig=cfg)
    return {"items": key_ids}


def sign(cases):
    results = []
    for c in cases:
        key = serialization.load_pem_private_key(open(c["key"], "rb").read(), password=None)
        digest = hashes.SHA256() if c["hash"] == "SHA256" else hashes.SHA1()
        if c["alg"] == "EC":
            rsa_signer = lambda msg, key=key, digest=digest: key.sign(msg, ec.ECDSA(digest))
        else:
            rsa_signer = lambda msg, key=key, digest=digest: key.sign(msg, padding.PKCS1v15(), digest)
        signer = CloudFrontSigner(c["key_id"], rsa_signer)
        dlt = datetime.datetime.fromtimestamp(c["expires"], datetime.timezone.utc)
        policy = signer.build_policy(c["resource"], dlt) if c.get("resource") else None
        if c["mode"] == "url":
            url = signer.generate_presigned_url(c["url"], date_less_than=None if policy else dlt, policy=policy)
            if c["hash"] == "SHA256":
                url += "&Hash-Algorithm=SHA256"  # botocore predates SHA-256 support
            results.append({"url": url})
        else:
            policy = policy or signer.build_policy(c["url"], dlt)
            encoded = signer._url_b64encode(policy.encode("utf8")).decode("utf8")
            signature = signer._url_b64encode(rsa_signer(policy.encode("utf8"))).decode("utf8")
            cookie = f"CloudFront-Policy={encoded}; CloudFront-Signature={signature}; CloudFront-Key-Pair-Id={c['key_id']}"
            if c["hash"] == "SHA256":
                cookie += "; CloudFront-Hash-Algorithm=SHA256"
            results.append({"cookie": cookie})
    return results


def main(argv):
    command = argv[1]
    if command == "create":
        result = create(argv[2], argv[3], argv[4])
    elif command == "set-group":
        result = set_group(argv[2], argv[3], argv[4:])
    elif command == "sign":
        result = sign(json.load(open(argv[2], encoding="utf-8")))
    else:
        raise SystemExit(f"unknown command {command}")
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main(sys.argv)
