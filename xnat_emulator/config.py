"""Start-up settings of one emulator instance."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class User:
    login: str
    password: str
    admin: bool = False

    @classmethod
    def parse(cls, spec: str) -> "User":
        """Parse ``LOGIN:PASSWORD[:admin]`` as given to ``--user``."""
        parts = spec.split(":")
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise ValueError(f"user must be LOGIN:PASSWORD[:admin], got {spec!r}")
        admin = len(parts) > 2 and parts[-1] == "admin"
        password = ":".join(parts[1:-1] if admin else parts[1:])
        return cls(parts[0], password, admin)


@dataclass(frozen=True)
class FaultSettings:
    """Fault injection for reliability tests; all rates are fractions of requests (0..1)."""

    error_rate: float = 0.0
    reset_rate: float = 0.0
    latency_min: float = 0.0
    latency_max: float = 0.0
    expire_sessions_every: int = 0  # end all HTTP sessions every N requests (0: never)
    seed: int | None = None


@dataclass(frozen=True)
class EmulatorConfig:
    data_dir: Path
    site_id: str = "XNAT"
    users: tuple[User, ...] = (User("admin", "admin", admin=True),)
    checksums: bool = True
    site_url: str = ""
    faults: FaultSettings = field(default_factory=FaultSettings)
    # Container Service: JVM system properties that command ``secrets`` read (``--secret``),
    # and the image entrypoint for commands without ``override-entrypoint`` (default:
    # ``python -m xnat_container``, i.e. the image's ``xnat-container``).
    system_properties: tuple[tuple[str, str], ...] = ()
    container_entrypoint: tuple[str, ...] = ()
    # Data types of the site's installed plugins (``--data-type``), each ``prefix:name`` or
    # ``prefix:name=base``: XNAT knows no other types than its own and its plugins'.
    data_types: tuple[str, ...] = ()
    # Seconds a kept-alive connection may wait idle for its next request before the server
    # closes it: Tomcat's keepAliveTimeout, which defaults to connectionTimeout (20000 ms in
    # XNAT's server.xml). 0 or less: never.
    keep_alive_timeout: float = 20.0
