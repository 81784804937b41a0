"""A throwaway certificate authority for tests: a CA, server and client certificates as PEM files.

    ca = TestCA.create("credverify test CA")
    server = ca.issue_server(tmp_path / "server", hostnames=("localhost",))
    nmc = ca.issue_client(tmp_path / "gb-nmc", uri="urn:credverify:regulator:GB-NMC")

Keys are ECDSA P-256 (fast to make, accepted by every TLS stack); certificates are valid from an
hour ago for a day, so clock skew between processes never matters.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class IssuedFiles:
    """Where one certificate and its private key were written (PEM)."""

    cert: Path
    key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@dataclass(frozen=True)
class TestCA:
    """A self-signed CA that issues leaf certificates into files."""

    __test__ = False  # not a pytest test class despite its name

    name: str
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @classmethod
    def create(cls, name: str) -> TestCA:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(_name(name))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(name, key, certificate)

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def write(self, path: Path) -> Path:
        """Write the CA certificate (what a peer trusts) to ``path``; return it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.pem)
        return path

    def _issue(self, stem: Path, common_name: str, sans: list[x509.GeneralName],
               usage: x509.ObjectIdentifier) -> IssuedFiles:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                           critical=False)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        certificate = builder.sign(self.key, hashes.SHA256())
        stem.parent.mkdir(parents=True, exist_ok=True)
        files = IssuedFiles(cert=stem.with_suffix(".crt"), key=stem.with_suffix(".key"))
        files.cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        files.key.write_bytes(_key_pem(key))
        files.key.chmod(0o600)
        return files

    def issue_server(self, stem: Path, *, hostnames: tuple[str, ...] = ("localhost",),
                     addresses: tuple[str, ...] = ("127.0.0.1",)) -> IssuedFiles:
        """A server certificate for ``hostnames`` and IP ``addresses``, written to STEM.crt / STEM.key."""
        sans: list[x509.GeneralName] = [x509.DNSName(h) for h in hostnames]
        sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
        return self._issue(stem, hostnames[0] if hostnames else "server", sans, ExtendedKeyUsageOID.SERVER_AUTH)

    def issue_client(self, stem: Path, *, uri: str | None = None, common_name: str = "client",
                     more_uris: tuple[str, ...] = ()) -> IssuedFiles:
        """A client certificate with subject CN ``common_name`` and, when given, a URI SAN ``uri``
        (and ``more_uris`` after it)."""
        sans: list[x509.GeneralName] = [x509.UniformResourceIdentifier(u) for u in ((uri,) if uri else ()) + more_uris]
        return self._issue(stem, common_name, sans, ExtendedKeyUsageOID.CLIENT_AUTH)
