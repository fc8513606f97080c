"""PRC resident ID card (居民身份证): fields from OCR text lines, and the checks a lender runs.

Pure: no I/O but the OCR call that `read_front` / `read_back` make through an `OcrEngine`.
A field that did not read is reported missing (value None, confidence 0.0), never filled in from
elsewhere: the birth date is not taken from the number, nor the sex from its 17th digit.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from statistics import median
from typing import Any

import numpy as np
from stdnum import exceptions as stdnum_errors
from stdnum.cn import ric

from .ocr import OcrEngine, TextLine, decode_image, default_engine

LONG_TERM = "长期"
# The 56 ethnic groups as the card prints them (民族 without the trailing 族).
ETHNICITIES = frozenset(
    (
        "汉", "蒙古", "回", "藏", "维吾尔", "苗", "彝", "壮", "布依", "朝鲜", "满", "侗", "瑶", "白", "土家", "哈尼",
        "哈萨克", "傣", "黎", "傈僳", "佤", "畲", "高山", "拉祜", "水", "东乡", "纳西", "景颇", "柯尔克孜", "土",
        "达斡尔", "仫佬", "羌", "布朗", "撒拉", "毛南", "仡佬", "锡伯", "阿昌", "普米", "塔吉克", "怒", "乌孜别克", "俄罗斯",
        "鄂温克", "德昂", "保安", "裕固", "京", "塔塔尔", "独龙", "鄂伦春", "赫哲", "门巴", "珞巴", "基诺",
    )
)
DEFAULT_MIN_CONFIDENCE = 0.90


@dataclass(frozen=True)
class Field:
    value: Any = None  # str, or date for dates; None when it did not read
    confidence: float = 0.0  # mean recognition probability of its characters, 0..1

    @property
    def missing(self) -> bool:
        return self.value is None


MISSING = Field()


@dataclass(frozen=True)
class IdCardFront:
    """The portrait side."""

    name: Field = MISSING
    sex: Field = MISSING  # "男" or "女"
    ethnicity: Field = MISSING  # as printed, e.g. "汉"
    birth_date: Field = MISSING  # date
    address: Field = MISSING
    number: Field = MISSING  # as read: 18 characters when it read well
    raw_rows: tuple[str, ...] = field(default=(), repr=False)  # what the OCR saw, row by row

    def fields(self) -> dict[str, Field]:
        return {k: getattr(self, k) for k in FRONT_FIELDS}


@dataclass(frozen=True)
class IdCardBack:
    """The national emblem side."""

    authority: Field = MISSING  # 签发机关
    valid_from: Field = MISSING  # date
    valid_until: Field = MISSING  # date, or LONG_TERM
    raw_rows: tuple[str, ...] = field(default=(), repr=False)

    def fields(self) -> dict[str, Field]:
        return {k: getattr(self, k) for k in BACK_FIELDS}


FRONT_FIELDS = ("name", "sex", "ethnicity", "birth_date", "address", "number")
BACK_FIELDS = ("authority", "valid_from", "valid_until")


@dataclass(frozen=True)
class CheckFailure:
    code: str  # stable: field-missing, low-confidence, id-number-format, id-number-checksum, ...
    field: str
    detail: str


@dataclass(frozen=True)
class CheckResult:
    failures: tuple[CheckFailure, ...]

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def codes(self) -> set[str]:
        return {f.code for f in self.failures}


# --- the public functions ---------------------------------------------------------------------


def read_front(image: bytes, *, engine: OcrEngine | None = None) -> IdCardFront:
    return parse_front(_read_upright(image, engine, _FRONT_TOP, _FRONT_BOTTOM))


def read_back(image: bytes, *, engine: OcrEngine | None = None) -> IdCardBack:
    return parse_back(_read_upright(image, engine, _BACK_TOP, _BACK_BOTTOM))


def check(
    front: IdCardFront,
    back: IdCardBack | None,
    *,
    as_of: date,
    min_confidence: float = DEFAULT_MIN_CONFIDENCE,
) -> CheckResult:
    """Every failed check, in a stable order. `back=None` reports the back's fields missing."""
    back = back or IdCardBack()
    failures: list[CheckFailure] = []
    fields = {**front.fields(), **back.fields()}
    for name, f in fields.items():
        if f.missing:
            failures.append(CheckFailure("field-missing", name, f"{name} did not read"))
        elif f.confidence < min_confidence:
            failures.append(
                CheckFailure("low-confidence", name, f"{name} read with confidence {f.confidence:.2f}")
            )

    ethnicity = front.ethnicity.value
    if ethnicity is not None and ethnicity not in ETHNICITIES:
        failures.append(CheckFailure("ethnicity-unknown", "ethnicity", f"{ethnicity!r} is none of the 56"))

    number = front.number.value
    if number is not None:
        failures += _check_number(number, front)

    start, end = back.valid_from.value, back.valid_until.value
    if isinstance(end, date) and end < as_of:
        failures.append(CheckFailure("expired", "valid_until", f"expired on {end.isoformat()}"))
    if isinstance(start, date) and start > as_of:
        failures.append(CheckFailure("not-yet-valid", "valid_from", f"valid from {start.isoformat()}"))
    if isinstance(start, date) and isinstance(end, date) and end <= start:
        failures.append(CheckFailure("validity-inconsistent", "valid_until", "ends before it starts"))
    return CheckResult(tuple(failures))


