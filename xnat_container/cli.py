"""``xnat-container``: the image's command line (jobs are added as subcommands)."""

from __future__ import annotations

import click

from . import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="xnat-container")
def main() -> None:
    """Copy XNAT projects between servers and import NIFTI data into XNAT."""
