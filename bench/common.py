"""What the copy and load benchmarks share: archives seeded through the emulator's archive
rules, the CLI run as a child process with its wall time and peak RSS measured, and the JSON
summary written under ``bench/results``."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import psutil

USER, PASSWORD = "admin", "admin"
RESULTS = Path(__file__).parent / "results"


def add_file(store, resource, name: str, data: bytes) -> None:
    """One file into a resource, as an upload would store it (seeding skips HTTP to save
    minutes)."""
    from xnat_emulator.files import receive_upload

    receive_upload(store, resource, name, io.BytesIO(data), overwrite=False, extract=False,
                   expected_size=len(data))


def add_session(emu, admin, project: str, subject: str, label: str):
    """An MR session (and its subject), through the archive rules; returns its row."""
    from xnat_emulator.archive import Incoming

    saved = emu.archive.put_experiment(
        admin, project, subject, label,
        Incoming(None, {"date": "2024-01-02"}, "xnat:mrSessionData"))
    return emu.store.get_experiment(saved.id)


def add_scans(emu, admin, session, scans: int, data_for: Callable[[int], bytes]) -> list[int]:
    """Scans 1..``scans`` of ``session``, each with a DICOM resource of one file
    ``data_for(scan number)``, through the archive rules; returns the files' sizes."""
    from xnat_emulator.archive import Incoming

    sizes = []
    for k in range(1, scans + 1):
        emu.archive.put_scan(admin, session, str(k),
                             Incoming(None, {"type": f"T{k}"}, "xnat:mrScanData"))
        scan = emu.store.get_scan(session.id, str(k))
        res = emu.archive.put_resource("scan", str(scan.pk), "DICOM", {"format": "DICOM"})
        data = data_for(k)
        add_file(emu.store, res, f"{k}-1.dcm", data)
        sizes.append(len(data))
    return sizes


class RssSampler:
    """Peak resident memory of a process (and its children), sampled every 20 ms."""

    def __init__(self, pid: int):
        self.proc = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                rss = self.proc.memory_info().rss
                rss += sum(c.memory_info().rss for c in self.proc.children(recursive=True))
            except psutil.Error:
                break
            self.peak = max(self.peak, rss)
            time.sleep(0.02)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak / 1e6


def cli_env() -> dict:
    """The CLI reads credentials only from the environment (never the command line)."""
    return {**os.environ, "XNAT_USER": USER, "XNAT_PASS": PASSWORD,
            "REMOTE_XNAT_USER": USER, "REMOTE_XNAT_PASS": PASSWORD}


def copy_cmd(src, dst, project: str, target: str, report_dir: Path, *extra: str) -> list[str]:
    """``xnat-container copy`` of ``project`` on ``src`` into ``target`` on ``dst``."""
    return [sys.executable, "-m", "xnat_container", "copy", "--source-url", src.url,
            "--source-project", project, "--target-url", dst.url, "--target-project", target,
            "--report-dir", str(report_dir), *extra]


@dataclass(frozen=True)
class Finished:
    """A child's output and exit code, with what the benchmarks measure of it."""

    out: str
    err: str
    exit: int
    seconds: float
    peak_rss_mb: float


class Child:
    """A CLI child process started now: its clock and RSS sampler start with it, so that
    several can run at once and each is measured on its own."""

    def __init__(self, cmd: list[str]):
        self.start = time.perf_counter()
        self.proc = subprocess.Popen(cmd, env=cli_env(), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.sampler = RssSampler(self.proc.pid)

    def finish(self) -> Finished:
        """Wait for the exit; the clock and the sampler stop then, not when it is read."""
        out, err = self.proc.communicate()
        seconds = time.perf_counter() - self.start
        return Finished(out, err, self.proc.returncode, seconds, self.sampler.stop())


def write_results(results: dict, bench: str, quick: bool, partial: bool) -> None:
    """``bench/results/<bench>[-quick][-partial].json`` keeps the last run; stdout shows it."""
    RESULTS.mkdir(exist_ok=True)
    name = f"{bench}-quick.json" if quick else f"{bench}.json"
    if partial:
        name = name.replace(".json", "-partial.json")
    (RESULTS / name).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
