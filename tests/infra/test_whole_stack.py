"""The whole stack in a browser: infra/ applied to the emulator, `cfcookie edge` in front of it,
the built endpoint and rotator Lambdas behind cargo-lambda, and the example app in headless
Chromium from its own site and from the media site's public path (tests/infra/whole_stack.py).

While both pages reload their protected images, Secrets Manager (the emulator) rotates the key
through the rotator Lambda; no image may be refused, the pages' cookies must move to the new key,
and each rotation's canary must pass through the edge. Then both sign out by POST through the
edge (the cross-origin one after a preflight) and their images are refused, with the edge's
reason.
"""

import json
import shutil
import subprocess
import time
from collections import Counter

from whole_stack import APP_HOST, MEDIA_HOST, ROOT, Stack


def test_rotation_and_sign_out_through_the_edge_in_a_browser(tmp_path):
    assert shutil.which("node"), "node is missing (scripts/test installs it)"
    assert shutil.which("cargo-lambda"), "cargo-lambda is not installed (scripts/test installs it into .venv)"
    assert (ROOT / "tests/node/node_modules/playwright-core").exists(), "playwright-core missing: run scripts/test"
    stack = Stack(tmp_path / "stack")
    shots = ROOT / "target/browser"
    shots.mkdir(parents=True, exist_ok=True)
    try:
        stack.up()
        old_key = stack.key_group()
        assert len(old_key) == 1, old_key
        # Cookies live 20 s; the client refreshes 8 s before they expire, so a page takes up a
        # new key within seconds of its activation.
        driver = subprocess.Popen(
            ["node", "tests/node/whole-stack.js", str(shots), *stack.chromium_flags(), "--",
             f"https://{APP_HOST}/?margin=8", f"https://{MEDIA_HOST}/public/index.html?margin=8"],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready = driver.stdout.readline()
        assert ready.strip() == "ready", f"{ready}{driver.stderr.read() if driver.poll() is not None else ''}\n{stack.logs('edge')}\n{stack.logs('endpoint')}"

        stack.rotate_when_allowed()
        group = stack.key_group()
        assert len(group) == 2 and old_key[0] in group, group
        new_key = next(k for k in group if k != old_key[0])
        # Past the new key's activation, the edges' propagation and the endpoint's cache, and
        # long enough for each page to refresh its cookies at least once more.
        time.sleep(stack.spacing())
        out, err = driver.communicate("rotated\n", timeout=180)
        assert driver.returncode == 0, f"{out}\n{err}\nedge:\n{stack.logs('edge')}\nendpoint:\n{stack.logs('endpoint')}"
        record = json.loads(out.strip().splitlines()[-1])
    finally:
        stack.close()
    # Each rotation's testSecret fetched the canary through the edge with the pending key's
    # cookies, by the distribution's name, and the edge let it through.
    canaries = stack.rotator_events("testSecret: canary accepted the pending key")
    assert len(canaries) == 2 and all(c["url"] == stack.out["canary_url"] and c["status"] == 200 for c in canaries), \
        f"{canaries}\nrotator:\n{stack.logs('rotator')}"
    endpoint_requests = []
    for line in (stack.work / "endpoint.log").read_text().splitlines():
        try:
            fields = json.loads(line).get("fields", {})
        except ValueError:
            continue
        if fields.get("message") == "request":
            endpoint_requests.append((fields.get("method"), fields.get("path"), fields.get("status")))

    signed_in = [r for r in record["images"] if r["phase"] == "signed-in"]
    signed_out = [r for r in record["images"] if r["phase"] == "signed-out"]
    for page in ("cross-origin", "same-origin"):
        mine = [r for r in signed_in if r["page"] == page]
        refused = [r for r in mine if r["status"] != 200]
        assert mine and not refused, f"{page}: {len(refused)} of {len(mine)} images refused while signed in: {refused[:5]}"
        keys = Counter(r["key"] for r in mine)
        assert keys[old_key[0]] and keys[new_key], f"{page}: cookies did not move from {old_key[0]} to {new_key}: {keys}"
        assert record["signOut"][page] == "ok", record["signOut"]
        assert record["cookiesAfter"][page] == 0, f"{page}: cookies left after sign-out"
        after = [r for r in signed_out if r["page"] == page]
        assert after and all(r["status"] == 403 and r["refusal"] == "missing_cookie" for r in after), after
        for c in record["cookies"][page]:
            assert c["secure"] and c["httpOnly"] and c["sameSite"] == "Lax" and c["domain"] == MEDIA_HOST, c
    removes = [(r["page"], r["method"], r["status"]) for r in record["remove"]]
    assert ("cross-origin", "POST", 200) in removes and ("same-origin", "POST", 200) in removes, removes
    # The cross-origin sign-out's preflight reached the endpoint through the edge and was
    # allowed (a browser does not show its preflights to the page; the endpoint logs each).
    assert ("OPTIONS", "/cookie/remove", 204) in endpoint_requests, endpoint_requests
