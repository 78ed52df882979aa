"""infra/ held to the code, checked offline, and applied to the emulator.

- parse-level checks (python-hcl2): each function's IAM actions are exactly the API calls its
  adapters make (the tables in rotator/src/sdk.rs and src/server.rs), its CFCOOKIE_*
  variables are ones the binary reads, the zip paths are what `cargo lambda build` writes,
  the default behavior trusts the key group, cookie* disables caching, the bucket blocks
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
import zipfile
from pathlib import Path

import boto3
import hcl2
import pytest

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
PLUGIN_DIR = os.environ.get("CFCOOKIE_TF_PLUGIN_DIR", "/opt/tf-plugins")
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
TF_ENV = {**os.environ, "TF_CLI_CONFIG_FILE": "/dev/null", "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}


def tf(args, cwd, check=True, timeout=600):
    # A hung terraform must fail the run, not hold CI until its own limit.
    r = subprocess.run(["terraform", *args], cwd=cwd, env=TF_ENV, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"terraform {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}")
    return r


def unquote(value):
    """python-hcl2 8 keeps HCL's quotes on labels and string literals: drop them."""
    if isinstance(value, dict):
        return {unquote(k): unquote(v) for k, v in value.items() if k != "__is_block__"}
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


def env_vars_read(*paths):
    names = set()
    for p in paths:
        names |= set(re.findall(r'"(CFCOOKIE_[A-Z_]+)"', (ROOT / p).read_text()))
    return names


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
    assert policy_actions("endpoint") == rust_table("src/server.rs", "ENDPOINT_API_CALLS")


def test_environment_variables_are_the_ones_the_binaries_read():
    modules = blocks("module")
    rotator_reads = env_vars_read("rotator/src/config.rs")
    endpoint_reads = env_vars_read("src/endpoint.rs", "src/server.rs", "src/keysource.rs")
    for name, reads, required in (
        ("rotator", rotator_reads, {"CFCOOKIE_KEY_GROUP_ID", "CFCOOKIE_KEY_ID_PARAMETER", "CFCOOKIE_KEY_NAME_PREFIX"}),
        ("endpoint", endpoint_reads, {"CFCOOKIE_SECRET_ID", "CFCOOKIE_USER_POOL_ID", "CFCOOKIE_CLIENT_IDS", "CFCOOKIE_TOKEN_HEADER"}),
    ):
        env = modules[name]["environment"]
        keys = set()
        for part in (env if isinstance(env, list) else [env]):
            keys |= set(re.findall(r"(CFCOOKIE_[A-Z_]+)", json.dumps(part)))
        unknown = keys - reads
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
    env = blocks("module")["rotator"]["environment"]
    env = env[0] if isinstance(env, list) else env
    assert "var.key_algorithm" in json.dumps(env.get("CFCOOKIE_KEY_ALGORITHM")), env


def test_zip_paths_are_what_cargo_lambda_builds():
    variables = blocks("variable")
    ci = (ROOT / ".ci/run").read_text()
    for fn, var in (("cfcookie-rotator", "rotator_zip"), ("cfcookie-endpoint", "endpoint_zip")):
        assert variables[var]["default"] == f"../target/lambda/{fn}/bootstrap.zip"
        assert f"--bin {fn}" in ci and "--arm64 --output-format zip" in ci


def test_distribution_trusts_the_key_group_and_cookie_behavior_is_uncached():
    dist = blocks("resource", "aws_cloudfront_distribution")["media"]
    default = dist["default_cache_behavior"][0]
    assert default["trusted_key_groups"] == ["${aws_cloudfront_key_group.signers.id}"]
    behaviors = [b for b in dist["ordered_cache_behavior"] if b.get("path_pattern") == "cookie*"]
    assert len(behaviors) == 1, "exactly one cookie* behavior"
    cookie = behaviors[0]
    assert cookie["cache_policy_id"] == "${local.cache_policy_disabled}"
    assert CACHING_DISABLED in (INFRA / "cdn.tf").read_text()
    assert "trusted_key_groups" not in cookie, "the cookie endpoint must be reachable without cookies"


def test_bucket_blocks_public_access():
    pab = blocks("resource", "aws_s3_bucket_public_access_block")["media"]
    for flag in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"):
        assert pab[flag] is True, flag


def test_fmt_init_validate(tmp_path):
    assert tf(["fmt", "-check", "-recursive", str(INFRA)], cwd=ROOT, check=False).returncode == 0, "terraform fmt -check failed"
    work = copy_infra(tmp_path)
    tf(["init", "-backend=false", "-input=false", f"-plugin-dir={PLUGIN_DIR}"], cwd=work)
    tf(["validate", "-no-color"], cwd=work)


