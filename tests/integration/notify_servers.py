"""Loopback receivers for notification tests: a webhook that records JSON posts and an aiosmtpd mail server."""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

TOKEN_PATH = "/hooks/T0KEN-abc123/s3cr3t"


@dataclass
class Posted:
    path: str
    content_type: str
    body: dict[str, Any]
    at: float


class WebhookReceiver:
    """Answers POSTs with the next status of ``statuses`` (then 200) and records each JSON body."""

    def __init__(self, statuses: list[int] | None = None, delay_s: float = 0.0) -> None:
        self.statuses = list(statuses or [])
        self.posts: list[Posted] = []
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._cond:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.posts.append(Posted(self.path, self.headers.get("Content-Type", ""),
                                                 json.loads(raw), time.monotonic()))
                    receiver._cond.notify_all()
                time.sleep(delay_s)
                body = b"ok" if status < 300 else f"failed, you sent {self.path}".encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{TOKEN_PATH}?key=t0psecret"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def wait_for(self, count: int, timeout: float = 3.0) -> list[Posted]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.posts) >= count, timeout)
            return list(self.posts)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class TlsFiles:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        """Verifies the server like production does, trusting only this throwaway certificate."""
        return ssl.create_default_context(cafile=str(self.cert))


def make_tls_files(directory: Path) -> TlsFiles:
    """A throwaway self-signed certificate for 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    files = TlsFiles(directory / "cert.pem", directory / "key.pem")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    return files


@dataclass
class Mailbox:
    """What the SMTP server received."""

    messages: list[Message] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        with self.cond:
            self.messages.append(message_from_bytes(envelope.original_content or b""))
            self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
            self.cond.notify_all()
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 3.0) -> list[Message]:
        with self.cond:
            self.cond.wait_for(lambda: len(self.messages) >= count, timeout)
            return list(self.messages)


@contextmanager
def smtp_server(tls: TlsFiles | None = None, mode: str = "none", password: str = "") -> Iterator[tuple[int, Mailbox]]:
    """``mode``: "none" (plain, no auth), "starttls" (STARTTLS and AUTH required) or "tls" (implicit TLS, AUTH)."""
    mailbox = Mailbox()

    def authenticate(server: SMTPServer, session: Session, envelope: Envelope, mechanism: str,
                     auth_data: object) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data.password.decode() == password
        if ok and isinstance(auth_data, LoginPassword):
            mailbox.logins.append(auth_data.login.decode())
        return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535 itself

    port = free_port()
    kwargs: dict[str, Any] = {"hostname": "127.0.0.1", "port": port}
    if mode == "starttls" and tls is not None:
        kwargs |= {"tls_context": tls.server_context(), "require_starttls": True, "authenticator": authenticate,
                   "auth_required": True, "auth_require_tls": True}
    elif mode == "tls" and tls is not None:
        # aiosmtpd does not count implicit TLS as TLS for AUTH, hence auth_require_tls off (and its warning).
        kwargs |= {"ssl_context": tls.server_context(), "authenticator": authenticate, "auth_required": True,
                   "auth_require_tls": False}
    controller = Controller(mailbox, **kwargs)
    controller.start()
    try:
        yield port, mailbox
    finally:
        controller.stop()
