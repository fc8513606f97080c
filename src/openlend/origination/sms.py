"""SMS out: the ``SmsSender`` interface and its SMPP 3.4 implementation.

The sandbox's SMS centre is the stand-in under ``sim/smsc`` (its own process, ``python -m sim.smsc``);
a real operator's SMSC speaks the same protocol, so pointing ``OPENLEND_SMSC_*`` at it is all a
switch takes.  A provider with an HTTP API would be one more class with the same ``send``.

Nothing here logs a message's text or a number in full: an SMS may carry a one-time code.
smpplib's own logger writes every PDU in hex at DEBUG, text included, so its logger is pinned at
WARNING whatever the root level is.
"""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass, field
from typing import Protocol

import smpplib.client
import smpplib.consts as C
import smpplib.exceptions
import smpplib.gsm
import smpplib.smpp

from .settings import OriginationSettings, get_origination_settings

log = logging.getLogger("openlend.sms")
_WIRE_LOGGER = "openlend.sms.smpp.wire"
logging.getLogger(_WIRE_LOGGER).setLevel(logging.WARNING)
logging.getLogger("smpplib").setLevel(logging.WARNING)

_STATES = {1: "enroute", 2: "delivered", 3: "expired", 4: "deleted", 5: "undeliverable", 6: "accepted",
           7: "unknown", 8: "rejected"}


class SmsSendError(RuntimeError):
    """The message did not leave: the SMSC is unreachable, refused the bind or refused the message."""


@dataclass(frozen=True)
class DeliveryReceipt:
    message_id: str
    state: str  # delivered, undeliverable, expired, rejected, ...


@dataclass(frozen=True)
class SentSms:
    """What the SMS centre answered: one message id per part, and any delivery receipts that
    arrived while the session was open (for this message or an earlier one)."""

    message_ids: list[str]
    receipts: list[DeliveryReceipt] = field(default_factory=list)


class SmsSender(Protocol):
    def send(self, to: str, text: str) -> SentSms:
        """Send ``text`` to ``to`` (E.164); raise :class:`SmsSendError` when it did not leave."""
        ...


def mask_mobile(e164: str) -> str:
    return e164[:6] + "****" + e164[-2:] if len(e164) > 8 else "****"


class SmppSmsSender:
    """One SMPP session per message: connect, bind_transceiver, submit_sm (each part), unbind.

    A session per message keeps the sender stateless and thread-safe; an OTP volume does not need a
    standing connection (a bulk sender would keep one bound and send enquire_link).  The text goes
    in the GSM default alphabet when it can, else UCS2 (data_coding 8), split with a concatenation
    UDH when it is too long for one message.  Delivery receipts are asked for (registered_delivery 1)
    and acknowledged whenever they arrive during a session."""

    def __init__(self, *, host: str, port: int, system_id: str, password: str, source_addr: str,
                 timeout: float = 5.0):
        self.host, self.port = host, port
        self.system_id, self.password = system_id, password
        self.source_addr = source_addr
        self.timeout = timeout

    @classmethod
    def from_settings(cls, s: OriginationSettings) -> "SmppSmsSender":
        return cls(host=s.smsc_host, port=s.smsc_port, system_id=s.smsc_system_id, password=s.smsc_password,
                   source_addr=s.smsc_source_addr, timeout=s.smsc_timeout_seconds)

    def send(self, to: str, text: str) -> SentSms:
        parts, data_coding, esm_class = smpplib.gsm.make_parts(text)
        client = smpplib.client.Client(self.host, self.port, timeout=self.timeout, logger_name=_WIRE_LOGGER,
                                       allow_unknown_opt_params=True)
        receipts: list[DeliveryReceipt] = []
        try:
            client.connect()
            client.bind_transceiver(system_id=self.system_id, password=self.password)
            waiting: dict[int, int] = {}
            for index, part in enumerate(parts):
                pdu = client.send_message(
                    source_addr_ton=C.SMPP_TON_UNK, source_addr_npi=C.SMPP_NPI_UNK, source_addr=self.source_addr,
                    dest_addr_ton=C.SMPP_TON_INTL, dest_addr_npi=C.SMPP_NPI_ISDN, destination_addr=to.lstrip("+"),
                    short_message=part, data_coding=data_coding, esm_class=esm_class, registered_delivery=True)
                waiting[pdu.sequence] = index
            ids: list[str | None] = [None] * len(parts)
            while waiting:
                resp = self._read(client, receipts)
                if resp.command == "submit_sm_resp" and resp.sequence in waiting:
                    if resp.is_error():
                        raise SmsSendError(f"the SMSC refused the message (command_status 0x{int(resp.status):08x})")
                    ids[waiting.pop(resp.sequence)] = _text(resp.message_id)
            self._unbind(client, receipts)
        except smpplib.exceptions.PDUError as exc:
            raise SmsSendError(f"the SMSC refused the bind or a PDU: {exc.args[0]}") from None
        except (smpplib.exceptions.ConnectionError, OSError) as exc:
            raise SmsSendError(f"the SMSC at {self.host}:{self.port} is unreachable or went away "
                               f"({type(exc).__name__})") from None
        finally:
            client.disconnect()
        log.info("sms submitted to %s in %d part(s)", mask_mobile(to), len(parts),
                 extra={"ctx_message_ids": ids, "ctx_receipts": len(receipts)})
        return SentSms([i for i in ids if i], receipts)

    @staticmethod
    def _read(client: smpplib.client.Client, receipts: list[DeliveryReceipt]):
        """The next PDU that is not a receipt or an enquire_link (those are answered here)."""
        while True:
            try:
                pdu = client.read_pdu()
            except socket.timeout:
                raise smpplib.exceptions.ConnectionError("timed out waiting for the SMSC") from None
            if pdu.command == "deliver_sm":
                state = _STATES.get(getattr(pdu, "message_state", None) or 0, "unknown")
                mid = _text(getattr(pdu, "receipted_message_id", None) or b"")
                if mid:
                    receipts.append(DeliveryReceipt(mid, state))
                ack = smpplib.smpp.make_pdu("deliver_sm_resp", client=client)
                ack.sequence = pdu.sequence
                client.send_pdu(ack)
            elif pdu.command == "enquire_link":
                ack = smpplib.smpp.make_pdu("enquire_link_resp", client=client)
                ack.sequence = pdu.sequence
                client.send_pdu(ack)
            else:
                return pdu

    def _unbind(self, client: smpplib.client.Client, receipts: list[DeliveryReceipt]) -> None:
        unbind = smpplib.smpp.make_pdu("unbind", client=client)
        client.send_pdu(unbind)
        while self._read(client, receipts).command != "unbind_resp":
            pass


def _text(value) -> str:
    return value.decode("ascii", errors="replace") if isinstance(value, bytes) else str(value)


_override: SmsSender | None = None
_override_lock = threading.Lock()


def get_sms_sender() -> SmsSender:
    """The configured sender (``OPENLEND_SMS_SENDER``), or the one a test or embedder set."""
    with _override_lock:
        if _override is not None:
            return _override
    s = get_origination_settings()
    if s.sms_sender == "smpp":
        return SmppSmsSender.from_settings(s)
    raise RuntimeError(f"unknown OPENLEND_SMS_SENDER {s.sms_sender!r} (known: smpp)")


def set_sms_sender(sender: SmsSender | None) -> None:
    global _override
    with _override_lock:
        _override = sender
