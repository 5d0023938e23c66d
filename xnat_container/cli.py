"""``xnat-container``: the image's command line.

Exit codes: 0 everything planned was done and verified; 1 some of it failed; 2 the command
could not start (usage, credentials, connection, missing project or data type); 3 the copy
completed but differences were left alone (no ``--overwrite`` / ``--update-metadata``);
130 / 143 stopped by SIGINT / SIGTERM (128 + the signal number): nothing new was started, the
report says ``interrupted``, and running the same command again continues (``interrupt``).
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path

import click

from . import __version__, interrupt
from .credentials import CredentialsMissing, normalize_url, resolve_credentials
from .xnat.client import XnatClient
from .xnat.errors import XnatError, one_line

log = logging.getLogger("xnat_container")
EXIT_FAILED, EXIT_USAGE, EXIT_DIFFERENCES = 1, 2, 3
# What XNAT accepts in project IDs and in subject, session and scan labels.
XNAT_ID = re.compile(r"^[A-Za-z0-9_-]+$")


def _setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("urllib3").setLevel(logging.WARNING)


def _fail(message: str, code: int = EXIT_USAGE) -> None:
    click.echo(f"xnat-container: error: {message}", err=True)
    sys.exit(code)


def _check_ids(**values) -> None:
    """Project IDs and labels outside XNAT's character set: say so before connecting."""
    for option, value in values.items():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if item is not None and not XNAT_ID.match(item):
                _fail(f"--{option.replace('_', '-')} {item!r}: XNAT IDs and labels may hold only "
                      "letters, digits, '_' and '-'")


def _check_report_dir(folder: Path) -> None:
    """The report must be writable before anything is done that it should describe."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        _fail(f"cannot write the report to {folder}: {exc.strerror or exc}")


def _write_report(report, folder: Path) -> Path:
    try:
        return report.write(folder)
    except OSError as exc:
        click.echo(report.summary(), err=False)
        _fail(f"cannot write the report to {folder}: {exc.strerror or exc}", EXIT_FAILED)


def _finish(report, folder: Path, lines: Iterable[str] = ()) -> None:
    """copy and import-nifti end alike: the report written, ``lines`` (a dry-run plan) and the
    summary printed, the exit code from the report's status."""
    path = _write_report(report, folder)
    for line in lines:
        click.echo(line)
    click.echo(report.summary())
    click.echo(f"report: {path}")
    if report.status in ("ok", "planned"):
        return
    if report.status == "interrupted":
        interrupt.exit_interrupted()
    sys.exit(EXIT_DIFFERENCES if report.status == "differences" else EXIT_FAILED)


