"""The emulator extension refuses what the CloudFront and Secrets Manager API references say
the real services refuse. Run by scripts/test (pytest, from .venv)."""

import json
import urllib.request

import boto3
import botocore
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

def client(endpoint, service, **config):
    return boto3.client(
        service, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing",
        config=botocore.config.Config(**config) if config else None,
    )


def spki_pem(private_key):
    return private_key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


# CreatePublicKey takes only RSA-2048 or EC P-256 SubjectPublicKeyInfo PEM.
PEM = spki_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def error_of(call):
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call()
    return info.value.response["Error"]["Code"], info.value.response["ResponseMetadata"]["HTTPStatusCode"]


def new_key(cf, name):
    return cf.create_public_key(PublicKeyConfig={"CallerReference": name, "Name": name, "EncodedKey": PEM, "Comment": "c"})["PublicKey"]["Id"]


def test_public_key_in_a_group_cannot_be_deleted(endpoint):
    cf = client(endpoint, "cloudfront")
    key = new_key(cf, "inuse")
    cf.create_key_group(KeyGroupConfig={"Name": "g-inuse", "Items": [key]})
    etag = cf.get_public_key(Id=key)["ETag"]
    assert error_of(lambda: cf.delete_public_key(Id=key, IfMatch=etag)) == ("PublicKeyInUse", 409)


def test_if_match_is_required_and_checked(endpoint):
    cf = client(endpoint, "cloudfront")
    key = new_key(cf, "ifmatch")
    assert error_of(lambda: cf.delete_public_key(Id=key, IfMatch="ESTALE"))[0] == "PreconditionFailed"
    group = cf.create_key_group(KeyGroupConfig={"Name": "g-ifmatch", "Items": [key]})
    gid, etag = group["KeyGroup"]["Id"], group["ETag"]
    config = {"Name": "g-ifmatch", "Items": [key]}
    assert error_of(lambda: cf.update_key_group(Id=gid, IfMatch="ESTALE", KeyGroupConfig=config)) == ("PreconditionFailed", 412)
    new_etag = cf.update_key_group(Id=gid, IfMatch=etag, KeyGroupConfig=config)["ETag"]
    assert new_etag != etag, "every change gives a new ETag"
    assert error_of(lambda: cf.update_key_group(Id=gid, IfMatch=etag, KeyGroupConfig=config))[0] == "PreconditionFailed"


def test_at_most_five_keys_and_only_known_keys(endpoint):
    cf = client(endpoint, "cloudfront")
    keys = [new_key(cf, f"many{i}") for i in range(6)]
    assert error_of(lambda: cf.create_key_group(KeyGroupConfig={"Name": "g-many", "Items": keys}))[0] == "TooManyPublicKeysInKeyGroup"
    group = cf.create_key_group(KeyGroupConfig={"Name": "g-five", "Items": keys[:5]})
    gid, etag = group["KeyGroup"]["Id"], group["ETag"]
    assert error_of(lambda: cf.update_key_group(Id=gid, IfMatch=etag, KeyGroupConfig={"Name": "g-five", "Items": keys}))[0] == "TooManyPublicKeysInKeyGroup"
    assert error_of(lambda: cf.update_key_group(Id=gid, IfMatch=etag, KeyGroupConfig={"Name": "g-five", "Items": ["KNOSUCHKEY"]})) == ("NoSuchPublicKey", 404)


def test_unknown_ids(endpoint):
    cf = client(endpoint, "cloudfront")
    assert error_of(lambda: cf.get_public_key(Id="KNOSUCHKEY")) == ("NoSuchPublicKey", 404)
    assert error_of(lambda: cf.delete_public_key(Id="KNOSUCHKEY", IfMatch="E1")) == ("NoSuchPublicKey", 404)
    assert error_of(lambda: cf.get_key_group(Id="no-such-group")) == ("NoSuchResource", 404)


