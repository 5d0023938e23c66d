"""The console scripts are installed and answer."""

import subprocess
import sys

from click.testing import CliRunner

from xnat_container import __version__
from xnat_container.cli import main


def test_version_option_prints_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_emulator_cli_rejects_bad_user_spec(tmp_path):
    """``--user`` must be LOGIN:PASSWORD[:admin]: one clear line and exit code 2."""
    proc = subprocess.run(
        [sys.executable, "-m", "xnat_emulator", "--data-dir", str(tmp_path), "--user", "nopass"],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "LOGIN:PASSWORD" in proc.stderr
    assert "Traceback" not in proc.stderr
