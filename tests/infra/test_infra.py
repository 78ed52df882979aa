"""infra/ held to the code, checked offline, and applied to the emulator.

- parse-level checks (python-hcl2): each function's IAM actions are exactly the API calls its
  adapters make (the tables in rotator/src/sdk.rs and endpoint/src/wiring.rs), its CFCOOKIE_*
  variables are ones the binary reads, the zip paths are what `cargo lambda build` writes,
  the default behavior trusts the key group, /cookie and /cookie/* disable caching, the bucket blocks
  public access;
- `terraform fmt -check`, `init -plugin-dir` (offline) and `validate`;
- bad .tfvars refused by validation blocks with clear messages;
- `terraform apply` to the emulator, `cfcookie rotate` + `status` on what it made, `destroy`
  and `cfcookie purge-keys`, leaving nothing behind.

Needs terraform and the hashicorp/aws provider in a local plugin mirror (CFCOOKIE_TF_PLUGIN_DIR,
default /opt/tf-plugins); a missing one fails, never skips.
"""

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import boto3
import hcl2
import pytest

# The emulator apply's helpers, shared with the whole local stack (scripts/whole-stack).
from whole_stack import CLIENT_KW, PLUGIN_DIR, TF_ENV, copy_infra, emulator_provider, free_port, self_signed, tf, wait_for, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"


