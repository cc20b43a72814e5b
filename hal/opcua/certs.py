"""Certificates of OPC UA applications, and the trust decision on a peer's.

Three jobs, each on top of `asyncua.crypto` (asyncua's own certificate
generator, trust store and validator are used, not copied):

- `generate_certificate` / `write_certificate`: a self-signed application
  instance certificate (OPC 10000-6 6.2.2: application URI and host names in
  subjectAltName, client and server use) with its RSA 2048 key. Tests and
  benches make theirs with it, and so will the station's own OPC UA server.
- `load_certificate` / `load_private_key`: PEM or DER files, every failure
  naming the file; `secure_client` puts a certificate and key on an asyncua
  client (Basic256Sha256, Sign or SignAndEncrypt).
- `ServerCertificateValidator`: the client's check of a server's certificate
  against a trust folder. Nothing is ever trusted automatically: the folder
  is read again at every connection attempt, so trusting a replaced device is
  one file copy by an engineer, and an untrusted or changed certificate is
  refused with `hal.errors.UntrustedCertificate` and an audit log line.
  `peer_validator` is the same check for a server validating its clients.

The trust folder holds `.der` / `.pem` certificates; anything else in it is
ignored (that is asyncua's TrustStore rule).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from ipaddress import ip_address
from pathlib import Path
from typing import Literal, TypeVar

import structlog
from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.utils import ServiceError
from asyncua.crypto import cert_gen
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from asyncua.crypto.truststore import TrustStore
from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from hal.errors import DeviceError, UntrustedCertificate

log = structlog.get_logger(__name__)

T = TypeVar("T")

TRUSTED_SUFFIXES = (".der", ".pem")
"""Files of a trust folder that are read as certificates."""


@dataclass(frozen=True)
class CertificateFiles:
    """Where a generated certificate (DER) and its private key (PEM, unencrypted) were written."""

    certificate: Path
    private_key: Path


def generate_certificate(
    application_uri: str,
    *,
    hostnames: Sequence[str] = (),
    days: int = 365,
) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """A new key and a self-signed certificate for `application_uri`, usable by a
    client and by a server. The host's name, `localhost` and 127.0.0.1 are always
    in subjectAltName (asyncua warns when the host name is missing)."""
    key = cert_gen.generate_private_key()
    names = dict.fromkeys([*hostnames, socket.gethostname(), "localhost", "127.0.0.1"])
    alt_names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(application_uri)]
    for name in names:
        try:
            alt_names.append(x509.IPAddress(ip_address(name)))
        except ValueError:
            alt_names.append(x509.DNSName(name))
    certificate = cert_gen.generate_self_signed_app_certificate(
        key,
        application_uri,
        {},
        alt_names,
        extended=[ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH],
        days=days,
    )
    return certificate, key


def write_certificate(
    directory: Path, name: str, application_uri: str, *, hostnames: Sequence[str] = ()
) -> CertificateFiles:
    """Generate a certificate and key into `directory` as NAME.der and NAME.key.pem."""
    certificate, key = generate_certificate(application_uri, hostnames=hostnames)
    directory.mkdir(parents=True, exist_ok=True)
    files = CertificateFiles(directory / f"{name}.der", directory / f"{name}.key.pem")
    files.certificate.write_bytes(certificate.public_bytes(serialization.Encoding.DER))
    files.private_key.touch(mode=0o600)
    files.private_key.write_bytes(cert_gen.dump_private_key_as_pem(key))
    return files


def _load(path: Path, what: str, pem: Callable[[bytes], T], der: Callable[[bytes], T]) -> T:
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{what} {path}: {exc.strerror or exc}") from exc
    try:
        return pem(content) if content.lstrip().startswith(b"-----BEGIN") else der(content)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{what} {path}: not a PEM or DER {what} ({exc})") from exc


def load_certificate(path: Path) -> x509.Certificate:
    """A certificate from a PEM or DER file (ValueError naming the file)."""
    return _load(
        path, "certificate", x509.load_pem_x509_certificate, x509.load_der_x509_certificate
    )


def load_private_key(path: Path) -> rsa.RSAPrivateKey:
    """An unencrypted RSA private key from a PEM or DER file (ValueError naming the file)."""
    key = _load(
        path,
        "private key",
        lambda content: serialization.load_pem_private_key(content, password=None),
        lambda content: serialization.load_der_private_key(content, password=None),
    )
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"private key {path}: OPC UA needs an RSA key (got {type(key).__name__})")
    return key


def der(certificate: x509.Certificate) -> bytes:
    """The DER encoding, as OPC UA puts a certificate on the wire."""
    return certificate.public_bytes(serialization.Encoding.DER)


def der_private_key(key: rsa.RSAPrivateKey) -> bytes:
    """The key as unencrypted PKCS#8 DER, the form asyncua loads from bytes."""
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def application_uri(certificate: x509.Certificate) -> str:
    """The application URI of an OPC UA application certificate (its URI subjectAltName)."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        uris: list[str] = []
    else:
        uris = san.value.get_values_for_type(x509.UniformResourceIdentifier)
    if not uris:
        raise ValueError(
            f"certificate {certificate.subject.rfc4514_string()}: no application URI in "
            "subjectAltName (OPC UA needs one)"
        )
    return uris[0]


async def secure_client(
    client: Client, certificate: Path, private_key: Path, mode: Literal["Sign", "SignAndEncrypt"]
) -> None:
    """Set Basic256Sha256 with this certificate and key on an asyncua client, before
    `connect()`; the client's application URI becomes the certificate's (servers
    check that they match). ValueError names a file that cannot be used.

    asyncua takes the server's certificate from GetEndpoints here: it is trusted
    only if the client's `certificate_validator` (`ServerCertificateValidator`)
    accepts it in CreateSession, which comes before any password is sent."""
    client_certificate = load_certificate(certificate)
    key = load_private_key(private_key)
    client.application_uri = application_uri(client_certificate)
    await client.set_security(
        SecurityPolicyBasic256Sha256,
        certificate=der(client_certificate),
        private_key=der_private_key(key),
        mode=getattr(ua.MessageSecurityMode, mode),
    )


def thumbprint(certificate: x509.Certificate) -> str:
    """SHA-1 thumbprint in hex, the form OPC UA tools show and trust lists are named by."""
    return certificate.fingerprint(hashes.SHA1()).hex()


def trusted_files(trust_dir: Path) -> list[Path]:
    """The certificate files of a trust folder (ValueError if it is not a folder)."""
    if not trust_dir.is_dir():
        raise ValueError(f"trust_dir {trust_dir}: not a directory")
    return sorted(p for p in trust_dir.iterdir() if p.suffix.lower() in TRUSTED_SUFFIXES)


def keep_newest(folder: Path, keep: int) -> None:
    """Remove the oldest files of `folder` (by modification time) beyond `keep`
    (blocking I/O: run it in a thread)."""
    files = sorted((p for p in folder.iterdir() if p.is_file()), key=lambda p: p.stat().st_mtime_ns)
    for old in files[: max(0, len(files) - keep)]:
        old.unlink(missing_ok=True)


async def load_trust_store(trust_dir: Path) -> TrustStore:
    """asyncua's TrustStore over `trust_dir`, read now. An empty folder trusts nothing
    (asyncua cannot build an empty store: the store is then left unloaded, which
    its `is_trusted` answers with False)."""
    store = TrustStore([trust_dir], [])
    if trusted_files(trust_dir):
        await store.load_trust()
    return store


def _options(peer: Literal["server", "client"]) -> CertificateValidatorOptions:
    role = (
        CertificateValidatorOptions.PEER_SERVER
        if peer == "server"
        else CertificateValidatorOptions.PEER_CLIENT
    )
    # TRUSTED_VALIDATION: validity dates, application URI, key usage, and the
    # certificate (or its issuer) present in the trust folder.
    return CertificateValidatorOptions.TRUSTED_VALIDATION | role


async def peer_validator(
    trust_dir: Path, peer: Literal["server", "client"]
) -> CertificateValidator:
    """asyncua's validator of a `peer`'s certificate against `trust_dir`. A server
    sets it with `Server.set_certificate_validator`: a refused client gets the
    OPC UA status (BadCertificateUntrusted ...) in its CreateSession response."""
    return CertificateValidator(_options(peer), await load_trust_store(trust_dir))


class ServerCertificateValidator:
    """The client's certificate check (asyncua `Client.certificate_validator`).

    asyncua calls it in CreateSession with the certificate the server has just
    proved it holds the key of, before any user credential is sent. A refusal
    raises `UntrustedCertificate` (asyncua lets it through unchanged) after an
    audit line with the subject, URI and thumbprint, so the engineer can decide
    whether to trust the certificate.
    """

    def __init__(self, device: str, url: str, trust_dir: Path) -> None:
        self.device = device
        self.url = url
        self.trust_dir = trust_dir
        self._validator: CertificateValidator | None = None
        self.refused: UntrustedCertificate | None = None
        """The refusal of the last validation, if it refused."""

    async def reload(self) -> None:
        """Read the trust folder again (at every connection attempt)."""
        try:
            self._validator = await peer_validator(self.trust_dir, "server")
        except ValueError as exc:
            raise DeviceError(self.device, str(exc)) from exc

    async def __call__(
        self, certificate: x509.Certificate, description: ua.ApplicationDescription
    ) -> None:
        if self._validator is None:
            await self.reload()
        assert self._validator is not None
        try:
            await self._validator.validate(certificate, description)
        except Exception as exc:  # every failure of validation is a refusal, never a pass
            # asyncua reports "not trusted" as a ServiceError; a certificate whose issuer
            # name matches a trusted one but whose signature does not (a changed key with
            # the same subject) fails inside `cryptography` with its own VerificationError.
            status = (
                ua.StatusCode(ua.UInt32(exc.code)).name
                if isinstance(exc, ServiceError)
                else f"{type(exc).__name__}: {exc}"
            )
            self.refused = UntrustedCertificate(
                self.device,
                f"server certificate {certificate.subject.rfc4514_string()} "
                f"(SHA-1 {thumbprint(certificate)}) refused: {status}; trust it by copying it "
                f"into {self.trust_dir}",
            )
            log.error(
                "opcua_server_certificate_refused",
                audit=True,
                device=self.device,
                url=self.url,
                status=status,
                subject=certificate.subject.rfc4514_string(),
                application_uri=description.ApplicationUri,
                thumbprint_sha1=thumbprint(certificate),
                not_after=certificate.not_valid_after_utc.isoformat(),
                trust_dir=str(self.trust_dir),
            )
            raise self.refused from exc
        self.refused = None
