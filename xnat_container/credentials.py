"""Where a job gets an XNAT URL and login from: environment, ~/.netrc, or a prompt.

The Container Service passes ``XNAT_HOST``/``XNAT_USER``/``XNAT_PASS`` (an alias token) in the
environment; a shell user more often has a ``~/.netrc``; a person at a terminal can type them.
Passwords never go into URLs, messages or logs.
"""

from __future__ import annotations

import getpass
import netrc
import os
import re
import sys
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

# Path segments where XNAT's own URLs start; anything from there on was pasted from a browser.
_XNAT_SEGMENTS = {"data", "rest", "app", "xapi"}


class UsageError(ValueError):
    """A mistake in what the user gave us (URL, options); the message says what to fix."""


class CredentialsMissing(UsageError):
    """No login found for the host; the message names the env vars and the netrc to use."""


def normalize_url(url: str) -> str:
    """``scheme://host[:port][/prefix]`` without a trailing slash.

    Users paste browser URLs (``.../app/template/Index.vm``, ``.../data/projects/P``); XNAT's
    REST paths are appended to the site root, so everything from ``/data``, ``/REST``, ``/app``
    or ``/xapi`` on is dropped, while a deployment prefix such as ``/xnat`` is kept.
    """
    text = (url or "").strip()
    if not re.match(r"^https?://", text, re.I):
        raise UsageError(f"URL must start with https:// or http://: got {_shown(text)!r}")
    parts = urlsplit(text)
    if parts.username is not None or parts.password is not None:
        raise UsageError("URL must not contain a user name or password: give the login in the "
                         f"environment or ~/.netrc instead (URL {_shown(text)!r})")
    if not parts.hostname:
        raise UsageError(f"URL has no host name: got {_shown(text)!r}")
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        raise UsageError(f"URL has an invalid port: got {_shown(text)!r}") from None
    segments = [s for s in parts.path.split("/") if s]
    for i, segment in enumerate(segments):
        if segment.lower() in _XNAT_SEGMENTS:
            segments = segments[:i]
            break
    path = "/" + "/".join(segments) if segments else ""
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, "", ""))


def _shown(url: str) -> str:
    """The URL as it may appear in a message: any ``user:password@`` part removed."""
    return re.sub(r"^([a-z][a-z0-9+.-]*://)?[^/@]*@", r"\1", url, flags=re.I)


def host_of(url: str) -> str:
    """The host name of a URL (what ~/.netrc entries are keyed by)."""
    return (urlsplit(url).hostname or "").lower()


def resolve_credentials(url: str, user_var: str, pass_var: str, *,
                        interactive: bool | None = None, env: Mapping[str, str] | None = None,
                        netrc_path: str | None = None) -> tuple[str, str]:
    """The ``(user, password)`` for ``url``, first found of:

    1. the environment variables ``user_var`` and ``pass_var`` (both set);
    2. the netrc entry for the URL's host (``netrc_path``, else ``$NETRC``, else ``~/.netrc``);
    3. a prompt, when ``interactive`` is True, or None and stdin is a terminal;

    else CredentialsMissing.
    """
    env = os.environ if env is None else env
    host = host_of(url)
    user, password = env.get(user_var, ""), env.get(pass_var, "")
    if user and password:
        return user, password

    path = netrc_path or env.get("NETRC") or os.path.join(os.path.expanduser("~"), ".netrc")
    found = _from_netrc(path, host)
    if found:
        return found

    if interactive is None:
        interactive = _stdin_is_terminal()
    if interactive:
        user = user or input(f"XNAT user for {host}: ").strip()
        if user:
            password = getpass.getpass(f"Password for {user} at {host}: ")
            if password:
                return user, password

    half = ""
    if bool(env.get(user_var)) != bool(env.get(pass_var)):
        missing = pass_var if env.get(user_var) else user_var
        half = f" ({missing} is not set)"
    raise CredentialsMissing(
        f"no credentials for {host}: set {user_var} and {pass_var}{half}, "
        f"or add 'machine {host} login USER password PASSWORD' to {path}")


def _from_netrc(path: str, host: str) -> tuple[str, str] | None:
    if not os.path.isfile(path):
        return None
    try:
        entry = netrc.netrc(path).authenticators(host)
    except netrc.NetrcParseError as exc:
        # The parser's message can quote a token of the file, i.e. a password: give the line.
        raise UsageError(f"cannot read {path}: syntax error at line {exc.lineno}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    if entry is None:
        return None
    login, _account, password = entry
    if login and password:
        return login, password
    return None


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


__all__ = ["CredentialsMissing", "UsageError", "host_of", "normalize_url",
           "resolve_credentials"]
