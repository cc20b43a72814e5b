"""Fixtures of the plant link tests, loaded by their modules as a plugin
(`pytest_plugins = ["mqtt_fixtures"]`): the brokers (`mqtt_broker`) and a station journal.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from mqtt_broker import (
    MOSQUITTO_PASSWD,
    PASSWORD,
    USER,
    Broker,
    certificate,
    pem_key,
    running,
    write_ca,
)
from uplink_rig import STATION

from station.journal import Journal


@pytest.fixture(scope="session")
def plain_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    yield from running(Broker(tmp_path_factory.mktemp("plain"), ["allow_anonymous true"]))


@pytest.fixture(scope="session")
def password_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    assert MOSQUITTO_PASSWD is not None
    directory = tmp_path_factory.mktemp("password")
    passwords = directory / "passwords"
    subprocess.run(
        [MOSQUITTO_PASSWD, "-b", "-c", str(passwords), USER, PASSWORD],
        check=True,
        capture_output=True,
    )
    settings = ["allow_anonymous false", f"password_file {passwords}"]
    yield from running(Broker(directory, settings))


@pytest.fixture(scope="session")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    directory = tmp_path_factory.mktemp("tls")
    ca_file, ca_key = write_ca(directory, "plant-ca")
    key = ec.generate_private_key(ec.SECP256R1())
    server = certificate("localhost", key.public_key(), "plant-ca", ca_key, ca=False)
    (directory / "server.pem").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    (directory / "server.key").write_bytes(pem_key(key))
    settings = [
        "allow_anonymous true",
        f"cafile {ca_file}",
        f"certfile {directory / 'server.pem'}",
        f"keyfile {directory / 'server.key'}",
    ]
    broker = Broker(directory, settings, tls=True)
    broker.ca_file = ca_file
    yield from running(broker)


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Broker]:
    yield from running(Broker(tmp_path / "broker", ["allow_anonymous true"]))


@pytest.fixture
def plant_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker of the test's own for the plant collector, which acknowledges a batch of
    messages at once (up to 500 in flight towards it)."""
    yield from running(Broker(tmp_path / "broker", ["allow_anonymous true"], inflight=500))


@pytest.fixture
async def journal(tmp_path: Path) -> Journal:
    opened = Journal.open(tmp_path / "journal.sqlite3", STATION)
    opened.config_hash = "c0ffee"
    return opened
