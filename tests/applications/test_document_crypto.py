"""Documents (ID-card images, selfies) are envelope-encrypted: a data key per document, wrapped by the
keyring's current key; after a key rotation the old documents still open (the previous key kept)."""

import base64
import os

import pytest

from openlend.applications import service
from openlend.customers import crypto


def test_round_trip_and_tamper():
    data = os.urandom(5000)
    blob, kid = service.encrypt_bytes(data)
    assert data not in blob and service.decrypt_bytes(blob, kid) == data
    other, _ = service.encrypt_bytes(data)
    assert other != blob                     # a fresh data key and nonce each time
    bad = bytearray(blob)
    bad[-1] ^= 1
    with pytest.raises(Exception):
        service.decrypt_bytes(bytes(bad), kid)


def test_rotation_keeps_old_documents_readable(monkeypatch):
    data = b"selfie bytes"
    blob, kid = service.encrypt_bytes(data)
    old = os.environ["OPENLEND_DATA_KEY"]
    monkeypatch.setenv("OPENLEND_DATA_KEY", base64.b64encode(b"n" * 32).decode())
    monkeypatch.setenv("OPENLEND_DATA_KEYS_PREVIOUS", old)
    new_blob, new_kid = service.encrypt_bytes(data)
    assert new_kid != kid and crypto.keyring().current_id == new_kid
    assert service.decrypt_bytes(blob, kid) == data and service.decrypt_bytes(new_blob, new_kid) == data
