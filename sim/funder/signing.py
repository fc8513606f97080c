"""The bank's side of the signature scheme (its own copy: a real bank does not import openlend).

A request (and a callback, which is a request the bank makes) is signed over::

    METHOD "\n" PATH "\n" TIMESTAMP "\n" NONCE "\n" hex(sha256(BODY))

and a response over::

    STATUS "\n" REQUEST_NONCE "\n" TIMESTAMP "\n" NONCE "\n" hex(sha256(BODY))

with HMAC-SHA256 and the partner's shared secret, hex in ``X-Signature``; ``X-Timestamp`` is Unix
seconds and ``X-Nonce`` 16 to 64 characters ``[A-Za-z0-9_-]``.  PATH includes the query string.
Binding the response to the request's nonce means an old signed answer cannot be passed off as the
answer to a new request.
"""

from __future__ import annotations

import hashlib
import hmac
import re

NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def request_string(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    return "\n".join([method.upper(), path, timestamp, nonce, hashlib.sha256(body).hexdigest()]).encode()


def response_string(status: int, request_nonce: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    return "\n".join([str(status), request_nonce, timestamp, nonce, hashlib.sha256(body).hexdigest()]).encode()


def sign(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(secret: str, message: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, message), signature.strip().lower())
