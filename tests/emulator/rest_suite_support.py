"""Helpers shared by the ports of NrgXnat/xnat-rest-tests (test_rest_suite_*.py): status
checks, result rows, and the projects, subjects, sessions and scans every port creates."""

from __future__ import annotations

import uuid


def _describe(r) -> str:
    return f"{r.request.method} {r.request.url} -> {r.status_code}: {r.text[:400]!r}"


def expect(r, *codes):
    """Assert the status is one of ``codes``; the message shows the request and the body."""
    assert r.status_code in codes, _describe(r)
    return r


def rows(r) -> list[dict]:
    expect(r, 200)
    return r.json()["ResultSet"]["Result"]


def uid(prefix: str = "X") -> str:
    return prefix + uuid.uuid4().hex[:10]


def new_project(http, pid: str | None = None, **params) -> str:
    pid = pid or uid("P")
    expect(http.put(f"/data/projects/{pid}", params=params or None), 200)
    return pid


def new_subject(http, project: str, label: str, **fields) -> str:
    r = http.put(f"/data/projects/{project}/subjects/{label}",
                 params={"xsiType": "xnat:subjectData", **fields})
    expect(r, 201)
    return r.text.strip()


def new_session(http, project: str, subject: str, label: str,
                xsi: str = "xnat:mrSessionData", **fields) -> str:
    r = http.put(f"/data/projects/{project}/subjects/{subject}/experiments/{label}",
                 params={"xsiType": xsi, **fields})
    expect(r, 201)
    return r.text.strip()


def new_scan(http, session_url: str, scan_id: str, xsi: str = "xnat:mrScanData", **fields):
    expect(http.put(f"{session_url}/scans/{scan_id}", params={"xsiType": xsi, **fields}), 200)
