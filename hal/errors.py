"""Typed device errors. Each names the device and what failed, so the station
can journal it, raise the right alarm and choose the right state (Aborted for
a device fault, Held for an ambiguous or refused result)."""

from __future__ import annotations


class DeviceError(Exception):
    """Base of every device failure. `device` is the config name of the device."""

    def __init__(self, device: str, message: str) -> None:
        self.device = device
        self.message = message
        super().__init__(f"{device}: {message}")


class LinkDown(DeviceError):
    """The link is down or its data is stale; nothing was done."""


class RequestTimeout(DeviceError):
    """A request got no (matching) reply within its timeout."""


class ModbusExceptionReply(DeviceError):
    """The peer answered with a Modbus exception code (01..0B)."""

    NAMES = {
        1: "illegal function",
        2: "illegal data address",
        3: "illegal data value",
        4: "server device failure",
        5: "acknowledge",
        6: "server device busy",
        10: "gateway path unavailable",
        11: "gateway target failed to respond",
    }

    def __init__(self, device: str, table: str, address: int, code: int) -> None:
        self.table = table
        self.address = address
        self.code = code
        name = self.NAMES.get(code, "unknown exception")
        super().__init__(device, f"exception {code:02d} ({name}) on {table} {address}")

    @property
    def retryable(self) -> bool:
        """01-03 are errors of the request itself: retrying the same request is blind."""
        return self.code not in (1, 2, 3)


class OutputNotAllowed(DeviceError):
    """An output outside the config's allow-list was asked for; nothing was written."""


class WriteNotVerified(DeviceError):
    """A write's read-back did not show the value written."""


class TurntableFault(DeviceError):
    """The turntable stopped: stall, drive fault, home not found, or zone not clear."""

    def __init__(
        self, device: str, kind: str, message: str, angle_deg: float | None = None
    ) -> None:
        self.kind = kind
        """One of: stall, drive_fault, home_not_found, zone_not_clear."""
        self.angle_deg = angle_deg
        super().__init__(device, message)


class BadStatus(DeviceError):
    """The device answered with a bad status for a value (OPC UA: a read's StatusCode,
    e.g. BadSensorFailure): it has no usable value; the link itself is up."""


class MeasurementFailed(DeviceError):
    """A measuring device gave no result in time (no ready bit after the start)."""


class ReaderError(DeviceError):
    """A reader answered with an error or nothing usable."""


class AmbiguousRead(ReaderError):
    """Several different codes or several tags answered one request: never guess."""

    def __init__(self, device: str, found: list[str]) -> None:
        self.found = found
        super().__init__(device, f"{len(found)} different results at once: {', '.join(found)}")


class UntrustedCertificate(DeviceError):
    """The server's certificate is not in the trust list; the link was refused."""
