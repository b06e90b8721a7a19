"""Ed25519 keys and bundle signatures: ``localreg keygen``, ``export --sign``, ``import --trust``."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AlreadyExists, InvalidInput, NotFound
from .common import INDEX, SIGNATURE, MissingDependency, SignatureError

if TYPE_CHECKING:
    pass


# -- keys and signatures ------------------------------------------------------------------


def _crypto():
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise MissingDependency(
            "signing and checking bundles needs the 'cryptography' package: pip install 'localreg[sign]'"
        ) from None
    return serialization, ed25519


def _raw_public(key: Any) -> bytes:
    serialization, _ = _crypto()
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(public_raw: bytes) -> str:
    """The OpenSSH-style fingerprint of an Ed25519 public key (``ssh-keygen -l`` prints the same)."""
    blob = b"".join(len(p).to_bytes(4, "big") + p for p in (b"ssh-ed25519", public_raw))
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def keygen(path: str | os.PathLike) -> tuple[Path, Path, str]:
    """Write a new Ed25519 private key to ``path`` (mode 0600, PEM) and its public key to ``path.pub``.

    Returns ``(private path, public path, fingerprint)``. Refuses
    (:class:`AlreadyExists`) to overwrite either file.
    """
    serialization, ed25519 = _crypto()
    priv_path = Path(path)
    pub_path = Path(f"{path}.pub")
    for p in (priv_path, pub_path):
        if p.exists():
            raise AlreadyExists(f"{p} already exists; remove it or choose another path")
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    pub = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    try:
        fd = os.open(priv_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise AlreadyExists(f"{priv_path} already exists; remove it or choose another path") from None
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    os.chmod(priv_path, 0o600)  # whatever the umask
    with open(pub_path, "xb") as f:
        f.write(pub + b" localreg\n")
    return priv_path, pub_path, fingerprint(_raw_public(key.public_key()))


def _read_key_file(path: str | os.PathLike, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(1 << 16)
    except FileNotFoundError:
        raise NotFound(f"{what} {str(path)!r} not found", str(path)) from None
    except IsADirectoryError:
        raise InvalidInput(f"{what} {str(path)!r} is a folder, not a key file") from None
    except PermissionError:
        raise InvalidInput(f"cannot read {what} {str(path)!r}: permission denied") from None


def _load_private(key: Any) -> Any:
    serialization, ed25519 = _crypto()
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    data = _read_key_file(key, "signing key")
    loaded = None
    errors = []
    for load in (serialization.load_pem_private_key, serialization.load_ssh_private_key):
        try:
            loaded = load(data, password=None)
            break
        except Exception as e:  # each loader raises its own kinds for a format it does not read
            errors.append(str(e))
    if loaded is None:
        hint = " (it is encrypted: localreg needs an unencrypted key)" if any("encrypt" in e.lower() or "password" in e.lower() for e in errors) else ""
        raise InvalidInput(f"signing key {str(key)!r} is not a PEM or OpenSSH private key{hint}")
    if not isinstance(loaded, ed25519.Ed25519PrivateKey):
        raise InvalidInput(f"signing key {str(key)!r} is not an Ed25519 key (make one with 'localreg keygen')")
    return loaded


def _load_public(key: Any) -> Any:
    serialization, ed25519 = _crypto()
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.public_key()
    data = _read_key_file(key, "trusted key")
    loaded = None
    for load in (serialization.load_ssh_public_key, serialization.load_pem_public_key):
        try:
            loaded = load(data.strip())
            break
        except Exception:
            continue
    if loaded is None:
        raise InvalidInput(f"trusted key {str(key)!r} is not an OpenSSH or PEM public key")
    if not isinstance(loaded, ed25519.Ed25519PublicKey):
        raise InvalidInput(f"trusted key {str(key)!r} is not an Ed25519 key")
    return loaded


def _sign(private: Any, index: bytes) -> bytes:
    doc = {
        "algorithm": "ed25519",
        "key": base64.b64encode(_raw_public(private.public_key())).decode(),
        "signature": base64.b64encode(private.sign(index)).decode(),
    }
    return (json.dumps(doc, sort_keys=True, indent=1) + "\n").encode()


def _check_signature(path: str, sig: bytes | None, index: bytes, trust: Sequence[Any]) -> str:
    """The fingerprint of the trusted key that signed ``index``, else :class:`SignatureError`."""
    from cryptography.exceptions import InvalidSignature

    keys = {_raw_public(k): k for k in (_load_public(t) for t in trust)}
    trusted = ", ".join(sorted(fingerprint(r) for r in keys))
    if sig is None:
        raise SignatureError(f"bundle {path} is not signed; a signature by {trusted} is required", path)
    try:
        doc = json.loads(sig)
        if not isinstance(doc, dict) or doc.get("algorithm") != "ed25519":
            raise ValueError("not an ed25519 signature")
        raw = base64.b64decode(doc["key"], validate=True)
        signature = base64.b64decode(doc["signature"], validate=True)
    except (ValueError, KeyError, TypeError):
        raise SignatureError(f"bundle {path}: {SIGNATURE} is not a valid signature", path) from None
    key = keys.get(raw)
    if key is None:
        raise SignatureError(
            f"bundle {path} is signed by key {fingerprint(raw)}, which is not trusted (trusted: {trusted})", path
        )
    try:
        key.verify(signature, index)
    except InvalidSignature:
        raise SignatureError(
            f"bundle {path}: the signature by {fingerprint(raw)} does not match {INDEX}: "
            "the bundle was altered after it was signed", path
        ) from None
    return fingerprint(raw)
