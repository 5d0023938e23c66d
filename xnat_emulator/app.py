"""The Flask application: authentication on every request, typed errors to XNAT's answers."""

from __future__ import annotations

import base64
import binascii

from flask import Flask, Response, g, request

from .archive import Archive
from .auth import Auth, Principal
from .config import EmulatorConfig
from .errors import XnatError
from .faults import FaultInjector
from .formats import status_page
from .items import Documents
from .listings import Listings
from .store import Store
from .views import Views

# Paths served without credentials (Spring's open URLs in XNAT's security config).
PUBLIC_PATHS = ("/data/services/auth", "/app/", "/xapi/siteConfig/buildInfo/public")


class Emulator:
    """Everything one app instance shares between requests."""

    def __init__(self, config: EmulatorConfig):
        self.config = config
        self.store = Store(config.data_dir, config.site_id)
        self.docs = Documents()
        self.auth = Auth(self.store, config.users)
        self.archive = Archive(self.store, self.docs, self.auth)
        try:    # plugin types are start-up settings, as a site's plugins are
            self.archive.install_data_types(config.data_types)
        except ValueError:
            self.store.close()
            raise
        self.views = Views(self.store, self.docs)
        self.listings = Listings(self.store, self.docs)
        self.checksums = config.checksums
        self.faults = FaultInjector(config.faults)
        self.faults.expire_sessions = self.auth.expire_all_sessions
        from .container_service import ContainerService  # Container + Event Service stand-in
        self.containers = ContainerService(self)


def create_app(config: EmulatorConfig) -> Flask:
    from .api import admin, containers, data, session, site

    app = Flask("xnat_emulator")
    emulator = Emulator(config)
    app.extensions["xnat"] = emulator
    app.extensions["xnat_store"] = emulator.store
    app.url_map.strict_slashes = False
    for blueprint in (session.bp, site.bp, admin.bp, containers.bp, data.bp):
        app.register_blueprint(blueprint)

    @app.before_request
    def authenticate():
        g.principal = None
        g.new_session = None
        cookie = request.cookies.get("JSESSIONID")
        if cookie:
            g.principal = emulator.auth.session_principal(cookie)
        header = request.headers.get("Authorization", "")
        if g.principal is None and header.lower().startswith("basic "):
            login, password = _basic(header)
            g.principal = emulator.auth.check_basic(login, password)
            if g.principal is None:
                return _tomcat_401(config.site_id)
            g.new_session = emulator.auth.open_session(g.principal)
        if g.principal is None and _needs_login(request.path):
            return _challenge(config.site_id)

    @app.after_request
    def set_session_cookie(response: Response):
        if g.get("new_session"):
            response.set_cookie("JSESSIONID", g.new_session, path="/", httponly=True)
        return response

    @app.errorhandler(XnatError)
    def xnat_error(exc: XnatError):
        return Response(status_page(exc.message), exc.status, mimetype="text/html")

    app.wsgi_app = emulator.faults.wrap(app.wsgi_app)
    return app


def current() -> Emulator:
    from flask import current_app
    return current_app.extensions["xnat"]


def principal() -> Principal:
    return g.principal


def _basic(header: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(header.split(None, 1)[1]).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, IndexError):
        return "", ""
    login, _, password = decoded.partition(":")
    return login, password


def _needs_login(path: str) -> bool:
    if path.startswith(PUBLIC_PATHS):
        return False
    return path.startswith(("/data", "/REST", "/xapi", "/fs"))


def _challenge(site_id: str) -> Response:
    """Anonymous request to a data path from a non-browser agent (XnatAuthenticationEntryPoint)."""
    agent = request.headers.get("User-Agent", "")
    if any(k in agent for k in ("MSIE", "Mozilla", "AppleWebKit", "Opera")):
        return Response("", 302, headers={"Location": "/app/template/Login.vm"})
    return Response(status_page("The request requires user authentication"), 401,
                    mimetype="text/html",
                    headers={"WWW-Authenticate": f'Basic realm="{site_id}"'})


def _tomcat_401(site_id: str) -> Response:
    """Bad Basic credentials: Spring's filter answers with Tomcat's error page."""
    body = ("<!doctype html><html lang=\"en\"><head><title>HTTP Status 401 – Unauthorized"
            "</title></head><body><h1>HTTP Status 401 – Unauthorized</h1><hr class=\"line\" />"
            "<p><b>Type</b> Status Report</p><p><b>Message</b> Login attempt failed. "
            "Please try again.</p></body></html>")
    return Response(body, 401, mimetype="text/html",
                    headers={"WWW-Authenticate": f'Basic realm="{site_id}"'})
