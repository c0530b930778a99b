"""A real SMTP server for the delivery tests: aiosmtpd in a process of its own on 127.0.0.1.

``python -m tests.smtp_server DIR [options]`` serves until killed, writes each message it
accepts to ``DIR/mail/`` (envelope as JSON beside the message) and prints ``ready PORT``.
It can require STARTTLS or speak implicit TLS with a self-signed certificate, require a
login, refuse recipients (``refused`` in the address: 550; ``later``: 451), limit the message
size, and hold one DATA or RCPT until ``DIR/release`` exists, so a test can kill the sender
at a known point of the conversation. :func:`smtp_server` runs it for a test.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import ipaddress
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from email.policy import default
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USER, PASSWORD = "swordnet", "correct horse battery staple"


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=7))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class Handler:
    """Accepts mail into ``DIR/mail``; refuses and holds as the options say."""

    def __init__(self, directory: Path, hold_data: int | None, hold_rcpt: str | None) -> None:
        self.directory, self.hold_data, self.hold_rcpt = directory, hold_data, hold_rcpt
        self.count = 0
        (directory / "mail").mkdir(parents=True, exist_ok=True)

    async def _wait_release(self, marker: str) -> None:
        print(marker, flush=True)  # the test reads it: SmtpServer.wait_for
        while not (self.directory / "release").exists():
            await asyncio.sleep(0.02)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if "refused" in address:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        if "later" in address:
            return "451 4.3.0 mailbox busy, try later"
        if self.hold_rcpt and address == self.hold_rcpt:
            await self._wait_release("rcpt-held")
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        n = self.count
        (self.directory / "mail" / f"{n:04d}.eml").write_bytes(envelope.original_content)
        (self.directory / "mail" / f"{n:04d}.json").write_text(json.dumps(
            {"from": envelope.mail_from, "to": envelope.rcpt_tos,
             "authenticated": bool(session.authenticated),
             "tls": server.transport.get_extra_info("ssl_object") is not None}))
        if self.hold_data == n:
            await self._wait_release("data-held")
        return f"250 2.0.0 Ok: queued as Q{n:04d}"


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                   auth_data: Any) -> Any:
    from aiosmtpd.smtp import AuthResult, LoginPassword

    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode()
          and auth_data.password == PASSWORD.encode())
    return AuthResult(success=ok, handled=False)


def main() -> None:
    from aiosmtpd.controller import Controller

    parser = argparse.ArgumentParser()
    parser.add_argument("directory", type=Path)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--security", choices=("starttls", "tls", "none"), default="starttls")
    parser.add_argument("--auth", action="store_true")
    parser.add_argument("--size-limit", type=int, default=1_000_000)
    parser.add_argument("--hold-data", type=int)
    parser.add_argument("--hold-rcpt")
    args = parser.parse_args()
    handler = Handler(args.directory, args.hold_data, args.hold_rcpt)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.directory / "cert.pem", args.directory / "key.pem")
    options: dict[str, Any] = {"data_size_limit": args.size_limit}
    if args.auth:
        options |= {"authenticator": _authenticator, "auth_required": True,
                    "auth_require_tls": args.security == "starttls"}
    if args.security == "starttls":
        options |= {"tls_context": context, "require_starttls": True}
    controller = Controller(handler, hostname="127.0.0.1", port=args.port,
                            ssl_context=context if args.security == "tls" else None,
                            server_hostname="127.0.0.1", **options)
    controller.start()
    print(f"ready {args.port}", flush=True)
    signal.pause()  # serve until the test kills this process


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SmtpServer:
    """A running test server: where it listens, its certificate, what it received."""

    port: int
    directory: Path
    cert: Path
    process: subprocess.Popen[bytes]

    def messages(self) -> list[tuple[dict[str, Any], Message]]:
        """Each accepted message, in order: (envelope, parsed message)."""
        mail = self.directory / "mail"
        return [(json.loads(path.with_suffix(".json").read_text()),
                 message_from_bytes(path.read_bytes(), policy=default))
                for path in sorted(mail.glob("*.eml"))]

    def environment(self, security: str = "starttls", auth: bool = True) -> dict[str, str]:
        """The SWORDNET_SMTP_* settings that reach this server."""
        env = {"SWORDNET_SMTP_HOST": "127.0.0.1", "SWORDNET_SMTP_PORT": str(self.port),
               "SWORDNET_SMTP_SECURITY": security, "SWORDNET_SMTP_FROM": "notices@rights.example",
               "SWORDNET_SMTP_CA_FILE": str(self.cert), "SWORDNET_SMTP_TIMEOUT": "20"}
        if auth:
            env |= {"SWORDNET_SMTP_USER": USER, "SWORDNET_SMTP_PASSWORD": PASSWORD}
        return env

    def wait_for(self, marker: str) -> None:
        """Wait until the server holds a conversation (``data-held`` / ``rcpt-held``): it
        prints the marker on its standard output when it starts holding."""
        assert self.process.stdout is not None
        while (line := self.process.stdout.readline()) != f"{marker}\n".encode():
            assert line, f"the SMTP server ended before {marker}"

    def release(self) -> None:
        (self.directory / "release").touch()


@contextmanager
def smtp_server(directory: Path, *extra: str, security: str = "starttls") -> Iterator[SmtpServer]:
    """Run the test SMTP server (options as for ``python -m tests.smtp_server``)."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, _key = self_signed(directory)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.smtp_server", str(directory), "--port", str(port),
         "--security", security, *extra], stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parent.parent, env=os.environ | {"PYTHONUNBUFFERED": "1"})
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        assert line.startswith("ready"), f"the SMTP server did not start: {line!r}"
        yield SmtpServer(port, directory, cert, process)
    finally:
        process.kill()
        process.wait()


if __name__ == "__main__":
    main()
