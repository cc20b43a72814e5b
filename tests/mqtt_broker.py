"""Real Mosquitto brokers for the plant link tests (fixtures: `mqtt_fixtures`).

Session-scoped brokers: `plain_broker` (anonymous), `password_broker` (a password file
made with mosquitto_passwd: user `station`, password `secret`), `tls_broker` (a CA and
a server certificate made here with `cryptography`; `tls_broker.ca_file` trusts it).
`own_broker` is a plain broker of one test's own, to stop and restart. Each runs
`mosquitto -c <generated.conf>` on a free loopback port, keeps QoS 1 in order towards
subscribers (`max_inflight_messages 1`; `inflight=N` for a broker of the plant tests,
whose collector acknowledges a batch at once), never drops queued messages
(`max_queued_messages 0`) and is stopped at the end. Without Mosquitto on the machine
the tests that need one skip, saying so (.ci/run installs it).

`Subscriber` runs `mosquitto_sub -v -q 1`, a client we did not write, and collects what
it prints for one topic.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Self

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from station.simulation.ports import free_port

MOSQUITTO = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin")
MOSQUITTO_SUB = shutil.which("mosquitto_sub")
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd")
START_S = 10.0
USER, PASSWORD = "station", "secret"

requires_mosquitto = pytest.mark.skipif(
    MOSQUITTO is None or MOSQUITTO_SUB is None or MOSQUITTO_PASSWD is None,
    reason="Mosquitto not installed (Debian packages mosquitto and mosquitto-clients)",
)


class Broker:
    """One mosquitto process with a generated configuration; restartable on its port."""

    def __init__(
        self, directory: Path, settings: list[str], *, tls: bool = False, inflight: int = 1
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.port = free_port()
        self.tls = tls
        self.url = f"{'mqtts' if tls else 'mqtt'}://127.0.0.1:{self.port}"
        self.ca_file: Path | None = None
        self._settings = settings
        self._inflight = inflight
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert MOSQUITTO is not None
        conf = self.directory / "generated.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            *self._settings,
            "persistence false",
            f"max_inflight_messages {self._inflight}",
            "max_queued_messages 0",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # else mosquitto drops to a user who cannot read our files
        conf.write_text("\n".join(lines) + "\n")
        log = (self.directory / "mosquitto.log").open("ab")
        with log:
            self._process = subprocess.Popen(
                [MOSQUITTO, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_S
        while not self._accepting():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                log_text = (self.directory / "mosquitto.log").read_text(errors="replace")
                raise RuntimeError(f"mosquitto did not start on port {self.port}:\n{log_text}")
            time.sleep(0.02)

    def _accepting(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=START_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None


def running(broker: Broker) -> Iterator[Broker]:
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def certificate(
    subject: str,
    public_key: ec.EllipticCurvePublicKey,
    issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def write_ca(directory: Path, name: str) -> tuple[Path, ec.EllipticCurvePrivateKey]:
    """A new CA: its certificate as NAME.pem, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    ca = certificate(name, key.public_key(), name, key, ca=True)
    path = directory / f"{name}.pem"
    path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return path, key


def pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class Subscriber:
    """`mosquitto_sub -v -q 1 -t TOPIC` (or another output format); what it printed for
    TOPIC as (topic, payload text) pairs, in the order it printed them."""

    def __init__(
        self, broker: Broker, topic: str, *, hex_payload: bool = False, login: bool = False
    ) -> None:
        self.broker = broker
        self.topic = topic
        self.received: list[tuple[str, str]] = []
        self._format = ["-F", "%t %x"] if hex_payload else ["-v"]
        if login:
            self._format += ["-u", USER, "-P", PASSWORD]
        if broker.ca_file is not None:
            self._format += ["--cafile", str(broker.ca_file)]
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._arrived = asyncio.Event()
        self._subscribed = asyncio.Event()

    async def __aenter__(self) -> Self:
        assert MOSQUITTO_SUB is not None
        self._process = await asyncio.create_subprocess_exec(
            *("stdbuf", "-oL", MOSQUITTO_SUB),  # line-buffered: its debug lines say SUBACK
            *("-h", "127.0.0.1", "-p", str(self.broker.port), "-q", "1", "-d"),
            *("-t", self.topic, *self._format),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self._reader = asyncio.create_task(self._read(), name="mosquitto_sub-reader")
        try:
            async with asyncio.timeout(START_S):
                await self._subscribed.wait()
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        wildcard = self.topic.endswith("#")
        prefix = self.topic.rstrip("#")
        async for raw in self._process.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            if "received SUBACK" in line:
                self._subscribed.set()
            topic, _, payload = line.partition(" ")
            if topic == self.topic or (wildcard and topic.startswith(prefix)):
                self.received.append((topic, payload))
                self._arrived.set()

    async def until(self, count: int, timeout_s: float = 20.0) -> list[tuple[str, str]]:
        """Wait until at least `count` messages arrived (fails after `timeout_s`)."""
        async with asyncio.timeout(timeout_s):
            while len(self.received) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.received

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._process is not None and self._reader is not None
        if self._process.returncode is None:
            self._process.terminate()
        await self._process.wait()
        await self._reader
