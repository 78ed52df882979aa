"""Reference rate: botocore CloudFrontSigner custom-policy signing with `cryptography`, one core."""
import datetime
import json
import sys
import time

from botocore.signers import CloudFrontSigner
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
signer = CloudFrontSigner("K2JCJMDEHXQW5F", lambda m: key.sign(m, padding.PKCS1v15(), hashes.SHA1()))
seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5
start = time.perf_counter()
n = 0
utc = datetime.timezone.utc
while time.perf_counter() - start < seconds:
    policy = signer.build_policy(
        "https://d111111abcdef8.cloudfront.net/*",
        datetime.datetime.fromtimestamp(1795345200 + n % 600, utc),
        date_greater_than=datetime.datetime.fromtimestamp(1795341600, utc),
    )
    signer.generate_presigned_url("https://d111111abcdef8.cloudfront.net/x", policy=policy)
    n += 1
print(json.dumps({"reference": "botocore CloudFrontSigner", "cookies_per_s": n / (time.perf_counter() - start)}))
