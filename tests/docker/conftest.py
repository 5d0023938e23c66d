"""tests/docker: end-to-end scenarios against a real XNAT (docker/docker-compose.yml) through
pytest-docker.

pytest-docker has no skip of its own: where Docker Compose is missing its `docker_services`
fixture raises. So `docker compose version` is asked once, and when it does not answer every
test of this folder is skipped, with its output as the reason, before any fixture runs.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def _compose_version() -> tuple[bool, str]:
    try:
        proc = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True,
                              timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"`docker compose version` did not answer: {exc}"
    output = " ".join((proc.stdout + proc.stderr).split())
    if proc.returncode != 0:
        return False, f"`docker compose version` did not answer: {output}"
    return True, output


COMPOSE_OK, COMPOSE_OUTPUT = _compose_version()


def pytest_collection_modifyitems(config, items):
    if COMPOSE_OK:
        return
    skip = pytest.mark.skip(reason=COMPOSE_OUTPUT)
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def xnat_data_dir(tmp_path_factory) -> Path:
    """Host folder holding both XNATs' data; the Container Service's path translation points
    here, so it must be an absolute host path that the Docker engine can bind-mount."""
    path = Path(os.environ.get("XNAT_DATA_DIR") or tmp_path_factory.mktemp("xnat-data"))
    for side in ("local", "remote"):
        (path / side).mkdir(parents=True, exist_ok=True)
    os.environ["XNAT_DATA_DIR"] = str(path.resolve())
    return path.resolve()


@pytest.fixture(scope="session")
def docker_compose_file(xnat_data_dir):
    """pytest-docker: our stack (the data folder is set in the environment first)."""
    return str(ROOT / "docker" / "docker-compose.yml")


@pytest.fixture(scope="session")
def docker_setup():
    """pytest-docker: build, start and wait for every health check (XNAT takes minutes)."""
    return ["up --build --wait --wait-timeout 900"]
