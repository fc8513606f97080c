"""The applicant's documents the application-flow test and bench/bench_decisions.py send: a rendered
ID card (an invented holder with the NASA astronaut's public-domain portrait in it, shipped with the
face tests' data) and a selfie of the same face (``tests/`` is on sys.path through the root conftest;
the bench puts it there itself)."""

from __future__ import annotations

import base64
import io
from pathlib import Path

FACES = Path(__file__).resolve().parent / "identity" / "face_data"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def card_images(name: str, number: str) -> tuple[bytes, bytes]:
    """A rendered card (front, back) for an invented holder with the astronaut's portrait in it."""
    from PIL import Image

    from openlend.identity import render

    holder = render.holder_for(name, number)
    face = Image.open(FACES / "astronaut.jpg").crop((140, 20, 380, 330))
    return render.to_bytes(render.front_with_portrait(holder, face)), render.to_bytes(render.render_back(holder))


def selfie() -> bytes:
    from PIL import Image

    im = Image.open(FACES / "astronaut.jpg").convert("RGB").resize((400, 400))
    out = io.BytesIO()
    im.save(out, "JPEG", quality=90)
    return out.getvalue()