def unquote(value):
    """python-hcl2 8 keeps HCL's quotes on labels and string literals: drop them."""
    if isinstance(value, dict):
        return {unquote(k): unquote(v) for k, v in value.items() if k not in ("__is_block__", "__comments__")}
    if isinstance(value, list):
        return [unquote(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def parsed():
    docs = {}
    for path in sorted(INFRA.glob("*.tf")):
        with open(path) as f:
            docs[path.name] = unquote(hcl2.load(f))
    return docs


def blocks(kind, type_name=None):
    out = {}
    for doc in parsed().values():
        for entry in doc.get(kind, []):
            if type_name is None:
                out.update(entry)
            else:
                for name, body in entry.get(type_name, {}).items():
                    out[name] = body
    return out


def rust_table(path, const):
    text = (ROOT / path).read_text()
    m = re.search(const + r"[^=]*=\s*&\[(.*?)\];", text, re.S)
    assert m, f"{const} not found in {path}"
    return set(re.findall(r'"([a-z0-9-]+:[A-Za-z]+)"', m.group(1)))


def env_vars_read(component):
    """The settings the one settings reader (config/) declares `component` reads."""
    text = (ROOT / "config/src/lib.rs").read_text()
    declared = re.findall(r'^\s+[A-Z_0-9]+: "(CFCOOKIE_[A-Z_0-9]+)", \[([A-Za-z, ]+)\]', text, re.M)
    assert declared, "no settings found in config/src/lib.rs"
    return {name for name, components in declared if component in [c.strip() for c in components.split(",")]}


def policy_actions(name):
    doc = blocks("data", "aws_iam_policy_document")[name]
    actions = set()
    for st in doc["statement"]:
        actions |= set(st["actions"])
    return actions


def test_terraform_and_provider_are_installed():
    assert shutil.which("terraform"), "terraform is not installed"
    assert list(Path(PLUGIN_DIR).glob("registry.terraform.io/hashicorp/aws/*")), f"no hashicorp/aws provider under {PLUGIN_DIR}"


def test_each_role_grants_exactly_the_calls_its_code_makes():
    assert policy_actions("rotator") == rust_table("rotator/src/sdk.rs", "ROTATOR_API_CALLS")
    assert policy_actions("endpoint") == rust_table("endpoint/src/wiring.rs", "ENDPOINT_API_CALLS")


def test_environment_variables_are_the_ones_the_binaries_read():
    modules = blocks("module")
    rotator_reads = env_vars_read("Rotator")
    endpoint_reads = env_vars_read("Endpoint")
    for name, reads, required in (
        ("rotator", rotator_reads, {"CFCOOKIE_KEY_GROUP_ID", "CFCOOKIE_KEY_ID_PARAMETER", "CFCOOKIE_KEY_NAME_PREFIX"}),
        ("endpoint", endpoint_reads, {"CFCOOKIE_SECRET_ID", "CFCOOKIE_USER_POOL_ID", "CFCOOKIE_CLIENT_IDS", "CFCOOKIE_TOKEN_HEADER"}),
    ):
        env = modules[name]["environment"]
        keys = set()
        for part in (env if isinstance(env, list) else [env]):
            keys |= set(re.findall(r"(CFCOOKIE_[A-Z_]+)", json.dumps(part)))
        unknown = keys - reads - contract_variables()
        assert not unknown, f"{name} sets variables its binary never reads: {unknown}"
        assert required <= keys, f"{name} lacks {required - keys}"


def test_key_algorithm_is_validated_and_reaches_the_rotator():
    variable = blocks("variable")["key_algorithm"]
    assert variable["default"] == "RSA_2048", "the client asked for RSA by default"
    conditions = " ".join(json.dumps(v["condition"]) for v in variable["validation"])
    allowed = set(re.findall(r"(RSA_2048|ECDSA_P256|[A-Z]+_[A-Z0-9]+)", conditions))
    # The rotator accepts exactly the names the variable allows.
    config = (ROOT / "rotator/src/config.rs").read_text()
    m = re.search(r"pub fn key_algorithm.*?\n}\n", config, re.S)
    assert m, "key_algorithm() not found in rotator/src/config.rs"
    rust_accepts = set(re.findall(r'Some\("([A-Z0-9_]+)"\)', m.group(0)))
    assert allowed == rust_accepts == {"RSA_2048", "ECDSA_P256"}, (allowed, rust_accepts)
    env = json.dumps(blocks("module")["rotator"]["environment"])
    assert re.search(r"CFCOOKIE_KEY_ALGORITHM\W+=?\W*\$?\{?var\.key_algorithm", env) or (
        '"CFCOOKIE_KEY_ALGORITHM": "${var.key_algorithm}"' in env
    ), env


def contract_variables():
    """Settings agreed in docs/decisions/ that infra passes ahead of the binary reading them."""
    text = " ".join(p.read_text() for p in (ROOT / "docs/decisions").glob("*.md"))
    return set(re.findall(r"`(CFCOOKIE_[A-Z_]+)`", text))


def test_zip_paths_are_what_cargo_lambda_builds():
    variables = blocks("variable")
    ci = (ROOT / ".ci/run").read_text()
    for fn, var in (("cfcookie-rotator", "rotator_zip"), ("cfcookie-endpoint", "endpoint_zip")):
        assert variables[var]["default"] == f"../target/lambda/{fn}/bootstrap.zip"
        assert f"--bin {fn}" in ci and "--arm64 --output-format zip" in ci


def test_distribution_trusts_the_key_group_and_cookie_behaviors_are_uncached():
    dist = blocks("resource", "aws_cloudfront_distribution")["media"]
    default = dist["default_cache_behavior"][0]
    assert default["trusted_key_groups"] == ["${aws_cloudfront_key_group.signers.id}"]
    behaviors = dist["dynamic"][0]["ordered_cache_behavior"] if "dynamic" in dist else None
    assert behaviors and behaviors["for_each"] == "${local.cookie_paths}"
    cookie = behaviors["content"][0]
    assert cookie["cache_policy_id"] == "${local.cache_policy_disabled}"
    assert CACHING_DISABLED in (INFRA / "cdn.tf").read_text()
    assert "trusted_key_groups" not in cookie, "the cookie endpoint must be reachable without cookies"


def test_cookie_behaviors_are_exactly_the_endpoints_paths():
    # `cookie*` also matched /cookies/... and /cookie-jar.png, which then never reached S3.
    assert blocks("locals")["cookie_paths"] == ["/cookie", "/cookie/*"]


def test_cookie_behaviors_let_sign_out_post_through():
    # Sign-out is POST /cookie/remove; a behavior that allows only GET/HEAD/OPTIONS makes
    # CloudFront refuse it with 403 before the endpoint sees it.
    text = (INFRA / "cdn.tf").read_text()
    block = text[text.index('dynamic "ordered_cache_behavior"'):]
    block = block[: block.index("\n  }\n")]
    methods = re.search(r"allowed_methods\s*=\s*\[([^\]]*)\]", block)
    assert methods and '"POST"' in methods.group(1), block


def test_no_distribution_wide_error_pages_and_nothing_public():
    # Custom error responses apply to every behavior: they replaced the endpoint's own bodies
    # and cached one viewer's refusal for the next. errors/* was readable without cookies.
    dist = blocks("resource", "aws_cloudfront_distribution")["media"]
    assert "custom_error_response" not in json.dumps(dist)
    assert "errors/" not in json.dumps(dist)


def test_public_paths_are_opt_in_and_only_under_a_fixed_prefix():
    # An app's own pages on the media site (the example app of scripts/whole-stack) are served
    # without cookies only under the prefixes the operator names; the default stays protected.
    dist = blocks("resource", "aws_cloudfront_distribution")["media"]
    public = [d["ordered_cache_behavior"] for d in dist["dynamic"] if d.get("ordered_cache_behavior", {}).get("for_each") == "${var.public_paths}"]
    assert len(public) == 1, "no public_paths behavior"
    content = public[0]["content"][0]
    assert content["target_origin_id"] == "media" and "trusted_key_groups" not in content
    assert blocks("variable")["public_paths"]["default"] == []
    text = (INFRA / "cdn.tf").read_text()
    assert text.index("var.public_paths") > text.index("local.cookie_paths"), "the cookie paths must come first"


def test_alarm_topic_key_lets_cloudwatch_and_eventbridge_publish():
    # alias/aws/sns cannot grant them kms:GenerateDataKey*/kms:Decrypt: alarms never arrived.
    topic = blocks("resource", "aws_sns_topic")["alarms"]
    assert topic["kms_master_key_id"] == "${aws_kms_key.alarms.arn}", topic["kms_master_key_id"]
    policy = blocks("data", "aws_iam_policy_document")["alarms_key"]
    grants = [st for st in policy["statement"] if set(st["actions"]) >= {"kms:GenerateDataKey*", "kms:Decrypt"}]
    assert grants, "no statement grants kms:GenerateDataKey* and kms:Decrypt"
    services = {i for st in grants for p in st["principals"] for i in p["identifiers"]}
    assert {"cloudwatch.amazonaws.com", "events.amazonaws.com"} <= services, services


def test_lock_file_covers_every_platform_and_docs_say_how_to_add_one():
    lock = (INFRA / ".terraform.lock.hcl").read_text()
    zh = re.findall(r'"zh:([0-9a-f]{64})"', lock)
    # One zh: hash per package the provider publishes (linux, darwin, windows, freebsd,
    # openbsd, solaris on their architectures): 14 for 5.100.0.
    assert len(set(zh)) >= 14, f"only {len(set(zh))} platform hashes: terraform init fails off linux_amd64"
    deploy = (ROOT / "docs/deploy.md").read_text()
    assert re.search(r"terraform (-chdir=\S+ )?providers lock", deploy), "docs/deploy.md does not say how to lock more platforms"
    assert "-platform=darwin_arm64" in deploy and "-platform=windows_amd64" in deploy


def test_placeholder_version_keeps_a_label_of_its_own():
    version = blocks("resource", "aws_secretsmanager_secret_version")["placeholder"]
    assert version["version_stages"] == ["AWSCURRENT", "${local.placeholder_stage}"]
    assert blocks("locals")["placeholder_stage"] not in ("AWSCURRENT", "AWSPENDING", "AWSPREVIOUS")


def test_media_cors_is_answered_by_the_distribution():
    dist = blocks("resource", "aws_cloudfront_distribution")["media"]
    assert dist["default_cache_behavior"][0]["response_headers_policy_id"] == "${aws_cloudfront_response_headers_policy.media.id}"
    policy = blocks("resource", "aws_cloudfront_response_headers_policy")["media"]
    cors = policy["dynamic"][0]["cors_config"]["content"][0]
    assert cors["access_control_allow_credentials"] is True and cors["origin_override"] is True
    assert cors["access_control_allow_origins"][0]["items"] == "${var.cors_allowed_origins}"


def test_cloudfront_may_list_the_bucket_so_a_missing_key_is_404_and_root_is_no_listing():
    policy = blocks("data", "aws_iam_policy_document")["media_bucket"]
    listing = [st for st in policy["statement"] if "s3:ListBucket" in st["actions"]]
    assert listing and "${aws_s3_bucket.media.arn}" in listing[0]["resources"]
    assert listing[0]["principals"][0]["identifiers"] == ["cloudfront.amazonaws.com"]
    assert blocks("resource", "aws_cloudfront_distribution")["media"]["default_root_object"] == "index.html"


def test_sign_up_is_closed_and_the_pool_protected_by_default():
    pool = blocks("resource", "aws_cognito_user_pool")["users"]
    assert pool["admin_create_user_config"][0]["allow_admin_create_user_only"] == "${!var.allow_self_sign_up}"
    variables = blocks("variable")
    assert variables["allow_self_sign_up"]["default"] is False
    assert variables["user_pool_deletion_protection"]["default"] is True
    assert "ACTIVE" in pool["deletion_protection"]


def test_canary_is_wired_within_the_rotators_timeout_and_invocation_is_scoped():
    rotator = blocks("module")["rotator"]
    assert "CFCOOKIE_CANARY_URL" in json.dumps(rotator["environment"])
    loc = blocks("locals")
    attempts, backoff_ms, timeout = loc["canary_attempts"], loc["canary_backoff_ms"], loc["rotator_timeout_seconds"]
    request_timeout = int(re.search(r"timeout_global\(Some\(std::time::Duration::from_secs\((\d+)\)", (ROOT / "rotator/src/ports.rs").read_text()).group(1))
    waits = sum(backoff_ms * 2**i for i in range(attempts - 1)) / 1000
    # Leave the other steps' calls half the function's time.
    assert attempts * request_timeout + waits <= timeout / 2 + 30, (attempts, request_timeout, waits, timeout)
    permission = blocks("resource", "aws_lambda_permission")["secrets_manager_invokes_rotator"]
    assert permission["source_arn"] == "${aws_secretsmanager_secret.signing_key.arn}"


def test_rotation_schedule_uses_days_from_a_day_on():
    loc = blocks("locals")
    assert "days" in loc["rotation_schedule"] and "hours" in loc["rotation_schedule"]
    variables = (INFRA / "variables.tf").read_text()
    assert "var.rotation_interval_hours % 24 == 0" in variables
    # A day rate without Duration has a whole-day window: two rotations a minute apart, which
    # the rotator's interval guard refuses (rate(1 day) would never rotate). Day rates carry a
    # Duration, and the spacing the validation checks is interval - window.
    assert loc["rotation_window"] == '${var.rotation_interval_hours < 24 ? null : "${var.rotation_window_hours}h"}'
    rotation = blocks("resource", "aws_secretsmanager_secret_rotation")["signing_key"]
    assert rotation["rotation_rules"][0]["duration"] == "${local.rotation_window}"
    assert "(var.rotation_interval_hours - (var.rotation_interval_hours < 24 ? 1 : var.rotation_window_hours)) * 3600 >" in variables


def test_key_id_parameters_and_their_grant_come_from_one_list():
    policy = blocks("data", "aws_iam_policy_document")["rotator"]
    grant = [st for st in policy["statement"] if "ssm:PutParameter" in st["actions"]][0]
    assert grant["resources"] == "${local.key_id_parameter_arns}"
    assert 'CFCOOKIE_KEY_ID_PARAMETER   = join(",", local.key_id_parameters)' in (INFRA / "lambdas.tf").read_text()


def test_bucket_blocks_public_access():
    pab = blocks("resource", "aws_s3_bucket_public_access_block")["media"]
    for flag in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"):
        assert pab[flag] is True, flag


def test_fmt_init_validate(tmp_path):
    assert tf(["fmt", "-check", "-recursive", str(INFRA)], cwd=ROOT, check=False).returncode == 0, "terraform fmt -check failed"
    work = copy_infra(tmp_path)
    tf(["init", "-backend=false", "-input=false", f"-plugin-dir={PLUGIN_DIR}"], cwd=work)
    tf(["validate", "-no-color"], cwd=work)


def test_bad_tfvars_are_refused_with_clear_messages(tmp_path, endpoint):
    work = copy_infra(tmp_path)
    emulator_provider(work, endpoint)
    tf(["init", "-backend=false", "-input=false", f"-plugin-dir={PLUGIN_DIR}"], cwd=work)
    r = tf(["plan", "-input=false", "-no-color", "-var-file=examples/bad.tfvars", "-var=endpoint_zip=endpoint.zip"], cwd=work, check=False)
    assert r.returncode != 0
    out = " ".join((r.stdout + r.stderr).split())  # terraform wraps long messages
    for message in (
        "name_prefix must be 3-24 characters",
        "rotation_interval_hours is too short",
        "rotator_zip does not exist",
        "existing_user_pool_id needs existing_client_ids",
        "allow_self_sign_up needs required_groups",
        "acm_certificate_arn is a placeholder",
        "public_paths entries must be path patterns like /public/*",
    ):
        assert message in out, f"expected {message!r} in:\n{out}"


# A rotation retires the previous key only once no signer can still sign with it and its
# cookies have expired (P + TTL + L after it became current): short times let the tests rotate
# back to back, a few seconds apart.
SHORT_TIMES = {"CFCOOKIE_ACTIVATION_DELAY": "0", "CFCOOKIE_KEY_CACHE_TTL": "1", "CFCOOKIE_COOKIE_LIFETIME": "1"}
SHORT_SPACING = 3


def cfcookie(*args, env):
    binary = os.environ.get("CFCOOKIE_BIN", str(ROOT / "target/debug/cfcookie"))
    assert Path(binary).exists(), f"{binary} is not built (scripts/test builds it first)"
    return subprocess.run([binary, *args], env=env, capture_output=True, text=True, timeout=300)


EMULATOR_TFVARS = """name_prefix = "emu-stack"
emulator = true
rotate_immediately = false
secret_recovery_window_days = 0
force_destroy_bucket = true
user_pool_deletion_protection = false
rotator_zip = "rotator.zip"
endpoint_zip = "endpoint.zip"
rotation_interval_hours = 720
enable_uploads = true
cors_allowed_origins = ["https://app.example.com"]
extra_key_id_parameters = ["/emu-stack/other/key-id"]
cognito_domain_prefix = "emu-stack"
access_logs = true
"""


def planned_changes(work, tfvars="emulator.tfvars"):
    """The resource changes `terraform plan` proposes, as (address, actions)."""
    tf(["plan", "-input=false", "-no-color", f"-var-file={tfvars}", "-out=check.plan"], cwd=work)
    plan = json.loads(tf(["show", "-json", "check.plan"], cwd=work).stdout)
    return [(c["address"], c["change"]["actions"]) for c in plan.get("resource_changes", []) if c["change"]["actions"] != ["no-op"]]


def check_distribution(cf, out):
    """What users depend on, read back from the distribution as applied."""
    config = cf.get_distribution_config(Id=out["distribution_id"])["DistributionConfig"]
    origins = {o["Id"]: o for o in config["Origins"]["Items"]}
    assert origins["media"]["OriginAccessControlId"], "S3 is not behind OAC"
    assert origins["cookie-endpoint"]["OriginAccessControlId"], "the endpoint's function URL is not behind OAC"
    assert origins["cookie-endpoint"]["DomainName"].endswith(".on.aws")
    default = config["DefaultCacheBehavior"]
    assert default["TargetOriginId"] == "media"
    assert default["TrustedKeyGroups"]["Enabled"] and default["TrustedKeyGroups"]["Items"] == [out["key_group_id"]]
    assert default.get("ResponseHeadersPolicyId"), "no CORS/security headers policy on media"
    behaviors = {b["PathPattern"]: b for b in config["CacheBehaviors"]["Items"]}
    assert set(behaviors) == {"/cookie", "/cookie/*"}, set(behaviors)
    for b in behaviors.values():
        assert b["TargetOriginId"] == "cookie-endpoint"
        assert b["CachePolicyId"] == CACHING_DISABLED
        # Managed-AllViewerExceptHostHeader forwards every viewer header, the token header too.
        assert b["OriginRequestPolicyId"] == "b689b0a8-53d0-40ab-baf2-68738e2966ac"
        assert not b.get("TrustedKeyGroups", {}).get("Enabled")
    assert config.get("CustomErrorResponses", {}).get("Quantity", 0) == 0
    assert config["DefaultRootObject"] == "index.html"
    policy = cf.get_response_headers_policy(Id=default["ResponseHeadersPolicyId"])["ResponseHeadersPolicy"]["ResponseHeadersPolicyConfig"]
    cors = policy["CorsConfig"]
    assert cors["AccessControlAllowCredentials"] is True
    assert cors["AccessControlAllowOrigins"]["Items"] == ["https://app.example.com"]


IAM_SIM = Path(__file__).parent / "iam_sim"


def simulate(policy, principal, cases):
    """Decisions of an IAM policy simulator independent of the emulator (tests/infra/iam_sim)."""
    assert shutil.which("node"), "node is not installed (scripts/test installs it)"
    assert (IAM_SIM / "node_modules/@cloud-copilot/iam-simulate").is_dir(), "scripts/test installs tests/infra/iam_sim"
    request = {"policy": policy, "principal": principal, "accountId": "123456789012", "cases": cases}
    r = subprocess.run(["node", str(IAM_SIM / "evaluate.mjs")], input=json.dumps(request), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert all("decision" in o for o in out), out
    return [o["decision"] for o in out]


def check_upload_scoping(kw, out):
    """The uploader role, as the emulator holds it, writes only under the caller's own prefix."""
    identity = boto3.client("cognito-identity", **kw)
    pool = identity.describe_identity_pool(IdentityPoolId=out["uploads"]["identity_pool_id"])
    assert pool["AllowUnauthenticatedIdentities"] is False
    assert pool["CognitoIdentityProviders"][0]["ProviderName"] == out["uploads"]["login_provider"]
    iam = boto3.client("iam", **kw)
    role_name = out["uploads"]["role_arn"].split("/")[-1]
    trust = iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    trust = trust if isinstance(trust, dict) else json.loads(trust)
    cond = trust["Statement"][0]["Condition"]
    assert cond["StringEquals"]["cognito-identity.amazonaws.com:aud"] == out["uploads"]["identity_pool_id"]
    assert cond["ForAnyValue:StringLike"]["cognito-identity.amazonaws.com:amr"] == "authenticated"
    names = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    assert names == ["own-prefix"], names
    policy = iam.get_role_policy(RoleName=role_name, PolicyName="own-prefix")["PolicyDocument"]
    policy = policy if isinstance(policy, dict) else json.loads(policy)
    bucket = f"arn:aws:s3:::{out['uploads']['bucket']}"
    alice, bob = "3f2b6c1e-0d7a-4e55-9a51-6a0c4f1e2d3b", "9c8d7e6f-1a2b-4c3d-8e9f-0a1b2c3d4e5f"
    tag = {"aws:PrincipalTag/sub": alice}
    cases = [
        ("s3:PutObject", f"{bucket}/users/{alice}/holiday.jpg", tag, "Allowed"),
        ("s3:PutObject", f"{bucket}/users/{alice}/deep/dir/x.bin", tag, "Allowed"),
        ("s3:PutObject", f"{bucket}/users/{bob}/holiday.jpg", tag, "ImplicitlyDenied"),
        ("s3:PutObject", f"{bucket}/users/{alice}-x/holiday.jpg", tag, "ImplicitlyDenied"),
        ("s3:PutObject", f"{bucket}/photos/cat.jpg", tag, "ImplicitlyDenied"),
        ("s3:PutObject", f"{bucket}/users/{alice}/holiday.jpg", {}, "ImplicitlyDenied"),
        ("s3:GetObject", f"{bucket}/users/{alice}/holiday.jpg", tag, "ImplicitlyDenied"),
        ("s3:DeleteObject", f"{bucket}/users/{alice}/holiday.jpg", tag, "ImplicitlyDenied"),
    ]
    principal = f"arn:aws:sts::123456789012:assumed-role/{role_name}/CognitoIdentityCredentials"
    got = simulate(policy, principal, [{"action": a, "resource": r, "context": c} for a, r, c, _ in cases])
    assert got == [want for *_, want in cases], list(zip([(a, r) for a, r, _, _ in cases], got))


def test_per_user_cookies_cover_exactly_the_upload_prefix():
    # The cookie template's {sub} is the access token's sub; the role's prefix is the same claim
    # carried in as a principal tag.
    loc = blocks("locals")
    assert loc["upload_object_arn"].endswith("/${local.upload_prefix}/$${aws:PrincipalTag/sub}/*")
    tags = blocks("resource", "aws_cognito_identity_pool_provider_principal_tag")["uploads"]
    assert tags["principal_tags"] == {"sub": "sub"}
    assert "${local.upload_prefix}/{sub}/*" in blocks("resource", "aws_ssm_parameter")["resource"]["value"]
    pool = blocks("resource", "aws_cognito_identity_pool")["uploads"]
    assert pool["allow_unauthenticated_identities"] is False


def test_key_age_comes_from_the_scheduled_check_not_from_traffic():
    # The metric came from a log line of the endpoint's key refresh, which runs only while
    # viewers call /cookie: a quiet stack whose rotation stopped never alarmed.
    assert "aws_cloudwatch_log_metric_filter" not in blocks("resource")
    alarm = blocks("resource", "aws_cloudwatch_metric_alarm")["key_too_old"]
    assert alarm["threshold"] == "${local.key_age_alarm_seconds}"
    assert blocks("locals")["key_age_alarm_seconds"] == "${2 * var.rotation_interval_hours * 3600}"
    assert (alarm["namespace"], alarm["metric_name"]) == ("cfcookie", "signing_key_age_seconds")
    assert 'KEY_AGE: &str = "signing_key_age_seconds"' in (ROOT / "rotator/src/check.rs").read_text()
    # A check that stops reporting pages too.
    assert alarm["insufficient_data_actions"] == ["${aws_sns_topic.alarms.arn}"]
    schedule = blocks("resource", "aws_scheduler_schedule")["key_check"]
    target = schedule["target"][0]
    assert target["arn"] == "${module.rotator.function_arn}"
    assert "Check" in target["input"] and "keyAge" in target["input"]
    # The scheduler's role may invoke the rotator and nothing else.
    policy = blocks("data", "aws_iam_policy_document")["key_check"]
    assert [(st["actions"], st["resources"]) for st in policy["statement"]] == [(["lambda:InvokeFunction"], ["${module.rotator.function_arn}"])]


def test_apply_rotate_status_destroy_on_the_emulator(tmp_path, endpoint):
    work = copy_infra(tmp_path)
    emulator_provider(work, endpoint)
    (work / "emulator.tfvars").write_text(EMULATOR_TFVARS)
    tf(["init", "-backend=false", "-input=false", f"-plugin-dir={PLUGIN_DIR}"], cwd=work)
    tf(["apply", "-auto-approve", "-input=false", "-no-color", "-var-file=emulator.tfvars"], cwd=work)
    out = {k: v["value"] for k, v in json.loads(tf(["output", "-json"], cwd=work).stdout).items()}
    kw = dict(endpoint_url=endpoint, **CLIENT_KW)
    cf, sm, lam, iam = (boto3.client(n, **kw) for n in ("cloudfront", "secretsmanager", "lambda", "iam"))

    # A second plan right after apply changes nothing: every attribute reads back as written.
    assert planned_changes(work) == []
    check_distribution(cf, out)
    check_upload_scoping(kw, out)

    rotation = sm.describe_secret(SecretId=out["secret_id"])["RotationRules"]
    # 720 hours is written as days: Secrets Manager's rate() in hours stops below a day.
    assert rotation["ScheduleExpression"] == "rate(30 days)", rotation

    rotator_env = lam.get_function_configuration(FunctionName=out["rotator_function"])["Environment"]["Variables"]
    canary = rotator_env["CFCOOKIE_CANARY_URL"]
    assert canary == f"https://{out['distribution_domain']}/_cfcookie/canary.txt"
    s3 = boto3.client("s3", **kw)
    assert s3.head_object(Bucket=out["bucket"], Key="_cfcookie/canary.txt")["ContentLength"] > 0
    # Every parameter the rotator writes is one its role may write.
    names = rotator_env["CFCOOKIE_KEY_ID_PARAMETER"].split(",")
    assert names == ["/emu-stack/cfcookie/key-id", "/emu-stack/other/key-id"]
    role = iam.get_role_policy(RoleName=out["rotator_function"], PolicyName="api")["PolicyDocument"]
    role = role if isinstance(role, dict) else json.loads(role)
    granted = [st for st in role["Statement"] if "ssm:PutParameter" in st["Action"]][0]["Resource"]
    granted = granted if isinstance(granted, list) else [granted]
    assert sorted(granted) == sorted(f"arn:aws:ssm:eu-west-1:123456789012:parameter{n}" for n in names), granted

    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "CFCOOKIE_KEY_GROUP_ID": out["key_group_id"],
           "CFCOOKIE_KEY_ID_PARAMETER": out["key_id_parameter"], "CFCOOKIE_KEY_NAME_PREFIX": out["key_name_prefix"],
           **SHORT_TIMES}

    def rotate(n):
        for _ in range(n):
            time.sleep(SHORT_SPACING)
            r = cfcookie("rotate", "--secret-id", out["secret_id"], env=env)
            assert r.returncode == 0, r.stderr

    def placeholder_stages():
        versions = sm.describe_secret(SecretId=out["secret_id"])["VersionIdsToStages"]
        return versions.get(out["placeholder_version_id"], [])

    def current_version():
        versions = sm.describe_secret(SecretId=out["secret_id"])["VersionIdsToStages"]
        return next(v for v, stages in versions.items() if "AWSCURRENT" in stages)

    rotate(3)
    # Three rotations took AWSCURRENT and AWSPREVIOUS off the placeholder; its own label keeps it,
    # so Secrets Manager never deletes it and Terraform never re-creates it over the live key.
    assert placeholder_stages() == ["CFCOOKIE_PLACEHOLDER"], placeholder_stages()
    live = current_version()
    r = cfcookie("status", "--secret-id", out["secret_id"], env=env)
    status = json.loads(r.stdout)
    assert r.returncode == 0 and status["consistent"], status["problems"]
    assert len(status["key_group_items"]) == 2

    # After the first rotation has published a key id, Terraform lets the bootstrap key go
    # (docs/decisions/0002-bootstrap-key-lifetime.md): its removal is the only change.
    changes = planned_changes(work)
    assert all(a == "aws_cloudfront_public_key.bootstrap[0]" and acts == ["delete"] for a, acts in changes), changes
    tf(["apply", "-auto-approve", "-input=false", "-no-color", "-var-file=emulator.tfvars"], cwd=work)
    assert planned_changes(work) == []
    rotate(3)
    tf(["apply", "-auto-approve", "-input=false", "-no-color", "-var-file=emulator.tfvars"], cwd=work)
    assert current_version() != live and placeholder_stages() == ["CFCOOKIE_PLACEHOLDER"]
    live = current_version()
    value = json.loads(sm.get_secret_value(SecretId=out["secret_id"])["SecretString"])
    assert value["format"] == "cfcookie/1", "an apply put the placeholder back over the live key"
    r = cfcookie("status", "--secret-id", out["secret_id"], env=env)
    assert r.returncode == 0 and json.loads(r.stdout)["consistent"], r.stdout

    tf(["destroy", "-auto-approve", "-input=false", "-no-color", "-var-file=emulator.tfvars"], cwd=work)
    r = cfcookie("purge-keys", "--key-name-prefix", out["key_name_prefix"], env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(json.loads(r.stdout)["deleted"]) == 2, "the rotator's two live keys are purged"
    left = {
        "public keys": [k["Name"] for k in cf.list_public_keys()["PublicKeyList"].get("Items", []) if k["Name"].startswith("emu-stack")],
        "key groups": [g["KeyGroup"]["KeyGroupConfig"]["Name"] for g in cf.list_key_groups()["KeyGroupList"].get("Items", []) if g["KeyGroup"]["KeyGroupConfig"]["Name"].startswith("emu-stack")],
        "distributions": [d["Id"] for d in cf.list_distributions()["DistributionList"].get("Items", [])],
        "origin access controls": [o["Name"] for o in cf.list_origin_access_controls()["OriginAccessControlList"].get("Items", []) if o["Name"].startswith("emu-stack")],
        "secrets": [s["Name"] for s in sm.list_secrets()["SecretList"] if s["Name"].startswith("emu-stack")],
        "functions": [f["FunctionName"] for f in lam.list_functions()["Functions"] if f["FunctionName"].startswith("emu-stack")],
        "parameters": [p["Name"] for p in boto3.client("ssm", **kw).describe_parameters()["Parameters"] if p["Name"].startswith("/emu-stack/cfcookie")],
        "buckets": [b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith("emu-stack")],
        "roles": [r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith("emu-stack")],
        "user pools": [p["Name"] for p in boto3.client("cognito-idp", **kw).list_user_pools(MaxResults=60)["UserPools"] if p["Name"].startswith("emu-stack")],
        "identity pools": [p["IdentityPoolName"] for p in boto3.client("cognito-identity", **kw).list_identity_pools(MaxResults=60)["IdentityPools"] if p["IdentityPoolName"].startswith("emu-stack")],
        "topics": [t["TopicArn"] for t in boto3.client("sns", **kw).list_topics()["Topics"] if "emu-stack" in t["TopicArn"]],
        "alarms": [a["AlarmName"] for a in boto3.client("cloudwatch", **kw).describe_alarms()["MetricAlarms"] if a["AlarmName"].startswith("emu-stack")],
        "kms keys": [k["KeyId"] for k in boto3.client("kms", **kw).list_keys()["Keys"] if boto3.client("kms", **kw).describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"],
    }
    assert not any(left.values()), f"left behind: {left}"


def reset_auth(endpoint, count):
    """moto's own control: IAM is enforced after `count` more requests ("inf": never)."""
    import urllib.request
    req = urllib.request.Request(endpoint + "/moto-api/reset-auth", data=count.encode(), method="POST", headers={"Content-Type": "text/plain"})
    urllib.request.urlopen(req, timeout=10).read()


def check_endpoint_under_its_role(tmp_path, endpoint, root_kw, out, base, procs, operator):
    """The built cfcookie-endpoint answers a recorded function-URL event for /cookie with the
    credentials of the endpoint role Terraform made (IAM enforced): cookies signed by the key
    the rotations made current, for the resource Terraform wrote."""
    import urllib.request
    endpoint_bin = Path(os.environ.get("CFCOOKIE_ENDPOINT_BIN", str(ROOT / "target/debug/cfcookie-endpoint")))
    assert endpoint_bin.exists(), f"{endpoint_bin} is not built (scripts/test builds it first)"
    api_port = free_port()
    watch = subprocess.Popen(["cargo-lambda", "lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1", "-P", str(api_port)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(watch)
    wait_for_port(api_port, watch, "cargo lambda watch")
    kw = dict(endpoint_url=endpoint, region_name="eu-west-1", aws_access_key_id=operator["AWS_ACCESS_KEY_ID"],
              aws_secret_access_key=operator["AWS_SECRET_ACCESS_KEY"])
    idp = boto3.client("cognito-idp", **kw)
    pool, client = out["user_pool_id"], out["client_id"]
    idp.admin_create_user(UserPoolId=pool, Username="alice@example.com", TemporaryPassword="Temp-Passw0rd-1", MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool, Username="alice@example.com", Password="Corr3ct-Horse-Battery", Permanent=True)
    token = idp.admin_initiate_auth(UserPoolId=pool, ClientId=client, AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                    AuthParameters={"USERNAME": "alice@example.com", "PASSWORD": "Corr3ct-Horse-Battery"})["AuthenticationResult"]["AccessToken"]
    role_arn = boto3.client("iam", **kw).get_role(RoleName=out["endpoint_function"])["Role"]["Arn"]
    reset_auth(endpoint, "inf")  # see above: the role session is taken outside enforcement
    creds = boto3.client("sts", **root_kw).assume_role(RoleArn=role_arn, RoleSessionName="cfcookie-endpoint")["Credentials"]
    function_env = boto3.client("lambda", **root_kw).get_function_configuration(FunctionName=out["endpoint_function"])["Environment"]["Variables"]
    reset_auth(endpoint, "0")
    log = open(tmp_path / "endpoint.log", "w")
    fn = subprocess.Popen([str(endpoint_bin)], env={
        **base, **function_env, "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "eu-west-1",
        # The emulator's pool publishes its JWKS on the emulator, not on cognito-idp's host.
        "CFCOOKIE_JWKS_URL": f"{endpoint}/{pool}/.well-known/jwks.json",
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"], "AWS_LAMBDA_RUNTIME_API": f"http://127.0.0.1:{api_port}/.rt",
        "AWS_LAMBDA_FUNCTION_NAME": "_", "AWS_LAMBDA_FUNCTION_VERSION": "1", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    }, stdout=log, stderr=subprocess.STDOUT)
    procs.append(fn)
    event = (ROOT / "tests/data/lambda/function_url.json").read_text().replace("{{TOKEN}}", token)
    req = urllib.request.Request(f"http://127.0.0.1:{api_port}/2015-03-31/functions/_/invocations", data=event.encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    answer = json.loads(urllib.request.urlopen(req, timeout=120).read())
    assert answer["statusCode"] == 200, f"{answer}\n{(tmp_path / 'endpoint.log').read_text()[-3000:]}"
    cookies = dict(c.split(";")[0].split("=", 1) for c in answer["cookies"])
    # Signed by a key the distribution trusts: the previous one until the new key's activation
    # delay has passed (S1), then the current one.
    group = boto3.client("cloudfront", **kw).get_key_group(Id=out["key_group_id"])["KeyGroup"]["KeyGroupConfig"]["Items"]
    assert cookies["CloudFront-Key-Pair-Id"] in group, (cookies["CloudFront-Key-Pair-Id"], group)
    assert json.loads(answer["body"])["resource"] == f"https://{out['distribution_domain']}/*"


def emf_documents(log_path, metric):
    """The CloudWatch Embedded Metric Format documents carrying `metric` in a function's log."""
    docs = []
    for line in log_path.read_text().splitlines():
        if line.startswith("{") and '"_aws"' in line:
            doc = json.loads(line)
            if metric in doc:
                docs.append(doc)
    return docs


def put_emf(cw, doc, metric):
    """What CloudWatch Logs does with an EMF document: the metric under its namespace and
    dimensions (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html)."""
    directive = doc["_aws"]["CloudWatchMetrics"][0]
    dims = [{"Name": n, "Value": doc[n]} for n in directive["Dimensions"][0]]
    unit = next(m.get("Unit", "None") for m in directive["Metrics"] if m["Name"] == metric)
    cw.put_metric_data(Namespace=directive["Namespace"], MetricData=[{"MetricName": metric, "Dimensions": dims, "Value": float(doc[metric]), "Unit": unit}])
    return directive["Namespace"], dims


def alarm_state(cw, alarm):
    """CloudWatch's decision for a single-metric alarm over its last period, from the metric as
    the emulator holds it (moto stores alarms and metrics but never evaluates an alarm)."""
    import datetime
    now = datetime.datetime.now(datetime.timezone.utc)
    stats = cw.get_metric_statistics(Namespace=alarm["Namespace"], MetricName=alarm["MetricName"], Dimensions=alarm["Dimensions"],
                                     StartTime=now - datetime.timedelta(seconds=alarm["Period"] * alarm["EvaluationPeriods"]),
                                     EndTime=now + datetime.timedelta(seconds=60), Period=alarm["Period"], Statistics=[alarm["Statistic"]])
    points = [p[alarm["Statistic"]] for p in stats["Datapoints"]]
    if not points:
        return {"missing": "INSUFFICIENT_DATA", "notBreaching": "OK", "breaching": "ALARM", "ignore": "INSUFFICIENT_DATA"}[alarm.get("TreatMissingData", "missing")]
    value = max(points) if alarm["Statistic"] == "Maximum" else sum(points)
    breach = {"GreaterThanThreshold": value > alarm["Threshold"], "GreaterThanOrEqualToThreshold": value >= alarm["Threshold"],
              "LessThanThreshold": value < alarm["Threshold"], "LessThanOrEqualToThreshold": value <= alarm["Threshold"]}[alarm["ComparisonOperator"]]
    return "ALARM" if breach else "OK"


def check_key_age_without_traffic(tmp_path, endpoint, api_port, out, key):
    """The scheduled key check, run by the built rotator under its role with IAM enforced, on
    a stack no viewer has used: invoked with the input and target of the schedule Terraform made,
    as EventBridge Scheduler would (the emulator stores schedules but never runs them). Its EMF
    output is put into the emulator's CloudWatch as CloudWatch Logs would (the emulator does not
    read logs), a failed invocation counts in AWS/Lambda Errors as Lambda would (the emulator
    runs no function), and the alarms Terraform made are evaluated over those metrics as
    CloudWatch would (the emulator never evaluates an alarm). Emulated: the schedule firing,
    EMF extraction, Lambda's Errors metric, alarm evaluation. Real: the schedule's definition,
    the function's code, its role under enforced IAM, Secrets Manager's answers, the alarms'
    definitions."""
    import urllib.request
    kw = dict(endpoint_url=endpoint, region_name="eu-west-1", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
    schedule = boto3.client("scheduler", **kw).get_schedule(Name=out["key_check_schedule"])
    assert schedule["Target"]["Arn"].endswith(":function:" + out["rotator_function"]), schedule["Target"]
    assert schedule["ScheduleExpression"] == "rate(15 minutes)"
    payload = json.loads(schedule["Target"]["Input"])
    assert payload == {"Check": "keyAge", "SecretId": out["secret_id"]}, payload

    def invoke():
        req = urllib.request.Request(f"http://127.0.0.1:{api_port}/2015-03-31/functions/_/invocations", data=json.dumps(payload).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                body = resp.read().decode()
                return bool(resp.headers.get("X-Amz-Function-Error") or '"errorType"' in body), body
        except urllib.error.HTTPError as e:  # cargo lambda answers a function error with 500
            return True, e.read().decode()

    cw = boto3.client("cloudwatch", **kw)
    alarms = {a["AlarmName"]: a for a in cw.describe_alarms(AlarmNamePrefix="iam-stack-cfcookie")["MetricAlarms"]}
    too_old, errors = alarms["iam-stack-cfcookie-key-too-old"], alarms["iam-stack-cfcookie-rotator-errors"]
    log = tmp_path / "rotator.log"

    failed, body = invoke()
    assert not failed, f"{body}\n{log.read_text()[-3000:]}"

    doc = emf_documents(log, "signing_key_age_seconds")[-1]
    assert 0 <= doc["signing_key_age_seconds"] < 600, doc
    namespace, dims = put_emf(cw, doc, "signing_key_age_seconds")
    # The alarm watches exactly what the check writes, and its threshold is two intervals.
    assert (too_old["Namespace"], too_old["MetricName"]) == (namespace, "signing_key_age_seconds")
    assert sorted(too_old["Dimensions"], key=lambda d: d["Name"]) == sorted(dims, key=lambda d: d["Name"]), (too_old["Dimensions"], dims)
    assert {d["Name"]: d["Value"] for d in dims}["secret"] == boto3.client("secretsmanager", **kw).describe_secret(SecretId=out["secret_id"])["Name"]
    assert too_old["Threshold"] == 2 * 720 * 3600 and too_old["InsufficientDataActions"] == too_old["AlarmActions"] == [out["alarm_topic_arn"]]
    assert alarm_state(cw, too_old) == "OK"
    assert alarm_state(cw, errors) == "OK"

    # Rotation turned off, still no viewer: the next check fails loudly, and still says the age.
    boto3.client("secretsmanager", **kw).cancel_rotate_secret(SecretId=out["secret_id"])
    before = len(emf_documents(log, "signing_key_age_seconds"))
    failed, body = invoke()
    assert failed and "Rotation.NotEnabled" in body, body
    assert len(emf_documents(log, "signing_key_age_seconds")) == before + 1
    assert any(d.get("error_type") == "Rotation.NotEnabled" for d in emf_documents(log, "rotation_errors"))
    cw.put_metric_data(Namespace=errors["Namespace"], MetricData=[{"MetricName": errors["MetricName"], "Dimensions": errors["Dimensions"], "Value": 1.0, "Unit": "Count"}])
    assert {d["Name"]: d["Value"] for d in errors["Dimensions"]} == {"FunctionName": out["rotator_function"]}
    assert alarm_state(cw, errors) == "ALARM", "a disabled rotation did not raise the rotator's error alarm"


def test_rotation_by_the_built_lambda_under_enforced_iam(tmp_path):
    """Secrets Manager (the emulator) drives the built cfcookie-rotator through cargo-lambda's
    Runtime API, running with the credentials of the role Terraform made, IAM enforced; with one
    action taken from that role the rotation fails with AccessDenied."""
    import sys
    rotator_bin = Path(os.environ.get("CFCOOKIE_ROTATOR_BIN", str(ROOT / "target/debug/cfcookie-rotator")))
    assert rotator_bin.exists(), f"{rotator_bin} is not built (scripts/test builds it first)"
    assert shutil.which("cargo-lambda"), "cargo-lambda is not installed (scripts/test installs it into .venv)"
    api_port, emu_port = free_port(), free_port()
    endpoint = f"http://127.0.0.1:{emu_port}"
    procs = []
    try:
        watch = subprocess.Popen(["cargo-lambda", "lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1", "-P", str(api_port)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(watch)
        emu = subprocess.Popen([sys.executable, str(ROOT / "tests/emulator/server.py"), "--port", str(emu_port),
                                "--lambda-endpoint", f"http://127.0.0.1:{api_port}", "--lambda-function", "_"],
                               stdout=subprocess.DEVNULL, stderr=open(tmp_path / "emulator.log", "w"))
        procs.append(emu)
        wait_for(endpoint + "/_emulator/health", emu, "emulator")
        wait_for_port(api_port, watch, "cargo lambda watch")

        work = copy_infra(tmp_path)
        emulator_provider(work, endpoint)
        (work / "emulator.tfvars").write_text(
            'name_prefix = "iam-stack"\nemulator = true\nrotate_immediately = false\nsecret_recovery_window_days = 0\n'
            'force_destroy_bucket = true\nuser_pool_deletion_protection = false\nrotator_zip = "rotator.zip"\n'
            'endpoint_zip = "endpoint.zip"\ncanary = false\n'
        )
        tf(["init", "-backend=false", "-input=false", f"-plugin-dir={PLUGIN_DIR}"], cwd=work)
        tf(["apply", "-auto-approve", "-input=false", "-no-color", "-var-file=emulator.tfvars"], cwd=work)
        out = {k: v["value"] for k, v in json.loads(tf(["output", "-json"], cwd=work).stdout).items()}
        root_kw = dict(endpoint_url=endpoint, **CLIENT_KW)
        iam = boto3.client("iam", **root_kw)
        # An operator with every right, for what Secrets Manager's caller does (RotateSecret,
        # status); the rotator gets only its role's.
        iam.create_user(UserName="operator")
        iam.put_user_policy(UserName="operator", PolicyName="all", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
        key = iam.create_access_key(UserName="operator")["AccessKey"]
        role_arn = iam.get_role(RoleName=out["rotator_function"])["Role"]["Arn"]
        # Lambda hands the function its role's session; moto cannot evaluate a service principal
        # in a trust policy under enforcement, so the session is taken before enforcement starts.
        creds = boto3.client("sts", **root_kw).assume_role(RoleArn=role_arn, RoleSessionName="cfcookie-rotator")["Credentials"]
        function_env = boto3.client("lambda", **root_kw).get_function_configuration(FunctionName=out["rotator_function"])["Environment"]["Variables"]
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CFCOOKIE_"))}
        rotator_log = open(tmp_path / "rotator.log", "w")
        rotator = subprocess.Popen([str(rotator_bin)], env={
            **base, **function_env, **SHORT_TIMES, "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "eu-west-1",
            "AWS_ACCESS_KEY_ID": creds["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
            "AWS_SESSION_TOKEN": creds["SessionToken"], "AWS_LAMBDA_RUNTIME_API": f"http://127.0.0.1:{api_port}/.rt",
            "AWS_LAMBDA_FUNCTION_NAME": "_", "AWS_LAMBDA_FUNCTION_VERSION": "1", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        }, stdout=rotator_log, stderr=subprocess.STDOUT)
        procs.append(rotator)
        operator = {**base, "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
                    "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"], "CFCOOKIE_KEY_GROUP_ID": out["key_group_id"],
                    "CFCOOKIE_KEY_ID_PARAMETER": out["key_id_parameter"], "CFCOOKIE_KEY_NAME_PREFIX": out["key_name_prefix"]}
        reset_auth(endpoint, "0")

        def rotate():
            time.sleep(SHORT_SPACING)
            return cfcookie("rotate", "--via-secrets-manager", "--timeout", "120", "--secret-id", out["secret_id"], env=operator)

        for _ in range(3):
            r = rotate()
            assert r.returncode == 0, f"{r.stdout}\n{r.stderr}\nrotator:\n{(tmp_path / 'rotator.log').read_text()[-3000:]}"
        r = cfcookie("status", "--secret-id", out["secret_id"], env=operator)
        assert r.returncode == 0 and json.loads(r.stdout)["consistent"], r.stdout + r.stderr

        # Before any viewer has asked for a cookie: the key's age and a disabled rotation are
        # signalled by the scheduled check alone.
        check_key_age_without_traffic(tmp_path, endpoint, api_port, out, key)

        check_endpoint_under_its_role(tmp_path, endpoint, root_kw, out, base, procs, operator)

        # One action less: the same rotation now fails, with AccessDenied from the emulator.
        op_iam = boto3.client("iam", endpoint_url=endpoint, region_name="eu-west-1",
                              aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
        policy = op_iam.get_role_policy(RoleName=out["rotator_function"], PolicyName="api")["PolicyDocument"]
        policy = policy if isinstance(policy, dict) else json.loads(policy)
        for st in policy["Statement"]:
            if isinstance(st["Action"], list) and "cloudfront:UpdateKeyGroup" in st["Action"]:
                st["Action"].remove("cloudfront:UpdateKeyGroup")
        op_iam.put_role_policy(RoleName=out["rotator_function"], PolicyName="api", PolicyDocument=json.dumps(policy))
        r = rotate()
        log = (tmp_path / "rotator.log").read_text()
        assert r.returncode != 0, r.stdout
        assert "AccessDenied" in log and "UpdateKeyGroup" in log, log[-3000:]
    finally:
        for p in reversed(procs):
            p.kill()
            p.wait()


# ------------------------------------------------------------------ apply-time traps

def test_terraform_floor_allows_the_backends_lockfile():
    # use_lockfile (S3-native state locking) arrived in Terraform 1.10; a floor of 1.9 let an
    # operator on 1.9 init a backend file it cannot read.
    uses_lockfile = [p.name for p in (INFRA / "examples").glob("backend-*.hcl") if "use_lockfile" in p.read_text()]
    assert uses_lockfile, "no backend example uses use_lockfile any more: revisit this floor"
    required = blocks("terraform")["required_version"]
    floor = re.fullmatch(r">=\s*(\d+)\.(\d+)(?:\.\d+)?", required)
    assert floor, required
    assert (int(floor.group(1)), int(floor.group(2))) >= (1, 10), f"required_version {required} is below 1.10 ({uses_lockfile} use use_lockfile)"


def test_distribution_logs_wait_for_the_log_buckets_acls():
    # CloudFront refuses a log bucket whose ACLs are off; the ownership controls that turn them
    # on were not ordered before the distribution.
    dist = blocks("resource", "aws_cloudfront_distribution")["media"]
    assert "${aws_s3_bucket_ownership_controls.logs}" in dist.get("depends_on", []), dist.get("depends_on")


def test_rotation_waits_for_everything_the_first_rotation_touches():
    rotation = blocks("resource", "aws_secretsmanager_secret_rotation")["signing_key"]
    deps = set(rotation.get("depends_on", []))
    # module.rotator as a whole: its function_arn output depends on the function alone, not on
    # the role policy that grants the rotation's calls.
    for needed in ("${module.rotator}", "${aws_s3_bucket_policy.media}", "${aws_s3_object.canary}", "${aws_route53_record.media}"):
        assert needed in deps, f"the rotation does not wait for {needed}: {sorted(deps)}"


def test_canary_uses_the_distributions_own_name():
    # domain_name's DNS record may be made by the operator after apply; the first rotation runs
    # during apply.
    assert blocks("locals")["canary_url"] == "https://${aws_cloudfront_distribution.media.domain_name}/${local.canary_key}"


def test_certificate_lookup_by_name_is_gone():
    # ACM's data source matches the primary DomainName exactly: it refused wildcard and SAN
    # certificates and, with most_recent, another duplicate than the one named.
    assert "aws_acm_certificate" not in blocks("data"), "acm_certificate_arn is looked up by name again"


PLAN_TFVARS = """name_prefix = "plan-stack"
emulator = true
rotator_zip = "rotator.zip"
endpoint_zip = "endpoint.zip"
domain_name = "media.example.com"
cors_allowed_origins = ["https://app.example.com"]
"""


def planned(work, extra=()):
    tf(["plan", "-input=false", "-no-color", "-var-file=plan.tfvars", *extra, "-out=check.plan"], cwd=work)
    return json.loads(tf(["show", "-json", "check.plan"], cwd=work).stdout)


def planned_resource(plan, address):
    return next(c["change"] for c in plan["resource_changes"] if c["address"] == address)


def test_plan_with_a_wildcard_certificate_a_domain_and_a_published_key(tmp_path, endpoint):
    import datetime
    work = copy_infra(tmp_path)
    emulator_provider(work, endpoint)
    (work / "plan.tfvars").write_text(PLAN_TFVARS)
    tf(["init", "-backend=false", "-input=false", f"-plugin-dir={PLUGIN_DIR}"], cwd=work)
    acm = boto3.client("acm", endpoint_url=endpoint, **{**CLIENT_KW, "region_name": "us-east-1"})
    now = datetime.datetime.now(datetime.timezone.utc)
    # A valid wildcard certificate for the domain, and two certificates named exactly for it,
    # the older one being the one the operator names.
    cert, key = self_signed("*.example.com", ["*.example.com"], now - datetime.timedelta(days=2))
    wildcard = acm.import_certificate(Certificate=cert, PrivateKey=key)["CertificateArn"]
    cert, key = self_signed("media.example.com", ["media.example.com"], now - datetime.timedelta(days=2))
    older = acm.import_certificate(Certificate=cert, PrivateKey=key)["CertificateArn"]
    cert, key = self_signed("media.example.com", ["media.example.com"], now - datetime.timedelta(days=1))
    acm.import_certificate(Certificate=cert, PrivateKey=key)

    for arn in (wildcard, older, older.replace("arn:aws:", "arn:aws-cn:")):
        plan = planned(work, [f"-var=acm_certificate_arn={arn}"])
        viewer = planned_resource(plan, "aws_cloudfront_distribution.media")["after"]["viewer_certificate"][0]
        assert viewer["acm_certificate_arn"] == arn, viewer

    # The endpoint accepts sign-out from the media site itself.
    # (The function's environment is unknown at plan as a whole: the value is read in console.)
    r = subprocess.run(["terraform", "console", "-var-file=plan.tfvars"], cwd=work, env=TF_ENV, input="jsonencode(local.endpoint_allowed_origins)\n",
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(json.loads(r.stdout)) == ["https://media.example.com", "https://app.example.com"], r.stdout
    assert "join(\",\", local.endpoint_allowed_origins)" in json.dumps(blocks("module")["endpoint"]["environment"]).replace('\\"', '"')
    # The canary goes to the distribution's own name, unknown until it exists, not domain_name.
    rotator = planned_resource(plan, "module.rotator.aws_lambda_function.this")
    known = rotator["after"]["environment"][0].get("variables") or {}
    unknown = rotator["after_unknown"]["environment"][0]["variables"]
    assert "CFCOOKIE_CANARY_URL" not in known, known.get("CFCOOKIE_CANARY_URL")
    assert unknown is True or unknown.get("CFCOOKIE_CANARY_URL") is True, unknown

    # The first apply rotates at once; once a key id is published, a schedule change must not
    # start a rotation (the provider calls RotateSecret on every rotation_rules change).
    rotation = planned_resource(plan, "aws_secretsmanager_secret_rotation.signing_key")["after"]
    assert rotation["rotate_immediately"] is True, rotation
    boto3.client("ssm", endpoint_url=endpoint, **CLIENT_KW).put_parameter(
        Name="/plan-stack/cfcookie/key-id", Value="K2JCJMDEHXQW5F", Type="String")
    rotation = planned_resource(planned(work, [f"-var=acm_certificate_arn={wildcard}"]), "aws_secretsmanager_secret_rotation.signing_key")["after"]
    assert rotation["rotate_immediately"] is False, "a schedule change after the first rotation would rotate at once"