def copy_infra(tmp_path):
    work = tmp_path / "infra"
    shutil.copytree(INFRA, work, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    for n in ("rotator.zip", "endpoint.zip"):
        with zipfile.ZipFile(work / n, "w") as z:
            z.writestr("bootstrap", "#!/bin/sh\n# emulator placeholder: the emulator never runs it\n")
    return work


def emulator_provider(work, endpoint):
    services = ["acm", "cloudfront", "cloudwatch", "cognitoidp", "events", "iam", "lambda", "logs", "s3", "secretsmanager", "sns", "ssm", "sts"]
    eps = "\n".join(f'    {s} = "{endpoint}"' for s in services)
    common = f'''  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true
  endpoints {{
{eps}
  }}'''
    (work / "emulator_override.tf").write_text(
        f'provider "aws" {{\n  region = var.aws_region\n{common}\n}}\n\nprovider "aws" {{\n  alias  = "us_east_1"\n  region = "us-east-1"\n{common}\n}}\n'
    )


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
    ):
        assert message in out, f"expected {message!r} in:\n{out}"


def cfcookie(*args, env):
    binary = os.environ.get("CFCOOKIE_BIN", str(ROOT / "target/debug/cfcookie"))
    assert Path(binary).exists(), f"{binary} is not built (scripts/test builds it first)"
    return subprocess.run([binary, *args], env=env, capture_output=True, text=True, timeout=300)


def test_apply_rotate_status_destroy_on_the_emulator(tmp_path, endpoint):
    work = copy_infra(tmp_path)
    emulator_provider(work, endpoint)
    (work / "emulator.tfvars").write_text(
        'name_prefix = "emu-stack"\nemulator = true\nrotate_immediately = false\nsecret_recovery_window_days = 0\nforce_destroy_bucket = true\n'
        'rotator_zip = "rotator.zip"\nendpoint_zip = "endpoint.zip"\n'
    )
    tf(["init", "-backend=false", "-input=false", f"-plugin-dir={PLUGIN_DIR}"], cwd=work)
    tf(["apply", "-auto-approve", "-input=false", "-no-color", "-var-file=emulator.tfvars"], cwd=work)
    out = json.loads(tf(["output", "-json"], cwd=work).stdout)
    value = lambda k: out[k]["value"]
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "CFCOOKIE_KEY_GROUP_ID": value("key_group_id"),
           "CFCOOKIE_KEY_ID_PARAMETER": value("key_id_parameter"), "CFCOOKIE_KEY_NAME_PREFIX": value("key_name_prefix")}
    for _ in range(3):
        r = cfcookie("rotate", "--secret-id", value("secret_id"), env=env)
        assert r.returncode == 0, r.stderr
    r = cfcookie("status", "--secret-id", value("secret_id"), env=env)
    status = json.loads(r.stdout)
    assert r.returncode == 0 and status["consistent"], status["problems"]
    assert len(status["key_group_items"]) == 2
    tf(["destroy", "-auto-approve", "-input=false", "-no-color", "-var-file=emulator.tfvars"], cwd=work)
    r = cfcookie("purge-keys", "--key-name-prefix", value("key_name_prefix"), env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(json.loads(r.stdout)["deleted"]) == 2, "the rotator's two live keys are purged"
    kw = dict(endpoint_url=endpoint, region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    cf = boto3.client("cloudfront", **kw)
    left = {
        "public keys": [k["Name"] for k in cf.list_public_keys()["PublicKeyList"].get("Items", []) if k["Name"].startswith("emu-stack")],
        "key groups": [g["KeyGroup"]["KeyGroupConfig"]["Name"] for g in cf.list_key_groups()["KeyGroupList"].get("Items", []) if g["KeyGroup"]["KeyGroupConfig"]["Name"].startswith("emu-stack")],
        "secrets": [s["Name"] for s in boto3.client("secretsmanager", **kw).list_secrets()["SecretList"] if s["Name"].startswith("emu-stack")],
        "functions": [f["FunctionName"] for f in boto3.client("lambda", **kw).list_functions()["Functions"] if f["FunctionName"].startswith("emu-stack")],
        "parameters": [p["Name"] for p in boto3.client("ssm", **kw).describe_parameters()["Parameters"] if p["Name"].startswith("/emu-stack")],
        "buckets": [b["Name"] for b in boto3.client("s3", **kw).list_buckets()["Buckets"] if b["Name"].startswith("emu-stack")],
        "roles": [r["RoleName"] for r in boto3.client("iam", **kw).list_roles()["Roles"] if r["RoleName"].startswith("emu-stack")],
        "user pools": [p["Name"] for p in boto3.client("cognito-idp", **kw).list_user_pools(MaxResults=60)["UserPools"] if p["Name"].startswith("emu-stack")],
    }
    assert not any(left.values()), f"left behind: {left}"
