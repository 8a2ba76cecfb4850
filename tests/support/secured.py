"""Sources that want credentials, for the authenticated-source tests: all real servers.

* :func:`make_pki`: a throwaway CA (``openssl``), a server certificate for 127.0.0.1 and a client
  certificate, both signed by it;
* :class:`SecuredPrometheus`: Prometheus with ``--web.config.file``: HTTPS with the server certificate,
  client certificates required (mutual TLS) and its own basic auth (a bcrypt hash);
* VictoriaMetrics with ``-tls`` and ``-httpAuth.*`` (:class:`tests.support.victoria.LocalVictoriaMetrics`
  with ``extra_args``), and ``vmauth`` in front of it admitting one bearer token.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import bcrypt
import requests

from attribution.localprom import binaries, free_port


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path
    """A second CA that signed nothing here: trusting it instead of ``ca`` must fail verification."""


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _ca(work: Path, name: str) -> tuple[Path, Path]:
    key, cert = work / f"{name}.key", work / f"{name}.crt"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={name}")  # fmt: skip
    return cert, key


def _leaf(work: Path, name: str, ca: tuple[Path, Path], ext: str) -> tuple[Path, Path]:
    key, csr, cert, extfile = (work / f"{name}{s}" for s in (".key", ".csr", ".crt", ".ext"))
    extfile.write_text(ext)
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={name}")  # fmt: skip
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]), "-CAcreateserial",
             "-out", str(cert), "-days", "2", "-extfile", str(extfile))  # fmt: skip
    return cert, key


def make_pki(work: Path) -> Pki:
    work.mkdir(parents=True, exist_ok=True)
    ca = _ca(work, "test-ca")
    other, _ = _ca(work, "other-ca")
    server = _leaf(work, "server", ca, "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                   "extendedKeyUsage=serverAuth\n")  # fmt: skip
    client = _leaf(work, "client", ca, "extendedKeyUsage=clientAuth\n")
    return Pki(ca[0], server[0], server[1], client[0], client[1], other)


def bcrypt_hash(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


class SecuredPrometheus:
    """Prometheus over ``data_dir`` behind HTTPS (client certificates required) and basic auth."""

    def __init__(self, data_dir: Path, pki: Pki, username: str, password: str) -> None:
        self.data_dir, self.pki, self.username, self.password = data_dir, pki, username, password
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        prometheus, _ = binaries()
        work = self.data_dir.parent
        web = work / f"web-{self.port}.yml"
        web.write_text(
            "tls_server_config:\n"
            f"  cert_file: {self.pki.server_cert}\n"
            f"  key_file: {self.pki.server_key}\n"
            "  client_auth_type: RequireAndVerifyClientCert\n"
            f"  client_ca_file: {self.pki.ca}\n"
            "basic_auth_users:\n"
            f"  {self.username}: {bcrypt_hash(self.password)}\n"
        )
        config = work / f"prometheus-{self.port}.yml"
        config.write_text("global:\n  scrape_interval: 15s\nscrape_configs: []\n")
        log = (work / f"prometheus-{self.port}.log").open("wb")
        self._proc = subprocess.Popen(
            [prometheus, f"--config.file={config}", f"--storage.tsdb.path={self.data_dir}",
             f"--web.listen-address=127.0.0.1:{self.port}", f"--web.config.file={web}",
             "--storage.tsdb.retention.time=100y"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        session = requests.Session()
        session.verify, session.auth = str(self.pki.ca), (self.username, self.password)
        session.cert = (str(self.pki.client_cert), str(self.pki.client_key))
        wait_ready(f"{self.url}/-/ready", session, self._proc)

    def stop(self) -> None:
        stop(self._proc)
        self._proc = None

    def __enter__(self) -> SecuredPrometheus:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class VmAuth:
    """``vmauth`` admitting requests with ``Authorization: Bearer <token>`` and proxying them to ``backend``
    (basic auth and TLS towards the backend are vmauth's business, as in a real deployment)."""

    def __init__(self, work: Path, token: str, backend: str) -> None:
        self.work, self.token, self.backend = work, token, backend
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> VmAuth:
        config = self.work / f"vmauth-{self.port}.yml"
        config.write_text(f'users:\n  - bearer_token: "{self.token}"\n    url_prefix: "{self.backend}"\n')
        log = (self.work / f"vmauth-{self.port}.log").open("wb")
        self._proc = subprocess.Popen(
            ["vmauth", f"-auth.config={config}", f"-httpListenAddr=127.0.0.1:{self.port}"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.token}"
        wait_ready(f"{self.url}/health", session, self._proc)
        return self

    def __exit__(self, *exc: object) -> None:
        stop(self._proc)
        self._proc = None


def wait_ready(url: str, session: requests.Session, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}; see its log")
        try:
            if session.get(url, timeout=2, verify=session.verify).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    stop(proc)
    raise RuntimeError(f"{url} not ready after 60 s")


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
