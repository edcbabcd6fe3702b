"""HTTPS for `--useHttps`, as Core Tools offers it: the certificate from `--cert FILE.pfx
--password PW` (the password itself, or a file that holds it), else a self-signed certificate
for localhost made at start.

uvicorn (Python's `ssl`) reads a PEM file, so the pfx's key and chain are written to a private
temporary file (mode 0600) that lives only until the server has loaded it: `remove()` runs
right after, and at exit in case the server never got that far. The password is never logged,
and no message repeats it. Needs the `cryptography` package (the `https` extra).
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import ipaddress
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from funcpy.host.errors import FuncPyError

INSTALL_HINT = "pip install 'func-py[https]' (or: pip install cryptography)"


class CertificateError(FuncPyError):
    """The --cert file cannot be used."""


@dataclass
class TlsFiles:
    """The PEM file (key first, then the certificate chain) uvicorn loads."""

    path: str
    description: str
    _removed: bool = field(default=False, repr=False)

    def remove(self) -> None:
        if not self._removed:
            self._removed = True
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
    except ImportError:
        raise FuncPyError(f"--useHttps needs the 'cryptography' package: {INSTALL_HINT}") \
            from None
    return serialization


def _password(value: str | None) -> bytes | None:
    """Core Tools' rule: a value naming an existing file is that file's content."""
    if value is None:
        return None
    path = Path(value)
    try:
        if path.is_file():
            return path.read_text(encoding="utf-8-sig").strip("\r\n").encode()
    except OSError:
        pass  # not readable as a file: it is the password itself
    return value.encode()


def _from_pfx(cert: Path, password: str | None) -> tuple[Any, list[Any]]:
    _crypto()
    from cryptography.hazmat.primitives.serialization import pkcs12

    try:
        data = cert.read_bytes()
    except OSError as exc:
        raise CertificateError(f"Cannot read the certificate file {cert}: "
                               f"{exc.strerror or exc}") from None
    try:
        key, leaf, extra = pkcs12.load_key_and_certificates(data, _password(password))
    except ValueError:
        # The message says which of the two without echoing the password.
        why = "the --password is wrong" if password else "it needs a --password"
        raise CertificateError(
            f"Cannot open the certificate file {cert}: {why}, or it is not a PKCS#12 (.pfx) "
            "file") from None
    if key is None or leaf is None:
        raise CertificateError(f"The certificate file {cert} holds no "
                               f"{'private key' if key is None else 'certificate'}: export "
                               "the certificate with its private key")
    return key, [leaf, *extra]


def _self_signed() -> tuple[Any, list[Any]]:
    _crypto()
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
             x509.IPAddress(ipaddress.ip_address("::1"))]
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return key, [cert]


def prepare_tls(cert: str | None, password: str | None, app_dir: Path) -> TlsFiles:
    """Read the certificate (or make one) and write the PEM file uvicorn will load."""
    serialization = _crypto()
    if cert:
        path = Path(cert)
        if not path.is_absolute() and not path.exists():
            path = app_dir / path  # Core Tools runs from the script root
        key, chain = _from_pfx(path, password)
        description = f"the certificate in {path}"
    else:
        key, chain = _self_signed()
        description = ("a self-signed certificate for localhost made at start (clients do not "
                       "trust it; pass --cert FILE.pfx --password PW to use your own)")
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    pem += b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
    fd, name = tempfile.mkstemp(prefix="func-py-tls-", suffix=".pem")  # created 0600
    files = TlsFiles(name, description)
    atexit.register(files.remove)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return files
