"""The server's endpoint policies, its own certificate, and the check of a client's
application certificate against `<pki_dir>/trusted/` (the rules: the Security
section of `station.interface.server`)."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlparse

import structlog
from asyncua import ua
from asyncua.common.utils import ServiceError
from cryptography import x509

from hal.opcua.certs import der, peer_validator, thumbprint, write_certificate

log = structlog.get_logger(__name__)

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

    def __init__(self, pki_dir: Path) -> None:
        self.trusted = pki_dir / "trusted"
        self.rejected = pki_dir / "rejected"

    async def __call__(
        self, certificate: x509.Certificate, description: ua.ApplicationDescription
    ) -> None:
        validator = await peer_validator(self.trusted, "client")
        try:
            await validator.validate(certificate, description)
        except ServiceError as exc:
            self.rejected.mkdir(parents=True, exist_ok=True)
            copy = self.rejected / f"{thumbprint(certificate)}.der"
            copy.write_bytes(der(certificate))
            log.error(
                "opcua_client_certificate_refused",
                audit=True,
                status=ua.StatusCode(ua.UInt32(exc.code)).name,
                subject=certificate.subject.rfc4514_string(),
                application_uri=description.ApplicationUri,
                thumbprint_sha1=thumbprint(certificate),
                copied_to=str(copy),
                trust_by_moving_it_to=str(self.trusted),
            )
            raise
