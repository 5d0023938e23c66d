"""``xnat-container copy`` end to end over HTTP between two emulators."""

from __future__ import annotations

import pytest
from copyhelpers import SECRET, documents, run_copy, sample_sites


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A source emulator with the sample project and an empty target emulator."""
    with sample_sites(tmp_path_factory, subjects=3) as sites:
        yield sites


def _copy_into(pair, tmp_path, project, *args):
    """Copy into ``project``, created empty on the target first; checks the exit code is 0.
    (completed process, report)"""
    src, dst = pair
    dst.http().put(f"/data/projects/{project}").raise_for_status()
    proc, report = run_copy(src, dst, tmp_path, *args, "--target-project", project)
    assert proc.returncode == 0, proc.stderr
    return proc, report


def test_full_project_copy_is_complete_and_verified(pair, tmp_path):
    """Every object's metadata equals the source's (apart from accession IDs) and every file
    arrives with the same size and MD5; the report says so and the exit code is 0."""
    src, dst = pair
    proc, report = run_copy(src, dst, tmp_path, "--source-project", "SRC",
                            "--target-project", "FULL", "--create-target-project")
    assert proc.returncode == 0, proc.stderr
    assert report["status"] == "ok"
    assert report["done"]["created"] == {"project": 1, "subject": 3, "experiment": 9,
                                         "scan": 12, "assessor": 3}
    assert report["verification"]["failed"] == 0
    src_docs, src_files = documents(src, "SRC")
    dst_docs, dst_files = documents(dst, "FULL")
    assert dst_docs == src_docs
    assert dst_files == src_files
    assert report["verification"]["verified_files"] == report["done"]["files_uploaded"] == 127


def test_rerun_copies_nothing(pair, tmp_path):
    """A re-run after success only lists: nothing created, nothing uploaded, exit 0."""
    src, dst = pair
    _copy_into(pair, tmp_path, "RERUN", "--source-project", "SRC")
    proc, report = run_copy(src, dst, tmp_path, "--source-project", "SRC",
                            "--target-project", "RERUN")
    assert proc.returncode == 0, proc.stderr
    assert report["plan"]["objects_to_create"] == {}
    assert report["plan"]["files_to_transfer"] == 0
    assert report["done"]["files_uploaded"] == 0
    assert report["plan"]["files_present"] == 127
    assert "9 of 9 sessions already up to date" in proc.stderr


def test_session_only_copy(pair, tmp_path):
    """``--session`` copies that session (its subject first) and nothing else."""
    _, dst = pair
    proc, report = _copy_into(pair, tmp_path, "ONE", "--session", "SUB002_PET1")
    assert report["source"]["project"] == "SRC"
    assert report["done"]["created"] == {"subject": 1, "experiment": 1, "scan": 1}
    rows = dst.http().get("/data/projects/ONE/experiments",
                          params={"format": "json"}).json()["ResultSet"]["Result"]
    assert [r["label"] for r in rows] == ["SUB002_PET1"]


def test_dry_run_changes_nothing(pair, tmp_path):
    """``--dry-run`` prints the plan with an estimate and writes nothing to the target."""
    _, dst = pair
    proc, report = _copy_into(pair, tmp_path, "DRY", "--source-project", "SRC", "--dry-run")
    assert report["status"] == "planned"
    assert report["plan"]["files_to_transfer"] == 127
    assert report["plan"]["estimated_seconds"] >= 0
    rows = dst.http().get("/data/projects/DRY/subjects",
                          params={"format": "json"}).json()["ResultSet"]["Result"]
    assert rows == []
    assert not (tmp_path / "journal.sqlite").exists()


def test_secrets_never_printed_or_reported(pair, tmp_path):
    """The password appears in no output, report or journal, nor on any command line."""
    proc, _ = _copy_into(pair, tmp_path, "SECRET", "--source-project", "SRC")
    assert SECRET not in proc.stdout + proc.stderr
    for path in tmp_path.iterdir():
        assert SECRET.encode() not in path.read_bytes(), path
    assert SECRET not in " ".join(proc.args)


@pytest.mark.parametrize("args, message", [
    (["--source-project", "NOPE", "--target-project", "X"], "project NOPE does not exist"),
    (["--source-project", "SRC", "--target-project", "MISSING"],
     "target project MISSING does not exist"),
    (["--session", "NO_SUCH_SESSION", "--target-project", "X"], "session NO_SUCH_SESSION"),
])
def test_user_errors_one_line_exit_2(pair, tmp_path, args, message):
    """Errors a user can cause: one clear line on stderr, exit code 2, no traceback."""
    src, dst = pair
    proc, _ = run_copy(src, dst, tmp_path, *args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_target_password(pair, tmp_path):
    """A wrong password on the target: one line naming the target, exit 2, no secret."""
    src, dst = pair
    proc, _ = run_copy(src, dst, tmp_path, "--source-project", "SRC", "--target-project", "X",
                       env_extra={"REMOTE_XNAT_PASS": "wrong-password-123"})
    assert proc.returncode == 2
    assert dst.url.split("//")[1] in proc.stderr
    assert "wrong-password-123" not in proc.stderr
    assert "Traceback" not in proc.stderr