def _check_number(number: str, front: IdCardFront) -> list[CheckFailure]:
    try:
        ric.validate(number)
    except stdnum_errors.InvalidChecksum:
        return [CheckFailure("id-number-checksum", "number", "GB 11643 check digit does not match")]
    except (stdnum_errors.InvalidLength, stdnum_errors.InvalidFormat):
        return [CheckFailure("id-number-format", "number", f"not 17 digits and a check character: {number!r}")]
    except stdnum_errors.InvalidComponent:
        # the birth date in it is no date, or the region code was never assigned
        return [CheckFailure("id-number-invalid", "number", "birth date or region code is not valid")]
    out = []
    birth = front.birth_date.value
    if isinstance(birth, date) and birth != ric.get_birth_date(number):
        out.append(CheckFailure("birth-date-mismatch", "birth_date", "differs from the number's"))
    sex = front.sex.value
    if sex is not None and sex != ("男" if int(number[16]) % 2 else "女"):
        out.append(CheckFailure("sex-mismatch", "sex", "differs from the number's 17th digit"))
    return out


# --- layout: text lines into rows in the card's own frame --------------------------------------


@dataclass
class _Seg:
    text: str
    scores: list[float]  # one per character of text
    u: float  # along the text, in the card's frame (pixels)
    v: float  # down the card
    length: float
    height: float


@dataclass(frozen=True)
class _Row:
    text: str
    scores: tuple[float, ...]

    def conf(self, start: int, end: int) -> float:
        return _mean(self.scores[start:end])

    def after(self, label: str) -> int | None:
        """Where the value begins: just past the label (a regex), else None."""
        m = re.search(label, self.text)
        return m.end() if m else None


# Labels as the recogniser reads them: it knows traditional characters too, and now and then
# reads a label's character in its traditional form (性別, 號碼).
_NAME, _SEX, _ETHNICITY, _ADDRESS = "姓名", "性[别別]", "民族", "住址"
_NUMBER_LABEL = "(?:公民身份)?[号號][码碼]"
_AUTHORITY = "[签簽][发發][机機][关關]"
_FRONT_TOP = f"{_NAME}|{_SEX}|{_ETHNICITY}|出生"
_FRONT_BOTTOM = _NUMBER_LABEL
_BACK_TOP = "中[华華]人民|居民身份|身份[证證]"
_BACK_BOTTOM = "[签簽][发發]|有效"


def _read_upright(image: bytes, engine, top_keys, bottom_keys) -> list[_Row]:
    """OCR, turning a sideways picture a quarter turn first so that every line reads across."""
    engine = engine or default_engine()
    pixels = decode_image(image)
    lines = engine.read(pixels)
    if _mostly_vertical(lines):
        lines = engine.read(np.ascontiguousarray(np.rot90(pixels)))
    return _rows(lines, top_keys, bottom_keys)


def _edges(line: TextLine) -> tuple[np.ndarray, float]:
    p = np.asarray(line.box, dtype=float)
    a, b = p[1] - p[0], p[2] - p[1]
    axis, across = (a, b) if np.hypot(*a) >= np.hypot(*b) else (b, a)
    return axis, float(np.hypot(*across))


def _mostly_vertical(lines: list[TextLine]) -> bool:
    votes = 0.0
    for line in lines:
        p = np.asarray(line.box, dtype=float)
        w, h = np.ptp(p[:, 0]), np.ptp(p[:, 1])
        if max(w, h) > 1.5 * min(w, h):  # single characters are square and say nothing
            votes += len(line.text) * (1 if h > w else -1)
    return votes > 0


def _char_scores(line: TextLine) -> tuple[str, list[float]]:
    pieces = line.pieces or ((line.text, line.score),)
    text = "".join(p for p, _ in pieces)
    return _simplified(re.sub(r"\s+", "", text)), [s for p, s in pieces for ch in p if not ch.isspace()]


@lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def _simplified(text: str) -> str:
    """The card is printed in simplified characters; the recogniser also knows traditional ones
    and now and then answers 漢 for 汉 or 國 for 国. Turning those back is no guess: the card
    cannot hold the traditional form."""
    out = _t2s().convert(text)
    return out if len(out) == len(text) else text  # scores stay one per character


