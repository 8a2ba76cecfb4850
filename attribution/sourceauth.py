"""How a source is reached when it wants credentials: bearer token, basic auth, extra headers, TLS.

Remote stores rarely answer anonymously: Thanos and managed Prometheus sit behind a bearer token or basic
auth, Mimir and Cortex need ``X-Scope-OrgID``, and an in-cluster Prometheus often serves HTTPS with a
private CA. The names follow Prometheus's own ``http_config`` (``bearer_token_file``, ``basic_auth``,
``tls_config``: ``ca_file``, ``cert_file``, ``key_file``, ``insecure_skip_verify``), so a stanza that
works in a scrape or remote-read config reads the same here.

A secret is never written in the config file: it is named by an environment variable (``*_env``) or a
file (``*_file``, re-read on every request so a rotated Kubernetes token is picked up). This module only
declares and validates; :mod:`attribution.collectors.auth` reads the secrets and builds the session.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an RFC 9110 token
#: Headers that carry credentials: they belong in bearer_token_* / basic_auth, whose values never sit
#: in the config file.
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})

EnvName = Annotated[str, Field(pattern=_ENV_NAME.pattern)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _one_of(owner: str, **given: object) -> None:
    named = [k for k, v in given.items() if v is not None]
    if len(named) > 1:
        raise ValueError(f"{owner}: set only one of {', '.join(sorted(given))}, not {' and '.join(named)}")


class BasicAuthConfig(_Strict):
    """HTTP basic auth. The password comes from ``password_env`` or ``password_file``, never inline."""

    username: Annotated[str, Field(min_length=1, description="the user name sent with basic auth")]
    password_env: Annotated[
        EnvName | None, Field(description="environment variable holding the password")
    ] = None
    password_file: Annotated[
        Path | None, Field(description="file holding the password, re-read on every request")
    ] = None

    @model_validator(mode="after")
    def _password(self) -> Self:
        _one_of("basic_auth", password_env=self.password_env, password_file=self.password_file)
        if self.password_env is None and self.password_file is None:
            raise ValueError("basic_auth: set password_env or password_file (a password is never inline)")
        return self


class TlsConfig(_Strict):
    """TLS for an ``https://`` source. ``ca_file``: the PEM bundle that signed the server's certificate
    (default: the system store). ``cert_file``/``key_file``: a client certificate for mutual TLS (the
    key may also sit in ``cert_file``). ``insecure_skip_verify`` turns server verification off: the
    connection is encrypted but anyone on the path can impersonate the source; for a test bench only."""

    ca_file: Annotated[
        Path | None, Field(description="PEM bundle of the CA(s) that signed the server's certificate")
    ] = None
    cert_file: Annotated[Path | None, Field(description="client certificate (PEM) for mutual TLS")] = None
    key_file: Annotated[Path | None, Field(description="the client certificate's private key (PEM)")] = None
    insecure_skip_verify: Annotated[
        bool, Field(description="do not verify the server's certificate: a test bench only, never production")
    ] = False

    @model_validator(mode="after")
    def _pairs(self) -> Self:
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("tls: key_file needs cert_file (the client certificate it belongs to)")
        if self.insecure_skip_verify and self.ca_file is not None:
            raise ValueError("tls: ca_file and insecure_skip_verify contradict each other; keep one")
        return self

    @property
    def configured(self) -> bool:
        return self != TlsConfig()


class SourceAccess(_Strict):
    """The access part of a source: mixed into ``SourceConfig``."""

    headers: Annotated[
        dict[str, str],
        Field(
            description='extra request headers, e.g. `{ "X-Scope-OrgID" = "team-a" }` for Mimir or Cortex '
            "(several tenants: `team-a|team-b`); not for credentials (`Authorization` is refused)"
        ),
    ] = {}
    bearer_token_env: Annotated[
        EnvName | None,
        Field(description="environment variable holding a bearer token (`Authorization: Bearer ...`)"),
    ] = None
    bearer_token_file: Annotated[
        Path | None,
        Field(description="file holding a bearer token, re-read on every request (a rotated token)"),
    ] = None
    basic_auth: Annotated[
        BasicAuthConfig | None,
        Field(description="HTTP basic auth; the password from the environment or a file"),
    ] = None
    tls: Annotated[
        TlsConfig, Field(description="CA bundle, client certificate, verification for https://")
    ] = TlsConfig()

    def check_access(self, url: str) -> None:
        """Raise ValueError naming the first inconsistency between the URL, credentials and TLS.

        ``https://user:password@host`` still works (requests sends it as basic auth, and the client
        never shows it), but it puts a secret in the config: ``basic_auth`` is the way."""
        parts = urlsplit(url)
        in_url = parts.username is not None or parts.password is not None
        _one_of(
            "sources",
            bearer_token_env=self.bearer_token_env,
            bearer_token_file=self.bearer_token_file,
            basic_auth=self.basic_auth,
            url_credentials=True if in_url else None,
        )
        for name in self.headers:
            if not _HEADER_NAME.match(name):
                raise ValueError(f"headers: {name!r} is not a valid header name")
            if name.lower() in _SECRET_HEADERS:
                raise ValueError(
                    f"headers: {name} carries a credential; use bearer_token_env, bearer_token_file or "
                    "basic_auth (their values never sit in the config file)"
                )
        if self.tls.configured and parts.scheme.lower() != "https":
            raise ValueError("tls: set for a plain http:// URL; use https:// or drop the tls table")


__all__ = ["BasicAuthConfig", "SourceAccess", "TlsConfig"]
