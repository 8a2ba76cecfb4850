"""A ``requests.Session`` that reaches one source as its config says: token, basic auth, headers, TLS.

Secrets are read here, when the client is built (environment variables) or on every request (files, so
a rotated token is used from the next query on), and never appear in a log line, an error or ``repr``:
errors name the variable or the file, not its content. A variable that is unset or a file that cannot be
read is a :class:`ConfigError` naming the source and the setting.
"""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path

import requests
from requests.auth import AuthBase

from attribution.errors import ConfigError
from attribution.sourceauth import BasicAuthConfig, SourceAccess

log = logging.getLogger(__name__)


def _from_env(source: str, setting: str, variable: str) -> str:
    value = os.environ.get(variable)
    if not value:
        raise ConfigError(f"sources.{source}.{setting}: environment variable {variable} is not set or empty")
    return value


def _from_file(source: str, setting: str, path: Path) -> str:
    try:
        value = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"sources.{source}.{setting}: cannot read {path}: {exc.strerror}") from None
    if not value:
        raise ConfigError(f"sources.{source}.{setting}: {path} is empty")
    return value


class BearerToken(AuthBase):
    """``Authorization: Bearer <token>``; a token file is re-read on every request."""

    def __init__(self, source: str, *, env: str | None = None, file: Path | None = None) -> None:
        self._source, self._file = source, file
        self._token = _from_env(source, "bearer_token_env", env) if env is not None else None
        if file is not None:
            _from_file(source, "bearer_token_file", file)  # fail at start, not on the first query

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        token = self._token
        if self._file is not None:
            token = _from_file(self._source, "bearer_token_file", self._file)
        request.headers["Authorization"] = f"Bearer {token}"
        return request

    def __repr__(self) -> str:
        return f"BearerToken(source={self._source!r})"


class BasicAuth(AuthBase):
    """``Authorization: Basic ...``; a password file is re-read on every request."""

    def __init__(self, source: str, config: BasicAuthConfig) -> None:
        self._source, self._username, self._file = source, config.username, config.password_file
        self._password = ""
        if config.password_env is not None:
            self._password = _from_env(source, "basic_auth.password_env", config.password_env)
        else:
            assert config.password_file is not None  # the config validator requires one of the two
            _from_file(source, "basic_auth.password_file", config.password_file)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        password = self._password
        if self._file is not None:
            password = _from_file(self._source, "basic_auth.password_file", self._file)
        pair = base64.b64encode(f"{self._username}:{password}".encode()).decode("ascii")
        request.headers["Authorization"] = f"Basic {pair}"
        return request

    def __repr__(self) -> str:
        return f"BasicAuth(source={self._source!r}, username={self._username!r})"


def session_for(name: str, access: SourceAccess) -> requests.Session:
    """A session carrying ``access``'s headers, credentials and TLS settings for every request."""
    session = requests.Session()
    session.headers.update(access.headers)
    if access.bearer_token_env is not None or access.bearer_token_file is not None:
        session.auth = BearerToken(name, env=access.bearer_token_env, file=access.bearer_token_file)
    elif access.basic_auth is not None:
        session.auth = BasicAuth(name, access.basic_auth)
    tls = access.tls
    for setting, path in (("ca_file", tls.ca_file), ("cert_file", tls.cert_file), ("key_file", tls.key_file)):
        if path is not None and not path.is_file():
            raise ConfigError(f"sources.{name}.tls.{setting}: no such file {str(path)!r}")
    if tls.insecure_skip_verify:
        log.warning("source %s: TLS certificate verification is off (tls.insecure_skip_verify)", name)
        session.verify = False
    elif tls.ca_file is not None:
        session.verify = str(tls.ca_file)
    if tls.cert_file is not None:
        session.cert = str(tls.cert_file) if tls.key_file is None else (str(tls.cert_file), str(tls.key_file))
    return session
