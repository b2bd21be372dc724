"""A throwaway federation PKI for development and tests (``mpcstats certs``).

One certificate authority signs a certificate per party and per analyst. The party's name is the
certificate's common name and its DNS subject alternative name, and it is the identity the
daemons check. Keys are generated when asked for, written with mode 0600, and never committed.
Production federations use their own CA.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["Identity", "create_ca", "issue"]

_VALIDITY = datetime.timedelta(days=30)


@dataclass(frozen=True)
class Identity:
    """The files of one certificate: its name, the CA certificate, its certificate and key."""

    name: str
    ca: Path
    cert: Path
    key: Path

    def credentials(self) -> tuple[bytes, bytes, bytes]:
        """(CA certificate, private key, certificate) as PEM bytes, in grpc's argument order."""
        return self.ca.read_bytes(), self.key.read_bytes(), self.cert.read_bytes()


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def create_ca(folder: Path, name: str = "mpcstats federation CA") -> Identity:
    """A new self-signed CA in ``folder`` (ca.pem, ca.key)."""
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(minutes=5))
        .not_valid_after(_now() + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    (folder / "ca.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, folder / "ca.key")
    return Identity(name, folder / "ca.pem", folder / "ca.pem", folder / "ca.key")


def issue(ca: Identity, name: str, folder: Path | None = None) -> Identity:
    """A certificate for party or analyst ``name``, signed by ``ca`` (name.pem, name.key).

    It is valid for TLS as server and client, for the DNS name ``name``, localhost and the
    loopback addresses, so daemons on one machine can reach each other in tests.
    """
    folder = folder or ca.cert.parent
    ca_key = serialization.load_pem_private_key(ca.key.read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(ca.cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(name), x509.DNSName("localhost")]
    names += [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(minutes=5))
        .not_valid_after(_now() + _VALIDITY)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    (folder / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, folder / f"{name}.key")
    return Identity(name, ca.cert, folder / f"{name}.pem", folder / f"{name}.key")
