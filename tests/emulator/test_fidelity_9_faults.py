"""Fidelity 9: fault injection through the emulator's control endpoints (not an XNAT API).

Issue item 9: GET/PUT /xapi/emulator/faults with JSON of FaultSettings fields (error_rate,
reset_rate, latency_min, latency_max, expire_sessions_every, seed), POST
/xapi/emulator/sessions/expire; admin only. Each test has an emulator of its own.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import requests
from nibabel.testing import data_path

from xnat_emulator.config import FaultSettings, User

FIELDS = {"error_rate", "reset_rate", "latency_min", "latency_max", "expire_sessions_every",
          "seed"}
EXAMPLE4D = os.path.join(data_path, "example4d.nii.gz")


def _statuses(http, n: int) -> list[int]:
    return [http.get("/data/projects", params={"format": "json"}).status_code for _ in range(n)]


def test_control_endpoint_get_and_put(make_emulator):
    """Issue item 9: GET returns the FaultSettings fields (and counts); PUT sets them; unknown
    fields -> 400."""
    emu = make_emulator()
    with emu.http() as http:
        r = http.get("/xapi/emulator/faults")
        assert r.status_code == 200
        assert FIELDS <= set(r.json())
        assert r.json()["error_rate"] == 0.0
        r = http.put("/xapi/emulator/faults", json={"latency_max": 0.01, "seed": 7})
        assert r.status_code == 200
        assert r.json()["latency_max"] == 0.01 and r.json()["seed"] == 7
        assert http.get("/xapi/emulator/faults").json()["seed"] == 7
        assert http.put("/xapi/emulator/faults", json={"bogus": 1}).status_code == 400


def test_non_admin_gets_403(make_emulator):
    """Issue item 9: "non-admins get 403" on the control endpoints."""
    emu = make_emulator(users=(User("admin", "admin", admin=True), User("bob", "bob")))
    with emu.http("bob", "bob") as bob:
        assert bob.get("/xapi/emulator/faults").status_code == 403
        assert bob.put("/xapi/emulator/faults", json={"error_rate": 1.0}).status_code == 403
        assert bob.post("/xapi/emulator/sessions/expire").status_code == 403
        assert bob.get("/data/projects").status_code == 200  # nothing was switched on


def test_error_rate_gives_500_and_503(make_emulator):
    """Issue item 9: "a rate of 500/503 answers"; the control endpoints stay reachable."""
    emu = make_emulator()
    with emu.http() as http:
        assert http.put("/xapi/emulator/faults", json={"error_rate": 1.0, "seed": 3}
                        ).status_code == 200
        codes = _statuses(http, 30)
        assert set(codes) == {500, 503}
        r = http.get("/data/projects")
        assert r.text.startswith("<html>")  # an error page, as XNAT's would be
        assert http.put("/xapi/emulator/faults", json={"error_rate": 0.0}).status_code == 200
        assert set(_statuses(http, 5)) == {200}
        assert http.get("/xapi/emulator/faults").json()["injected"]["errors"] == 0  # reset


def test_faults_from_start_up_settings(make_emulator):
    """Issue item 9: FaultSettings given at start-up apply from the first request."""
    emu = make_emulator(faults=FaultSettings(error_rate=0.5, seed=11))
    with emu.http() as http:
        codes = _statuses(http, 40)
    assert 200 in codes and ({500, 503} & set(codes))


def test_same_seed_same_sequence(make_emulator):
    """Issue item 9: "reproducible with a seed (same seed -> same sequence of outcomes)"."""
    emu = make_emulator()
    with emu.http() as http:
        runs = []
        for seed in (42, 42, 43):
            assert http.put("/xapi/emulator/faults", json={"error_rate": 0.4, "seed": seed}
                            ).status_code == 200
            runs.append(_statuses(http, 40))
        assert runs[0] == runs[1]
        assert runs[0] != runs[2]
        assert 200 in runs[0] and (set(runs[0]) - {200})


def test_reset_in_the_middle_of_a_body(make_emulator):
    """Issue item 9: "connections reset in the middle of a response body": status and headers
    arrive, then part of the body, then the connection drops."""
    emu = make_emulator()
    data = Path(EXAMPLE4D).read_bytes()
    with emu.http() as http:
        assert http.put("/data/projects/RST").status_code == 200
        url = "/data/projects/RST/resources/R/files/example4d.nii.gz"
        assert http.put(url, data=data, headers={"Content-Type": "application/octet-stream"}
                        ).status_code == 200
        assert http.put("/xapi/emulator/faults", json={"reset_rate": 1.0, "seed": 1}
                        ).status_code == 200
    with emu.http() as http:
        r = http.get(url, stream=True)
        assert r.status_code == 200
        assert r.headers["Content-Length"] == str(len(data))
        received = bytearray()
        with pytest.raises((requests.exceptions.ChunkedEncodingError,
                            requests.exceptions.ConnectionError)):
            for chunk in r.iter_content(8192):
                received += chunk
        assert 0 < len(received) < len(data)
        assert bytes(received) == data[:len(received)]
    with emu.http() as http:
        assert http.put("/xapi/emulator/faults", json={"reset_rate": 0.0}).status_code == 200
        assert http.get(url).content == data


def test_latency(make_emulator):
    """Issue item 9: "added latency" between latency_min and latency_max seconds."""
    emu = make_emulator()
    with emu.http() as http:
        assert http.put("/xapi/emulator/faults", json={"latency_min": 0.2, "latency_max": 0.25}
                        ).status_code == 200
        start = time.monotonic()
        assert http.get("/data/projects").status_code == 200
        assert time.monotonic() - start >= 0.2
        assert http.put("/xapi/emulator/faults", json={"latency_min": 0.0, "latency_max": 0.0}
                        ).status_code == 200
        start = time.monotonic()
        assert http.get("/data/projects").status_code == 200
        assert time.monotonic() - start < 0.2


def _cookie_session(emu):
    with emu.http() as http:
        sid = http.get("/data/JSESSION").text
    s = emu.http(anonymous=True)
    s.cookies.set("JSESSIONID", sid)
    return s


def test_expire_all_sessions_now(make_emulator):
    """Issue item 9: "POST /xapi/emulator/sessions/expire: ... the next cookie-only request gets
    401"; Basic still works."""
    emu = make_emulator()
    cookie = _cookie_session(emu)
    assert cookie.get("/data/auth").status_code == 200
    with emu.http() as http:
        r = http.post("/xapi/emulator/sessions/expire")
        assert r.status_code == 200
        assert r.json()["expired"] >= 1
    r = cookie.get("/data/projects")
    assert r.status_code == 401 and "WWW-Authenticate" in r.headers
    with emu.http() as http:
        assert http.get("/data/projects").status_code == 200


def test_expire_sessions_every_n_requests(make_emulator):
    """Issue item 9: expire_sessions_every=N ends every session on every N-th request."""
    emu = make_emulator()
    with emu.http() as http:
        assert http.put("/xapi/emulator/faults", json={"expire_sessions_every": 3}
                        ).status_code == 200
    cookie = _cookie_session(emu)  # request 1 (JSESSION, Basic)
    codes = [cookie.get("/data/auth").status_code for _ in range(3)]  # requests 2, 3, 4
    assert codes[0] == 200 and 401 in codes
