"""Helpers shared by the ports of NrgXnat/xnat-rest-tests (test_rest_suite_*.py)."""

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
