"""Errors of the XNAT client, with the data a caller needs to decide what to do next.

Every ``str(exc)`` is one line meant for the user and never holds a password, token or session
id; the attributes carry the details (status, method, url, a short body excerpt). ``retryable``
tells a caller's own retry layer (per file, per job) whether trying again later may help.
"""

from __future__ import annotations

import html
import re


def one_line(text: str, limit: int | None = None) -> str:
    """Collapse whitespace so a message never spans lines; cut to ``limit`` characters."""
    text = " ".join(str(text).split())
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


class XnatError(Exception):
    """Base of the client's errors; ``str(exc)`` is one clear line without secrets."""

    retryable = False

    def __init__(self, message: str):
        super().__init__(one_line(message))

    @property
    def message(self) -> str:
        return self.args[0]


class ConnectionFailed(XnatError):
    """The server could not be reached or the connection broke: DNS, refused, reset, TLS."""

    retryable = True

    def __init__(self, message: str, *, host: str = "", reason: str = ""):
        super().__init__(message)
        self.host = host
        self.reason = reason  # dns | refused | connect-timeout | timeout | reset | tls | other


class BodyInterrupted(ConnectionFailed):
    """The connection broke while the body of an answer was being read: the client cannot
    repeat that request by itself (the bytes went to the caller), the caller may start over."""


class RequestTimedOut(ConnectionFailed):
    """No answer within the client's timeout (after the retries)."""


# XNAT alias tokens are UUIDs (the "user" of an alias-token login).
_ALIAS = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


class AuthError(XnatError):
    """XNAT refused the login (bad password, unknown user, invalidated alias token)."""

    def __init__(self, url: str, user: str, detail: str = ""):
        message = f"XNAT at {url} rejected the credentials for user '{user}'"
        if _ALIAS.match(user or "") and not detail:
            detail = "an alias token: it may have expired or been invalidated; issue a new one"
        super().__init__(f"{message} ({detail})" if detail else message)
        self.url = url
        self.user = user


class XnatHTTPError(XnatError):
    """An answer with a status the caller did not accept (or an HTML error page with 200)."""

    def __init__(self, status: int, method: str, url: str, excerpt: str = "",
                 message: str | None = None):
        self.status = status
        self.method = method
        self.url = url
        self.excerpt = one_line(excerpt, 200)
        if message is None:
            message = f"XNAT answered {status} to {method} {url}"
            if self.excerpt:
                message += f": {self.excerpt}"
        super().__init__(message)

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        return self.status >= 500 or self.status == 429


class NotFound(XnatHTTPError):
    """404: the object does not exist, or the user may not read its project (XNAT hides it)."""


class Forbidden(XnatHTTPError):
    """403: the user may see the object but not change it."""


class CircuitOpen(XnatError):
    """Too many requests in a row failed: the run stops instead of failing every item slowly."""

    def __init__(self, url: str, failures: int, last_error: BaseException | str):
        super().__init__(
            f"stopped after {failures} consecutive failures talking to {url}: {last_error}")
        self.url = url
        self.failures = failures


class BadResponse(XnatError):
    """A 2xx answer whose body is not what the request asked for (not JSON, not a listing)."""


def for_status(status: int, method: str, url: str, excerpt: str,
               message: str | None = None) -> XnatHTTPError:
    """The error class for ``status``: NotFound for 404, Forbidden for 403, else XnatHTTPError."""
    cls = {404: NotFound, 403: Forbidden}.get(status, XnatHTTPError)
    return cls(status, method, url, excerpt, message)


_H3 = re.compile(r"<h3[^>]*>(.*?)</h3>", re.I | re.S)
_TOMCAT_MESSAGE = re.compile(r"<b>\s*Message\s*</b>(.*?)</p>", re.I | re.S)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)
_TAG = re.compile(r"<[^>]+>")


def excerpt_of(body: bytes | str) -> str:
    """The useful part of an error body, at most 200 characters.

    XNAT's Restlet status page puts the message in ``<h3>``; Tomcat's error page (bad Basic
    credentials) after ``<b>Message</b>``; anything else is shown as text without tags.
    """
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    for pattern in (_H3, _TOMCAT_MESSAGE, _TITLE):
        match = pattern.search(body)
        if match and match.group(1).strip():
            return one_line(html.unescape(_TAG.sub(" ", match.group(1))), 200)
    if body.lstrip()[:1] == "<":
        body = _TAG.sub(" ", re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.I | re.S))
    return one_line(html.unescape(body), 200)


__all__ = ["AuthError", "BadResponse", "BodyInterrupted", "CircuitOpen", "ConnectionFailed",
           "Forbidden",
           "NotFound", "RequestTimedOut", "XnatError", "XnatHTTPError", "excerpt_of",
           "for_status", "one_line"]
