"""Shared pytest fixtures: the project's AWS emulator (tests/emulator/server.py) on a free port."""

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

SERVER = Path(__file__).parent / "emulator" / "server.py"


def start_emulator(*extra):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, str(SERVER), "--port", str(port), *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(url + "/_emulator/health")
            return proc, url
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("emulator exited: " + proc.stderr.read().decode())
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("emulator did not start")


@pytest.fixture(scope="module")
def endpoint():
    proc, url = start_emulator()
    yield url
    proc.kill()
    proc.wait()
