"""Signed bundle manifests: Ed25519, in minisign's public-key and signature formats.

A bundle's ``manifest.json`` lists the SHA-256 of every file, so a signature over the manifest
covers the whole bundle. The signature lies next to it as ``manifest.json.minisig``. A screening
programme signs the bundles it approves; a clinic that sets ``EDGE_SCREEN_TRUSTED_KEYS`` (a public
key file, or a folder of ``*.pub`` files) loads only bundles signed by one of those keys.

Formats (https://jedisct1.github.io/minisign/): a public key is ``"Ed" || key id (8 bytes) ||
Ed25519 public key (32)`` in base64 under an "untrusted comment" line; a signature file holds
``"ED" || key id || Ed25519 signature of BLAKE2b-512(file)`` (``"Ed"``: of the file itself), a
trusted comment and a global signature over ``signature || trusted comment``. So bundles signed
with the ``minisign`` tool verify here, and ``minisign -Vm manifest.json -p key.pub`` verifies
bundles signed here. The secret key file written by :func:`generate_keypair` is edge-screen's own
(JSON, mode 0600), not minisign's encrypted format.

Needs the ``sign`` extra (``cryptography``) for signing and verifying; nothing else does.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_screen.errors import BundleError, UsageError

SIGNATURE_SUFFIX = ".minisig"
TRUSTED_KEYS_ENV = "EDGE_SCREEN_TRUSTED_KEYS"
_PK_ALG = b"Ed"
_SIG_PREHASHED = b"ED"
_SIG_LEGACY = b"Ed"


def _ed25519() -> Any:
    try:
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as exc:
        raise UsageError("signing and verifying bundles needs the 'cryptography' package: "
                         "pip install 'edge-screen[sign]'") from exc
    return ed25519


@dataclass(frozen=True)
class PublicKey:
    """A minisign-format Ed25519 public key: ``key_id`` (8 bytes) and the 32-byte key."""

    key_id: bytes
    key: bytes
    source: str = ""

    @property
    def key_id_hex(self) -> str:
        """The key id as minisign prints it (upper-case hex of the little-endian id)."""
        return self.key_id[::-1].hex().upper()

    def to_text(self) -> str:
        b64 = base64.b64encode(_PK_ALG + self.key_id + self.key).decode()
        return f"untrusted comment: minisign public key {self.key_id_hex}\n{b64}\n"


def read_public_key(path: str | os.PathLike) -> PublicKey:
    """Parse a minisign public key file (or a file whose only line is the base64 key)."""
    p = Path(path)
    try:
        lines = [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read public key {str(p)!r}: {exc}") from exc
    lines = [ln for ln in lines if not ln.startswith("untrusted comment:")]
    try:
        raw = base64.b64decode(lines[0], validate=True) if lines else b""
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 42 or raw[:2] != _PK_ALG:
        raise UsageError(f"{str(p)!r} is not a minisign Ed25519 public key (expected one base64 line "
                         "starting with 'RW' under an 'untrusted comment:' line)")
    return PublicKey(raw[2:10], raw[10:], str(p))


def trusted_keys_from_env() -> list[PublicKey] | None:
    """The keys named by ``EDGE_SCREEN_TRUSTED_KEYS`` (a .pub file or a folder of them), or None."""
    value = os.environ.get(TRUSTED_KEYS_ENV, "").strip()
    if not value:
        return None
    p = Path(value).expanduser()
    files = sorted(p.glob("*.pub")) if p.is_dir() else [p]
    if not files or not all(f.is_file() for f in files):
        raise BundleError(f"{TRUSTED_KEYS_ENV}={value!r} names no public key file (a .pub file, or a folder "
                          "holding *.pub files); fix the setting: only signed bundles may be loaded")
    return [read_public_key(f) for f in files]


def generate_keypair(secret_path: str | os.PathLike, public_path: str | os.PathLike) -> PublicKey:
    """Write a new Ed25519 key pair: the secret key as JSON (mode 0600), the public key in minisign format."""
    ed = _ed25519()
    from cryptography.hazmat.primitives import serialization

    sk = ed.Ed25519PrivateKey.generate()
    raw_sk = sk.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                              serialization.NoEncryption())
    raw_pk = sk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key_id = secrets.token_bytes(8)
    spath, ppath = Path(secret_path), Path(public_path)
    for p in (spath, ppath):
        if p.exists():
            raise UsageError(f"{str(p)!r} exists; refusing to overwrite a key")
    spath.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(spath, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"format": "edge-screen-ed25519-secret-key/1", "key_id": key_id.hex(),
                   "secret_key": base64.b64encode(raw_sk).decode()}, f)
    pub = PublicKey(key_id, raw_pk, str(ppath))
    ppath.parent.mkdir(parents=True, exist_ok=True)
    ppath.write_text(pub.to_text(), encoding="utf-8")
    return pub


def _read_secret_key(path: str | os.PathLike) -> tuple[bytes, Any]:
    ed = _ed25519()
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        key_id = bytes.fromhex(doc["key_id"])
        raw = base64.b64decode(doc["secret_key"], validate=True)
        if doc.get("format") != "edge-screen-ed25519-secret-key/1" or len(key_id) != 8 or len(raw) != 32:
            raise ValueError("unexpected format")
    except (OSError, ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise UsageError(f"{str(path)!r} is not an edge-screen secret key (edge-screen bundle keygen "
                         f"writes one): {exc}") from exc
    return key_id, ed.Ed25519PrivateKey.from_private_bytes(raw)


def sign_file(path: str | os.PathLike, secret_key: str | os.PathLike, *, comment: str = "") -> Path:
    """Sign ``path`` (prehashed, minisign's default) and write ``path + .minisig``; returns it."""
    key_id, sk = _read_secret_key(secret_key)
    data = Path(path).read_bytes()
    sig = sk.sign(hashlib.blake2b(data, digest_size=64).digest())
    stamp = int(_dt.datetime.now(_dt.timezone.utc).timestamp())
    trusted = f"timestamp:{stamp}\tfile:{Path(path).name}" + (f"\t{comment}" if comment else "")
    if "\n" in trusted:
        raise UsageError("a signature comment must be one line")
    global_sig = sk.sign(sig + trusted.encode())
    out = Path(str(path) + SIGNATURE_SUFFIX)
    out.write_text(
        "untrusted comment: signature from edge-screen secret key\n"
        + base64.b64encode(_SIG_PREHASHED + key_id + sig).decode() + "\n"
        + f"trusted comment: {trusted}\n"
        + base64.b64encode(global_sig).decode() + "\n", encoding="utf-8")
    return out


@dataclass(frozen=True)
class Verification:
    """A valid signature: which key made it and its trusted comment."""

    key: PublicKey
    trusted_comment: str


def verify_file(path: str | os.PathLike, keys: list[PublicKey]) -> Verification:
    """Check ``path + .minisig`` against ``keys``; BundleError says what is wrong (missing, unknown key, bad)."""
    ed = _ed25519()
    from cryptography.exceptions import InvalidSignature

    target = Path(path)
    sig_path = Path(str(target) + SIGNATURE_SUFFIX)
    if not sig_path.is_file():
        raise BundleError(f"{target.name} is not signed (no {sig_path.name}); only bundles signed by a "
                          f"trusted key may be loaded here ({TRUSTED_KEYS_ENV})")
    try:
        lines = sig_path.read_text(encoding="utf-8").splitlines()
        blob = base64.b64decode(lines[1], validate=True)
        trusted_line = lines[2]
        global_sig = base64.b64decode(lines[3], validate=True)
    except (OSError, UnicodeDecodeError, IndexError, binascii.Error, ValueError) as exc:
        raise BundleError(f"{sig_path} is not a minisign signature file: {exc}") from exc
    prefix = "trusted comment: "
    if len(blob) != 74 or blob[:2] not in (_SIG_PREHASHED, _SIG_LEGACY) or not trusted_line.startswith(prefix) \
            or len(global_sig) != 64:
        raise BundleError(f"{sig_path} is not a minisign Ed25519 signature file")
    alg, key_id, sig = blob[:2], blob[2:10], blob[10:]
    trusted = trusted_line[len(prefix):]
    key = next((k for k in keys if k.key_id == key_id), None)
    if key is None:
        have = ", ".join(k.key_id_hex for k in keys) or "none"
        raise BundleError(f"{target.name} is signed by key {key_id[::-1].hex().upper()}, which is not trusted "
                          f"here (trusted: {have})")
    data = target.read_bytes()
    message = hashlib.blake2b(data, digest_size=64).digest() if alg == _SIG_PREHASHED else data
    pk = ed.Ed25519PublicKey.from_public_bytes(key.key)
    try:
        pk.verify(sig, message)
        pk.verify(global_sig, sig + trusted.encode())
    except InvalidSignature:
        raise BundleError(f"{target.name} fails its signature check against key {key.key_id_hex}: the file "
                          "was modified after signing (or the signature file was). Re-download the bundle "
                          "from your programme") from None
    return Verification(key, trusted)
