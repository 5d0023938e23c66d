"""Talking to XNAT over HTTP: the shared client and its errors."""

from .client import ClientStats, XnatClient
from .errors import (AuthError, BadResponse, CircuitOpen, ConnectionFailed, Forbidden, NotFound,
                     RequestTimedOut, XnatError, XnatHTTPError)

__all__ = ["AuthError", "BadResponse", "CircuitOpen", "ClientStats", "ConnectionFailed",
           "Forbidden", "NotFound", "RequestTimedOut", "XnatClient", "XnatError",
           "XnatHTTPError"]
