"""The plant link's section of a station file (`uplink:`, docs/cli.md "The plant link").

Every number has bounds and unknown keys are errors, like every other section; the
field docstrings are the descriptions `station config schema` prints. Files (password,
CA, client certificate and key) are paths as written; the runtime resolves a relative
one against the station file's folder, as it does `interface.users_file`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, ValidationError, field_validator, model_validator

from hal.config import Section
from station.config.names import Slug

_BROKER_URL = re.compile(
    r"^(?P<scheme>mqtts?)://(?P<host>[A-Za-z0-9_.-]+|\[[0-9a-fA-F:]+\]):(?P<port>\d{1,5})$"
)
_SPARKPLUG_ID = r"^[^/+#\s]+$"
"""Sparkplug group, edge node and host ids: no topic separators or wildcards."""


@dataclass(frozen=True)
class BrokerAddress:
    """A broker URL taken apart."""

    tls: bool
    host: str
    port: int


def parse_broker_url(url: str) -> BrokerAddress:
    """`mqtt://HOST:PORT` or `mqtts://HOST:PORT`; raises ValueError naming the problem."""
    match = _BROKER_URL.match(url)
    if match is None:
        raise ValueError(f"must be mqtt://HOST:PORT or mqtts://HOST:PORT (got {url!r})")
    port = int(match["port"])
    if not 1 <= port <= 65535:
        raise ValueError(f"port must be 1..65535 (got {port})")
    return BrokerAddress(tls=match["scheme"] == "mqtts", host=match["host"].strip("[]"), port=port)


class Uplink(Section):
    """The plant link: the journal stream and the Sparkplug B live state over one MQTT
    connection (docs/architecture.md section 7)."""

    broker: str
    """Plant broker, `mqtt://HOST:PORT`, or `mqtts://HOST:PORT` for TLS (then `ca_file`)."""
    ca_file: str | None = None
    """CA certificate(s) that signed the broker's certificate (PEM); mqtts only."""
    cert_file: str | None = None
    """Client certificate (PEM) when the broker asks for one; mqtts only, with `key_file`."""
    key_file: str | None = None
    """Private key of `cert_file` (PEM, unencrypted, readable by the station only)."""
    username: str | None = Field(default=None, min_length=1, max_length=256)
    """MQTT user name; needs `password_file`."""
    password_file: str | None = None
    """File whose first line is the MQTT password (kept outside the station file)."""
    group_id: str | None = Field(default=None, pattern=_SPARKPLUG_ID, max_length=64)
    """Sparkplug group id (default: the line id)."""
    edge_node_id: str | None = Field(default=None, pattern=_SPARKPLUG_ID, max_length=64)
    """Sparkplug edge node id (default: the station id)."""
    primary_host_id: str | None = Field(default=None, pattern=_SPARKPLUG_ID, max_length=64)
    """Sparkplug primary host: live state is published only while its STATE says online
    (the journal stream does not wait for it)."""
    topic_prefix: Slug = "plant"
    """First level of the journal stream's topics: `<prefix>/<line>/<station>/journal`."""
    keepalive_s: int = Field(default=30, ge=5, le=600)
    """MQTT keepalive: a dead connection is noticed within 1.5 times this; a journal event
    not confirmed (PUBACK) within twice this drops the connection, which resends from ack+1."""
    backlog_alarm: int = Field(default=1000, ge=1, le=100_000_000)
    """Events not yet acknowledged by the plant past which the backlog alarm is raised."""
    backoff_min_s: float = Field(default=0.5, ge=0.01, le=60.0)
    """First wait before reconnecting; doubled after each failed attempt."""
    backoff_max_s: float = Field(default=30.0, ge=0.1, le=3600.0)
    """Cap of the reconnect wait (a random part of up to half of it is taken off)."""
    ndata_interval_ms: int = Field(default=100, ge=10, le=60_000)
    """Live state changes are coalesced into at most one NDATA per interval."""
    inflight: int = Field(default=256, ge=1, le=1000)
    """Journal events published and not yet confirmed by the broker (PUBACK) at once."""

    @field_validator("broker")
    @classmethod
    def _broker_url(cls, value: str) -> str:
        parse_broker_url(value)
        return value

    def resolved(self, base: Path) -> Uplink:
        """The same section with its files relative to `base` (the station file's folder)."""
        files = ("ca_file", "cert_file", "key_file", "password_file")
        return self.model_copy(
            update={
                name: str(base / value)
                for name in files
                if (value := getattr(self, name)) is not None
            }
        )

    @classmethod
    def with_broker(cls, section: Uplink | None, url: str) -> Uplink:
        """`station run --broker URL`: the station file's section with another broker, or
        the defaults for a file that has none; validated again (ValueError says why)."""
        fields = section.model_dump(exclude_unset=True) if section is not None else {}
        try:
            return cls.model_validate({**fields, "broker": url})
        except ValidationError as exc:
            problems = "; ".join(str(e["msg"]) for e in exc.errors())
            raise ValueError(f"--broker {url}: {problems}") from None

    @model_validator(mode="after")
    def _consistent(self) -> Uplink:
        tls = parse_broker_url(self.broker).tls
        if tls and self.ca_file is None:
            raise ValueError("an mqtts:// broker needs ca_file (the CA of its certificate)")
        if not tls and (self.ca_file or self.cert_file or self.key_file):
            raise ValueError("ca_file, cert_file and key_file need an mqtts:// broker")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        if (self.username is None) != (self.password_file is None):
            raise ValueError("username and password_file go together")
        if self.backoff_max_s < self.backoff_min_s:
            raise ValueError(
                f"backoff_max_s ({self.backoff_max_s}) must be >= backoff_min_s "
                f"({self.backoff_min_s})"
            )
        return self
