"""``xnat-container``: the image's command line.

Exit codes: 0 everything planned was done and verified; 1 some of it failed; 2 the command
could not start (usage, credentials, connection, missing project or data type); 3 the copy
completed but differences were left alone (no ``--overwrite`` / ``--update-metadata``).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from . import __version__
from .credentials import CredentialsMissing, normalize_url, resolve_credentials
from .xnat.client import XnatClient
from .xnat.errors import XnatError

log = logging.getLogger("xnat_container")
EXIT_FAILED, EXIT_USAGE, EXIT_DIFFERENCES = 1, 2, 3


def _setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("urllib3").setLevel(logging.WARNING)


def _fail(message: str, code: int = EXIT_USAGE) -> None:
    click.echo(f"xnat-container: error: {message}", err=True)
    sys.exit(code)


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
    except XnatError as exc:
        _fail(str(exc))
    return client


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
def copy(target_url, target_project, source_url, source_project, sessions, subjects, dry_run,
         workers, report_dir, include_shared, update_metadata, overwrite,
         create_target_project, insecure):
    """Copy a project (or some subjects or sessions) to a project on another XNAT.

    Credentials: the source's from XNAT_USER/XNAT_PASS or ~/.netrc; the target's from
    REMOTE_XNAT_USER/REMOTE_XNAT_PASS, ~/.netrc or a prompt. Never from the command line.
    """
    from .copy.job import CopyOptions, JobError, run_copy

    _setup_logging()
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
    path = report.write(report_dir)
    click.echo(report.summary())
    click.echo(f"report: {path}")
    if report.status in ("ok", "planned"):
        return
    sys.exit(EXIT_DIFFERENCES if report.status == "differences" else EXIT_FAILED)


@main.command()
@click.option("--bind", default="0.0.0.0:8080", show_default=True, help="HOST:PORT to listen on")
def serve(bind):
    """Serve /healthz, /readyz and /version under gunicorn (not for Container Service jobs,
    which must exit)."""
    from .health import serve as run_server

    run_server(bind)

