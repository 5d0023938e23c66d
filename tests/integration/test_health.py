"""``xnat-container serve``: the health service under real gunicorn, probed over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
import requests

SECRET = "health-Pa55word-xyz"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def serve(tmp_path):
    """Start ``xnat-container serve`` with the given environment; yields its base URL."""
    procs = []

    def start(env_extra: dict[str, str]) -> str:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("XNAT_")}
        env.update(env_extra)
        env["NETRC"] = str(tmp_path / "no-netrc")
        proc = subprocess.Popen(
            [sys.executable, "-m", "xnat_container", "serve", "--bind", f"127.0.0.1:{port}"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(url + "/healthz", timeout=1)
                return url
            except requests.ConnectionError:
                time.sleep(0.1)
        proc.kill()
        raise RuntimeError(proc.stdout.read())

    yield start
    for proc in procs:
        proc.terminate()
        output, _ = proc.communicate(timeout=10)
        assert SECRET not in output, "a secret reached the server's log"


def test_healthz_and_version(serve):
    """/healthz answers 200 {"status": "ok"} as soon as the process runs; /version names it."""
    url = serve({})
    r = requests.get(url + "/healthz", timeout=5)
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert r.headers["Content-Type"].startswith("application/json")
    from xnat_container import __version__
    assert requests.get(url + "/version", timeout=5).json() == {
        "name": "xnat-container", "version": __version__}


def test_readyz_ready_when_xnat_accepts_credentials(serve, make_emulator):
    """/readyz is 200 when the configured XNAT answers and the credentials work."""
    from xnat_emulator.config import User
    emu = make_emulator(users=(User("admin", SECRET, admin=True),))
    url = serve({"XNAT_HOST": emu.url, "XNAT_USER": "admin", "XNAT_PASS": SECRET})
    r = requests.get(url + "/readyz", timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ready"


def test_readyz_503_with_reason_on_bad_credentials(serve, make_emulator):
    """Wrong password: 503 with a one-line reason that names the XNAT and not the password."""
    from xnat_emulator.config import User
    emu = make_emulator(users=(User("admin", "the-right-one", admin=True),))
    url = serve({"XNAT_HOST": emu.url, "XNAT_USER": "admin", "XNAT_PASS": SECRET})
    r = requests.get(url + "/readyz", timeout=10)
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "unavailable"
    assert "\n" not in body["reason"] and SECRET not in body["reason"]
    assert emu.url.split("//")[1] in body["reason"]


def test_readyz_503_when_xnat_unreachable_or_unset(serve):
    """No XNAT_HOST, or an XNAT that does not answer: 503, not a hang or a 500."""
    assert requests.get(serve({}) + "/readyz", timeout=10).status_code == 503
    url = serve({"XNAT_HOST": f"http://127.0.0.1:{free_port()}", "XNAT_USER": "u",
                 "XNAT_PASS": SECRET})
    start = time.monotonic()
    r = requests.get(url + "/readyz", timeout=20)
    assert r.status_code == 503 and time.monotonic() - start < 15


def test_readyz_is_cached(serve, make_emulator):
    """Probes within the cache window reuse the last check: with the XNAT gone right after a
    successful probe, the next probe still answers from the cache instead of logging in."""
    from xnat_emulator.config import User
    emu = make_emulator(users=(User("admin", SECRET, admin=True),))
    url = serve({"XNAT_HOST": emu.url, "XNAT_USER": "admin", "XNAT_PASS": SECRET})
    assert requests.get(url + "/readyz", timeout=10).status_code == 200
    emu.stop()
    cached = requests.get(url + "/readyz", timeout=10)
    assert cached.status_code == 200
    assert cached.json()["checked_seconds_ago"] > 0