def test_key_group_names_are_unique_and_groups_delete_with_if_match(endpoint):
    cf = client(endpoint, "cloudfront")
    key = new_key(cf, "uniq")
    group = cf.create_key_group(KeyGroupConfig={"Name": "g-uniq", "Items": [key]})
    assert error_of(lambda: cf.create_key_group(KeyGroupConfig={"Name": "g-uniq", "Items": [key]}))[0] == "KeyGroupAlreadyExists"
    assert error_of(lambda: cf.delete_key_group(Id=group["KeyGroup"]["Id"], IfMatch="ESTALE"))[0] == "PreconditionFailed"
    cf.delete_key_group(Id=group["KeyGroup"]["Id"], IfMatch=group["ETag"])
    cf.delete_public_key(Id=key, IfMatch=cf.get_public_key(Id=key)["ETag"])  # free now


def test_comment_is_kept(endpoint):
    cf = client(endpoint, "cloudfront")
    key = new_key(cf, "comment")
    assert cf.get_public_key(Id=key)["PublicKey"]["PublicKeyConfig"]["Comment"] == "c"


def test_put_secret_value_with_same_token_and_other_value_is_refused(endpoint):
    sm = client(endpoint, "secretsmanager")
    sm.create_secret(Name="s-token", SecretString="v0")
    token = "t" * 32
    sm.put_secret_value(SecretId="s-token", ClientRequestToken=token, SecretString="v1", VersionStages=["AWSPENDING"])
    sm.put_secret_value(SecretId="s-token", ClientRequestToken=token, SecretString="v1", VersionStages=["AWSPENDING"])
    assert error_of(lambda: sm.put_secret_value(SecretId="s-token", ClientRequestToken=token, SecretString="v2", VersionStages=["AWSPENDING"]))[0] == "ResourceExistsException"


def test_rotate_secret_stages_an_empty_pending_version_and_refuses_a_second(endpoint):
    sm = client(endpoint, "secretsmanager")
    sm.create_secret(Name="s-rot", SecretString="v0")
    arn = "arn:aws:lambda:us-east-1:123456789012:function:f"
    version = sm.rotate_secret(SecretId="s-rot", RotationLambdaARN=arn, RotationRules={"AutomaticallyAfterDays": 30})["VersionId"]
    stages = sm.describe_secret(SecretId="s-rot")["VersionIdsToStages"]
    assert stages[version] == ["AWSPENDING"]
    assert sm.describe_secret(SecretId="s-rot")["RotationEnabled"] is True
    assert error_of(lambda: sm.get_secret_value(SecretId="s-rot", VersionId=version, VersionStage="AWSPENDING"))[0] == "ResourceNotFoundException"
    assert error_of(lambda: sm.rotate_secret(SecretId="s-rot"))[0] == "InvalidRequestException"


def test_one_version_per_label_after_stage_moves(endpoint):
    sm = client(endpoint, "secretsmanager")
    sm.create_secret(Name="s-label", SecretString="v0")
    first = next(iter(sm.describe_secret(SecretId="s-label")["VersionIdsToStages"]))
    second = sm.put_secret_value(SecretId="s-label", SecretString="v1", VersionStages=["AWSPENDING"])["VersionId"]
    sm.update_secret_version_stage(SecretId="s-label", VersionStage="AWSCURRENT", MoveToVersionId=second, RemoveFromVersionId=first)
    sm.put_secret_value(SecretId="s-label", SecretString="v2")
    holders = [v for v, s in sm.describe_secret(SecretId="s-label")["VersionIdsToStages"].items() if "AWSCURRENT" in s]
    assert len(holders) == 1


def test_faults_and_call_log(endpoint):
    cf = client(endpoint, "cloudfront")
    urllib.request.urlopen(urllib.request.Request(endpoint + "/_emulator/calls", method="DELETE"))
    req = urllib.request.Request(endpoint + "/_emulator/faults", method="POST",
                                 data=json.dumps({"operation": "cloudfront.ListPublicKeys", "status": 503, "code": "ServiceUnavailable", "count": 100}).encode())
    urllib.request.urlopen(req)
    assert error_of(lambda: cf.list_public_keys()) == ("ServiceUnavailable", 503)
    urllib.request.urlopen(urllib.request.Request(endpoint + "/_emulator/faults", method="DELETE"))
    cf.list_public_keys()
    calls = json.loads(urllib.request.urlopen(endpoint + "/_emulator/calls").read())
    assert set(calls) == {"cloudfront.ListPublicKeys"} and len(calls) >= 3, calls  # retried, then served


