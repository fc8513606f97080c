"""The SMS-centre stand-in: an SMPP 3.4 server over asyncio.

What it does, as an SMSC would:

* ``bind_transmitter`` / ``bind_receiver`` / ``bind_transceiver`` with a system_id and password from
  its accounts; a wrong pair (or an unknown system_id) is refused with ``ESME_RBINDFAIL`` and the
  session stays open and unbound, as the specification allows.  A second bind on a bound session is
  ``ESME_RALYBND``.
* ``submit_sm`` (transmitter or transceiver): answers ``submit_sm_resp`` with a new message id,
  decodes the text by ``data_coding`` (0 GSM, 1 ASCII, 3 Latin-1, 8 UCS2), joins concatenated parts
  (UDHI, 8- or 16-bit reference) into one message, and keeps it: in memory (for ``query_sm``) and
  as one JSON line in the messages file, which is what a test reads to learn what the phone got.
* a delivery receipt (``deliver_sm``, esm_class 0x04, the Appendix B text plus the
  ``receipted_message_id`` and ``message_state`` TLVs) for every part submitted with
  registered_delivery, sent to a receiver or transceiver session of the same system_id; while none
  is bound, receipts wait and go out on the next such bind (a receipt not acknowledged with
  ``deliver_sm_resp`` before its session closes waits again).
* ``query_sm``, ``enquire_link``, ``unbind``; ``generic_nack`` with ``ESME_RINVCMDID`` for anything
  else, ``ESME_RINVBNDSTS`` for a command the session's bind state does not allow.

Destinations matching ``undeliverable`` get an ``UNDELIV`` receipt instead of ``DELIVRD``.  The
stand-in logs message ids and lengths, never a message's text.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import logging
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import pdu as P

log = logging.getLogger("sim.smsc")

_TRANSMIT = {"transmitter", "transceiver"}
_RECEIVE = {"receiver", "transceiver"}
_BINDS = {P.BIND_TRANSMITTER: "transmitter", P.BIND_RECEIVER: "receiver", P.BIND_TRANSCEIVER: "transceiver"}


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _smpp_date(t: dt.datetime) -> str:
    return t.strftime("%y%m%d%H%M")


@dataclass
class Receipt:
    system_id: str
    message_id: str
    body: bytes


@dataclass
class Stored:
    """A complete message as the phone got it (parts joined)."""

    id: str
    system_id: str
    source_addr: str
    to: str
    text: str
    data_coding: int
    parts: list[str]
    state: int
    received_at: dt.datetime
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "system_id": self.system_id, "from": self.source_addr, "to": self.to,
                "text": self.text, "data_coding": self.data_coding, "part_ids": self.parts,
                "status": P.STATE_NAMES.get(self.state, "UNKNOWN"),
                "received_at": self.received_at.isoformat().replace("+00:00", "Z"), **self.extra}


class Smsc:
    def __init__(self, accounts: dict[str, str], *, messages_file: Path | None = None,
                 receipt_delay: float = 0.0, undeliverable: str | None = None):
        self.accounts = dict(accounts)
        self.messages_file = messages_file
        self.receipt_delay = receipt_delay
        self.undeliverable = re.compile(undeliverable) if undeliverable else None
        self.messages: list[Stored] = []
        self.by_part: dict[str, Stored] = {}
        self.sessions: set[Session] = set()
        self.pending: list[Receipt] = []
        self._partials: dict[tuple, dict[int, tuple[str, bytes]]] = {}
        self._counter = itertools.count(1)
        self.server: asyncio.base_events.Server | None = None
        if messages_file is not None:
            messages_file.parent.mkdir(parents=True, exist_ok=True)
            messages_file.touch()

    def new_message_id(self) -> str:
        # Unique across restarts (a random prefix per process) and ordered within one.
        if not hasattr(self, "_prefix"):
            self._prefix = secrets.token_hex(3)
        return f"{self._prefix}{next(self._counter):08x}"

    async def start(self, host: str, port: int) -> int:
        self.server = await asyncio.start_server(self._accept, host, port)
        return self.server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session(self, reader, writer)
        self.sessions.add(session)
        try:
            await session.run()
        finally:
            self.sessions.discard(session)
            self.pending.extend(session.unacked.values())  # not acknowledged: try again on the next bind
            session.unacked.clear()
            writer.close()

    # --- messages ----------------------------------------------------------------------------------

    def accept_part(self, system_id: str, sm: P.ShortMessage, message_id: str) -> None:
        """Keep a submitted part; once every part of a message is in, store the message."""
        data = sm.payload
        udh = None
        if sm.esm_class & P.ESM_UDHI:
            udh, data = P.split_udh(data)
        to = ("+" + sm.destination_addr.lstrip("+")) if sm.dest_addr_ton == 1 else sm.destination_addr
        state = P.STATE_DELIVERED
        if self.undeliverable is not None and self.undeliverable.search(to):
            state = P.STATE_UNDELIVERABLE
        if udh is None or udh["total"] <= 1:
            self._store(Stored(message_id, system_id, sm.source_addr, to, P.decode_text(data, sm.data_coding),
                               sm.data_coding, [message_id], state, _utcnow()))
        else:
            key = (system_id, sm.source_addr, to, udh["ref"], udh["total"])
            parts = self._partials.setdefault(key, {})
            parts[udh["seq"]] = (message_id, data)
            if len(parts) == udh["total"]:
                del self._partials[key]
                ordered = [parts[i] for i in sorted(parts)]
                text = P.decode_text(b"".join(d for _, d in ordered), sm.data_coding)
                self._store(Stored(ordered[0][0], system_id, sm.source_addr, to, text, sm.data_coding,
                                   [i for i, _ in ordered], state, _utcnow()))
        if sm.registered_delivery & 0x03:
            receipt = self._receipt(system_id, sm, message_id, state)
            if self.receipt_delay > 0:
                asyncio.get_running_loop().call_later(self.receipt_delay, self.deliver, receipt)
            else:
                asyncio.get_running_loop().call_soon(self.deliver, receipt)

    def _store(self, message: Stored) -> None:
        self.messages.append(message)
        for part in message.parts:
            self.by_part[part] = message
        if self.messages_file is not None:
            with self.messages_file.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(message.as_json(), ensure_ascii=False) + "\n")
        log.info("stored message %s to %s (%d parts, %d chars)", message.id, message.to[:6] + "*****",
                 len(message.parts), len(message.text))

    def _receipt(self, system_id: str, sm: P.ShortMessage, message_id: str, state: int) -> Receipt:
        now = _smpp_date(_utcnow())
        delivered = "001" if state == P.STATE_DELIVERED else "000"
        err = "000" if state == P.STATE_DELIVERED else "001"
        text = (f"id:{message_id} sub:001 dlvrd:{delivered} submit date:{now} done date:{now} "
                f"stat:{P.STATE_NAMES[state]} err:{err} text:")
        body = P.ShortMessage(
            source_addr=sm.destination_addr, source_addr_ton=sm.dest_addr_ton, source_addr_npi=sm.dest_addr_npi,
            destination_addr=sm.source_addr, dest_addr_ton=sm.source_addr_ton, dest_addr_npi=sm.source_addr_npi,
            esm_class=P.ESM_DELIVERY_RECEIPT, short_message=text.encode("ascii"),
            tlvs={P.TAG_RECEIPTED_MESSAGE_ID: P.cstr(message_id), P.TAG_MESSAGE_STATE: bytes([state])},
        ).encode()
        return Receipt(system_id, message_id, body)

    def deliver(self, receipt: Receipt) -> None:
        """Send a receipt to a bound receiver of its system_id, or keep it for the next bind."""
        for session in self.sessions:
            if session.system_id == receipt.system_id and session.bound_as in _RECEIVE and not session.closing:
                session.send_deliver(receipt)
                return
        self.pending.append(receipt)

    def flush_pending(self, session: "Session") -> None:
        waiting = [r for r in self.pending if r.system_id == session.system_id]
        self.pending = [r for r in self.pending if r.system_id != session.system_id]
        for receipt in waiting:
            session.send_deliver(receipt)


class Session:
    def __init__(self, smsc: Smsc, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.smsc = smsc
        self.reader = reader
        self.writer = writer
        self.bound_as: str | None = None
        self.system_id: str | None = None
        self.closing = False
        self.unacked: dict[int, Receipt] = {}
        self._seq = itertools.count(1)

    def send(self, pdu: P.Pdu) -> None:
        if not self.closing:
            self.writer.write(pdu.encode())

    def reply(self, request: P.Pdu, status: int = P.ESME_ROK, body: bytes = b"") -> None:
        self.send(P.Pdu(request.command_id | P.RESP, status, request.sequence, body))

    def send_deliver(self, receipt: Receipt) -> None:
        seq = next(self._seq)
        self.unacked[seq] = receipt
        self.send(P.Pdu(P.DELIVER_SM, P.ESME_ROK, seq, receipt.body))

    async def run(self) -> None:
        while not self.closing:
            try:
                header = await self.reader.readexactly(P.HEADER.size)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            length, command_id, status, seq = P.parse_header(header)
            if length < P.HEADER.size or length > P.MAX_PDU:
                self.send(P.Pdu(P.GENERIC_NACK, P.ESME_RINVCMDLEN, seq))
                await self.writer.drain()
                return  # the stream cannot be resynchronised
            try:
                body = await self.reader.readexactly(length - P.HEADER.size)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            request = P.Pdu(command_id, status, seq, body)
            try:
                self.handle(request)
            except P.PduError as exc:
                log.info("bad %s: %s", request.name, exc)
                if command_id & P.RESP:
                    pass  # never answer a response
                elif command_id in P.COMMAND_NAMES:
                    self.reply(request, exc.status, self._empty_resp_body(command_id))
                else:
                    self.send(P.Pdu(P.GENERIC_NACK, exc.status, seq))
            try:
                await self.writer.drain()
            except ConnectionError:
                return
        await self._linger()

    async def _linger(self, seconds: float = 1.0) -> None:
        """After unbind_resp, take the acknowledgements the ESME was still sending (a receipt it read
        just before our unbind_resp is acknowledged after it) until it closes the connection."""
        try:
            while True:
                header = await asyncio.wait_for(self.reader.readexactly(P.HEADER.size), seconds)
                length, command_id, _status, seq = P.parse_header(header)
                if length < P.HEADER.size or length > P.MAX_PDU:
                    return
                await asyncio.wait_for(self.reader.readexactly(length - P.HEADER.size), seconds)
                if command_id == P.DELIVER_SM | P.RESP:
                    self.unacked.pop(seq, None)
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            return

    @staticmethod
    def _empty_resp_body(command_id: int) -> bytes:
        # Responses whose body is a C-octet string (system_id or message_id) carry an empty one on error.
        if command_id in (P.BIND_RECEIVER, P.BIND_TRANSMITTER, P.BIND_TRANSCEIVER, P.SUBMIT_SM, P.DELIVER_SM):
            return b"\x00"
        return b""

    def handle(self, request: P.Pdu) -> None:
        cid = request.command_id
        if cid in _BINDS:
            self.on_bind(request, _BINDS[cid])
        elif cid == P.SUBMIT_SM:
            self.on_submit(request)
        elif cid == P.QUERY_SM:
            self.on_query(request)
        elif cid == P.ENQUIRE_LINK:
            self.reply(request)
        elif cid == P.UNBIND:
            if self.bound_as is None:
                self.reply(request, P.ESME_RINVBNDSTS)
                return
            self.reply(request)
            log.info("unbind %s", self.system_id)
            self.bound_as = None
            self.closing = True
        elif cid == P.DELIVER_SM | P.RESP:
            self.unacked.pop(request.sequence, None)
        elif cid & P.RESP:
            pass  # enquire_link_resp, generic_nack and the like: nothing to do
        else:
            self.send(P.Pdu(P.GENERIC_NACK, P.ESME_RINVCMDID, request.sequence))

    def on_bind(self, request: P.Pdu, mode: str) -> None:
        if self.bound_as is not None:
            self.reply(request, P.ESME_RALYBND, b"\x00")
            return
        bind = P.Bind.parse(request.body)
        expected = self.smsc.accounts.get(bind.system_id)
        if expected is None or not secrets.compare_digest(expected.encode(), bind.password.encode()):
            log.info("bind refused for system_id %r", bind.system_id)
            self.reply(request, P.ESME_RBINDFAIL, b"\x00")
            return
        self.bound_as, self.system_id = mode, bind.system_id
        log.info("bound %s as %s", bind.system_id, mode)
        self.reply(request, P.ESME_ROK, P.cstr("openlend-smsc") + P.tlv(P.TAG_SC_INTERFACE_VERSION, b"\x34"))
        if mode in _RECEIVE:
            self.smsc.flush_pending(self)

    def on_submit(self, request: P.Pdu) -> None:
        if self.bound_as not in _TRANSMIT:
            self.reply(request, P.ESME_RINVBNDSTS, b"\x00")
            return
        sm = P.ShortMessage.parse(request.body)
        if not sm.destination_addr:
            self.reply(request, P.ESME_RINVDSTADR, b"\x00")
            return
        message_id = self.smsc.new_message_id()
        self.reply(request, P.ESME_ROK, P.cstr(message_id))
        self.smsc.accept_part(self.system_id or "", sm, message_id)

    def on_query(self, request: P.Pdu) -> None:
        if self.bound_as not in _TRANSMIT:
            self.reply(request, P.ESME_RINVBNDSTS)
            return
        q = P.QuerySm.parse(request.body)
        message = self.smsc.by_part.get(q.message_id)
        if message is None or message.system_id != self.system_id:
            self.reply(request, P.ESME_RQUERYFAIL, P.cstr(q.message_id) + P.cstr("") + b"\x00\x00")
            return
        final = message.received_at.strftime("%y%m%d%H%M%S") + "000+"
        self.reply(request, P.ESME_ROK, P.cstr(q.message_id) + P.cstr(final) + bytes([message.state, 0]))


def read_messages(path: Path | str, *, to: str | None = None) -> list[dict[str, Any]]:
    """The messages the stand-in stored in its messages file (oldest first), optionally only those to
    one number (E.164 for international destinations)."""
    out = []
    p = Path(path)
    if not p.exists():
        return out
    for line in p.read_text(encoding="utf-8").splitlines():
        if line.strip():
            doc = json.loads(line)
            if to is None or doc["to"] == to:
                out.append(doc)
    return out
