"""Shared fixtures: a running emulator, an authenticated HTTP session, a fresh project."""

from __future__ import annotations

import itertools

import pytest

from xnat_emulator.config import FaultSettings, User
from xnat_emulator.testing import InProcessEmulator, XnatHttp

_project_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def emulator(tmp_path_factory) -> InProcessEmulator:
    """One emulator for the session (admin:admin), on a free loopback port."""
    emu = InProcessEmulator(tmp_path_factory.mktemp("emulator"))
    yield emu
    emu.stop()


@pytest.fixture
def http(emulator) -> XnatHttp:
    """requests session with the site admin's Basic credentials; paths may start with '/'."""
    with emulator.http() as session:
        yield session


@pytest.fixture
def project(http, request) -> str:
    """A new, empty project owned by the admin; its ID is returned."""
    pid = f"P{next(_project_numbers):04d}_{request.node.name[:20]}"
    pid = "".join(c if c.isalnum() or c in "_-" else "_" for c in pid)
    r = http.put(f"/data/projects/{pid}")
    assert r.status_code == 200, r.text
    return pid


@pytest.fixture
def make_emulator(tmp_path_factory):
    """Factory for an emulator of one's own: ``make_emulator(users=..., checksums=..., faults=...,
    data_types=..., keep_alive_timeout=...)``."""
    started: list[InProcessEmulator] = []

    def factory(*, users: tuple[User, ...] | None = None, checksums: bool = True,
                faults: FaultSettings | None = None, site_id: str = "XNAT",
                data_types: tuple[str, ...] = (),
                keep_alive_timeout: float = 20.0) -> InProcessEmulator:
        emu = InProcessEmulator(tmp_path_factory.mktemp("emulator"), users=users,
                                checksums=checksums, faults=faults, site_id=site_id,
                                data_types=data_types, keep_alive_timeout=keep_alive_timeout)
        started.append(emu)
        return emu

    yield factory
    for emu in started:
        emu.stop()
