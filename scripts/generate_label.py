#!/usr/bin/env python3
"""Write the ``org.nrg.commands`` LABEL of the Dockerfile from command.json.

The label is the JSON array of command.json, minified, escaped the way Docker reads a
double-quoted LABEL value (backslash, double quote and ``$`` escaped), on one line between the
marker comments ``# BEGIN org.nrg.commands`` and ``# END org.nrg.commands``. Everything else in
the Dockerfile is left alone. ``--check`` changes nothing and exits 1 when the label is stale.

    python scripts/generate_label.py [--command-json command.json] [--dockerfile Dockerfile] [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from xnat_container.command_check import (LABEL_MARK_BEGIN, LABEL_MARK_END,  # noqa: E402
                                          escape_label)


def render(commands: list | dict) -> str:
    if isinstance(commands, dict):
        commands = [commands]   # the label is always an array (R1)
    return f'LABEL org.nrg.commands="{escape_label(commands)}"'


def update(dockerfile_text: str, label_line: str) -> str:
    lines = dockerfile_text.splitlines(keepends=True)
    begin = next((i for i, line in enumerate(lines) if line.startswith(LABEL_MARK_BEGIN)), None)
    end = next((i for i, line in enumerate(lines) if line.startswith(LABEL_MARK_END)), None)
    if begin is None or end is None or end < begin:
        raise SystemExit(f"the Dockerfile needs the marker lines {LABEL_MARK_BEGIN!r} and "
                         f"{LABEL_MARK_END!r}")
    return "".join(lines[:begin + 1] + [label_line + "\n"] + lines[end:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--command-json", type=Path, default=ROOT / "command.json")
    parser.add_argument("--dockerfile", type=Path, default=ROOT / "Dockerfile")
    parser.add_argument("--check", action="store_true", help="exit 1 if the label is stale")
    args = parser.parse_args(argv)
    commands = json.loads(args.command_json.read_text())
    old = args.dockerfile.read_text()
    new = update(old, render(commands))
    if args.check:
        if new != old:
            print(f"{args.dockerfile}: the org.nrg.commands label differs from "
                  f"{args.command_json}; run scripts/generate_label.py", file=sys.stderr)
            return 1
        return 0
    if new != old:
        args.dockerfile.write_text(new)
        print(f"{args.dockerfile}: label updated from {args.command_json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
