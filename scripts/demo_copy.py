"""The main job on the embedded emulator: copy a realistic project between two XNATs.

Starts two emulators, fills the source with the sample project (subjects with demographics
and custom fields; MR, PET and CT sessions; real NIFTI and DICOM; an assessor; resources at
every level), runs ``xnat-container copy`` as a user would, prints its report, then checks
the target with pyxnat, independently of our own code.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pyxnat

from xnat_emulator.sample import build_sample_project
from xnat_emulator.testing import EmulatorProcess


def inventory(url: str, project: str) -> dict:
    """Every file of the project as pyxnat sees it: (subject, session, scan, resource, path) -> size."""
    found = {}
    with pyxnat.Interface(server=url, user="admin", password="admin") as xnat:
        p = xnat.select.project(project)
        for res in p.resources():
            for f in res.files():
                found[("", "", "", res.label(), f.id())] = f.size()
        for subject in p.subjects():
            s_label = subject.label()
            for res in subject.resources():
                for f in res.files():
                    found[(s_label, "", "", res.label(), f.id())] = f.size()
            for exp in subject.experiments():
                e_label = exp.label()
                for res in exp.resources():
                    for f in res.files():
                        found[(s_label, e_label, "", res.label(), f.id())] = f.size()
                for scan in exp.scans():
                    for res in scan.resources():
                        for f in res.files():
                            found[(s_label, e_label, scan.id(), res.label(), f.id())] = f.size()
    return found


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="xnat-demo-"))
    source = EmulatorProcess(work / "source")
    target = EmulatorProcess(work / "target", "--site-id", "REMOTE")
    try:
        print(f"source XNAT {source.url}, target XNAT {target.url}")
        counts = build_sample_project(source.url, ("admin", "admin"), "DEMO")
        print("source project DEMO:", ", ".join(f"{v} {k}" for k, v in counts.items()))
        target.http().put("/data/projects/DEMO_COPY").raise_for_status()
        env = dict(os.environ, XNAT_USER="admin", XNAT_PASS="admin",
                   REMOTE_XNAT_USER="admin", REMOTE_XNAT_PASS="admin")
        command = [sys.executable, "-m", "xnat_container", "copy", "--source-url", source.url,
                   "--source-project", "DEMO", "--target-url", target.url,
                   "--target-project", "DEMO_COPY", "--report-dir", str(work / "report")]
        print("$ xnat-container copy --source-url", source.url, "--source-project DEMO",
              "--target-url", target.url, "--target-project DEMO_COPY")
        code = subprocess.call(command, env=env)
        if code != 0:
            print(f"copy exited with {code}")
            return code
        src, dst = inventory(source.url, "DEMO"), inventory(target.url, "DEMO_COPY")
        same = src == dst
        print(f"pyxnat check: {len(dst)} files on the target, "
              f"{'identical to' if same else 'DIFFERENT from'} the source's listing")
        return 0 if same else 1
    finally:
        source.stop()
        target.stop()


if __name__ == "__main__":
    sys.exit(main())
