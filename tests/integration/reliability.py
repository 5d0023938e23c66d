"""Helpers of the reliability tests: a job as a child process watched live, progress read from
the target's data folder and the job's journal, fault settings, the import command line."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from copyhelpers import SECRET, copy_command, copy_env

NO_FAULTS = {"error_rate": 0, "reset_rate": 0, "latency_min": 0, "latency_max": 0,
             "expire_sessions_every": 0, "seed": None}


def set_faults(emu, **settings) -> dict:
    r = emu.http().put("/xapi/emulator/faults", json={**NO_FAULTS, **settings})
    r.raise_for_status()
    return r.json()


def import_command(url: str, source, project: str, report_dir, *args) -> list[str]:
    return [sys.executable, "-m", "xnat_container", "import-nifti", str(source), "--project",
            project, "--url", url, "--report-dir", str(report_dir), *args]


def import_env() -> dict:
    env = dict(os.environ, XNAT_USER="admin", XNAT_PASS=SECRET)
    env.pop("XNAT_HOST", None)
    return env


def files_on(emu) -> int:
    """Files stored in the emulator's archive folder (uploads land there once complete)."""
    return sum(len(files) for _, _, files in os.walk(Path(emu.data_dir) / "archive"))


def parts_on(emu) -> list[int]:
    """Sizes of the uploads the emulator is receiving right now (its staging files)."""
    sizes = []
    for path in (Path(emu.data_dir) / "tmp").glob("upload-*.part"):
        try:
            sizes.append(path.stat().st_size)
        except FileNotFoundError:   # completed (or dropped) while we looked
            pass
    return sizes


def inflight(report_dir) -> int:
    """Uploads the job's journal records as started and not yet verified."""
    db = sqlite3.connect(Path(report_dir) / "journal.sqlite")
    try:
        return db.execute("SELECT count(*) FROM inflight").fetchone()[0]
    finally:
        db.close()


def read_report(report_dir) -> dict | None:
    path = Path(report_dir) / "report.json"
    return json.loads(path.read_text()) if path.exists() else None


class JobProcess:
    """``xnat-container`` as a child process whose stderr lines are collected live."""

    def __init__(self, cmd: list[str], env: dict, report_dir=None):
        if report_dir is not None and (Path(report_dir) / "report.json").exists():
            (Path(report_dir) / "report.json").unlink()
        self.started = time.monotonic()
        self.lines: list[str] = []
        self._seen = threading.Condition()
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.stdout = ""
        self._out = threading.Thread(target=self._read_stdout, daemon=True)
        self._out.start()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @classmethod
    def copy(cls, src, dst, report_dir, *args) -> JobProcess:
        return cls(copy_command(src.url, dst.url, report_dir, *args), copy_env(), report_dir)

    @classmethod
    def import_nifti(cls, emu, source, project, report_dir, *args) -> JobProcess:
        return cls(import_command(emu.url, source, project, report_dir, *args), import_env(),
                   report_dir)

    def _read_stdout(self) -> None:
        self.stdout = self.proc.stdout.read()

    def _read(self) -> None:
        for line in self.proc.stderr:
            with self._seen:
                self.lines.append(line)
                self._seen.notify_all()
        with self._seen:
            self._seen.notify_all()

    @property
    def stderr(self) -> str:
        with self._seen:
            return "".join(self.lines)

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait_for(self, text: str, count: int = 1, timeout: float = 60) -> bool:
        """True once ``count`` stderr lines contain ``text``; False if the process ended."""
        deadline = time.monotonic() + timeout
        with self._seen:
            while sum(text in line for line in self.lines) < count:
                if self.proc.poll() is not None and not self._reader.is_alive():
                    return False
                self._seen.wait(0.02)
                assert time.monotonic() < deadline, f"no {text!r} in time: {self.lines}"
        return True

    def wait_until(self, predicate, timeout: float = 60, interval: float = 0.01) -> bool:
        """True once ``predicate()`` holds while the process runs; False if it ended first."""
        deadline = time.monotonic() + timeout
        while self.running():
            if predicate():
                return self.running()
            assert time.monotonic() < deadline, f"not reached in time: {self.stderr[-2000:]}"
            time.sleep(interval)
        return False

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 60) -> int:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        self._out.join(timeout=10)
        return code

    def kill(self) -> int:
        """SIGKILL; the exit code (-9 when it was still running)."""
        self.proc.send_signal(signal.SIGKILL)
        return self.wait(30)
