"""Typed errors raised by the archive rules; the HTTP layer turns each into XNAT's answer."""


class XnatError(Exception):
    """An error XNAT answers with a status code and a Restlet status page."""

    status = 500

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class BadRequest(XnatError):
    status = 400


class Unauthorized(XnatError):
    status = 401


class Forbidden(XnatError):
    status = 403


class NotFound(XnatError):
    status = 404


class NotAcceptable(XnatError):
    status = 406


class Conflict(XnatError):
    status = 409


class ExpectationFailed(XnatError):
    status = 417


class Unprocessable(XnatError):
    status = 422
