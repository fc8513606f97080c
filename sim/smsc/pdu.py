"""SMPP 3.4 PDUs: the header, C-octet strings, the bodies the stand-in reads and writes, and TLVs.

Every PDU is ``command_length, command_id, command_status, sequence_number`` (four big-endian
unsigned 32-bit integers; the length counts the header) followed by the body.  A C-octet string is
ASCII ending in one NUL; its maximum size in the specification counts the NUL.  Optional
parameters (TLVs) follow the mandatory ones: tag (2 octets), length (2 octets), value.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

HEADER = struct.Struct(">IIII")
MAX_PDU = 64 * 1024  # far above any SMPP 3.4 PDU; a larger length is a broken or hostile peer

# command_id (SMPP 3.4 section 5.1.2.1)
GENERIC_NACK = 0x80000000
BIND_RECEIVER = 0x00000001
BIND_TRANSMITTER = 0x00000002
QUERY_SM = 0x00000003
SUBMIT_SM = 0x00000004
DELIVER_SM = 0x00000005
UNBIND = 0x00000006
BIND_TRANSCEIVER = 0x00000009
ENQUIRE_LINK = 0x00000015
RESP = 0x80000000  # a response's id is the request's with the top bit set

COMMAND_NAMES = {
    GENERIC_NACK: "generic_nack", BIND_RECEIVER: "bind_receiver", BIND_TRANSMITTER: "bind_transmitter",
    QUERY_SM: "query_sm", SUBMIT_SM: "submit_sm", DELIVER_SM: "deliver_sm", UNBIND: "unbind",
    BIND_TRANSCEIVER: "bind_transceiver", ENQUIRE_LINK: "enquire_link",
}

# command_status (section 5.1.3)
ESME_ROK = 0x00
ESME_RINVMSGLEN = 0x01
ESME_RINVCMDLEN = 0x02
ESME_RINVCMDID = 0x03
ESME_RINVBNDSTS = 0x04
ESME_RALYBND = 0x05
ESME_RSYSERR = 0x08
ESME_RINVDSTADR = 0x0B
ESME_RINVMSGID = 0x0C
ESME_RBINDFAIL = 0x0D
ESME_RINVESMCLASS = 0x43
ESME_RQUERYFAIL = 0x67

# TLV tags (section 5.3.2)
TAG_RECEIPTED_MESSAGE_ID = 0x001E
TAG_SC_INTERFACE_VERSION = 0x0210
TAG_MESSAGE_PAYLOAD = 0x0424
TAG_MESSAGE_STATE = 0x0427

# message_state (section 5.2.28)
STATE_ENROUTE, STATE_DELIVERED, STATE_EXPIRED, STATE_DELETED, STATE_UNDELIVERABLE = 1, 2, 3, 4, 5
STATE_ACCEPTED, STATE_UNKNOWN, STATE_REJECTED = 6, 7, 8
STATE_NAMES = {STATE_ENROUTE: "ENROUTE", STATE_DELIVERED: "DELIVRD", STATE_EXPIRED: "EXPIRED",
               STATE_DELETED: "DELETED", STATE_UNDELIVERABLE: "UNDELIV", STATE_ACCEPTED: "ACCEPTD",
               STATE_UNKNOWN: "UNKNOWN", STATE_REJECTED: "REJECTD"}

ESM_UDHI = 0x40              # esm_class: short_message begins with a user data header
ESM_DELIVERY_RECEIPT = 0x04  # esm_class of a deliver_sm that is a delivery receipt


class PduError(Exception):
    """A PDU that cannot be parsed; ``status`` is what the stand-in answers with."""

    def __init__(self, message: str, status: int = ESME_RSYSERR):
        super().__init__(message)
        self.status = status


@dataclass
class Pdu:
    command_id: int
    status: int = ESME_ROK
    sequence: int = 0
    body: bytes = b""

    @property
    def name(self) -> str:
        base = COMMAND_NAMES.get(self.command_id & ~RESP if self.command_id != GENERIC_NACK else self.command_id,
                                 hex(self.command_id))
        return base + ("_resp" if self.command_id & RESP and self.command_id != GENERIC_NACK else "")

    def encode(self) -> bytes:
        return HEADER.pack(HEADER.size + len(self.body), self.command_id, self.status, self.sequence) + self.body


def parse_header(raw: bytes) -> tuple[int, int, int, int]:
    """``(command_length, command_id, command_status, sequence_number)``."""
    return HEADER.unpack(raw)


class Reader:
    """Reads a PDU body field by field (C-octet strings, integers, the rest as TLVs)."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def cstring(self, max_size: int) -> str:
        end = self.data.find(b"\x00", self.pos)
        if end < 0:
            raise PduError("C-octet string without its NUL", ESME_RINVCMDLEN)
        if end - self.pos + 1 > max_size:
            raise PduError(f"C-octet string longer than {max_size - 1} octets", ESME_RINVCMDLEN)
        value = self.data[self.pos:end].decode("latin-1")
        self.pos = end + 1
        return value

    def u8(self) -> int:
        if self.pos >= len(self.data):
            raise PduError("PDU body too short", ESME_RINVCMDLEN)
        value = self.data[self.pos]
        self.pos += 1
        return value

    def octets(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise PduError("PDU body too short", ESME_RINVMSGLEN)
        value = self.data[self.pos:self.pos + n]
        self.pos += n
        return value

    def tlvs(self) -> dict[int, bytes]:
        out: dict[int, bytes] = {}
        while self.pos < len(self.data):
            if self.pos + 4 > len(self.data):
                raise PduError("truncated TLV", ESME_RINVCMDLEN)
            tag, length = struct.unpack_from(">HH", self.data, self.pos)
            self.pos += 4
            out[tag] = self.octets(length)
        return out


def cstr(value: str) -> bytes:
    return value.encode("latin-1") + b"\x00"


def tlv(tag: int, value: bytes) -> bytes:
    return struct.pack(">HH", tag, len(value)) + value


# --- bodies ------------------------------------------------------------------------------------------

@dataclass
class Bind:
    system_id: str
    password: str
    system_type: str
    interface_version: int
    addr_ton: int
    addr_npi: int
    address_range: str

    @classmethod
    def parse(cls, body: bytes) -> "Bind":
        r = Reader(body)
        return cls(r.cstring(16), r.cstring(9), r.cstring(13), r.u8(), r.u8(), r.u8(), r.cstring(41))


@dataclass
class ShortMessage:
    """The body of submit_sm and deliver_sm (the same layout, section 4.4.1 and 4.6.1)."""

    source_addr: str = ""
    destination_addr: str = ""
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""
    tlvs: dict[int, bytes] = field(default_factory=dict)

    @classmethod
    def parse(cls, body: bytes) -> "ShortMessage":
        r = Reader(body)
        m = cls()
        m.service_type = r.cstring(6)
        m.source_addr_ton, m.source_addr_npi = r.u8(), r.u8()
        m.source_addr = r.cstring(21)
        m.dest_addr_ton, m.dest_addr_npi = r.u8(), r.u8()
        m.destination_addr = r.cstring(21)
        m.esm_class, m.protocol_id, m.priority_flag = r.u8(), r.u8(), r.u8()
        m.schedule_delivery_time = r.cstring(17)
        m.validity_period = r.cstring(17)
        m.registered_delivery, m.replace_if_present_flag, m.data_coding, m.sm_default_msg_id = (
            r.u8(), r.u8(), r.u8(), r.u8())
        sm_length = r.u8()
        if sm_length > 254:
            raise PduError("sm_length above 254", ESME_RINVMSGLEN)
        m.short_message = r.octets(sm_length)
        m.tlvs = r.tlvs()
        return m

    def encode(self) -> bytes:
        return b"".join([
            cstr(self.service_type), bytes([self.source_addr_ton, self.source_addr_npi]), cstr(self.source_addr),
            bytes([self.dest_addr_ton, self.dest_addr_npi]), cstr(self.destination_addr),
            bytes([self.esm_class, self.protocol_id, self.priority_flag]),
            cstr(self.schedule_delivery_time), cstr(self.validity_period),
            bytes([self.registered_delivery, self.replace_if_present_flag, self.data_coding,
                   self.sm_default_msg_id, len(self.short_message)]),
            self.short_message,
            b"".join(tlv(tag, value) for tag, value in self.tlvs.items()),
        ])

    @property
    def payload(self) -> bytes:
        """The message octets: ``message_payload`` when given (sm_length is then 0), else short_message."""
        return self.tlvs.get(TAG_MESSAGE_PAYLOAD, self.short_message)


@dataclass
class QuerySm:
    message_id: str
    source_addr_ton: int
    source_addr_npi: int
    source_addr: str

    @classmethod
    def parse(cls, body: bytes) -> "QuerySm":
        r = Reader(body)
        return cls(r.cstring(65), r.u8(), r.u8(), r.cstring(21))


def split_udh(data: bytes) -> tuple[dict[str, Any] | None, bytes]:
    """A concatenated-message UDH (IEI 0x00, 8-bit reference, or 0x08, 16-bit) and the text after it."""
    if not data:
        raise PduError("UDHI set on an empty message", ESME_RINVESMCLASS)
    udhl = data[0]
    header, rest = data[1:1 + udhl], data[1 + udhl:]
    if len(header) != udhl:
        raise PduError("truncated user data header", ESME_RINVESMCLASS)
    i = 0
    while i + 2 <= len(header):
        iei, iel = header[i], header[i + 1]
        value = header[i + 2:i + 2 + iel]
        if iei == 0x00 and iel == 3:
            return {"ref": value[0], "total": value[1], "seq": value[2]}, rest
        if iei == 0x08 and iel == 4:
            return {"ref": (value[0] << 8) | value[1], "total": value[2], "seq": value[3]}, rest
        i += 2 + iel
    return None, rest


# GSM 03.38 default alphabet, one septet per octet (SMPP carries it unpacked); 0x1B escapes to the
# extension table.
_GSM_BASIC = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
              "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
_GSM_EXT = {0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[", 0x3D: "~", 0x3E: "]",
            0x40: "|", 0x65: "€"}


def decode_gsm(data: bytes) -> str:
    out, escape = [], False
    for b in data:
        if escape:
            out.append(_GSM_EXT.get(b, " "))
            escape = False
        elif b == 0x1B:
            escape = True
        else:
            out.append(_GSM_BASIC[b & 0x7F])
    return "".join(out)


def decode_text(data: bytes, data_coding: int) -> str:
    """The message text for a data_coding: 0 GSM default alphabet, 1 IA5/ASCII, 3 Latin-1, 8 UCS2
    (UTF-16BE, which also carries characters outside the BMP as surrogate pairs); others as hex."""
    if data_coding == 0:
        return decode_gsm(data)
    if data_coding == 1:
        return data.decode("ascii", errors="replace")
    if data_coding == 3:
        return data.decode("latin-1")
    if data_coding == 8:
        return data.decode("utf-16-be", errors="replace")
    return data.hex()
