"""A throwaway federation PKI for development and tests.

One certificate authority signs a certificate per party. The party's name is the certificate's
subject common name, which is the identity a party's server checks, and its only subject
alternative name (a DNS name, or an IP address if the name is one), which is what a connecting
party verifies of the server it dials. Keys are generated when asked for, written with mode
0600 into the folder given, and never committed.
Production federations use their own CA.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["Identity", "create_ca", "issue"]

_VALIDITY = datetime.timedelta(days=30)
_CLOCK_SKEW = datetime.timedelta(minutes=5)


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


def create_ca(folder: Path, name: str = "mpcstats federation CA") -> Identity:
    """A new self-signed CA in ``folder`` (ca.pem, ca.key); its identity's ``cert`` is ``ca``."""
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _subject(name)
    cert = (
        _builder(subject, subject, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(signs_certificates=True), critical=True)
        .sign(key, hashes.SHA256())
    )
    ca = Identity(name, folder / "ca.pem", folder / "ca.pem", folder / "ca.key")
    _write(ca, cert, key)
    return ca


def issue(ca: Identity, name: str, folder: Path | None = None) -> Identity:
    """A certificate for party ``name`` signed by ``ca``, for TLS as server and as client.

    Written to ``folder`` (default: the CA's folder) as name.pem and name.key.
    """
    folder = folder or ca.cert.parent
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = serialization.load_pem_private_key(ca.key.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"{ca.key} is not a CA key made by create_ca")
    ca_cert = x509.load_pem_x509_certificate(ca.cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    roles = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    cert = (
        _builder(_subject(name), ca_cert.subject, key.public_key())
        .add_extension(x509.SubjectAlternativeName([_alternative_name(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(signs_certificates=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(roles), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    identity = Identity(name, ca.cert, folder / f"{name}.pem", folder / f"{name}.key")
    _write(identity, cert, key)
    return identity


def _alternative_name(name: str) -> x509.GeneralName:
    """How a client dialling ``name`` as a host finds it in the certificate."""
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _subject(name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    """Valid from a few minutes ago (clocks of federated sites differ) for ``_VALIDITY``."""
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + _VALIDITY)
    )


def _usage(*, signs_certificates: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not signs_certificates,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )


def _write(identity: Identity, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    """The certificate as PEM; the key as unencrypted PKCS#8, readable by its owner only from
    the moment the file exists."""
    identity.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    identity.key.unlink(missing_ok=True)
    descriptor = os.open(identity.key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)
