#!/usr/bin/env python3
"""The whole cfcookie stack on one machine, with no AWS account.

    scripts/whole-stack            (or: .venv/bin/python tests/infra/whole_stack.py)

What runs, each the real part where a user meets it:
- the AWS emulator (tests/emulator/server.py), with `infra/` applied to it by Terraform for the
  media site https://media.example.com (a self-signed certificate imported into ACM), the app
  origin https://app.example.com and a public path /public/*;
- the built cfcookie-rotator Lambda behind cargo-lambda's Runtime API, invoked by the
  emulator's Secrets Manager for every rotation, and one rotation at start;
- the built cfcookie-endpoint Lambda behind cargo-lambda's function URL emulation;
- `cfcookie edge`, CloudFront for that distribution as applied, the endpoint's function URL
  mapped to cargo-lambda;
- a TLS front for the media site (the edge listens in plain HTTP) and the example app's site
  (tests/infra/app), whose sign-in stands in for Cognito's hosted UI: it asks the emulator's
  Cognito for a real token (AdminInitiateAuth) for the user it created.

Browsers reach the two names through a host-resolver rule and accept the self-signed
certificate; the script prints the Chromium command line. Times are compressed (activation
delay, cache TTL and cookie lifetime of seconds, set in the functions' environments) so that a
rotation is seen in a minute; Terraform's own bounds are production's.
tests/infra/test_whole_stack.py drives this same stack in headless Chromium.
"""

import asyncio
import datetime
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
APP = Path(__file__).resolve().parent / "app"
PLUGIN_DIR = os.environ.get("CFCOOKIE_TF_PLUGIN_DIR", "/opt/tf-plugins")
TF_ENV = {**os.environ, "TF_CLI_CONFIG_FILE": "/dev/null", "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
CLIENT_KW = dict(region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing")
MEDIA_HOST, APP_HOST = "media.example.com", "app.example.com"
USER, PASSWORD = "alice@example.com", "Corr3ct-Horse-Battery"


def tf(args, cwd, check=True, timeout=600):
    # A hung terraform must fail the run, not hold CI until its own limit.
    r = subprocess.run(["terraform", *args], cwd=cwd, env=TF_ENV, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"terraform {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}")
    return r


def copy_infra(tmp_path):
    work = tmp_path / "infra"
    shutil.copytree(INFRA, work, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    for n in ("rotator.zip", "endpoint.zip"):
        with zipfile.ZipFile(work / n, "w") as z:
            z.writestr("bootstrap", "#!/bin/sh\n# emulator placeholder: the emulator never runs it\n")
    return work


def emulator_provider(work, endpoint):
    services = ["acm", "cloudfront", "cloudwatch", "cognitoidentity", "cognitoidp", "events", "iam", "kms", "lambda", "logs", "route53", "s3", "scheduler", "secretsmanager", "sns", "ssm", "sts"]
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


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url, proc, what):
    for _ in range(600):
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError as e:
            if getattr(e, "code", None):  # an HTTP answer: the server is up
                return
            assert proc.poll() is None, f"{what} exited"
            time.sleep(0.1)
    raise AssertionError(f"{what} did not start")


def wait_for_port(port, proc, what):
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert proc is None or proc.poll() is None, f"{what} exited"
            time.sleep(0.1)
    raise AssertionError(f"{what} did not start")


def self_signed(name, sans, not_before):
    """A self-signed certificate and its key, PEM (for ACM's ImportCertificate and a TLS server)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(not_before)
            .not_valid_after(not_before + datetime.timedelta(days=90))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))


def binary(name):
    """A built binary: target/debug/NAME, or CFCOOKIE_BIN / CFCOOKIE_ENDPOINT_BIN /
    CFCOOKIE_ROTATOR_BIN (as the other infra tests take them)."""
    suffix = name.removeprefix("cfcookie").lstrip("-").upper().replace("-", "_")
    variable = f"CFCOOKIE_{suffix}_BIN" if suffix else "CFCOOKIE_BIN"
    path = Path(os.environ.get(variable, str(ROOT / "target/debug" / name)))
    assert path.exists(), f"{path} is not built (run `cargo build --workspace --bins` first; scripts/test does)"
    return path


class TlsFront(threading.Thread):
    """Terminates TLS for the media site and passes the bytes to the edge's plain listener,
    as a viewer's HTTPS connection reaches CloudFront."""

    def __init__(self, port, target_port, context):
        super().__init__(daemon=True)
        self.port, self.target_port, self.context = port, target_port, context
        self.loop = asyncio.new_event_loop()

    async def pump(self, reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError, OSError):
            pass
        finally:
            writer.close()

    async def handle(self, reader, writer):
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self.pump(reader, up_writer), self.pump(up_reader, writer))

    def run(self):
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self.handle, "127.0.0.1", self.port, ssl=self.context))
        self.loop.run_until_complete(server.serve_forever())


