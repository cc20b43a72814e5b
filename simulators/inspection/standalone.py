"""The inspection simulator on its own, for a bench (`station sim inspection`)."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from pathlib import Path

from hal.config import OpcUaDeviceConfig, OpcUaSecurity
from hal.opcua import certs
from simulators.inspection.address_space import own
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


def scratch_pki(security: OpcUaSecurity, server: certs.CertificateFiles, uri: str) -> list[str]:
    """A bench's scratch PKI, made on first use when the config names it by relative
    paths (`configs/bench/`: a state folder under the working directory; absolute
    paths are a real station's, never made here): what is missing of the station's
    certificate and key, the password file (a random password), and the trust_dir,
    made with this simulator's certificate in it (the bench made both ends). What was
    made, one line each."""
    made: list[str] = []
    named = [security.certificate, security.private_key, security.trust_dir]
    named.append(security.password_file)
    if any(path is None or Path(path).is_absolute() for path in named):
        return made
    assert security.certificate is not None and security.private_key is not None
    certificate, key = Path(security.certificate), Path(security.private_key)
    if not certificate.exists() and not key.exists():
        files = certs.write_certificate(certificate.parent, "scratch-station", uri)
        files.certificate.rename(certificate)
        files.private_key.rename(key)
        made.append(f"station certificate {certificate} and key {key}")
    assert security.password_file is not None and security.trust_dir is not None
    password = Path(security.password_file)
    if not password.exists():
        password.parent.mkdir(parents=True, exist_ok=True)
        password.touch(mode=0o600)
        password.write_text(secrets.token_urlsafe(18) + "\n", encoding="utf-8")
        made.append(f"password file {password}")
    trust = Path(security.trust_dir)
    if not trust.exists():
        trust.mkdir(parents=True)
        shutil.copyfile(server.certificate, trust / "sim-inspection.der")
        made.append(f"trust_dir {trust} with this simulator's certificate")
    return made


async def run_standalone(
    config: OpcUaDeviceConfig, listen: tuple[str, int] | None = None, pty: str | None = None
) -> None:
    """Serve the inspection system for a bench until cancelled (`station sim
    inspection --config STATION.yaml --listen HOST:PORT`; without --listen:
    127.0.0.1 and a free port). The endpoint is printed; a secured config gets
    the certificate kept under $XDG_STATE_HOME/station/sim-inspection, which
    the station trusts once it is copied into its trust_dir. The config's nodes
    that are not the simulator's own are its measurement nodes (0.0: a bench has
    no vehicle in front)."""
    if pty is not None:
        raise ValueError(
            "the inspection simulator serves OPC UA over TCP: give --listen HOST:PORT, not --pty"
        )
    host, port = listen or ("127.0.0.1", 0)
    files = _standalone_certificate() if config.security.policy != "None" else None
    if files is not None:
        for made in scratch_pki(config.security, files, "urn:station:bench"):
            print(f"inspection simulator: made {made} (a bench's scratch PKI)", flush=True)
    sim = SimInspection(
        config,
        host=host,
        port=port,
        certificate=None if files is None else files.certificate,
        private_key=None if files is None else files.private_key,
        measurements=[name for name in config.nodes if not own(name)],
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
