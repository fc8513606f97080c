"""An SMS centre (SMSC) stand-in speaking SMPP 3.4, run as its own process::

    python -m sim.smsc --port 2775 --messages var/smsc-messages.jsonl

Every message it accepts is appended as one JSON line to the messages file (``id``, ``to``,
``from``, ``text``, ``data_coding``, ``part_ids``, ``status``, ``received_at``): that file is the
phone, and :func:`read_messages` reads it.  See :mod:`sim.smsc.server` for what it speaks.
"""

from .server import Smsc, read_messages

__all__ = ["Smsc", "read_messages"]