def _rows(lines: list[TextLine], top_keys, bottom_keys) -> list[_Row]:
    if not lines:
        return []
    # The text direction: a length-weighted mean of the lines' axes, angles doubled so that a
    # line read left-to-right and one read right-to-left agree.
    sx = sy = 0.0
    for line in lines:
        axis, _ = _edges(line)
        ang, w = math.atan2(axis[1], axis[0]), float(np.hypot(*axis))
        sx, sy = sx + w * math.cos(2 * ang), sy + w * math.sin(2 * ang)
    theta = math.atan2(sy, sx) / 2
    c, s = math.cos(theta), math.sin(theta)
    segs = []
    for line in lines:
        ctr = np.asarray(line.box, dtype=float).mean(axis=0)
        axis, height = _edges(line)
        text, scores = _char_scores(line)
        segs.append(
            _Seg(
                text=text,
                scores=scores,
                u=c * ctr[0] + s * ctr[1],
                v=-s * ctr[0] + c * ctr[1],
                length=float(np.hypot(*axis)),
                height=height,
            )
        )
    # Upside down? The direction classifier turns each line the right way round before it is
    # read, but the rows come out in reverse: the card's own labels say which end is the top.
    tops = [g.v for g in segs if re.search(top_keys, g.text)]
    bottoms = [g.v for g in segs if re.search(bottom_keys, g.text)]
    if tops and bottoms and median(tops) > median(bottoms):
        for g in segs:
            g.u, g.v = -g.u, -g.v

    tol = 0.6 * median(g.height for g in segs)
    groups: list[list[_Seg]] = []
    for g in sorted(segs, key=lambda g: g.v):
        if groups and abs(g.v - median(x.v for x in groups[-1])) <= tol:
            groups[-1].append(g)
        else:
            groups.append([g])
    rows = []
    for group in groups:
        kept = _join_near(sorted(group, key=lambda g: g.u))
        rows.append(_Row("".join(g.text for g in kept), tuple(x for g in kept for x in g.scores)))
    return rows


def _join_near(row: list[_Seg]) -> list[_Seg]:
    """Keep a row's segments up to a wide gap: past it lies the portrait, not this field."""
    kept = [row[0]]
    for g in row[1:]:
        prev = kept[-1]
        gap = (g.u - g.length / 2) - (prev.u + prev.length / 2)
        if gap > 5 * max(prev.height, g.height):
            break
        kept.append(g)
    return kept


def _mean(scores) -> float:
    # The engine's own line score is the mean of its characters' probabilities; a field's is
    # the same mean over the field's characters alone, the label's left out.
    return round(sum(scores) / len(scores), 4) if len(scores) else 0.0


def _labelled(rows: list[_Row], label: str, pattern: str) -> Field:
    """The value matching `pattern` right after `label` in the first row that has the label."""
    for row in rows:
        start = row.after(label)
        if start is None:
            continue
        m = re.compile(pattern).match(row.text, start)
        if m:
            return Field(m.group(0), row.conf(*m.span()))
        return MISSING
    return MISSING


# --- front ------------------------------------------------------------------------------------

_CJK = r"[\u3400-\u9fff·]+"
_NUMBER = re.compile(r"[0-9]{15,17}[0-9Xx]?")
_BIRTH = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日")


def parse_front(rows: list[_Row]) -> IdCardFront:
    out: dict[str, Field] = {
        "name": _labelled(rows, _NAME, _CJK),
        "sex": _labelled(rows, _SEX, r"[男女]"),
        "ethnicity": _labelled(rows, _ETHNICITY, _CJK),
    }

    for row in rows:
        m = _BIRTH.search(row.text)
        if m:
            try:
                out["birth_date"] = Field(date(*map(int, m.groups())), row.conf(*m.span()))
            except ValueError:
                pass  # not a date: leave it missing rather than guess which digit is wrong
            break

    num_row = None
    for k, row in enumerate(rows):
        m = _NUMBER.search(row.text, row.after(_NUMBER_LABEL) or 0)
        if m:
            out["number"] = Field(m.group(0).upper(), row.conf(*m.span()))
            num_row = k
            break

    for i, row in enumerate(rows):
        start = row.after(_ADDRESS)
        if start is None:
            continue
        text, scores = row.text[start:], list(row.scores[start:])
        end = num_row if num_row is not None and num_row > i else len(rows)
        for more in rows[i + 1 : end]:
            if re.search(_FRONT_BOTTOM, more.text):
                break
            text, scores = text + more.text, scores + list(more.scores)
        if text:
            out["address"] = Field(text, _mean(scores))
        break

    return IdCardFront(**out, raw_rows=tuple(r.text for r in rows))


# --- back -------------------------------------------------------------------------------------

_DATE = r"(\d{4})\D?(\d{2})\D?(\d{2})"
_VALIDITY = re.compile(rf"{_DATE}[-—–－~至]+(?:{_DATE}|(长期))")


def parse_back(rows: list[_Row]) -> IdCardBack:
    out: dict[str, Field] = {"authority": _labelled(rows, _AUTHORITY, _CJK)}
    for row in rows:
        m = _VALIDITY.search(row.text)
        if not m:
            continue
        g = m.groups()
        start = _date(g[0:3])
        if start:
            out["valid_from"] = Field(start, row.conf(m.start(1), m.end(3)))
        if g[6]:
            out["valid_until"] = Field(LONG_TERM, row.conf(*m.span(7)))
        elif end := _date(g[3:6]):
            out["valid_until"] = Field(end, row.conf(m.start(4), m.end(6)))
        break
    return IdCardBack(**out, raw_rows=tuple(r.text for r in rows))


def _date(parts) -> date | None:
    try:
        return date(*map(int, parts))
    except (TypeError, ValueError):
        return None
