"""HEALTHCHECK of the xnat-container image.

In serve mode (an ``xnat-container serve [--bind HOST:PORT]`` process runs in the container,
under tini) it asks the health service's ``/healthz`` and fails when it does not answer 200.
Otherwise the container is a one-shot Container Service job with no health service: the check
passes, so that an orchestrator (Swarm replaces unhealthy tasks) never kills a running copy or
import.
"""

import os
import sys
import urllib.request


def process_args(proc: str = "/proc") -> list[list[str]]:
    """The argument lists of the processes in the container."""
    found = []
    try:
        entries = os.listdir(proc)
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(os.path.join(proc, entry, "cmdline"), "rb") as fh:
                found.append([a.decode(errors="replace") for a in fh.read().split(b"\0") if a])
        except OSError:
            continue
    return found


def serve_port(args: list[str]) -> int | None:
    """The port of ``xnat-container serve`` given these arguments, or None when not serving."""
    words = [a.rsplit("/", 1)[-1] for a in args]
    starts = [i for i, w in enumerate(words) if w == "xnat-container"]
    if not starts or words[starts[0] + 1:starts[0] + 2] != ["serve"]:
        return None
    bind = "0.0.0.0:8080"
    for i, arg in enumerate(args):
        if arg == "--bind" and i + 1 < len(args):
            bind = args[i + 1]
        elif arg.startswith("--bind="):
            bind = arg.split("=", 1)[1]
    return int(bind.rsplit(":", 1)[1])


def main() -> int:
    ports = [p for p in map(serve_port, process_args()) if p is not None]
    if not ports:
        return 0
    port = ports[0]
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=4) as resp:
            return 0 if resp.status == 200 else 1
    except OSError as exc:
        print(f"healthz: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