class _Group(click.Group):
    """Usage mistakes (unknown option, bad value) as one line on stderr, exit 2, like every
    other error of this command line, instead of click's usage block."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True,
             **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name or "xnat-container", complete_var, False,
                                **extra)
        except click.exceptions.Abort:
            _fail("aborted", EXIT_FAILED)
        except click.ClickException as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":
                exc.show()
                sys.exit(exc.exit_code)
            ctx = getattr(exc, "ctx", None)
            hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            _fail(one_line(exc.format_message()) + hint, exc.exit_code)
        sys.exit(code if isinstance(code, int) else 0)


def connect(url: str | None, user_var: str, pass_var: str, what: str, insecure: bool,
            url_var: str | None = None) -> XnatClient:
    """A logged-in client; credentials from the environment, ~/.netrc or a prompt."""
    if not url and url_var:
        url = os.environ.get(url_var)
    if not url:
        _fail(f"no {what} XNAT URL: pass --{what}-url" + (f" or set {url_var}" if url_var else ""))
    try:
        url = normalize_url(url)
        user, password = resolve_credentials(url, user_var, pass_var)
    except (ValueError, CredentialsMissing) as exc:
        _fail(str(exc))
    client = XnatClient(url, user, password, verify=not insecure)
    try:
        client.login()
    except interrupt.Interrupted as exc:    # SIGTERM/SIGINT before the job started
        _fail(str(exc), interrupt.exit_code())
    except XnatError as exc:
        _fail(str(exc))
    return client


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="xnat-container")
def main() -> None:
    """Copy XNAT projects between servers and import NIFTI data into XNAT."""


@main.command()
@click.option("--target-url", required=True, help="XNAT to copy to")
@click.option("--target-project", required=True, help="project on the target")
@click.option("--source-url", help="XNAT to copy from (default: $XNAT_HOST)")
@click.option("--source-project", help="default: the project of the sessions given")
@click.option("--session", "sessions", multiple=True, help="session label or ID (repeatable)")
@click.option("--subject", "subjects", multiple=True, help="subject label (repeatable)")
@click.option("--dry-run", is_flag=True, help="print the plan and an estimate; change nothing")
@click.option("--workers", type=click.IntRange(1, 32), default=4, show_default=True)
@click.option("--report-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("xnat-copy-report"), show_default=True)
@click.option("--include-shared", is_flag=True, help="also copy objects shared into the project")
@click.option("--update-metadata", is_flag=True, help="rewrite metadata that differs on the target")
@click.option("--overwrite", is_flag=True, help="replace target files that differ")
@click.option("--create-target-project", is_flag=True)
@click.option("--insecure", is_flag=True, help="do not verify TLS certificates")
@interrupt.handled
def copy(target_url, target_project, source_url, source_project, sessions, subjects, dry_run,
         workers, report_dir, include_shared, update_metadata, overwrite,
         create_target_project, insecure):
    """Copy a project (or some subjects or sessions) to a project on another XNAT.

    Credentials: the source's from XNAT_USER/XNAT_PASS or ~/.netrc; the target's from
    REMOTE_XNAT_USER/REMOTE_XNAT_PASS, ~/.netrc or a prompt. Never from the command line.
    """
    from .copy.job import CopyOptions, JobError, run_copy

    _setup_logging()
    _check_ids(target_project=target_project, source_project=source_project,
               session=sessions, subject=subjects)
    _check_report_dir(report_dir)
    source = connect(source_url, "XNAT_USER", "XNAT_PASS", "source", insecure, "XNAT_HOST")
    target = connect(target_url, "REMOTE_XNAT_USER", "REMOTE_XNAT_PASS", "target", insecure)
    opts = CopyOptions(
        target_project=target_project, source_project=source_project, sessions=list(sessions),
        subjects=list(subjects), dry_run=dry_run, workers=workers, report_dir=report_dir,
        include_shared=include_shared, update_metadata=update_metadata, overwrite=overwrite,
        create_target_project=create_target_project)
    try:
        with source, target:
            report = run_copy(source, target, opts)
    except JobError as exc:
        _fail(str(exc))
    except XnatError as exc:
        _fail(str(exc), EXIT_FAILED)
    _finish(report, report_dir)


@main.command()
@click.option("--bind", default="0.0.0.0:8080", show_default=True, help="HOST:PORT to listen on")
def serve(bind):
    """Serve /healthz, /readyz and /version under gunicorn (not for Container Service jobs,
    which must exit)."""
    from .health import serve as run_server

    run_server(bind)



@main.command("import-nifti")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--project", required=True, help="XNAT project to import into (must exist)")
@click.option("--url", help="XNAT to import into (default: $XNAT_HOST)")
@click.option("--subject", help="subject label (flat layout; renames a BIDS tree's one subject)")
@click.option("--session", help="session label (default: SUBJECT or SUBJECT_SESSION)")
@click.option("--layout", type=click.Choice(["auto", "bids", "flat"]), default="auto",
              show_default=True, help="auto: bids when there are sub-* folders")
@click.option("--modality", type=click.Choice(["MR", "PT", "CT"]),
              help="session and scan type (default: the sidecars' Modality, else MR)")
@click.option("--from-dicom", is_flag=True, help="SOURCE holds DICOM: convert with dcm2niix first")
@click.option("--no-snapshots", is_flag=True, help="do not render SNAPSHOTS thumbnails")
@click.option("--overwrite", is_flag=True, help="replace files (and scan fields) that differ")
@click.option("--strict", is_flag=True, help="stop, importing nothing, if any file is rejected")
@click.option("--dry-run", is_flag=True, help="print the plan; change nothing")
@click.option("--workers", type=click.IntRange(1, 32), default=4, show_default=True)
@click.option("--report-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("xnat-import-report"), show_default=True)
@click.option("--insecure", is_flag=True, help="do not verify TLS certificates")
@interrupt.handled
def import_nifti(source, project, url, subject, session, layout, modality, from_dicom,
                 no_snapshots, overwrite, strict, dry_run, workers, report_dir, insecure):
    """Import NIFTI files (a folder, .zip or .tar.gz; a BIDS tree or a flat folder) into
    PROJECT: subjects, sessions, scans with NIFTI, BIDS and SNAPSHOTS resources.

    Credentials from XNAT_USER/XNAT_PASS or ~/.netrc. Exit codes: 0 everything imported,
    1 something rejected or failed, 2 could not start, 3 changed files left alone.
    """
    from .nifti.job import ImportOptions, JobError, run_import

    _setup_logging()
    if not (url or os.environ.get("XNAT_HOST")):
        _fail("no XNAT URL: pass --url or set XNAT_HOST")
    _check_ids(project=project)
    _check_report_dir(report_dir)
    client = connect(url, "XNAT_USER", "XNAT_PASS", "", insecure, "XNAT_HOST")
    opts = ImportOptions(
        project=project, subject=subject, session=session, layout=layout, modality=modality,
        from_dicom=from_dicom, snapshots=not no_snapshots, overwrite=overwrite,
        dry_run=dry_run, strict=strict, workers=workers, report_dir=report_dir)
    try:
        with client:
            report, lines = run_import(client, source, opts)
    except JobError as exc:
        _fail(str(exc))
    except XnatError as exc:
        _fail(str(exc), EXIT_FAILED)
    _finish(report, report_dir, lines)


@main.command("check-command")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dockerfile", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="also check that this Dockerfile's org.nrg.commands label equals FILE (R2)")
def check_command(file, dockerfile):
    """Check a Container Service command file (a JSON object or array, or a Dockerfile's
    org.nrg.commands label) against the rules R1-R64: one line per problem, exit 1 if any
    rule the server enforces (E) fails."""
    from .command_check import check_path

    try:
        problems = check_path(file, dockerfile)
    except (OSError, ValueError) as exc:
        _fail(f"{file}: {exc}")
    for problem in problems:
        click.echo(str(problem))
    errors = sum(p.is_error for p in problems)
    click.echo(f"{file}: {errors} error(s), {len(problems) - errors} warning(s)", err=True)
    sys.exit(1 if errors else 0)