class ConnectProxy(TlsFront):
    """An HTTPS proxy (CONNECT) for the rotator's canary: `CONNECT NAME:443`, for the
    distribution's own domain or the media site, is tunnelled to the media site's TLS front,
    as a rotator reaches the distribution through DNS. Anything else is refused."""

    def __init__(self, port, target_port, names):
        super().__init__(port, target_port, None)
        self.names = names

    async def handle(self, reader, writer):
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        method, target, *_ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
        host, _, port = target.rpartition(":")
        if method != "CONNECT" or port != "443" or host.lower() not in self.names:
            writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            writer.close()
            return
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await super().handle(reader, writer)


def app_server(port, context, idp, pool, client):
    """The example app's own site: its files, and a sign-in that asks the emulator's Cognito
    for a real token (the stand-in for the hosted UI)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def cors(self):
            if self.headers.get("Origin") == f"https://{MEDIA_HOST}":
                self.send_header("Access-Control-Allow-Origin", f"https://{MEDIA_HOST}")
                self.send_header("Access-Control-Allow-Headers", "content-type")
                self.send_header("Vary", "Origin")

        def do_OPTIONS(self):
            self.send_response(204)
            self.cors()
            self.end_headers()

        def do_GET(self):
            name = self.path.split("?")[0].lstrip("/") or "index.html"
            path = (APP / name).resolve()
            if APP not in path.parents or not path.is_file():
                self.send_error(404)
                return
            body = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", {"html": "text/html", "js": "text/javascript"}.get(path.suffix[1:], "application/octet-stream"))
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            if self.path != "/signin":
                self.send_error(404)
                return
            form = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
            try:
                result = idp.admin_initiate_auth(UserPoolId=pool, ClientId=client, AuthFlow="ADMIN_USER_PASSWORD_AUTH", AuthParameters={
                    "USERNAME": form.get("username", ""), "PASSWORD": form.get("password", "")})["AuthenticationResult"]
                status, body = 200, {"access_token": result["AccessToken"], "id_token": result["IdToken"]}
            except idp.exceptions.NotAuthorizedException:
                status, body = 401, {"error": "not_authorized"}
            except idp.exceptions.UserNotFoundException:
                status, body = 401, {"error": "not_authorized"}
            data = json.dumps(body).encode()
            self.send_response(status)
            self.cors()
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class Stack:
    """The whole stack in `work` (a fresh directory). `times` compresses the key timeline:
    activation delay P, the endpoint's key cache TTL and the cookie lifetime L, in seconds."""

    def __init__(self, work, times=None, propagation_delay=2, log=None):
        self.work = Path(work)
        self.times = {"CFCOOKIE_ACTIVATION_DELAY": "6", "CFCOOKIE_KEY_CACHE_TTL": "2", "CFCOOKIE_COOKIE_LIFETIME": "20", **(times or {})}
        self.propagation_delay = propagation_delay
        self.log = log or (lambda *_: None)
        self.procs = []
        self.servers = []
        self.ports = {n: free_port() for n in ("emulator", "rotator_api", "endpoint_api", "edge", "media", "app", "proxy")}
        self.emulator = f"http://127.0.0.1:{self.ports['emulator']}"
        self.last_rotation = None

    # -- processes
    def spawn(self, name, args, env=None, **kw):
        log = open(self.work / f"{name}.log", "w")
        proc = subprocess.Popen([str(a) for a in args], env=env, stdout=log, stderr=subprocess.STDOUT, **kw)
        self.procs.append(proc)
        return proc

    def logs(self, name, tail=3000):
        path = self.work / f"{name}.log"
        return (path.read_text()[-tail:] if tail else path.read_text()) if path.exists() else ""

    def lambda_api(self, port_name):
        proc = self.spawn(f"cargo-lambda-{port_name}", ["cargo-lambda", "lambda", "watch", "--only-lambda-apis", "--disable-cors",
                                                        "-A", "127.0.0.1", "-P", self.ports[port_name]], cwd=ROOT)
        return proc

    def base_env(self):
        return {**{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CFCOOKIE_"))},
                "AWS_ENDPOINT_URL": self.emulator, "AWS_REGION": "eu-west-1",
                "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}

    def function(self, name, api_port_name, extra):
        env = boto3.client("lambda", endpoint_url=self.emulator, **CLIENT_KW).get_function_configuration(
            FunctionName=self.out[f"{name}_function"])["Environment"]["Variables"]
        return self.spawn(name, [binary(f"cfcookie-{name}")], env={
            **self.base_env(), **env, **self.times, **extra,
            "AWS_LAMBDA_RUNTIME_API": f"http://127.0.0.1:{self.ports[api_port_name]}/.rt",
            "AWS_LAMBDA_FUNCTION_NAME": "_", "AWS_LAMBDA_FUNCTION_VERSION": "1", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        })

    def operator_env(self):
        return {**self.base_env(), "CFCOOKIE_KEY_GROUP_ID": self.out["key_group_id"],
                "CFCOOKIE_KEY_ID_PARAMETER": self.out["key_id_parameter"], "CFCOOKIE_KEY_NAME_PREFIX": self.out["key_name_prefix"]}

    def rotate(self):
        """One rotation as Secrets Manager runs it (RotateSecret, which invokes the rotator
        Lambda for the four steps); returns `cfcookie rotate`'s result."""
        r = subprocess.run([str(binary("cfcookie")), "rotate", "--via-secrets-manager", "--timeout", "120", "--secret-id", self.out["secret_id"]],
                           env=self.operator_env(), capture_output=True, text=True, timeout=300)
        if r.returncode == 0:
            self.last_rotation = time.monotonic()
        return r

    def spacing(self):
        """Seconds after a rotation before the next may retire its predecessor (P + TTL + L)."""
        return sum(int(self.times[k]) for k in ("CFCOOKIE_ACTIVATION_DELAY", "CFCOOKIE_KEY_CACHE_TTL", "CFCOOKIE_COOKIE_LIFETIME"))

    def rotate_when_allowed(self):
        if self.last_rotation is not None:
            time.sleep(max(0.0, self.last_rotation + self.spacing() + 2 - time.monotonic()))
        r = self.rotate()
        assert r.returncode == 0, f"rotation failed:\n{r.stdout}\n{r.stderr}\nrotator:\n{self.logs('rotator')}"
        return r

    def rotator_events(self, message):
        """The fields of each line the rotator logged with `message`."""
        events = []
        for line in self.logs("rotator", tail=None).splitlines():
            try:
                fields = json.loads(line).get("fields", {})
            except ValueError:
                continue
            if fields.get("message") == message:
                events.append(fields)
        return events

    def key_group(self):
        cf = boto3.client("cloudfront", endpoint_url=self.emulator, **CLIENT_KW)
        return cf.get_key_group(Id=self.out["key_group_id"])["KeyGroup"]["KeyGroupConfig"]["Items"]

    # -- the stack
    def up(self):
        self.work.mkdir(parents=True, exist_ok=True)
        now = datetime.datetime.now(datetime.timezone.utc)
        # The distribution's own name (the canary's host) is known only after apply; the
        # emulator names every distribution under cloudfront.net, as CloudFront does.
        cert, key = self_signed(MEDIA_HOST, [MEDIA_HOST, APP_HOST, "*.cloudfront.net"], now - datetime.timedelta(days=1))
        (self.work / "tls.crt").write_bytes(cert)
        (self.work / "tls.key").write_bytes(key)
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(self.work / "tls.crt", self.work / "tls.key")

        self.log("starting the emulator and the Lambda runtime APIs")
        rotator_api = self.lambda_api("rotator_api")
        endpoint_api = self.lambda_api("endpoint_api")
        emulator = self.spawn("emulator", [sys.executable, ROOT / "tests/emulator/server.py", "--port", self.ports["emulator"],
                                           "--lambda-endpoint", f"http://127.0.0.1:{self.ports['rotator_api']}", "--lambda-function", "_"])
        wait_for(self.emulator + "/_emulator/health", emulator, "emulator")
        wait_for_port(self.ports["rotator_api"], rotator_api, "cargo lambda watch (rotator)")
        wait_for_port(self.ports["endpoint_api"], endpoint_api, "cargo lambda watch (endpoint)")

        self.log("terraform apply of infra/ to the emulator")
        acm = boto3.client("acm", endpoint_url=self.emulator, **{**CLIENT_KW, "region_name": "us-east-1"})
        certificate = acm.import_certificate(Certificate=cert, PrivateKey=key)["CertificateArn"]
        infra = copy_infra(self.work)
        emulator_provider(infra, self.emulator)
        (infra / "local.tfvars").write_text(
            'name_prefix = "local"\nemulator = true\nrotate_immediately = false\nsecret_recovery_window_days = 0\n'
            'force_destroy_bucket = true\nuser_pool_deletion_protection = false\nrotator_zip = "rotator.zip"\n'
            f'endpoint_zip = "endpoint.zip"\ncanary = true\ndomain_name = "{MEDIA_HOST}"\nacm_certificate_arn = "{certificate}"\n'
            f'cors_allowed_origins = ["https://{APP_HOST}"]\npublic_paths = ["/public/*"]\n'
        )
        tf(["init", "-backend=false", "-input=false", f"-plugin-dir={PLUGIN_DIR}"], cwd=infra)
        tf(["apply", "-auto-approve", "-input=false", "-no-color", "-var-file=local.tfvars"], cwd=infra)
        self.out = {k: v["value"] for k, v in json.loads(tf(["output", "-json"], cwd=infra).stdout).items()}

        self.log("the rotator Lambda, the edge, the media site")
        # The canary reaches the edge as a rotator reaches CloudFront: by the distribution's
        # name over HTTPS (here through a proxy, trusting the local certificate).
        distribution = self.out["canary_url"].removeprefix("https://").split("/")[0].lower()
        proxy = ConnectProxy(self.ports["proxy"], self.ports["media"], {distribution, MEDIA_HOST})
        proxy.start()
        self.function("rotator", "rotator_api", {
            "HTTPS_PROXY": f"http://127.0.0.1:{self.ports['proxy']}", "NO_PROXY": "127.0.0.1,localhost",
            "SSL_CERT_FILE": str(self.work / "tls.crt")})
        lam = boto3.client("lambda", endpoint_url=self.emulator, **CLIENT_KW)
        url = lam.get_function_url_config(FunctionName=self.out["endpoint_function"])["FunctionUrl"]
        function_domain = url.removeprefix("https://").rstrip("/")
        edge = self.spawn("edge", [binary("cfcookie"), "edge", "--distribution-id", self.out["distribution_id"],
                                   "--listen", f"127.0.0.1:{self.ports['edge']}",
                                   "--origin", f"{function_domain}=http://127.0.0.1:{self.ports['endpoint_api']}/lambda-url/_",
                                   "--propagation-delay", self.propagation_delay], env={**self.base_env(), "RUST_LOG": "info"})
        wait_for_port(self.ports["edge"], edge, "cfcookie edge")
        front = TlsFront(self.ports["media"], self.ports["edge"], tls)
        front.start()
        wait_for_port(self.ports["media"], None, "the media site's TLS front")
        wait_for_port(self.ports["proxy"], None, "the canary's proxy")

        self.log("the first rotation, whose canary goes through the edge")
        self.rotate_when_allowed()

        self.log("the endpoint Lambda, the app's site")
        pool, client = self.out["user_pool_id"], self.out["client_id"]
        # The emulator's pool publishes its JWKS on the emulator, not on cognito-idp's host.
        self.function("endpoint", "endpoint_api", {"CFCOOKIE_JWKS_URL": f"{self.emulator}/{pool}/.well-known/jwks.json"})

        s3 = boto3.client("s3", endpoint_url=self.emulator, **CLIENT_KW)
        bucket = self.out["bucket"]
        for path in sorted(APP.iterdir()):
            kind = {"html": "text/html", "js": "text/javascript"}[path.suffix[1:]]
            s3.put_object(Bucket=bucket, Key=f"public/{path.name}", Body=path.read_bytes(), ContentType=kind)
        colours = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02"]
        for i, colour in enumerate(colours, 1):
            svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="120" height="80"><rect width="120" height="80" fill="{colour}"/>'
                   f'<text x="60" y="50" font-size="28" text-anchor="middle" fill="#fff">{i}</text></svg>')
            s3.put_object(Bucket=bucket, Key=f"img/{i}.svg", Body=svg.encode(), ContentType="image/svg+xml")

        idp = boto3.client("cognito-idp", endpoint_url=self.emulator, **CLIENT_KW)
        idp.admin_create_user(UserPoolId=pool, Username=USER, TemporaryPassword="Temp-Passw0rd-1", MessageAction="SUPPRESS")
        idp.admin_set_user_password(UserPoolId=pool, Username=USER, Password=PASSWORD, Permanent=True)
        self.servers.append(app_server(self.ports["app"], tls, idp, pool, client))
        return self

    def chromium_flags(self):
        rules = f"MAP {MEDIA_HOST}:443 127.0.0.1:{self.ports['media']}, MAP {APP_HOST}:443 127.0.0.1:{self.ports['app']}"
        return [f"--host-resolver-rules={rules}", "--ignore-certificate-errors"]

    def close(self):
        for server in self.servers:
            server.shutdown()
        for proc in reversed(self.procs):
            proc.kill()
            proc.wait()


def main():
    import argparse
    import tempfile
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", help="working directory (logs, Terraform state); default: a new temporary one")
    args = parser.parse_args()
    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="cfcookie-stack-"))
    stack = Stack(work, log=lambda m: print(f"==> {m}", flush=True))
    # `kill` (SIGTERM) stops everything as Ctrl-C does, leaving no emulator or Lambda behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        stack.up()
        flags = " ".join(f"'{f}'" for f in stack.chromium_flags())
        print(f"""
The whole stack is up (logs and state in {work}).
  app, cross-origin:  https://{APP_HOST}/
  app, same origin:   https://{MEDIA_HOST}/public/index.html
  sign in as {USER} / {PASSWORD}
  edge (plain HTTP):  http://127.0.0.1:{stack.ports['edge']}  (x-cfcookie-refusal says why it refuses)
Open it in Chromium, which maps the two names to this machine and accepts the local certificate:
  chromium --user-data-dir=$(mktemp -d) {flags} https://{APP_HOST}/
Rotate the key while the page is open (once a minute at most: the previous key must outlive its cookies):
  AWS_ENDPOINT_URL={stack.emulator} AWS_REGION=eu-west-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \\
    CFCOOKIE_KEY_GROUP_ID={stack.out['key_group_id']} CFCOOKIE_KEY_ID_PARAMETER={stack.out['key_id_parameter']} \\
    CFCOOKIE_KEY_NAME_PREFIX={stack.out['key_name_prefix']} \\
    target/debug/cfcookie rotate --via-secrets-manager --secret-id {stack.out['secret_id']}
Ctrl-C stops everything.""", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        stack.close()


if __name__ == "__main__":
    main()
