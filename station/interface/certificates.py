"""The server's endpoint policies, its own certificate, and the check of a client's
application certificate against `<pki_dir>/trusted/` (the rules: the Security
section of `station.interface.server`).

On a SecurityPolicy None channel the client's certificate is ignored (OPC 10000-4
5.6.2, CreateSession: it is not used when the policy is None), so read-only SCADA
(UaExpert and node-opcua send one) browses where None is offered. On Sign and
SignAndEncrypt it must be trusted. A refused one is copied into `rejected/`, in a
thread, which keeps the `MAX_REJECTED` newest files: a client sending random
certificates cannot fill the disk."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from urllib.parse import urlparse

import structlog
from asyncua import ua
from asyncua.common.utils import ServiceError
from cryptography import x509

from hal.opcua.certs import der, keep_newest, peer_validator, thumbprint, write_certificate
from station.interface.sessions import client
from station.journal.untrusted import shown

log = structlog.get_logger(__name__)

MAX_REJECTED = 100
"""Files kept in `<pki_dir>/rejected/`, the oldest removed first."""

SECURITY_POLICIES: dict[str, ua.SecurityPolicyType] = {
    "None": ua.SecurityPolicyType.NoSecurity,
    "Basic256Sha256_Sign": ua.SecurityPolicyType.Basic256Sha256_Sign,
    "Basic256Sha256_SignAndEncrypt": ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
}
"""The station file's `interface.security` names -> asyncua's endpoint policies."""


def own_certificate(pki_dir: Path, station: str, endpoint: str) -> tuple[Path, Path]:
    """The server's certificate and key files, generated on first start (RSA keygen:
    run it in a thread)."""
    own = pki_dir / "own"
    certificate, key = own / "server.der", own / "server.key.pem"
    if not (certificate.exists() and key.exists()):
        uri = f"urn:{socket.gethostname()}:station-controller:{station}"
        host = urlparse(endpoint).hostname
        files = write_certificate(own, "server", uri, hostnames=[host] if host else [])
        log.info(
            "opcua_certificate_generated",
            station=station,
            endpoint=endpoint,
            certificate=str(files.certificate),
        )
    return certificate, key


class ClientCertificates:
    """The server's check of a client's application certificate against trusted/."""

    def __init__(self, pki_dir: Path, keep: int = MAX_REJECTED) -> None:
        self.trusted = pki_dir / "trusted"
        self.rejected = pki_dir / "rejected"
        self.keep = keep

    async def __call__(
        self, certificate: x509.Certificate, description: ua.ApplicationDescription
    ) -> None:
        if not client().signed:
            return  # SecurityPolicy None: the certificate is not used
        validator = await peer_validator(self.trusted, "client")
        try:
            await validator.validate(certificate, description)
        except ServiceError as exc:
            copy = self.rejected / f"{thumbprint(certificate)}.der"
            await asyncio.to_thread(self._keep_rejected, copy, der(certificate))
            log.error(
                "opcua_client_certificate_refused",
                audit=True,
                status=ua.StatusCode(ua.UInt32(exc.code)).name,
                subject=shown(certificate.subject.rfc4514_string()),
                application_uri=shown(str(description.ApplicationUri)),
                thumbprint_sha1=thumbprint(certificate),
                copied_to=str(copy),
                trust_by_moving_it_to=str(self.trusted),
            )
            raise

    def _keep_rejected(self, copy: Path, content: bytes) -> None:
        self.rejected.mkdir(mode=0o700, parents=True, exist_ok=True)
        copy.write_bytes(content)
        keep_newest(self.rejected, self.keep)
