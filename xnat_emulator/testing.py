"""Helpers for tests and demos: run an emulator on a free loopback port."""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from .config import EmulatorConfig, FaultSettings, User
from .server import EmulatorServer


class XnatHttp(requests.Session):
    """A requests session that prefixes the emulator URL to paths starting with ``/``."""

    def __init__(self, base_url: str, auth: tuple[str, str] | None):
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.auth = auth

    def request(self, method, url, *args, **kwargs):
        if url.startswith("/"):
            url = self.base_url + url
        kwargs.setdefault("timeout", 60)
        return super().request(method, url, *args, **kwargs)


class RunningEmulator:
    """An emulator answering on ``url`` with site admin ``user``/``password``."""

    def __init__(self, url: str, data_dir: Path, user: str = "admin", password: str = "admin"):
        self.url = url
        self.data_dir = data_dir
        self.user = user
        self.password = password

    def http(self, user: str | None = None, password: str | None = None,
             anonymous: bool = False) -> XnatHttp:
        auth = None if anonymous else (user or self.user, password or self.password)
        return XnatHttp(self.url, auth)


class InProcessEmulator(RunningEmulator):
    """An emulator on a thread of this process (fast to start, shares the GIL)."""

    def __init__(self, data_dir: Path, *, users: tuple[User, ...] | None = None,
                 checksums: bool = True, faults: FaultSettings | None = None,
                 site_id: str = "XNAT", data_types: tuple[str, ...] = (),
                 keep_alive_timeout: float = 20.0):
        users = users or (User("admin", "admin", admin=True),)
        admin = next(u for u in users if u.admin)
        config = EmulatorConfig(
            data_dir=Path(data_dir), site_id=site_id, users=users, checksums=checksums,
            faults=faults or FaultSettings(), data_types=data_types,
            keep_alive_timeout=keep_alive_timeout,
        )
        self.server = EmulatorServer(config).start()
        super().__init__(self.server.url, Path(data_dir), admin.login, admin.password)

    def stop(self) -> None:
        """Idempotent: tests may stop an emulator their fixture also stops."""
        if self.server is not None:
            self.server.stop()
            self.server = None


class EmulatorProcess(RunningEmulator):
    """``xnat-emulator`` as a child process: for restarts, kills and memory measurements."""

    def __init__(self, data_dir: Path, *extra_args: str, port: int = 0):
        self.extra_args = extra_args
        self.port = port
        self.proc: subprocess.Popen | None = None
        super().__init__("", Path(data_dir))
        self.start()

    def start(self) -> None:
        cmd = [sys.executable, "-m", "xnat_emulator", "--port", str(self.port),
               "--data-dir", str(self.data_dir), *self.extra_args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if "serving" not in line:
            self.proc.kill()
            raise RuntimeError(f"emulator did not start: {line!r}")
        self.url = line.split()[2]
        self.port = int(self.url.rsplit(":", 1)[1])  # a restart keeps the same address

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def pid(self) -> int:
        return self.proc.pid


def temporary_emulator() -> InProcessEmulator:
    """An in-process emulator on a fresh temporary data directory (for demos and benches)."""
    return InProcessEmulator(Path(tempfile.mkdtemp(prefix="xnat-emulator-")))


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


__all__ = ["EmulatorProcess", "InProcessEmulator", "RunningEmulator", "XnatHttp",
           "temporary_emulator", "wait_until"]
