"""How a query reaches its source: the ``requests.Session`` of
:func:`~attribution.collectors.auth.session_for`, sent through urllib3 directly.

Why not ``session.post``: requests re-derives on every request what cannot change between two queries of
one source (the environment's proxies and ``NO_PROXY``, ``~/.netrc``, the CA bundle variables, the
merged headers, cookies and hooks) and streams the body in 10 kB pieces, each decompressed apart. That
came to some 0.7 ms of Python a query, nearly a third of a small collection's time holding the
interpreter lock (docs/performance.md, "Collection at bench-quick size (session 16)").
:class:`DirectTransport` reads the session once, when the client is built, and sends each query as one
urllib3 request (about 0.2 ms), with the same headers, credentials (each request asks the session's auth
for its header, so a token file is still re-read every time), TLS settings, proxy, timeouts and gzip.
What it does not take over, it leaves to requests (:class:`SessionTransport`): a SOCKS proxy, an auth
that is not a plain header (digest), a session that is not a ``requests.Session`` (the tests' stand-ins
answering from drawn series).

Differences from ``session.post``, on purpose: a 307 or 308 redirect is followed on the source's own host
(an ingress sending ``http`` to ``https``), with the same method and body, as requests did; any other
redirect is answered, and the client names where it leads (requests turned a 301/302 POST into a GET
without its query, a confusing error much later). ``~/.netrc``, the proxy variables and the session's
cookies are read once per client, not per query: a cookie a source sets later is not sent back (no
Prometheus-API store sets one; a cookie-based gateway needs the session's own path, which a session
with cookies or response hooks already takes).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode, urljoin, urlsplit

import certifi
import requests
import urllib3
from requests.auth import HTTPBasicAuth
from requests.structures import CaseInsensitiveDict
from requests.utils import (
    get_auth_from_url,
    get_environ_proxies,
    get_netrc_auth,
    select_proxy,
    urldefragauth,
)

from attribution.collectors.auth import BasicAuth, BearerToken

FORM = "application/x-www-form-urlencoded"
#: Redirects (307 and 308, on the source's host) followed for one query.
MAX_REDIRECTS = 5
#: Auths that only set a header, which :class:`DirectTransport` asks for it on every request.
HEADER_AUTHS = (BearerToken, BasicAuth, HTTPBasicAuth)


class TransportError(Exception):
    """The request did not get an answer: ``tls`` when the TLS handshake failed."""

    def __init__(self, detail: str, *, tls: bool = False) -> None:
        super().__init__(detail)
        self.tls = tls


@dataclass(frozen=True, slots=True)
class Reply:
    """A source's answer: its status, its body (decompressed) and where it redirects, if it does."""

    status_code: int
    content: bytes
    location: str | None = None


class Transport(Protocol):
    def post(self, url: str, form: Mapping[str, str], timeout: float) -> Reply: ...

    def get(self, url: str, timeout: float) -> Reply: ...


class SessionTransport:
    """Through ``session.post``/``get`` as requests sends them (the cases :class:`DirectTransport` leaves)."""

    def __init__(self, session: Any) -> None:
        self._session = session

    def post(self, url: str, form: Mapping[str, str], timeout: float) -> Reply:
        # verify passed explicitly: requests lets REQUESTS_CA_BUNDLE override a session's CA file
        return self._reply(lambda: self._session.post(url, data=form, timeout=timeout, verify=self._verify()))

    def get(self, url: str, timeout: float) -> Reply:
        return self._reply(lambda: self._session.get(url, timeout=timeout, verify=self._verify()))

    def _verify(self) -> Any:
        return getattr(self._session, "verify", True)

    @staticmethod
    def _reply(send: Any) -> Reply:
        try:
            response = send()
        except requests.exceptions.SSLError as exc:
            raise TransportError(str(exc.args[0] if exc.args else exc), tls=True) from exc
        except requests.RequestException as exc:
            raise TransportError(str(exc)) from exc
        return Reply(response.status_code, response.content)


