"""The Dockerfile and command.json agree: the org.nrg.commands label is command.json, the image
is multi-stage, runs as a non-root user, does not install the emulator, and its entrypoint runs
the command lines of command.json; those command lines parse as xnat-container commands."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest

from xnat_container import __version__
from xnat_container.cli import main
from xnat_container.command_check import dockerfile_label, escape_label, unescape_label

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMMANDS = json.loads((ROOT / "command.json").read_text())


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    out, buf = [], ""
    for line in text.splitlines():
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        buf += line
        word, _, rest = buf.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out


INSTRUCTIONS = instructions(DOCKERFILE)


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for ins in INSTRUCTIONS:
        if ins[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(ins)
    return result


def test_label_equals_command_json():
    """The label, parsed back from the Dockerfile as Docker unescapes it, is command.json."""
    value = dockerfile_label(DOCKERFILE)
    assert value is not None, "no LABEL org.nrg.commands line"
    assert json.loads(value) == COMMANDS


def test_label_is_generated_between_markers_and_minified():
    """The label sits between the generator's marker comments, is one line of minified JSON,
    and `scripts/generate_label.py --check` agrees that it is current."""
    begin = DOCKERFILE.index("# BEGIN org.nrg.commands")
    end = DOCKERFILE.index("# END org.nrg.commands")
    block = DOCKERFILE[begin:end].splitlines()
    assert len(block) == 2 and block[1].startswith('LABEL org.nrg.commands="[')
    assert dockerfile_label(DOCKERFILE) == json.dumps(COMMANDS, separators=(",", ":"))
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "generate_label.py"),
                           "--check"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_label_escaping_round_trip(tmp_path):
    """Quotes, backslashes and $ survive escape + Docker's unescape; the generator rewrites only
    the marked block of a Dockerfile."""
    tricky = [{"name": "x", "command-line": 'echo "$HOME" \\ #A#', "description": "a\\\"b $"}]
    escaped = escape_label(tricky)
    assert '"' not in escaped.replace('\\"', "")
    assert "$" not in escaped.replace("\\$", "")
    assert json.loads(unescape_label(escaped)) == tricky
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import generate_label
    finally:
        sys.path.pop(0)
    text = "FROM x\n# BEGIN org.nrg.commands\nLABEL old\n# END org.nrg.commands\nUSER 1\n"
    new = generate_label.update(text, generate_label.render(tricky))
    assert new.startswith("FROM x\n# BEGIN") and new.endswith("# END org.nrg.commands\nUSER 1\n")
    assert json.loads(dockerfile_label(new)) == tricky


def test_label_tag_is_the_package_version():
    """Every command names the image tagged with the package version (never :latest)."""
    for command in COMMANDS:
        assert command["image"] == f"xnat-container:{__version__}"
    assert f'org.opencontainers.image.version="{__version__}"' in DOCKERFILE


def test_multi_stage_build():
    """Two stages: a named build stage makes wheels; the final stage installs from them."""
    all_stages = stages()
    assert len(all_stages) >= 2
    assert re.search(r"\bAS\s+build\b", all_stages[0][0][1], re.I)
    assert "pip wheel" in " ".join(a for _, a in all_stages[0])
    final = " ".join(a for _, a in all_stages[-1])
    assert "from=build" in final and "--no-index" in final


def test_slim_python_base():
    """The base image is a slim Python of the version the project supports."""
    arg = next(a for i, a in INSTRUCTIONS if i == "ARG" and a.startswith("PYTHON_IMAGE="))
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.1[1-9]-slim(-\w+)?", arg)


def test_runs_as_non_root_user():
    """The last USER of the final stage is neither root nor uid 0."""
    users = [a for i, a in stages()[-1] if i == "USER"]
    assert users, "no USER in the final stage"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    uid = next(a for i, a in stages()[-1] if i == "ARG" and a.startswith("XNAT_UID="))
    assert uid.split("=")[1] != "0"


def test_emulator_is_not_installed():
    """The build stage copies only the product (never the whole tree or xnat_emulator/),
    drops the emulator's console script, installs no extras, checks the wheel, and the
    .dockerignore keeps the emulator out of the build context."""
    copies = [a for i, a in INSTRUCTIONS if i in ("COPY", "ADD") and "--from" not in a]
    for args in copies:
        sources = [w for w in args.split()[:-1] if not w.startswith("--")]
        assert "." not in sources and "./" not in sources
        assert not any("xnat_emulator" in s or s.startswith("tests") for s in sources)
    build = " ".join(a for _, a in stages()[0])
    assert re.search(r"sed -i '/\^xnat-emulator \*=/d' pyproject\.toml", build)
    assert "the wheel carries the emulator" in build
    for _, args in INSTRUCTIONS:
        assert not re.search(r"pip install[^&]*\[", args), "pip install with extras"
    assert "find_spec('xnat_emulator') is not None" in " ".join(a for _, a in stages()[-1])
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignore[[l.strip() for l in ignore].index("*")] == "*"
    assert not any(l.startswith("!") and "emulator" in l for l in ignore)


def test_filtered_build_tree_has_no_emulator(tmp_path):
    """Replaying the build stage's COPY lines and its sed on a copy of the source gives a
    pyproject whose packages and console scripts are the product's only."""
    import shutil
    import tomllib

    from setuptools import find_packages

    for args in [a for i, a in stages()[0] if i == "COPY"]:
        *sources, dest = args.split()
        for src in sources:
            if dest.endswith("/") or dest == ".":
                target = tmp_path / dest / Path(src).name
            else:
                target = tmp_path / dest
            if (ROOT / src).is_dir():
                shutil.copytree(ROOT / src, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy(ROOT / src, target)
    assert (tmp_path / "pyproject.toml").exists() and (tmp_path / "xnat_container").is_dir()
    sed = re.search(r"sed -i '([^']+)' pyproject\.toml", " ".join(a for _, a in stages()[0]))
    subprocess.run(["sed", "-i", sed.group(1), "pyproject.toml"], cwd=tmp_path, check=True)
    project = tomllib.loads((tmp_path / "pyproject.toml").read_text())
    assert set(project["project"]["scripts"]) == {"xnat-container"}
    include = project["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = find_packages(str(tmp_path), include=include)
    assert "xnat_container" in packages
    assert not [p for p in packages if p.startswith("xnat_emulator")]


def test_dcm2niix_binary_on_path():
    """The dcm2niix on PATH in the image is the wheel's binary, checked at build time."""
    final = " ".join(a for _, a in stages()[-1])
    assert "import dcm2niix; print(dcm2niix.bin)" in final
    assert "/opt/venv/bin/dcm2niix" in final and "dcm2niix -h" in final
    assert "ENV" in [i for i, _ in stages()[-1]] and "PATH=/opt/venv/bin:$PATH" in final


def exec_form(instruction: str) -> list[str]:
    args = [a for i, a in stages()[-1] if i == instruction]
    assert args, f"no {instruction}"
    return json.loads(args[-1])


def test_entrypoint_and_default_command():
    """ENTRYPOINT (exec form) is tini then the dispatcher; the default command is help, not
    serve; HEALTHCHECK asks the health service."""
    entry = exec_form("ENTRYPOINT")
    assert entry == ["tini", "--", "docker-entrypoint"]
    cmd = exec_form("CMD")
    assert "serve" not in cmd
    health = next(a for i, a in stages()[-1] if i == "HEALTHCHECK")
    assert "healthcheck.py" in health and "CMD" in health
    assert "/usr/local/bin/docker-entrypoint" in " ".join(
        a for i, a in stages()[-1] if i == "COPY")


def run_entrypoint(tmp_path, *args):
    """Run docker/image/entrypoint.sh with fake `xnat-container` and `echo`-like programs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "xnat-container"
    fake.write_text('#!/bin/sh\necho "xnat-container $*"\n')
    fake.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    proc = subprocess.run(["sh", str(ROOT / "docker" / "image" / "entrypoint.sh"), *args],
                          capture_output=True, text=True, env=env, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_entrypoint_runs_command_lines_as_given(tmp_path):
    """With override-entrypoint false the Container Service hands the split command line to the
    entrypoint: `xnat-container copy ...` runs as is; a bare subcommand or option gets
    `xnat-container` in front; no arguments print the help."""
    assert run_entrypoint(tmp_path, "xnat-container", "copy", "--dry-run") == \
        "xnat-container copy --dry-run"
    assert run_entrypoint(tmp_path, "copy", "--dry-run") == "xnat-container copy --dry-run"
    assert run_entrypoint(tmp_path, "--version") == "xnat-container --version"
    assert run_entrypoint(tmp_path) == "xnat-container --help"
    assert run_entrypoint(tmp_path, "echo", "hi") == "hi"


def test_command_lines_start_with_the_installed_program():
    """Every command line starts with `xnat-container SUBCOMMAND` (the console script the image
    installs), runs without a shell (override-entrypoint false) and writes its report to the
    output mount."""
    with open(ROOT / "pyproject.toml", "rb") as fh:
        import tomllib
        scripts = tomllib.load(fh)["project"]["scripts"]
    for command in COMMANDS:
        words = command["command-line"].split()
        assert words[0] == "xnat-container" and words[0] in scripts
        assert words[1] in main.commands, f"{words[1]} is not an xnat-container subcommand"
        assert command["override-entrypoint"] is False
        report_mount = next(m for m in command["mounts"] if m["name"] == "report")
        assert f"--report-dir {report_mount['path']}" in command["command-line"]


def render(command: dict, wrapper: dict, user_values: dict[str, str]) -> list[str]:
    """The command line as the Container Service builds it (CRS): each command input's value
    (default < user value < wrapper input), booleans mapped by true/false-value, the flag and
    separator put in front of a non-empty value, then ShellSplitter-like splitting."""
    fed = {w.get("provides-value-for-command-input")
           for kind in ("external-inputs", "derived-inputs") for w in wrapper.get(kind, [])}
    line = command["command-line"]
    for inp in command["inputs"]:
        name = inp["name"]
        value = user_values.get(name, inp.get("default-value"))
        if name in fed:
            value = user_values.get(name, f"wrapper-{name}")
        if inp.get("type") == "boolean":
            truthy = str(value).lower() == "true"
            mapped = inp.get("true-value") if truthy else inp.get("false-value")
            value = mapped if mapped is not None else value
        value = "" if value is None else str(value)
        if value and inp.get("command-line-flag"):
            value = inp["command-line-flag"] + inp.get("command-line-separator", " ") + value
        line = line.replace(inp.get("replacement-key") or f"#{name}#", value)
    return shlex.split(line)


@pytest.mark.parametrize("flags", ["defaults", "all-on"])
@pytest.mark.parametrize("index", range(len(COMMANDS)))
def test_command_lines_parse_as_cli_calls(index, flags, tmp_path):
    """Every wrapper's resolved command line, with default values and with every boolean
    switched, parses as a call of the xnat-container subcommand: its options exist, required
    options are present, choices and ranges accept the values."""
    command = COMMANDS[index]
    values = {"archive": str(tmp_path / "upload.zip"), "remote_url": "https://remote.example",
              "remote_project": "P2", "remote_user": "u", "remote_password": "p"}
    (tmp_path / "upload.zip").write_bytes(b"")
    if flags == "all-on":
        for inp in command["inputs"]:
            if inp.get("type") == "boolean":
                values[inp["name"]] = "false" if inp.get("default-value") == "true" else "true"
    for wrapper in command["xnat"]:
        args = render(command, wrapper, values)
        args = [str(tmp_path) if a == "/input" else a for a in args]
        assert "#" not in " ".join(args), args
        sub = main.commands[args[1]]
        try:
            sub.make_context(args[1], args[2:])
        except click.UsageError as exc:   # pragma: no cover - the failure message
            pytest.fail(f"{wrapper['name']}: {args}: {exc}")


def test_credentials_never_on_the_command_line():
    """Remote credentials reach the job as REMOTE_XNAT_USER/REMOTE_XNAT_PASS: from secrets or
    from sensitive inputs routed to environment variables, never from the command line."""
    for command in COMMANDS:
        if command["command-line"].split()[1] != "copy":
            continue
        secrets = {s["destination"]["identifier"] for s in command.get("secrets", [])}
        env = command.get("environment-variables", {})
        assert {"REMOTE_XNAT_USER", "REMOTE_XNAT_PASS"} <= secrets | set(env)
        for name, value in env.items():
            inp = next(i for i in command["inputs"] if i.get("replacement-key") == value)
            assert inp.get("sensitive") is True
            assert value not in command["command-line"]


def test_healthcheck_detects_serve_mode():
    """The HEALTHCHECK script probes /healthz only when `xnat-container serve` runs, on the port
    of its --bind; a job container (copy, import-nifti) always passes."""
    sys.path.insert(0, str(ROOT / "docker" / "image"))
    try:
        import healthcheck
    finally:
        sys.path.pop(0)
    assert healthcheck.serve_port(["/opt/venv/bin/python", "/opt/venv/bin/xnat-container",
                                   "serve"]) == 8080
    assert healthcheck.serve_port(["xnat-container", "serve", "--bind", "0.0.0.0:9090"]) == 9090
    assert healthcheck.serve_port(["xnat-container", "serve", "--bind=[::]:7070"]) == 7070
    assert healthcheck.serve_port(["xnat-container", "copy", "--target-url", "serve"]) is None
    assert healthcheck.serve_port(["tini", "--", "docker-entrypoint", "serve"]) is None
    assert os.path.exists(ROOT / "docker" / "image" / "healthcheck.py")
