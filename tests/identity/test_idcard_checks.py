"""ID card checks and layout parsing, without OCR: fast, and exact about every failure code."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import ric

from openlend.identity.idcard import (
    LONG_TERM,
    Field,
    IdCardBack,
    IdCardFront,
    _rows,
    check,
    parse_back,
    parse_front,
)
from openlend.identity.ocr import TextLine
from openlend.identity.render import invent_holder, make_number

AS_OF = date(2026, 1, 15)
NUMBER = make_number("110101", date(1990, 3, 7), 123)  # 17th digit 3: a man


def front(**over) -> IdCardFront:
    f = {
        "name": Field("林晓舟", 0.99),
        "sex": Field("男", 0.99),
        "ethnicity": Field("汉", 0.99),
        "birth_date": Field(date(1990, 3, 7), 0.99),
        "address": Field("北京市东城区青柳路8号", 0.98),
        "number": Field(NUMBER, 0.99),
    }
    f.update(over)
    return IdCardFront(**f)


def back(**over) -> IdCardBack:
    b = {
        "authority": Field("北京市公安局东城分局", 0.99),
        "valid_from": Field(date(2015, 3, 1), 0.99),
        "valid_until": Field(date(2035, 3, 1), 0.99),
    }
    b.update(over)
    return IdCardBack(**b)


def test_a_consistent_unexpired_card_passes():
    result = check(front(), back(), as_of=AS_OF)
    assert result.passed, result.failures


def test_a_long_term_card_never_expires():
    assert check(front(), back(valid_until=Field(LONG_TERM, 0.99)), as_of=date(2090, 1, 1)).passed


def test_a_wrong_check_digit_is_reported():
    bad = NUMBER[:-1] + ("0" if NUMBER[-1] != "0" else "1")
    assert check(front(number=Field(bad, 0.99)), back(), as_of=AS_OF).codes == {"id-number-checksum"}


@pytest.mark.parametrize("number", ["11010119900307123", "1101011990030712345", "11010119900307A23X"])
def test_a_number_of_the_wrong_shape_is_a_format_failure(number):
    assert "id-number-format" in check(front(number=Field(number, 0.99)), back(), as_of=AS_OF).codes


def test_a_number_whose_birth_date_is_no_date_is_invalid():
    body = "11010119901345123"  # month 13
    number = body + ric.calc_check_digit(body + "0")
    assert check(front(number=Field(number, 0.99)), back(), as_of=AS_OF).codes == {"id-number-invalid"}


def test_birth_date_and_sex_must_agree_with_the_number():
    result = check(front(birth_date=Field(date(1990, 3, 8), 0.99), sex=Field("女", 0.99)), back(), as_of=AS_OF)
    assert result.codes == {"birth-date-mismatch", "sex-mismatch"}


def test_a_card_past_its_validity_is_expired_and_one_not_yet_valid_is_reported():
    assert check(front(), back(), as_of=date(2035, 3, 2)).codes == {"expired"}
    assert check(front(), back(), as_of=date(2035, 3, 1)).passed  # the last day still counts
    assert check(front(), back(), as_of=date(2015, 2, 28)).codes == {"not-yet-valid"}


def test_a_field_that_did_not_read_is_missing_and_never_filled_from_the_number():
    result = check(front(birth_date=Field(), sex=Field()), back(authority=Field()), as_of=AS_OF)
    assert {(f.code, f.field) for f in result.failures} == {
        ("field-missing", "birth_date"),
        ("field-missing", "sex"),
        ("field-missing", "authority"),
    }


def test_no_back_at_all_reports_every_back_field_missing():
    result = check(front(), None, as_of=AS_OF)
    assert {f.field for f in result.failures} == {"authority", "valid_from", "valid_until"}


def test_low_confidence_is_reported_per_field_against_the_threshold():
    f = front(name=Field("林晓舟", 0.62))
    assert [(x.code, x.field) for x in check(f, back(), as_of=AS_OF).failures] == [("low-confidence", "name")]
    assert check(f, back(), as_of=AS_OF, min_confidence=0.6).passed


def test_an_ethnicity_that_is_none_of_the_56_is_reported():
    assert check(front(ethnicity=Field("汉族人", 0.99)), back(), as_of=AS_OF).codes == {"ethnicity-unknown"}


@given(st.integers(min_value=0, max_value=10_000))
def test_invented_holders_have_valid_numbers_that_agree_with_their_cards(seed):
    h = invent_holder(seed)
    assert ric.is_valid(h.number)
    assert ric.get_birth_date(h.number) == h.birth_date
    assert (int(h.number[16]) % 2 == 1) == (h.sex == "男")


@given(st.integers(min_value=0, max_value=10_000), st.integers(0, 16), st.integers(1, 9))
def test_any_single_digit_misread_fails_the_check_digit(seed, pos, delta):
    number = invent_holder(seed).number
    wrong = number[:pos] + str((int(number[pos]) + delta) % 10) + number[pos + 1 :]
    assert not ric.is_valid(wrong)


# --- layout, with text lines placed by hand -----------------------------------------------------


def line(text, x, y, w, h=40, score=0.99, pieces=()):
    return TextLine(text, score, ((x, y), (x + w, y), (x + w, y + h), (x, y + h)), pieces)


def upside_down(lines, width=856, height=540):
    """The same lines on a card turned 180 degrees (the classifier has already turned the text)."""
    out = []
    for ln in lines:
        pts = [(width - x, height - y) for x, y in ln.box]
        out.append(TextLine(ln.text, ln.score, tuple(pts[2:] + pts[:2]), ln.pieces))
    return out


FRONT_LINES = [
    line("姓名", 60, 57, 80),
    line("林晓舟", 165, 57, 120),
    line("O", 627, 96, 107, h=139, score=0.74),  # the portrait, misread as a letter
    line("性别男", 59, 123, 144),
    line("民族汉", 264, 123, 120),
    line("出生1990年3月7日", 63, 189, 392),
    line("住址北京市东城区青柳路", 63, 255, 478),
    line("8号", 163, 300, 80),
    line("公民身份号码", 64, 453, 195),
    line(NUMBER, 307, 453, 508),
]


@pytest.mark.parametrize("turn", [lambda ls: ls, upside_down], ids=["upright", "upside-down"])
def test_front_fields_come_from_their_rows_whatever_way_up(turn):
    f = parse_front(_rows(turn(FRONT_LINES), "姓名|性别", "号码"))
    assert (f.name.value, f.sex.value, f.ethnicity.value) == ("林晓舟", "男", "汉")
    assert f.birth_date.value == date(1990, 3, 7)
    assert f.address.value == "北京市东城区青柳路8号"
    assert f.number.value == NUMBER


def test_a_fields_confidence_leaves_out_the_label_in_the_same_line():
    pieces = (("性", 0.99), ("别", 0.41), ("女", 0.97))
    f = parse_front(_rows([line("性别女", 59, 123, 144, score=0.79, pieces=pieces)], "性别", "号码"))
    assert f.sex == Field("女", 0.97)


def test_traditional_forms_the_recogniser_answers_are_read_as_the_simplified_card_prints_them():
    f = parse_front(_rows([line("性別男民族漢", 59, 123, 300)], "性别", "号码"))
    assert (f.sex.value, f.ethnicity.value) == ("男", "汉")


def test_a_label_with_nothing_after_it_is_missing_not_taken_from_the_next_row():
    f = parse_front(_rows([line("姓名", 60, 57, 80), line("性别男", 59, 123, 144)], "姓名", "号码"))
    assert f.name.missing and f.sex.value == "男"


def test_back_validity_reads_dates_and_long_term():
    rows = _rows(
        [line("签发机关北京市公安局东城分局", 157, 375, 504), line("有效期限2015.03.01-长期", 158, 441, 400)],
        "居民身份证",
        "签发",
    )
    b = parse_back(rows)
    assert b.authority.value == "北京市公安局东城分局"
    assert (b.valid_from.value, b.valid_until.value) == (date(2015, 3, 1), LONG_TERM)


def test_an_impossible_validity_date_is_missing_rather_than_repaired():
    b = parse_back(_rows([line("有效期限2015.13.01-2035.13.01", 158, 441, 400)], "居民", "有效"))
    assert b.valid_from.missing and b.valid_until.missing
