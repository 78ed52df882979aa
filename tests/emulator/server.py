#!/usr/bin/env python3
"""The AWS emulator for cfcookie's tests: moto in server mode, plus what moto lacks.

    python3 tests/emulator/server.py --port 5000        # listens on 127.0.0.1:5000

Written from the CloudFront and Secrets Manager API references so that the real AWS SDK for
Rust talks to a server that refuses what AWS refuses:

CloudFront (moto has public keys and key groups, but no updates, no ETag checks):
  - UpdateKeyGroup and DeleteKeyGroup, with If-Match;
  - If-Match on DeletePublicKey: missing -> InvalidIfMatchVersion (400), stale ->
    PreconditionFailed (412); every change gives a new ETag;
  - PublicKeyInUse (409) when deleting a key a key group holds;
  - TooManyPublicKeysInKeyGroup (400) over 5 keys; NoSuchPublicKey (404) for unknown keys in a
    group or on Get/Delete; NoSuchResource (404) for unknown key groups; KeyGroupAlreadyExists
    (409); public key Comment kept.
Secrets Manager:
  - PutSecretValue with an existing ClientRequestToken and a different value ->
    ResourceExistsException (moto overwrote silently);
  - GetSecretValue of a version that has no value yet -> ResourceNotFoundException;
  - RotateSecret stages an AWSPENDING version with no value, as Secrets Manager does, and
    records the rotation settings. moto cannot run a Lambda (no Docker); with
    --lambda-endpoint URL it invokes the four steps over the Lambda Invoke API at that URL (for
    example `cargo lambda watch`), in the background, as Secrets Manager would: a failed step
    makes it retry the whole rotation, from createSecret, with the same token; with
    RotateImmediately=false it stages an empty AWSPENDING version, invokes testSecret alone on
    it, then removes it;
  - DescribeSecret recomputes AutomaticallyAfterDays from a ScheduleExpression;
  - ListSecretVersionIds reports each version's own CreatedDate (moto gave the time of the call).
Test controls (not AWS APIs), under /_emulator/:
  - POST /_emulator/faults {"operation": "cloudfront.UpdateKeyGroup", "status": 503,
    "code": "ServiceUnavailable", "count": 2}: the next `count` calls of that operation fail;
  - POST /_emulator/quota {"public_keys": N}: the account's public key quota from now on
    (tests that put many stacks into one emulator raise it);
  - DELETE /_emulator/faults; GET /_emulator/calls (every AWS operation served, in order);
    DELETE /_emulator/calls; GET /_emulator/health.
"""

import argparse
import json
import logging
import re
import sys
import threading
import time
import urllib.request
import uuid

from moto.cloudfront import models as cf_models
from moto.cloudfront import responses as cf_responses
from moto.cloudfront.exceptions import CloudFrontException
from moto.core.responses import ActionResult, EmptyResult
from moto.core.utils import utcnow
from moto.moto_api._internal import mock_random
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.secretsmanager import models as sm_models
from moto.secretsmanager.exceptions import ResourceExistsException, ResourceNotFoundException
from werkzeug.serving import run_simple
from werkzeug.wrappers import Request, Response

LOG = logging.getLogger("emulator")
MAX_KEYS_PER_GROUP = 5
# Public keys per account: https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/cloudfront-limits.html
PUBLIC_KEY_QUOTA = 10
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def new_etag():
    return "E" + uuid.uuid4().hex[:13].upper()


# ------------------------------------------------------------------------- CloudFront errors

class CloudFrontError(CloudFrontException):
    """An error from the CloudFront API reference; moto takes its HTTP status from the service
    model (the status given here documents it)."""

    def __init__(self, error_type, message, status):
        super().__init__(error_type, message)
        self.documented_status = status


def no_such_public_key(key_id):
    return CloudFrontError("NoSuchPublicKey", f"The specified public key doesn't exist: {key_id}", 404)


def no_such_resource(what):
    return CloudFrontError("NoSuchResource", f"A resource that was specified is not valid: {what}", 404)


def check_if_match(if_match, etag):
    if not if_match:
        raise CloudFrontError("InvalidIfMatchVersion", "The If-Match version is missing or not valid.", 400)
    if if_match != etag:
        raise CloudFrontError("PreconditionFailed", "The precondition in one or more of the request fields evaluated to false.", 412)


# ------------------------------------------------------------------------- CloudFront models

def _pk_init(self, caller_ref, name, encoded_key, comment=""):
    self.id = "K" + mock_random.get_random_string(length=13, include_digits=True, lower_case=False)
    self.caller_ref = caller_ref
    self.name = name
    self.encoded_key = encoded_key if encoded_key.endswith("\n") else encoded_key + "\n"
    self.created_time = utcnow()
    self.comment = comment or ""
    self.etag = new_etag()
    self.location = f"https://cloudfront.amazonaws.com/2020-05-31/public-key/{self.id}"


cf_models.PublicKey.__init__ = _pk_init


