"""The SMSC stand-in speaks SMPP 3.4: bind, submit_sm, delivery receipts, query_sm, enquire_link,
unbind, a bad password refused with ESME_RBINDFAIL; driven with smpplib (openlend's client) and,
where smpplib would not send it, raw PDUs."""

from __future__ import annotations

import socket
import struct

import pytest
import smpplib.client
import smpplib.consts as C
import smpplib.exceptions
import smpplib.gsm
import smpplib.smpp

from sim.smsc import pdu as P
from sim.smsc.testing import running_smsc


def connect(smsc, mode="bind_transceiver", password=None):
    client = smpplib.client.Client(smsc.host, smsc.port, timeout=5, allow_unknown_opt_params=True)
    client.connect()
    getattr(client, mode)(system_id=smsc.system_id, password=password or smsc.password)
    return client


def submit(client, to, text, receipt=True):
    parts, coding, esm = smpplib.gsm.make_parts(text)
    seqs = []
    for part in parts:
        seqs.append(client.send_message(source_addr_ton=0, source_addr_npi=0, source_addr="10690000",
                                        dest_addr_ton=C.SMPP_TON_INTL, dest_addr_npi=C.SMPP_NPI_ISDN,
                                        destination_addr=to.lstrip("+"), short_message=part, data_coding=coding,
                                        esm_class=esm, registered_delivery=receipt).sequence)
    return seqs


def read_until(client, command):
    while True:
        pdu = client.read_pdu()
        if pdu.command == command:
            return pdu


def test_bind_submit_receipt_enquire_link_unbind(smsc):
    client = connect(smsc)
    try:
        [seq] = submit(client, "+8613700000001", "【openlend】您的验证码是654321")
        resp = client.read_pdu()
        assert resp.command == "submit_sm_resp" and resp.sequence == seq and resp.status == 0
        message_id = resp.message_id.decode()
        receipt = client.read_pdu()
        assert receipt.command == "deliver_sm" and receipt.esm_class & P.ESM_DELIVERY_RECEIPT
        assert receipt.receipted_message_id.decode() == message_id and receipt.message_state == P.STATE_DELIVERED
        assert b"stat:DELIVRD" in receipt.short_message
        ack = smpplib.smpp.make_pdu("deliver_sm_resp", client=client)
        ack.sequence = receipt.sequence
        client.send_pdu(ack)

        client.send_pdu(smpplib.smpp.make_pdu("enquire_link", client=client))
        assert client.read_pdu().command == "enquire_link_resp"
        assert client.unbind().command == "unbind_resp"
    finally:
        client.disconnect()
    [msg] = smsc.wait_for("+8613700000001")
    assert msg["id"] == message_id and msg["text"] == "【openlend】您的验证码是654321" and msg["data_coding"] == 8


def test_a_wrong_password_is_refused_with_rbindfail(smsc):
    client = smpplib.client.Client(smsc.host, smsc.port, timeout=5, allow_unknown_opt_params=True)
    client.connect()
    try:
        with pytest.raises(smpplib.exceptions.PDUError) as exc:
            client.bind_transceiver(system_id=smsc.system_id, password="wrong")
        assert exc.value.args[1] == P.ESME_RBINDFAIL == 0x0D
    finally:
        client.disconnect()


def test_long_messages_are_joined_from_their_parts(smsc):
    text = "借款确认" * 40   # 160 UCS2 characters: three parts with a concatenation header
    client = connect(smsc)
    try:
        seqs = submit(client, "+8613700000002", text, receipt=False)
        assert len(seqs) == 3
        ids = [read_until(client, "submit_sm_resp").message_id.decode() for _ in seqs]
        client.unbind()
    finally:
        client.disconnect()
    [msg] = smsc.wait_for("+8613700000002")
    assert msg["text"] == text and msg["part_ids"] == ids


def test_receipts_wait_for_a_receiver_and_query_sm_answers(smsc):
    tx = connect(smsc, "bind_transmitter")
    try:
        submit(tx, "+8613700000003", "hello")
        message_id = read_until(tx, "submit_sm_resp").message_id.decode()
        tx.unbind()
    finally:
        tx.disconnect()
    rx = connect(smsc, "bind_receiver")   # the receipt was kept for the next receiver bind
    try:
        receipt = read_until(rx, "deliver_sm")
        assert receipt.receipted_message_id.decode() == message_id
        ack = smpplib.smpp.make_pdu("deliver_sm_resp", client=rx)
        ack.sequence = receipt.sequence
        rx.send_pdu(ack)
        rx.unbind()
    finally:
        rx.disconnect()
    trx = connect(smsc)   # query_sm (smpplib refuses to send it on a transmitter bind)
    try:
        trx.send_pdu(smpplib.smpp.make_pdu("query_sm", client=trx, message_id=message_id, source_addr_ton=0,
                                           source_addr_npi=0, source_addr="10690000"))
        q = read_until(trx, "query_sm_resp")
        assert q.status == 0 and q.message_state == P.STATE_DELIVERED
        trx.send_pdu(smpplib.smpp.make_pdu("query_sm", client=trx, message_id="nosuchid", source_addr_ton=0,
                                           source_addr_npi=0, source_addr="10690000"))
        assert read_until(trx, "query_sm_resp").status == P.ESME_RQUERYFAIL
        trx.unbind()
    finally:
        trx.disconnect()


def raw(smsc, *pdus: bytes) -> list[tuple[int, int, int]]:
    with socket.create_connection((smsc.host, smsc.port), timeout=5) as s:
        out = []
        for data in pdus:
            s.sendall(data)
            header = b""
            while len(header) < 16:
                header += s.recv(16 - len(header))
            length, cid, status, seq = struct.unpack(">IIII", header)
            body = b""
            while len(body) < length - 16:
                body += s.recv(length - 16 - len(body))
            out.append((cid, status, seq))
        return out


def test_submit_before_bind_and_unknown_commands_are_refused(smsc):
    submit_sm = P.Pdu(P.SUBMIT_SM, 0, 7, P.ShortMessage(destination_addr="8613700000004",
                                                        short_message=b"x").encode()).encode()
    unknown = P.Pdu(0x00000103, 0, 8).encode()   # data_sm: not spoken here
    enquire = P.Pdu(P.ENQUIRE_LINK, 0, 9).encode()
    assert raw(smsc, submit_sm, unknown, enquire) == [
        (P.SUBMIT_SM | P.RESP, P.ESME_RINVBNDSTS, 7), (P.GENERIC_NACK, P.ESME_RINVCMDID, 8),
        (P.ENQUIRE_LINK | P.RESP, P.ESME_ROK, 9)]


def test_undeliverable_destinations_get_an_undeliv_receipt(tmp_path):
    with running_smsc(tmp_path, "--undeliverable", r"0000$") as smsc:
        client = connect(smsc)
        try:
            submit(client, "+8613700000000", "x")
            read_until(client, "submit_sm_resp")
            receipt = read_until(client, "deliver_sm")
            assert receipt.message_state == P.STATE_UNDELIVERABLE and b"stat:UNDELIV" in receipt.short_message
            client.unbind()
        finally:
            client.disconnect()
        assert smsc.wait_for("+8613700000000")[0]["status"] == "UNDELIV"
