"""The seed's curl recipe, run with the real ``curl`` binary against the emulator.

Sources: /work/shared/reference/xnat-rest.md (REF §n): §2 (Basic auth), §3.3 (resources listing
columns), §4 (PUT subject/experiment 201, scan/resource 200), §5.1 (``inbody=true`` upload),
§5.3 (single-file GET/HEAD).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

CURL = shutil.which("curl")
pytestmark = pytest.mark.skipif(CURL is None, reason="the curl binary is not installed (apt-get install curl)")

RESOURCE_CSV_HEADER = ("xnat_abstractresource_id,label,element_name,category,cat_id,cat_desc,"
                       "file_count,file_size,tags,content,format")


def curl(emulator, *args: str, output: Path | None = None) -> tuple[int, bytes]:
    """Run ``curl -s -u user:pass ...``; return (HTTP status, body; b'' when written to ``output``)."""
    cmd = [CURL, "-s", "-S", "-u", f"{emulator.user}:{emulator.password}", "-w", "\n%{http_code}"]
    if output is not None:
        cmd += ["-o", str(output)]
    proc = subprocess.run([*cmd, *args], capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    body, _, status = proc.stdout.rpartition(b"\n")
    return int(status), body


def curl_status(emulator, *args: str) -> int:
    status, _ = curl(emulator, *args, output=Path("/dev/null"))
    return status


@pytest.fixture
def nifti(tmp_path) -> Path:
    """A ``.nii.gz`` file: nibabel's example when installed, else gzip bytes with every byte value."""
    try:
        from nibabel.testing import data_path
        src = Path(data_path) / "example4d.nii.gz"
        if src.exists():
            dest = tmp_path / "x.nii.gz"
            dest.write_bytes(src.read_bytes())
            return dest
    except ImportError:
        pass
    import gzip
    dest = tmp_path / "x.nii.gz"
    dest.write_bytes(gzip.compress(bytes(range(256)) * 512))
    return dest


def test_seed_curl_sequence(emulator, project, nifti, tmp_path):
    """The seed's curl sequence: HEAD scan 404, PUT scan 200, resources CSV, PUT NIFTI resource 200,
    PUT file with ``--data-binary`` and ``inbody=true`` 200, HEAD scan 200, GET file byte-identical.

    The subject and session are created first (PUT → 201, REF §4): a scan PUT needs its session
    (W18 ScanResource: "Specified image session doesn't exist." 404).
    Source: REF §4 (status codes), §3.3 (resources CSV fixed columns), §5.1 (inbody), §5.3.
    """
    base = f"{emulator.url}/data/projects/{project}/subjects/S/experiments/E"
    scan = f"{base}/scans/1"

    assert curl_status(emulator, "-X", "PUT",
                       f"{emulator.url}/data/projects/{project}/subjects/S") == 201
    assert curl_status(emulator, "-X", "PUT", f"{base}?xsiType=xnat:mrSessionData") == 201

    assert curl_status(emulator, "-I", scan) == 404
    assert curl_status(emulator, "-X", "PUT", f"{scan}?xsiType=xnat:mrScanData") == 200

    status, body = curl(emulator, f"{scan}/resources?format=csv")
    assert status == 200
    assert body.decode().splitlines() == [RESOURCE_CSV_HEADER]

    assert curl_status(emulator, "-X", "PUT",
                       f"{scan}/resources/NIFTI?format=NIFTI&content=NIFTI_RAW") == 200

    assert curl_status(emulator, "-X", "PUT", "--data-binary", f"@{nifti}",
                       f"{scan}/resources/NIFTI/files/x.nii.gz?inbody=true") == 200

    assert curl_status(emulator, "-I", scan) == 200

    dest = tmp_path / "back.nii.gz"
    status, _ = curl(emulator, f"{scan}/resources/NIFTI/files/x.nii.gz", output=dest)
    assert status == 200
    assert dest.read_bytes() == nifti.read_bytes()

    status, body = curl(emulator, f"{scan}/resources?format=csv")
    assert status == 200
    lines = body.decode().splitlines()
    assert lines[0] == RESOURCE_CSV_HEADER
    assert len(lines) == 2
    row = dict(zip(RESOURCE_CSV_HEADER.split(","), lines[1].split(",")))
    assert row["xnat_abstractresource_id"].isdigit()
    assert row["label"] == "NIFTI"
    assert row["element_name"] == "xnat:resourceCatalog"
    assert row["category"] == "scans"
    assert row["cat_id"] == "1"
    assert row["file_count"] == "1"
    assert row["file_size"] == str(nifti.stat().st_size)
    assert row["format"] == "NIFTI"
    assert row["content"] == "NIFTI_RAW"


def test_curl_head_file_headers(emulator, project, nifti):
    """``curl -I`` on an uploaded file: 200 with ``Content-Length`` = size and a ``Last-Modified`` header.

    Source: REF §5.3 (HEAD answered like GET without body, Last-Modified = file mtime).
    """
    scan = f"{emulator.url}/data/projects/{project}/subjects/S/experiments/E/scans/1"
    assert curl_status(emulator, "-X", "PUT",
                       f"{emulator.url}/data/projects/{project}/subjects/S") == 201
    assert curl_status(emulator, "-X", "PUT",
                       f"{emulator.url}/data/projects/{project}/subjects/S/experiments/E"
                       "?xsiType=xnat:mrSessionData") == 201
    assert curl_status(emulator, "-X", "PUT", f"{scan}?xsiType=xnat:mrScanData") == 200
    assert curl_status(emulator, "-X", "PUT", "--data-binary", f"@{nifti}",
                       f"{scan}/resources/NIFTI/files/x.nii.gz?inbody=true") == 200

    proc = subprocess.run([CURL, "-s", "-S", "-I", "-u", f"{emulator.user}:{emulator.password}",
                           f"{scan}/resources/NIFTI/files/x.nii.gz"],
                          capture_output=True, timeout=60, text=True)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[1] == "200"
    headers = {k.strip().lower(): v.strip() for k, _, v in
               (line.partition(":") for line in lines[1:] if ":" in line)}
    assert headers["content-length"] == str(nifti.stat().st_size)
    assert "last-modified" in headers