# ------------------------------------------------------------------ rotation as AWS runs it

def test_public_key_names_are_unique_per_account(endpoint):
    cf = client(endpoint, "cloudfront")
    cf.create_public_key(PublicKeyConfig={"CallerReference": "u1", "Name": "unique-name", "EncodedKey": PEM})
    code = error_of(lambda: cf.create_public_key(PublicKeyConfig={"CallerReference": "u2", "Name": "unique-name", "EncodedKey": PEM}))
    assert code == ("PublicKeyAlreadyExists", 409)


def test_too_many_public_keys_at_the_account_quota(with_lambda):
    url, _ = with_lambda()  # an account of its own: the module's emulator holds other tests' keys
    cf = client(url, "cloudfront")
    made = [new_key(cf, f"quota-{i}") for i in range(10)]
    code = error_of(lambda: new_key(cf, "quota-one-too-many"))
    assert code == ("TooManyPublicKeys", 400)
    etag = cf.get_public_key(Id=made[0])["ETag"]
    cf.delete_public_key(Id=made[0], IfMatch=etag)
    new_key(cf, "quota-fits-again")


def test_automatically_after_days_is_recomputed_from_the_schedule(endpoint):
    sm = client(endpoint, "secretsmanager")
    sm.create_secret(Name="s-days", SecretString="v0")
    arn = "arn:aws:lambda:us-east-1:123456789012:function:f"
    sm.rotate_secret(SecretId="s-days", RotationLambdaARN=arn, RotationRules={"ScheduleExpression": "rate(2 days)", "Duration": "3h"}, RotateImmediately=False)
    rules = sm.describe_secret(SecretId="s-days")["RotationRules"]
    assert rules["AutomaticallyAfterDays"] == 2
    assert rules["ScheduleExpression"] == "rate(2 days)"
    assert rules["Duration"] == "3h"


class FakeLambda:
    """A Lambda Invoke API that records each event and fails the steps it is told to."""

    def __init__(self, fail=()):
        import http.server
        import threading

        self.events, self.fail = [], list(fail)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.events.append(event)
                failed = event["Step"] in outer.fail
                if failed:
                    outer.fail.remove(event["Step"])
                body = json.dumps({"errorType": "Injected", "errorMessage": "no"} if failed else {}).encode()
                self.send_response(200)
                if failed:
                    self.send_header("X-Amz-Function-Error", "Unhandled")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


def wait_for(predicate):
    import time

    for _ in range(100):
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture()
def with_lambda():
    from conftest import start_emulator

    started = []

    def start(fail=()):
        fake = FakeLambda(fail)
        proc, url = start_emulator("--lambda-endpoint", fake.url)
        started.append((proc, fake))
        return url, fake

    yield start
    for proc, fake in started:
        proc.kill()
        proc.wait()
        fake.server.shutdown()


def test_a_failed_step_makes_secrets_manager_retry_the_whole_rotation(with_lambda):
    url, fake = with_lambda(fail=["setSecret"])
    sm = client(url, "secretsmanager")
    sm.create_secret(Name="s-retry", SecretString="v0")
    token = sm.rotate_secret(SecretId="s-retry", RotationLambdaARN="arn:aws:lambda:us-east-1:123456789012:function:f", RotationRules={"AutomaticallyAfterDays": 1})["VersionId"]
    assert wait_for(lambda: len(fake.events) >= 6)
    assert [e["Step"] for e in fake.events] == ["createSecret", "setSecret", "createSecret", "setSecret", "testSecret", "finishSecret"]
    assert {e["ClientRequestToken"] for e in fake.events} == {token}