class DirectTransport:
    """One source's connections (urllib3, kept alive, up to ``connections`` at once), configured once
    from ``session``: its headers, auth, TLS files and the proxy the environment names for ``url``."""

    def __init__(self, session: requests.Session, url: str, proxy: str | None, connections: int) -> None:
        self._headers = _text(session.headers)
        self._form_headers = {**self._headers, "Content-Type": FORM}
        auth = session.auth
        if isinstance(auth, tuple):
            auth = HTTPBasicAuth(*auth)
        if auth is None and session.trust_env:
            found = get_netrc_auth(url)
            auth = HTTPBasicAuth(*found) if found else None
        in_url = get_auth_from_url(url)  # https://user:secret@host: what requests took last, so do we
        if auth is None and any(in_url):
            auth = HTTPBasicAuth(*in_url)
        self._strip = any(in_url)  # never sent in a request line (a proxy would see it)
        self._auth: Callable[[requests.PreparedRequest], requests.PreparedRequest] | None = auth
        tls = _tls(session)
        if proxy is None:
            self._manager: urllib3.PoolManager = urllib3.PoolManager(connections, maxsize=connections, **tls)
        else:
            user, password = get_auth_from_url(proxy)
            proxy_headers = urllib3.make_headers(proxy_basic_auth=f"{user}:{password}") if user else None
            self._manager = urllib3.ProxyManager(
                proxy, connections, maxsize=connections, proxy_headers=proxy_headers, **tls
            )

    def post(self, url: str, form: Mapping[str, str], timeout: float) -> Reply:
        return self._send("POST", url, self._form_headers, urlencode(form).encode(), timeout)

    def get(self, url: str, timeout: float) -> Reply:
        return self._send("GET", url, self._headers, None, timeout)

    def _send(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None, timeout: float
    ) -> Reply:
        if self._strip:
            url = urldefragauth(url)
        if self._auth is not None:
            headers = self._authorized(method, url, headers)
        for _ in range(MAX_REDIRECTS + 1):
            reply = self._once(method, url, headers, body, timeout)
            target = urljoin(url, reply.location) if reply.location else None
            if reply.status_code not in (307, 308) or target is None or not _same_host(url, target):
                return reply
            url = target  # the same method and body, as requests re-sent them; on the same host only
        return reply

    def _once(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None, timeout: float
    ) -> Reply:
        try:
            response = self._manager.urlopen(
                method,
                url,
                body=body,
                headers=headers,
                timeout=urllib3.Timeout(connect=timeout, read=timeout),
                retries=False,  # ours retry (PromClient._call), with backoff
                redirect=False,  # a redirect is followed by _send, or answered
                preload_content=True,
                decode_content=True,
            )
        except urllib3.exceptions.SSLError as exc:
            raise TransportError(str(exc), tls=True) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise TransportError(str(exc)) from exc
        except ValueError as exc:  # http.client refuses a header with a line break: never show its value
            raise TransportError(
                "a request header or the URL is not valid HTTP (check the source's headers)"
            ) from exc
        return Reply(response.status, response.data, response.headers.get("Location"))

    def _authorized(self, method: str, url: str, headers: dict[str, str]) -> dict[str, str]:
        """The headers with the auth's own (a token or password file is read again by the auth)."""
        assert self._auth is not None
        request = requests.PreparedRequest()
        request.method, request.url, request.headers = method, url, CaseInsensitiveDict(headers)
        return _text(self._auth(request).headers)


def transport_for(session: Any, url: str, connections: int) -> Transport:
    """:class:`DirectTransport` for a ``requests.Session`` whose settings it carries over, else
    :class:`SessionTransport` (a SOCKS proxy, an auth other than a header, a stand-in session)."""
    if not isinstance(session, requests.Session):
        return SessionTransport(session)
    if session.auth is not None and not isinstance(session.auth, (tuple, *HEADER_AUTHS)):
        return SessionTransport(session)
    if session.hooks.get("response") or session.cookies:
        return SessionTransport(session)
    proxies = dict(session.proxies)
    if session.trust_env:
        proxies = {**proxies, **get_environ_proxies(url)}  # as requests merges them: the environment's win
    proxy = select_proxy(url, proxies) if proxies else None
    if proxy is not None and urlsplit(proxy).scheme.lower() not in ("http", "https"):
        return SessionTransport(session)
    try:
        return DirectTransport(session, url, proxy, connections)
    except (ValueError, urllib3.exceptions.HTTPError):  # a proxy address urllib3 cannot parse
        return SessionTransport(session)  # requests fails each query on it: unavailable, not a crash


def _tls(session: requests.Session) -> dict[str, Any]:
    """urllib3's TLS settings for the session's ``verify`` and ``cert``, as requests derives them: CA
    bundle from ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` (when the session trusts the environment) or
    certifi's; a directory of CAs as such; ``verify=False``: no verification."""
    out: dict[str, Any] = {}
    verify: Any = session.verify
    if verify is True and session.trust_env:
        verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    if verify is False:
        out["cert_reqs"] = "CERT_NONE"
    else:
        bundle = certifi.where() if verify is True else str(verify)
        out["cert_reqs"] = "CERT_REQUIRED"
        out["ca_cert_dir" if os.path.isdir(bundle) else "ca_certs"] = bundle
    cert = session.cert
    if isinstance(cert, str):
        out["cert_file"] = cert
    elif cert is not None:
        out["cert_file"], out["key_file"] = cert
    return out


def _same_host(url: str, target: str) -> bool:
    """Whether a redirect stays on the source's host (``http`` to ``https`` included): the credentials
    go only where they were configured for, as requests strips them on another host."""
    return urlsplit(url).hostname == urlsplit(target).hostname


def _text(headers: Mapping[str, str | bytes]) -> dict[str, str]:
    """Headers as text (requests allows bytes values, which HTTP carries as Latin-1)."""
    return {k: v if isinstance(v, str) else v.decode("latin-1") for k, v in headers.items()}
