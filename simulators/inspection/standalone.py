"""The inspection simulator on its own, for a bench (`station sim inspection`)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from hal.config import OpcUaDeviceConfig
from hal.opcua import certs
from simulators.inspection.server import APPLICATION_URI, SimInspection


def _state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "station" / "sim-inspection"


def _standalone_certificate() -> certs.CertificateFiles:
    """The bench simulator's certificate: made once, kept, so that trusting it once
    (copying it into the station's trust_dir) lasts across runs."""
    directory = _state_dir()
    files = certs.CertificateFiles(directory / "server.der", directory / "server.key.pem")
    if not (files.certificate.is_file() and files.private_key.is_file()):
        files = certs.write_certificate(directory, "server", APPLICATION_URI)
    return files


async def run_standalone(
    config: OpcUaDeviceConfig, listen: tuple[str, int] | None = None, pty: str | None = None
) -> None:
    """Serve the inspection system for a bench until cancelled (`station sim
    inspection --config STATION.yaml --listen HOST:PORT`; without --listen:
    127.0.0.1 and a free port). The endpoint is printed; a secured config gets
    the certificate kept under $XDG_STATE_HOME/station/sim-inspection, which
    the station trusts once it is copied into its trust_dir."""
    if pty is not None:
        raise ValueError(
            "the inspection simulator serves OPC UA over TCP: give --listen HOST:PORT, not --pty"
        )
    host, port = listen or ("127.0.0.1", 0)
    files = _standalone_certificate() if config.security.policy != "None" else None
    sim = SimInspection(
        config,
        host=host,
        port=port,
        certificate=None if files is None else files.certificate,
        private_key=None if files is None else files.private_key,
    )
    await sim.start()
    try:
        url = sim.endpoint_update()["url"]
        print(f"inspection simulator serving {url} ({', '.join(sim.policies)})", flush=True)
        if files is not None and sim.certificate is not None:
            print(
                f"  server certificate {files.certificate} (SHA-1 "
                f"{certs.thumbprint(sim.certificate)}): copy it into the station's trust_dir",
                flush=True,
            )
        await asyncio.Event().wait()
    finally:
        await sim.stop()