def test_rotate_immediately_false_tests_an_empty_pending_version_then_removes_it(with_lambda):
    url, fake = with_lambda()
    sm = client(url, "secretsmanager")
    sm.create_secret(Name="s-conf", SecretString="v0")
    current = sm.describe_secret(SecretId="s-conf")["VersionIdsToStages"]
    sm.rotate_secret(SecretId="s-conf", RotationLambdaARN="arn:aws:lambda:us-east-1:123456789012:function:f", RotationRules={"AutomaticallyAfterDays": 1}, RotateImmediately=False)
    assert wait_for(lambda: len(fake.events) >= 1)
    assert [e["Step"] for e in fake.events] == ["testSecret"]
    token = fake.events[0]["ClientRequestToken"]
    assert token not in current  # a new version, not AWSCURRENT's
    assert wait_for(lambda: token not in sm.describe_secret(SecretId="s-conf")["VersionIdsToStages"])
    stages = sm.describe_secret(SecretId="s-conf")["VersionIdsToStages"]
    assert not any("AWSPENDING" in s for s in stages.values())


@pytest.fixture()
def own_account():
    """An emulator of its own: the module's emulator holds other tests' keys, and an account
    takes at most ten."""
    from conftest import start_emulator

    proc, url = start_emulator()
    yield url
    proc.kill()
    proc.wait()


def test_create_public_key_takes_rsa_2048_and_ec_p256_spki_only(own_account):
    """API_PublicKeyConfig: "CloudFront supports signed URLs and signed cookies with RSA 2048 or
    ECDSA 256 key signatures"; anything else is InvalidArgument."""
    cf = client(own_account, "cloudfront")

    def create(name, pem):
        return cf.create_public_key(PublicKeyConfig={"CallerReference": name, "Name": name, "EncodedKey": pem})

    p256 = spki_pem(ec.generate_private_key(ec.SECP256R1()))
    created = create("kt-p256", p256)["PublicKey"]
    assert cf.get_public_key(Id=created["Id"])["PublicKey"]["PublicKeyConfig"]["EncodedKey"].strip() == p256.strip()
    create("kt-rsa2048", spki_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    pkcs1 = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(Encoding.PEM, PublicFormat.PKCS1).decode()
    for name, pem in [
        ("kt-p384", spki_pem(ec.generate_private_key(ec.SECP384R1()))),
        ("kt-k256", spki_pem(ec.generate_private_key(ec.SECP256K1()))),
        ("kt-rsa3072", spki_pem(rsa.generate_private_key(public_exponent=65537, key_size=3072))),
        ("kt-rsa1024", spki_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))),
        ("kt-ed25519", spki_pem(ed25519.Ed25519PrivateKey.generate())),
        ("kt-pkcs1", pkcs1),
        ("kt-garbage", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
    ]:
        assert error_of(lambda: create(name, pem)) == ("InvalidArgument", 400), name
    names = {k["Name"] for k in cf.list_public_keys()["PublicKeyList"].get("Items", [])}
    assert not any(n in names for n in ("kt-p384", "kt-k256", "kt-rsa3072", "kt-rsa1024", "kt-ed25519", "kt-pkcs1", "kt-garbage"))


def test_list_secret_version_ids_reports_when_each_version_was_created(endpoint):
    import time
    sm = client(endpoint, "secretsmanager")
    sm.create_secret(Name="dated", SecretString="v1")
    time.sleep(2)
    sm.put_secret_value(SecretId="dated", SecretString="v2")
    time.sleep(1)
    versions = sm.list_secret_version_ids(SecretId="dated")["Versions"]
    dates = {tuple(v["VersionStages"]): v["CreatedDate"].timestamp() for v in versions}
    # moto reported the time of the call for every version.
    assert dates[("AWSPREVIOUS",)] <= dates[("AWSCURRENT",)] - 2, dates
    assert dates[("AWSCURRENT",)] <= time.time() - 1, dates