def _kg_init(self, name, items, comment=""):
    self.id = str(uuid.uuid4())
    self.name = name
    self.items = list(items)
    self.comment = comment or ""
    self.etag = new_etag()
    self.last_modified_time = utcnow()
    self.location = f"https://cloudfront.amazonaws.com/2020-05-31/key-group/{self.id}"


cf_models.KeyGroup.__init__ = _kg_init
cf_models.KeyGroup.key_group_config = property(
    lambda self: {"Items": self.items, "Name": self.name, "Comment": self.comment}
)


def _check_items(backend, items):
    if not items:
        raise CloudFrontError("InvalidArgument", "A key group needs at least one public key.", 400)
    if len(items) > MAX_KEYS_PER_GROUP:
        raise CloudFrontError(
            "TooManyPublicKeysInKeyGroup",
            f"The number of public keys in this key group is more than the maximum allowed ({MAX_KEYS_PER_GROUP}).",
            400,
        )
    for key_id in items:
        if key_id not in backend.public_keys:
            raise no_such_public_key(key_id)


# ------------------------------------------------------------------------- CloudFront key types

def check_encoded_key(encoded_key):
    """CreatePublicKey's EncodedKey: a SubjectPublicKeyInfo PEM of an RSA-2048 or EC P-256 key.
    "CloudFront supports signed URLs and signed cookies with RSA 2048 or ECDSA 256 key
    signatures" (https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_PublicKeyConfig.html);
    anything else is InvalidArgument (400), the error CreatePublicKey lists for a bad argument
    (https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_CreatePublicKey.html)."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    def refuse(why):
        return CloudFrontError("InvalidArgument", f"EncodedKey {why}.", 400)

    if not encoded_key.lstrip().startswith("-----BEGIN PUBLIC KEY-----"):
        raise refuse("is not a PEM public key (-----BEGIN PUBLIC KEY-----)")
    try:
        key = load_pem_public_key(encoded_key.encode())
    except (ValueError, TypeError) as e:
        raise refuse(f"cannot be read: {e}") from None
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size != 2048:
            raise refuse(f"is a {key.key_size}-bit RSA key; only RSA 2048 and ECDSA 256 are supported")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise refuse(f"is an EC key on {key.curve.name}; only RSA 2048 and ECDSA 256 are supported")
    else:
        raise refuse(f"is a {type(key).__name__}; only RSA 2048 and ECDSA 256 are supported")


def create_public_key(self, caller_ref, name, encoded_key, comment=""):
    if not NAME_RE.match(name or ""):
        raise CloudFrontError("InvalidArgument", f"Invalid public key name {name!r}.", 400)
    for key in self.public_keys.values():
        if key.caller_ref == caller_ref:
            if key.name == name and key.encoded_key.strip() == encoded_key.strip():
                return key  # an identical retry returns the same key
            raise CloudFrontError("PublicKeyAlreadyExists", "The specified public key already exists.", 409)
    check_encoded_key(encoded_key)
    # Names are unique per account, and an account holds at most PUBLIC_KEY_QUOTA keys:
    # https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_CreatePublicKey.html
    if any(k.name == name for k in self.public_keys.values()):
        raise CloudFrontError("PublicKeyAlreadyExists", f"A public key named {name} already exists.", 409)
    if len(self.public_keys) >= PUBLIC_KEY_QUOTA:
        raise CloudFrontError(
            "TooManyPublicKeys",
            "The maximum number of public keys for field-level encryption have been created. To create a new public key, delete one of the existing keys.",
            400,
        )
    key = cf_models.PublicKey(caller_ref=caller_ref, name=name, encoded_key=encoded_key, comment=comment)
    self.public_keys[key.id] = key
    return key


def get_public_key(self, key_id):
    if key_id not in self.public_keys:
        raise no_such_public_key(key_id)
    return self.public_keys[key_id]


def delete_public_key(self, key_id, if_match=None):
    key = self.get_public_key(key_id)
    check_if_match(if_match, key.etag)
    for group in self.key_groups.values():
        if key_id in group.items:
            raise CloudFrontError("PublicKeyInUse", f"The specified public key is in use by key group {group.id}.", 409)
    del self.public_keys[key_id]


def create_key_group(self, name, items, comment=""):
    if any(g.name == name for g in self.key_groups.values()):
        raise CloudFrontError("KeyGroupAlreadyExists", "A key group with this name already exists.", 409)
    _check_items(self, items)
    group = cf_models.KeyGroup(name=name, items=items, comment=comment)
    self.key_groups[group.id] = group
    return group


def get_key_group(self, group_id):
    if group_id not in self.key_groups:
        raise no_such_resource(f"key group {group_id}")
    return self.key_groups[group_id]


def update_key_group(self, group_id, if_match, name, items, comment=""):
    group = self.get_key_group(group_id)
    check_if_match(if_match, group.etag)
    if any(g.name == name and g.id != group_id for g in self.key_groups.values()):
        raise CloudFrontError("KeyGroupAlreadyExists", "A key group with this name already exists.", 409)
    _check_items(self, items)
    group.name, group.items, group.comment = name, list(items), comment or ""
    group.etag = new_etag()
    group.last_modified_time = utcnow()
    return group


def delete_key_group(self, group_id, if_match=None):
    group = self.get_key_group(group_id)
    check_if_match(if_match, group.etag)
    for dist in self.distributions.values():
        if group_id in json.dumps(dist.distribution_config.__dict__, default=lambda o: getattr(o, "__dict__", str(o))):
            raise CloudFrontError("ResourceInUse", "The key group is used by a distribution.", 409)
    del self.key_groups[group_id]


for fn in (create_public_key, get_public_key, delete_public_key, create_key_group, get_key_group, update_key_group, delete_key_group):
    setattr(cf_models.CloudFrontBackend, fn.__name__, fn)


# ------------------------------------------------------------------------- CloudFront responses

R = cf_responses.CloudFrontResponse


def _if_match(self):
    return self.headers.get("If-Match") or self.headers.get("if-match")


def r_create_public_key(self):
    config = self._get_param("PublicKeyConfig")
    key = self.backend.create_public_key(
        caller_ref=config["CallerReference"], name=config["Name"], encoded_key=config["EncodedKey"], comment=config.get("Comment", "")
    )
    return ActionResult({"PublicKey": key, "Location": key.location, "ETag": key.etag})


def r_get_public_key(self):
    key = self.backend.get_public_key(key_id=self.path.split("/")[-1])
    return ActionResult({"PublicKey": key, "ETag": key.etag})


def r_delete_public_key(self):
    self.backend.delete_public_key(key_id=self.path.split("/")[-1], if_match=_if_match(self))
    return EmptyResult()


def r_create_key_group(self):
    group = self.backend.create_key_group(
        name=self._get_param("KeyGroupConfig.Name"),
        items=self._get_param("KeyGroupConfig.Items", []),
        comment=self._get_param("KeyGroupConfig.Comment", ""),
    )
    return ActionResult({"KeyGroup": group, "Location": group.location, "ETag": group.etag})


def r_get_key_group(self):
    group = self.backend.get_key_group(group_id=self.path.split("/")[-1])
    return ActionResult({"KeyGroup": group, "ETag": group.etag})


def r_update_key_group(self):
    group = self.backend.update_key_group(
        group_id=self.path.split("/")[-1],
        if_match=_if_match(self),
        name=self._get_param("KeyGroupConfig.Name"),
        items=self._get_param("KeyGroupConfig.Items", []),
        comment=self._get_param("KeyGroupConfig.Comment", ""),
    )
    return ActionResult({"KeyGroup": group, "ETag": group.etag})


def r_delete_key_group(self):
    self.backend.delete_key_group(group_id=self.path.split("/")[-1], if_match=_if_match(self))
    return EmptyResult()


R.create_public_key = r_create_public_key
R.get_public_key = r_get_public_key
R.delete_public_key = r_delete_public_key
R.create_key_group = r_create_key_group
R.get_key_group = r_get_key_group
R.update_key_group = r_update_key_group
R.delete_key_group = r_delete_key_group


# ------------------------------------------------------------------------- Secrets Manager

SMB = sm_models.SecretsManagerBackend
_orig_put = SMB.put_secret_value
_orig_get = SMB.get_secret_value
LAMBDA_ENDPOINT = None
LAMBDA_FUNCTION = None


def _sync_default(secret):
    """moto moves AWSCURRENT/AWSPREVIOUS from `default_version_id`, which UpdateSecretVersionStage
    never updates; without this, a later PutSecretValue left two versions holding AWSCURRENT.
    In AWS a staging label is on at most one version."""
    holder = next((v for v, d in getattr(secret, "versions", {}).items() if "AWSCURRENT" in d["version_stages"]), None)
    if holder:
        secret.default_version_id = holder


def put_secret_value(self, secret_id, secret_string, secret_binary, client_request_token, version_stages):
    if self._is_valid_identifier(secret_id):
        _sync_default(self.secrets[secret_id])
    if self._is_valid_identifier(secret_id) and client_request_token:
        secret = self.secrets[secret_id]
        version = getattr(secret, "versions", {}).get(client_request_token)
        if version is not None and ("secret_string" in version or "secret_binary" in version):
            if version.get("secret_string") != secret_string or version.get("secret_binary") != secret_binary:
                raise ResourceExistsException(
                    f"You can't modify an existing version; version {client_request_token} already has a different value."
                )
        elif version is not None:
            # A staged version with no value yet (RotateSecret): fill it in, keep its stages.
            version["secret_string"] = secret_string
            if secret_binary is not None:
                version["secret_binary"] = secret_binary
            for stage in version_stages or []:
                if stage not in version["version_stages"]:
                    secret.remove_version_stages_from_old_versions([stage])
                    version["version_stages"].append(stage)
            return secret.to_short_dict(include_version_stages=True, version_id=client_request_token)
    return _orig_put(self, secret_id, secret_string, secret_binary, client_request_token, version_stages)


def get_secret_value(self, secret_id, version_id, version_stage):
    if self._is_valid_identifier(secret_id):
        secret = self.secrets[secret_id]
        versions = getattr(secret, "versions", {})
        vid = version_id
        if not vid and version_stage:
            vid = next((v for v, d in versions.items() if version_stage in d["version_stages"]), None)
        if vid in versions and "secret_string" not in versions[vid] and "secret_binary" not in versions[vid]:
            raise ResourceNotFoundException(
                f"Secrets Manager can't find the specified secret value for VersionId: {vid}"
            )
    return _orig_get(self, secret_id, version_id, version_stage)


def rotate_secret(self, secret_id, client_request_token=None, rotation_lambda_arn=None, rotation_rules=None, rotate_immediately=True):
    if not self._is_valid_identifier(secret_id):
        raise sm_models.SecretNotFoundException()
    secret = self.secrets[secret_id]
    if rotation_lambda_arn:
        secret.rotation_lambda_arn = rotation_lambda_arn
    if not getattr(secret, "rotation_lambda_arn", None):
        raise sm_models.InvalidRequestException("No Lambda rotation function ARN is associated with this secret.")
    if rotation_rules:
        secret.auto_rotate_after_days = rotation_rules.get("AutomaticallyAfterDays", 0) or 0
        secret.rotation_rules_extra = {k: v for k, v in rotation_rules.items() if k != "AutomaticallyAfterDays"}
        if secret.auto_rotate_after_days:
            secret.next_rotation_date = int(time.time()) + secret.auto_rotate_after_days * 86400
    secret.rotation_enabled = True
    secret.rotation_requested = True  # moto reports rotation settings only once this is set
    current = next((v for v, d in secret.versions.items() if "AWSCURRENT" in d["version_stages"]), None)
    pending = next((v for v, d in secret.versions.items() if "AWSPENDING" in d["version_stages"]), None)
    # A configuration test's version (RotateImmediately=false) is Secrets Manager's own and
    # goes by itself; only a rotation left pending blocks the next one.
    if pending and pending != current and pending != getattr(secret, "config_test_token", None):
        raise sm_models.InvalidRequestException(
            "A previous rotation isn't complete. That rotation will be reattempted."
        )
    token = client_request_token or str(uuid.uuid4())
    if not rotate_immediately and not LAMBDA_ENDPOINT:
        # No Lambda to test the configuration with: the test's version would be created and
        # removed at once, so there is nothing to stage.
        secret.last_rotation_date = int(time.time())
        return secret.to_short_dict()
    secret.remove_version_stages_from_old_versions(["AWSPENDING"])
    secret.versions[token] = {"createdate": int(time.time()), "version_id": token, "version_stages": ["AWSPENDING"]}
    if not rotate_immediately:
        # "Secrets Manager tests the rotation configuration by running the testSecret step of
        # the Lambda rotation function. The test creates an AWSPENDING version of the secret and
        # then removes it." (API_RotateSecret.html)
        steps = ["testSecret"]
    else:
        steps = ["createSecret", "setSecret", "testSecret", "finishSecret"]
    secret.last_rotation_status = "InProgress"
    # RotateSecret answers at once; the steps run after it, the configuration test too (a
    # function that is not running yet must not hold the caller: Terraform retries the call).
    secret.config_test_token = token if steps == ["testSecret"] else None
    if LAMBDA_ENDPOINT:
        threading.Thread(target=_run_rotation, args=(self, secret, token, steps), daemon=True).start()
    secret.last_rotation_date = int(time.time())
    return secret.to_short_dict(version_id=token)


ROTATION_ATTEMPTS = 3


def _invoke(url, secret, token, step):
    event = {"Step": step, "SecretId": secret.arn, "ClientRequestToken": token, "RotationToken": str(uuid.uuid4())}
    req = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            body = resp.read().decode()
            return not (resp.headers.get("X-Amz-Function-Error") or '"errorType"' in body), body
    except Exception as e:  # noqa: BLE001 - any failure is a failed invocation
        return False, str(e)


def _run_rotation(backend, secret, token, steps):
    """Plays Secrets Manager: invoke the steps in order; "if any rotation step fails, Secrets
    Manager retries the entire rotation process multiple times"
    (https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_lambda.html),
    with the same token. How often and how far apart is not documented: here 3 tries, 1 s and
    2 s apart."""
    function = LAMBDA_FUNCTION or secret.rotation_lambda_arn.split(":function:")[-1].split(":")[0]
    url = f"{LAMBDA_ENDPOINT.rstrip('/')}/2015-03-31/functions/{function}/invocations"
    for attempt in range(ROTATION_ATTEMPTS if "createSecret" in steps else 1):
        failed_step = None
        for step in steps:
            ok, body = _invoke(url, secret, token, step)
            if not ok:
                failed_step = step
                LOG.warning("rotation %s %s failed (attempt %d): %s", secret.name, step, attempt + 1, body[:300])
                break
        if failed_step is None:
            break
        time.sleep(1 + attempt)
    version = secret.versions.get(token)
    if steps == ["testSecret"]:
        # The configuration test's version goes again, whatever the outcome; a rotation started
        # meanwhile owns AWSPENDING and the status.
        if version is not None:
            version["version_stages"] = [s for s in version["version_stages"] if s != "AWSPENDING"]
            if not version["version_stages"]:
                del secret.versions[token]
        if getattr(secret, "config_test_token", None) == token:
            secret.config_test_token = None
            secret.last_rotation_status = "Succeeded" if failed_step is None else "Failed:testSecret"
        return
    if failed_step is not None:
        # AWSPENDING stays on the version: the next RotateSecret is refused until it is resolved.
        secret.last_rotation_status = f"Failed:{failed_step}"
        return
    if version and "AWSPENDING" in version["version_stages"]:
        version["version_stages"].remove("AWSPENDING")
    secret.last_rotation_status = "Succeeded"


_orig_to_dict = sm_models.FakeSecret.to_dict


def _days_of(expression):
    """AutomaticallyAfterDays as DescribeSecret reports it for a schedule expression: "In
    DescribeSecret and ListSecrets, this value is calculated from the rotation schedule"
    (API_RotationRulesType.html). rate(N days) -> N; rate(N hours) -> whole days, at least 1;
    a cron() -> 1 when it runs daily. The exact rounding for hours is not documented."""
    m = re.match(r"^rate\((\d+) (hour|hours|day|days)\)$", (expression or "").strip())
    if m:
        n = int(m.group(1))
        return n if m.group(2).startswith("day") else max(1, n // 24)
    if (expression or "").startswith("cron("):
        return 1
    return None


def secret_to_dict(self):
    d = _orig_to_dict(self)
    extra = getattr(self, "rotation_rules_extra", None)
    if extra and "RotationRules" in d:
        d["RotationRules"].update(extra)
        days = _days_of(extra.get("ScheduleExpression"))
        if days:
            d["RotationRules"]["AutomaticallyAfterDays"] = days
        if not d["RotationRules"].get("AutomaticallyAfterDays"):
            d["RotationRules"].pop("AutomaticallyAfterDays", None)
    return d


sm_models.FakeSecret.to_dict = secret_to_dict
_orig_update_stage = SMB.update_secret_version_stage


def update_secret_version_stage(self, *args, **kwargs):
    result = _orig_update_stage(self, *args, **kwargs)
    secret_id = kwargs.get("secret_id", args[0] if args else None)
    if secret_id and self._is_valid_identifier(secret_id):
        _sync_default(self.secrets[secret_id])
    return result


def list_secret_version_ids(self, secret_id):
    """moto reports every version's CreatedDate as the time of the call; Secrets Manager reports
    when the version was created ("CreatedDate: The date and time this version of the secret was
    created", https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_ListSecretVersionIds.html),
    which the rotator's key check measures the key's age by. Versions without a staging label
    are left out, as without IncludeDeprecated."""
    if not self._is_valid_identifier(secret_id):
        raise sm_models.SecretNotFoundException()
    secret = self.secrets[secret_id]
    versions = [
        {"CreatedDate": v.get("createdate", int(time.time())), "VersionId": vid, "VersionStages": v["version_stages"]}
        for vid, v in secret.versions.items() if v["version_stages"]
    ]
    return json.dumps({"ARN": secret.arn, "Name": secret.name, "Versions": versions})


SMB.update_secret_version_stage = update_secret_version_stage
SMB.list_secret_version_ids = list_secret_version_ids
SMB.put_secret_value = put_secret_value
SMB.get_secret_value = get_secret_value
SMB.rotate_secret = rotate_secret


# ------------------------------------------------------------------------- infra run: CloudFront response headers policies
# moto has no response headers policies; infra's distribution attaches one (security headers,
# CORS). Written from the CloudFront API reference:
# https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_CreateResponseHeadersPolicy.html,
# .../API_GetResponseHeadersPolicy.html, .../API_UpdateResponseHeadersPolicy.html,
# .../API_DeleteResponseHeadersPolicy.html (If-Match; NoSuchResponseHeadersPolicy 404;
# ResponseHeadersPolicyAlreadyExists 409; ResponseHeadersPolicyInUse 409).

from moto.cloudfront import urls as cf_urls

cf_urls.url_paths.update({
    "{0}/2020-05-31/response-headers-policy$": cf_responses.CloudFrontResponse.dispatch,
    "{0}/2020-05-31/response-headers-policy/(?P<policy_id>[^/]+)$": cf_responses.CloudFrontResponse.dispatch,
    "{0}/2020-05-31/response-headers-policy/(?P<policy_id>[^/]+)/config$": cf_responses.CloudFrontResponse.dispatch,
})
RESPONSE_HEADERS_POLICIES = {}


def _rhp_lookup(policy_id):
    policy = RESPONSE_HEADERS_POLICIES.get(policy_id)
    if policy is None:
        raise CloudFrontError("NoSuchResponseHeadersPolicy", "The response headers policy does not exist.", 404)
    return policy


def _rhp_result(policy):
    return ActionResult({
        "ResponseHeadersPolicy": {"Id": policy["Id"], "LastModifiedTime": policy["LastModifiedTime"], "ResponseHeadersPolicyConfig": policy["Config"]},
        "ETag": policy["ETag"],
        "Location": f"https://cloudfront.amazonaws.com/2020-05-31/response-headers-policy/{policy['Id']}",
    })


def _rhp_id(self):
    parts = self.path.rstrip("/").split("/")
    return parts[-2] if parts[-1] == "config" else parts[-1]


def r_create_response_headers_policy(self):
    config = self._get_param("ResponseHeadersPolicyConfig")
    if any(p["Config"].get("Name") == config.get("Name") for p in RESPONSE_HEADERS_POLICIES.values()):
        raise CloudFrontError("ResponseHeadersPolicyAlreadyExists", "A response headers policy with this name already exists.", 409)
    policy = {"Id": str(uuid.uuid4()), "LastModifiedTime": utcnow(), "Config": config, "ETag": new_etag()}
    RESPONSE_HEADERS_POLICIES[policy["Id"]] = policy
    return _rhp_result(policy)


def r_get_response_headers_policy(self):
    return _rhp_result(_rhp_lookup(_rhp_id(self)))


def r_get_response_headers_policy_config(self):
    policy = _rhp_lookup(_rhp_id(self))
    return ActionResult({"ResponseHeadersPolicyConfig": policy["Config"], "ETag": policy["ETag"]})


def r_update_response_headers_policy(self):
    policy = _rhp_lookup(_rhp_id(self))
    check_if_match(_if_match(self), policy["ETag"])
    policy.update(Config=self._get_param("ResponseHeadersPolicyConfig"), ETag=new_etag(), LastModifiedTime=utcnow())
    return _rhp_result(policy)


def r_delete_response_headers_policy(self):
    policy_id = _rhp_id(self)
    policy = _rhp_lookup(policy_id)
    check_if_match(_if_match(self), policy["ETag"])
    for dist in self.backend.distributions.values():
        if policy_id in json.dumps(dist.distribution_config.__dict__, default=lambda o: getattr(o, "__dict__", str(o))):
            raise CloudFrontError("ResponseHeadersPolicyInUse", "The response headers policy is in use.", 409)
    del RESPONSE_HEADERS_POLICIES[policy_id]
    return EmptyResult()


R.create_response_headers_policy = r_create_response_headers_policy
R.get_response_headers_policy = r_get_response_headers_policy
R.get_response_headers_policy_config = r_get_response_headers_policy_config
R.update_response_headers_policy = r_update_response_headers_policy
R.delete_response_headers_policy = r_delete_response_headers_policy
CF_ROUTES_INFRA = [
    ("POST", r"/2020-05-31/response-headers-policy$", "CreateResponseHeadersPolicy"),
    ("GET", r"/2020-05-31/response-headers-policy/[^/]+$", "GetResponseHeadersPolicy"),
    ("PUT", r"/2020-05-31/response-headers-policy/[^/]+$", "UpdateResponseHeadersPolicy"),
    ("DELETE", r"/2020-05-31/response-headers-policy/[^/]+$", "DeleteResponseHeadersPolicy"),
]


# ------------------------------------------------------------------------- infra run: what the distribution and Lambda return
# Read back as CloudFront and Lambda answer, so a second `terraform plan` sees no change and the
# infra test can check what users depend on:
#  - an origin keeps its OriginAccessControlId
#    (https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_Origin.html);
#  - a behavior with a CachePolicyId has no ForwardedValues, the deprecated alternative
#    (https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_CacheBehavior.html);
#  - SSLSupportMethod only with a custom certificate
#    (https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_ViewerCertificate.html);
#  - a function keeps its LoggingConfig
#    (https://docs.aws.amazon.com/lambda/latest/api/API_LoggingConfig.html).

from moto.awslambda import models as lambda_models

_orig_origin_init = cf_models.Origin.__init__


def _origin_init(self, origin):
    _orig_origin_init(self, origin)
    self.origin_access_control_id = origin.get("OriginAccessControlId") or ""


cf_models.Origin.__init__ = _origin_init
_orig_behaviour_init = cf_models.DefaultCacheBehaviour.__init__


def _behaviour_init(self, config):
    uses_cache_policy = bool(config.get("CachePolicyId")) and "ForwardedValues" not in config
    _orig_behaviour_init(self, config)
    if uses_cache_policy:
        self.forwarded_values = None


cf_models.DefaultCacheBehaviour.__init__ = _behaviour_init
_orig_cert_init = cf_models.ViewerCertificate.__init__


def _cert_init(self, config):
    # SSLSupportMethod is only set (and returned) with a custom certificate.
    _orig_cert_init(self, config)
    self.ssl_support_method = config.get("SSLSupportMethod") or None


cf_models.ViewerCertificate.__init__ = _cert_init
_orig_fn_init = lambda_models.LambdaFunction.__init__
_orig_fn_update = lambda_models.LambdaFunction.update_configuration
_orig_fn_config = lambda_models.LambdaFunction.get_configuration


def _fn_logging(spec, name):
    given = spec.get("LoggingConfig") or {}
    out = {"LogFormat": given.get("LogFormat", "Text"), "LogGroup": given.get("LogGroup", f"/aws/lambda/{name}")}
    if out["LogFormat"] == "JSON":
        out["ApplicationLogLevel"] = given.get("ApplicationLogLevel", "INFO")
        out["SystemLogLevel"] = given.get("SystemLogLevel", "INFO")
    return out


def _fn_init(self, account_id, spec, region, *args, **kwargs):
    _orig_fn_init(self, account_id, spec, region, *args, **kwargs)
    self.logging_config = _fn_logging(spec, self.function_name)


def _fn_update(self, config_updates):
    result = _orig_fn_update(self, config_updates)
    if "LoggingConfig" in config_updates:
        self.logging_config = _fn_logging(config_updates, self.function_name)
    return result


def _fn_config(self, *args, **kwargs):
    config = _orig_fn_config(self, *args, **kwargs)
    config["LoggingConfig"] = getattr(self, "logging_config", None) or _fn_logging({}, self.function_name)
    return config


lambda_models.LambdaFunction.__init__ = _fn_init
lambda_models.LambdaFunction.update_configuration = _fn_update
lambda_models.LambdaFunction.get_configuration = _fn_config

# ------------------------------------------------------------------------- infra run: enforced IAM
# moto enforces IAM once told to (INITIAL_NO_AUTH_ACTION_COUNT, or POST /moto-api/reset-auth),
# but it authorizes Secrets Manager and SSM calls against Resource "*", so a role granted an
# action on one secret or parameter ARN, as IAM policies should be written, is refused even that.
# These give the request's real resource, as IAM evaluates it:
# https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecretsmanager.html
# (resource type "Secret": the secret's ARN) and
# https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssystemsmanager.html
# (resource type "parameter": arn:...:parameter/NAME without the leading slash).
# CloudFront's key actions take no resource-level permissions ("*"), which moto already uses.

from moto.secretsmanager import responses as sm_responses
from moto.ssm import responses as ssm_responses


def _secret_resource(self):
    secret_id = self._get_param("SecretId")
    if secret_id:
        try:
            backend = sm_models.secretsmanager_backends[self.current_account][self.region]
            if backend._is_valid_identifier(secret_id):
                return backend.secrets[secret_id].arn
        except Exception:  # noqa: BLE001 - unknown secret: let the action answer ResourceNotFound
            pass
    return "*"


def _parameter_resource(self):
    name = self._get_param("Name")
    if name and not name.startswith("arn:"):
        return f"arn:aws:ssm:{self.region}:{self.current_account}:parameter/{name.lstrip('/')}"
    return name or "*"


sm_responses.SecretsManagerResponse._determine_resource = _secret_resource
ssm_responses.SimpleSystemManagerResponse._determine_resource = _parameter_resource


from moto.iam import access_control as iam_access_control
_orig_aws_request = iam_access_control.IAMRequestBase._create_aws_request


def _aws_request(self):
    # moto signs a bodiless request (a REST GET such as CloudFront's ListPublicKeys) over its
    # parsed parameters instead of the empty payload the client signed, so every such call failed
    # with SignatureDoesNotMatch once IAM was enforced (SigV4: the payload hash is of the body,
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html).
    request = _orig_aws_request(self)
    if not self._body and self._method in ("GET", "HEAD", "DELETE"):
        request.data = b""
    return request


iam_access_control.IAMRequestBase._create_aws_request = _aws_request


class IamErrorShapes:
    """moto answers every refused call in the Query protocol's error shape
    (<ErrorResponse><Errors><Error>), which REST-XML and JSON clients cannot read: the AWS SDK
    reports an error with no code. Rewritten here to the shape of the service called:
    CloudFront's <ErrorResponse><Error>... with AccessDenied
    (https://docs.aws.amazon.com/cloudfront/latest/APIReference/CommonErrors.html), and for the
    JSON services (Secrets Manager, SSM) {"__type": "AccessDeniedException", ...}
    (https://docs.aws.amazon.com/secretsmanager/latest/apireference/CommonErrors.html)."""

    QUERY_ERROR = re.compile(rb"<Errors>\s*(<Error>.*?</Error>)\s*</Errors>", re.S)
    MESSAGE = re.compile(rb"<Message>(.*?)</Message>", re.S)

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        op = operation_of(Request(environ))
        json_service = bool(environ.get("HTTP_X_AMZ_TARGET"))
        if not (op.startswith("cloudfront.") or json_service):
            return self.app(environ, start_response)
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        body = b"".join(self.app(environ, capture))
        status, headers = captured["status"], captured["headers"]
        found = self.QUERY_ERROR.search(body) if status.startswith("403") else None
        if found:
            headers = [(k, v) for k, v in headers if k.lower() not in ("content-length", "content-type")]
            if json_service:
                message = self.MESSAGE.search(found.group(1))
                body = json.dumps({"__type": "AccessDeniedException", "message": message.group(1).decode() if message else "access denied"}).encode()
                headers += [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", "AccessDeniedException")]
            else:
                body = b'<?xml version="1.0"?><ErrorResponse xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/">' + found.group(1) + b"<RequestId>" + str(uuid.uuid4()).encode() + b"</RequestId></ErrorResponse>"
                headers.append(("Content-Type", "text/xml"))
            headers.append(("Content-Length", str(len(body))))
        start_response(status, headers)
        return [body]

# ------------------------------------------------------------------------- middleware

CF_ROUTES = [
    ("POST", r"/2020-05-31/public-key$", "CreatePublicKey"),
    ("GET", r"/2020-05-31/public-key$", "ListPublicKeys"),
    ("GET", r"/2020-05-31/public-key/[^/]+$", "GetPublicKey"),
    ("DELETE", r"/2020-05-31/public-key/[^/]+$", "DeletePublicKey"),
    ("POST", r"/2020-05-31/key-group$", "CreateKeyGroup"),
    ("GET", r"/2020-05-31/key-group$", "ListKeyGroups"),
    ("GET", r"/2020-05-31/key-group/[^/]+$", "GetKeyGroup"),
    ("PUT", r"/2020-05-31/key-group/[^/]+$", "UpdateKeyGroup"),
    ("DELETE", r"/2020-05-31/key-group/[^/]+$", "DeleteKeyGroup"),
] + CF_ROUTES_INFRA
TARGET_PREFIXES = {"secretsmanager": "secretsmanager", "AmazonSSM": "ssm", "AWSCognitoIdentityProviderService": "cognito-idp"}


def operation_of(request):
    target = request.headers.get("X-Amz-Target")
    if target and "." in target:
        prefix, op = target.split(".", 1)
        return f"{TARGET_PREFIXES.get(prefix, prefix)}.{op}"
    for method, pattern, op in CF_ROUTES:
        if request.method == method and re.search(pattern, request.path):
            return f"cloudfront.{op}"
    auth = request.headers.get("Authorization", "")
    m = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/", auth)
    service = m.group(1) if m else "unknown"
    # Never read the body here: moto reads it from the same WSGI stream afterwards.
    action = request.args.get("Action")
    return f"{service}.{action}" if action else f"{service}.{request.method} {request.path}"


class Controls:
    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()
        self.faults = []
        self.calls = []

    def __call__(self, environ, start_response):
        request = Request(environ)
        if request.path.startswith("/_emulator/"):
            return self.control(request)(environ, start_response)
        op = operation_of(request)
        fault = None
        with self.lock:
            self.calls.append(op)
            for f in self.faults:
                if f["operation"] == op and f["count"] > 0:
                    f["count"] -= 1
                    fault = f
                    break
        if fault:
            return self.fault_response(op, fault)(environ, start_response)
        return self.app(environ, start_response)

    @staticmethod
    def fault_response(op, fault):
        code, status = fault.get("code", "ServiceUnavailable"), int(fault.get("status", 503))
        message = f"injected fault for {op}"
        if op.startswith("cloudfront."):
            body = f'<?xml version="1.0"?><ErrorResponse><Error><Type>Receiver</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>'
            return Response(body, status=status, content_type="text/xml")
        body = json.dumps({"__type": code, "message": message})
        return Response(body, status=status, content_type="application/x-amz-json-1.1", headers={"x-amzn-ErrorType": code})

    def control(self, request):
        with self.lock:
            if request.path == "/_emulator/health":
                return Response("ok")
            if request.path == "/_emulator/faults":
                if request.method == "POST":
                    fault = json.loads(request.get_data())
                    fault.setdefault("count", 1)
                    self.faults.append(fault)
                    return Response(json.dumps(fault), content_type="application/json")
                if request.method == "DELETE":
                    self.faults.clear()
                    return Response("", status=204)
            if request.path == "/_emulator/quota" and request.method == "POST":
                global PUBLIC_KEY_QUOTA
                PUBLIC_KEY_QUOTA = int(json.loads(request.get_data())["public_keys"])
                return Response("", status=204)
            if request.path == "/_emulator/calls":
                if request.method == "GET":
                    return Response(json.dumps(self.calls), content_type="application/json")
                if request.method == "DELETE":
                    self.calls.clear()
                    return Response("", status=204)
        return Response("unknown control", status=404)


def main(argv=None):
    global LAMBDA_ENDPOINT, LAMBDA_FUNCTION, PUBLIC_KEY_QUOTA
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--lambda-endpoint", help="Lambda Invoke API base URL that RotateSecret calls (e.g. cargo lambda watch)")
    parser.add_argument("--public-key-quota", type=int, default=PUBLIC_KEY_QUOTA, help="public keys per account (CloudFront's default quota is 10)")
    parser.add_argument("--lambda-function", help="function name to invoke there (default: from RotationLambdaARN; `_` for cargo lambda watch --only-lambda-apis)")
    args = parser.parse_args(argv)
    LAMBDA_ENDPOINT = args.lambda_endpoint
    LAMBDA_FUNCTION = args.lambda_function
    PUBLIC_KEY_QUOTA = args.public_key_quota
    logging.basicConfig(level=logging.WARNING, format="emulator: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = Controls(IamErrorShapes(DomainDispatcherApplication(create_backend_app)))
    print(f"emulator listening on http://{args.host}:{args.port}", flush=True)
    run_simple(args.host, args.port, app, threaded=True, use_reloader=False)


if __name__ == "__main__":
    sys.exit(main())
