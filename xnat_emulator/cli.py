"""``xnat-emulator``: serve a stand-in XNAT over HTTP until interrupted."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from .config import EmulatorConfig, FaultSettings, User
from .server import EmulatorServer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="xnat-emulator", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    p.add_argument("--data-dir", type=Path, required=True, help="archive; survives restarts")
    p.add_argument("--site-id", default="XNAT")
    p.add_argument("--site-url", default="", help="URL the site believes it has")
    p.add_argument("--user", action="append", default=[], metavar="LOGIN:PASSWORD[:admin]",
                   help="repeatable; default admin:admin:admin")
    p.add_argument("--no-checksums", action="store_true",
                   help="leave file digests empty, like a site with checksums off")
    p.add_argument("--fault-error-rate", type=float, default=0.0)
    p.add_argument("--fault-reset-rate", type=float, default=0.0)
    p.add_argument("--fault-latency", default="0", metavar="MIN[-MAX]",
                   help="seconds of added latency per request, e.g. 0.05-0.5")
    p.add_argument("--fault-seed", type=int, default=None)
    p.add_argument("--verbose", action="store_true", help="log every request")
    p.add_argument("--secret", action="append", default=[], metavar="PROPERTY=VALUE",
                   help="repeatable; a JVM system property for Container Service secrets, "
                        "e.g. remote.xnat.password=...")
    p.add_argument("--container-entrypoint", default="", metavar="COMMAND",
                   help="entrypoint of command images (default: python -m xnat_container)")
    p.add_argument("--data-type", action="append", default=[], metavar="PREFIX:NAME[=BASE]",
                   help="repeatable; a data type of an installed plugin, e.g. "
                        "fs:fsData=xnat:imageAssessorData (BASE may be left out for names "
                        "ending in SessionData, ScanData, AssessorData or AssessmentData)")
    p.add_argument("--keep-alive-timeout", type=float, default=20.0, metavar="SECONDS",
                   help="close connections idle this long between requests, as Tomcat's "
                        "keepAliveTimeout (default 20; 0: never)")
    return p.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    users = tuple(User.parse(u) for u in args.user) or (User("admin", "admin", admin=True),)
    lo, _, hi = args.fault_latency.partition("-")
    faults = FaultSettings(
        error_rate=args.fault_error_rate, reset_rate=args.fault_reset_rate,
        latency_min=float(lo), latency_max=float(hi or lo), seed=args.fault_seed,
    )
    secrets = []
    for spec in args.secret:
        name, sep, value = spec.partition("=")
        if not sep or not name:
            raise ValueError(f"secret must be PROPERTY=VALUE, got {spec!r}")
        secrets.append((name, value))
    return EmulatorConfig(
        data_dir=args.data_dir, site_id=args.site_id, users=users,
        checksums=not args.no_checksums, site_url=args.site_url, faults=faults,
        system_properties=tuple(secrets),
        container_entrypoint=tuple(shlex.split(args.container_entrypoint)),
        data_types=tuple(args.data_type), keep_alive_timeout=args.keep_alive_timeout,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = config_from_args(args)
        args.data_dir.mkdir(parents=True, exist_ok=True)
        server = EmulatorServer(config, args.host, args.port, verbose=args.verbose)
    except ValueError as exc:  # a bad setting, e.g. a data type (archive.install_data_types)
        print(f"xnat-emulator: {exc}", file=sys.stderr)
        return 2
    print(f"xnat-emulator serving {server.url} (data in {args.data_dir})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
