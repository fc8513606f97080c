"""Field encryption for personal data (the PRC resident ID number): AES-256-GCM with a key id, plus a
keyed HMAC-SHA256 for look-up and uniqueness.

Keys
    ``OPENLEND_DATA_KEY``: the data key, 32 random bytes in base64 (``openssl rand -base64 32``).
    Two sub-keys are derived from it with HKDF-SHA256: the AES-256-GCM key and the HMAC key, so the
    one secret never serves two algorithms.  Its *key id* (``dk_`` + 12 hex digits of a hash of
    the key) is stored beside each ciphertext, so keys can rotate: set the new key as
    ``OPENLEND_DATA_KEY`` and the old ones in ``OPENLEND_DATA_KEYS_PREVIOUS`` (comma-separated);
    new rows are written under the new key, old rows still decrypt, and a re-encryption job can
    move them over at leisure.

    The look-up hash must not change when the data key rotates (it is what finds a customer and
    keeps one customer per person), so it uses ``OPENLEND_LOOKUP_KEY`` when that is set and
    otherwise the HMAC key derived from the *oldest* data key given (the last of
    ``OPENLEND_DATA_KEYS_PREVIOUS``, else ``OPENLEND_DATA_KEY``): rotating keeps it as long as the
    first key stays in the previous list.

    Without ``OPENLEND_DATA_KEY`` a sandbox (``OPENLEND_LIVEMODE`` false: demo and tests) generates
    a key once and keeps it, mode 0600, in the data directory (``<data dir>/data_key``), as
    ``serve --demo`` does with the admin token; live mode refuses to start without a key.

What is stored
    ``nonce (12 bytes) || ciphertext || tag (16 bytes)``; the key id goes into the associated
    data, so a ciphertext cannot be passed off under another key id.  Nothing here logs or raises
    with a plaintext in it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..settings import get_settings

_ENC_INFO = b"openlend/field-encryption/aes-256-gcm/v1"
_MAC_INFO = b"openlend/lookup-hash/hmac-sha256/v1"
_NONCE = 12


class DataKeyError(RuntimeError):
    """A data key that is missing or malformed (a configuration error, never user input)."""


def _decode_key(text: str, name: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise DataKeyError(f"{name} is not valid base64") from None
    if len(raw) != 32:
        raise DataKeyError(f"{name} must be 32 bytes (base64 of 32 random bytes); it has {len(raw)}")
    return raw


def _derive(key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key)


def key_id(key: bytes) -> str:
    return "dk_" + hashlib.sha256(b"openlend key id\x00" + key).hexdigest()[:12]


@dataclass(frozen=True)
class Keyring:
    current_id: str
    aead: dict[str, AESGCM]   # key id -> cipher (the current key and the previous ones)
    mac_key: bytes

    def encrypt(self, plaintext: str) -> tuple[bytes, str]:
        """``(nonce || ciphertext || tag, key id)`` under the current key."""
        nonce = os.urandom(_NONCE)
        ct = self.aead[self.current_id].encrypt(nonce, plaintext.encode(), self.current_id.encode())
        return nonce + ct, self.current_id

    def decrypt(self, blob: bytes, kid: str) -> str:
        cipher = self.aead.get(kid)
        if cipher is None:
            raise DataKeyError(f"no data key with id {kid} is configured (OPENLEND_DATA_KEYS_PREVIOUS?)")
        try:
            return cipher.decrypt(bytes(blob[:_NONCE]), bytes(blob[_NONCE:]), kid.encode()).decode()
        except InvalidTag:
            raise DataKeyError(f"a value encrypted under {kid} failed authentication") from None

    def lookup_hash(self, normalised: str, purpose: str = "id_number") -> bytes:
        """The keyed hash of a normalised value (32 bytes); ``purpose`` separates the fields."""
        return hmac.new(self.mac_key, purpose.encode() + b"\x00" + normalised.encode(), hashlib.sha256).digest()


_lock = threading.Lock()
_cache: dict[tuple, Keyring] = {}


def _sandbox_key(data_dir: Path) -> str:
    """The sandbox's generated key: created once, kept mode 0600 in the data directory."""
    path = data_dir / "data_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    text = base64.b64encode(os.urandom(32)).decode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:   # another process made it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")
    return text


def keyring() -> Keyring:
    """The keys from the environment (cached per configuration)."""
    s = get_settings()
    current = os.environ.get("OPENLEND_DATA_KEY", "").strip()
    previous = os.environ.get("OPENLEND_DATA_KEYS_PREVIOUS", "").strip()
    lookup = os.environ.get("OPENLEND_LOOKUP_KEY", "").strip()
    cache_key = (current, previous, lookup, s.livemode, str(s.data_dir))
    with _lock:
        ring = _cache.get(cache_key)
        if ring is not None:
            return ring
        if not current:
            if s.livemode:
                raise DataKeyError("OPENLEND_DATA_KEY must be set in live mode (base64 of 32 random bytes)")
            current = _sandbox_key(s.data_dir)
        keys = [_decode_key(current, "OPENLEND_DATA_KEY")]
        keys += [_decode_key(k, "OPENLEND_DATA_KEYS_PREVIOUS") for k in previous.split(",") if k.strip()]
        mac = _decode_key(lookup, "OPENLEND_LOOKUP_KEY") if lookup else _derive(keys[-1], _MAC_INFO)
        ring = Keyring(current_id=key_id(keys[0]),
                       aead={key_id(k): AESGCM(_derive(k, _ENC_INFO)) for k in keys},
                       mac_key=mac)
        _cache[cache_key] = ring
        return ring
