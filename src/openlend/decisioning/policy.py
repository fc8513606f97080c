"""Policy rules as data: versioned decision tables with a small, safe condition language.

A policy is a JSON document (``format: openlend.policy/1``): an ``id``, an integer ``version``, its
score bands, the limit and price tables that :mod:`openlend.decisioning.pricing` reads, and a list
of rules.  Each rule has a ``code`` (``P001_AGE``), a ``description``, a condition ``when`` over the
named inputs in :data:`INPUTS`, an ``outcome`` on a hit (``decline``, ``refer`` for manual review, or
``pass``, which only records the hit) and a ``reason`` (``code`` + ``text``) for the adverse-action
notice.  A stored policy never changes: a new table is a new ``version``; the document's SHA-256
(:attr:`Policy.sha256`) is written into every decision so that a replay can prove it used the same
table.

The condition language (grammar in docs/design/decisioning.md) is parsed by the recursive-descent
parser below into a small AST and evaluated by walking that AST: nothing is ever passed to
``eval``/``exec``/``compile``, names resolve only to declared inputs, and there are no calls,
attributes, subscripts or arithmetic, so a policy can say nothing but comparisons.

Missing values follow SQL's three-valued (Kleene) logic: a comparison with a null input is
*unknown*, ``not unknown`` is unknown, ``false and unknown`` is false, ``true or unknown`` is true.
A rule hits only when its condition is *true*; unknown is recorded as such and does not hit.  A
policy that wants to act on a missing value says so with ``is null``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Any

FORMAT = "openlend.policy/1"
OUTCOMES = ("decline", "refer", "pass")
FACTOR_RESULTS = ("pass", "fail", "not_checked")


# --------------------------------------------------------------------------------------------------
# The inputs a rule may name


@dataclass(frozen=True)
class InputSpec:
    """One named input: ``kind`` is ``integer``, ``number`` (Decimal), ``string`` or ``bool``."""

    kind: str
    description: str
    nullable: bool = False
    values: tuple[str, ...] | None = None  # the closed vocabulary of a string input
    derived: bool = False  # computed by the engine (score, band, debt ratio); never supplied
    low: Decimal | None = None  # bounds a supplied number must lie in
    high: Decimal | None = None

    @property
    def type(self) -> str:
        """The type the condition language sees: integers and numbers compare as one ``number``."""
        return "number" if self.kind in ("integer", "number") else self.kind


OCCUPATIONS = (
    "civil_servant", "public_institution", "state_enterprise", "private_employee", "professional",
    "self_employed", "manual_worker", "farmer", "retired", "student", "unemployed", "military",
    "police", "judiciary", "lawyer", "journalist", "other",
)
INDUSTRIES = (
    "government", "finance", "it", "manufacturing", "construction", "real_estate", "retail",
    "hospitality", "transport", "education", "healthcare", "agriculture", "energy", "mining",
    "media", "nightlife_entertainment", "gambling", "virtual_currency", "private_lending",
    "debt_collection", "other",
)
HOUSING = ("own_no_mortgage", "own_mortgage", "family", "rent", "dormitory", "other")
EDUCATION = ("postgraduate", "bachelor", "college", "high_school", "below_high_school")

_D = Decimal
INPUTS: dict[str, InputSpec] = {
    # application form
    "age": InputSpec("integer", "Age in whole years on the application date", low=_D(0), high=_D(150)),
    "occupation": InputSpec("string", "Occupation", values=OCCUPATIONS),
    "industry": InputSpec("string", "Industry of the employer (or of the business, if self-employed)",
                          values=INDUSTRIES),
    "housing": InputSpec("string", "Housing status", values=HOUSING),
    "education": InputSpec("string", "Highest completed education", values=EDUCATION),
    "monthly_income": InputSpec("number", "Declared monthly income, in the policy's currency", low=_D(0)),
    # scorecard (derived)
    "score": InputSpec("integer", "Scorecard points (of the model that scored this application)", derived=True),
    "score_band": InputSpec("string", "The policy's band for the score", derived=True),
    "probability_of_default": InputSpec("number", "The scorecard's probability of default", derived=True),
    # lists
    "blacklist_hit": InputSpec("bool", "The applicant is on the internal blacklist"),
    "court_list_hit": InputSpec("bool", "The applicant is on the courts' list of dishonest judgment debtors"),
    # credit bureau (a thin file has no accounts: its account features are null)
    "bureau_thin_file": InputSpec("bool", "The bureau report has no credit accounts"),
    "bureau_worst_status_24m": InputSpec("integer", "Worst repayment status in 24 months: 0 current, "
                                         "1..7 months past due (7 = M7+)", nullable=True, low=_D(0), high=_D(7)),
    "bureau_queries_3m": InputSpec("integer", "Credit-approval queries by lenders in the last 3 months", low=_D(0)),
    "bureau_queries_6m": InputSpec("integer", "Credit-approval queries by lenders in the last 6 months", low=_D(0)),
    "bureau_utilisation": InputSpec("number", "Revolving balance / revolving limit (1 = 100 %)", nullable=True,
                                    low=_D(0)),
    "bureau_overdue_records": InputSpec("integer", "Accounts overdue now", low=_D(0)),
    "bureau_outstanding_balance": InputSpec("number", "Outstanding balance of all credit accounts", low=_D(0)),
    "bureau_monthly_repayment": InputSpec("number", "Monthly repayment due on all accounts, when the report "
                                          "states it (else estimated from the balance)", nullable=True, low=_D(0)),
    # multi-lending (distinct lenders applied to)
    "multi_lending_7d": InputSpec("integer", "Distinct lenders applied to in 7 days", low=_D(0)),
    "multi_lending_30d": InputSpec("integer", "Distinct lenders applied to in 30 days", low=_D(0)),
    "multi_lending_90d": InputSpec("integer", "Distinct lenders applied to in 90 days", low=_D(0)),
    # anti-fraud and identity
    "fraud_score": InputSpec("number", "Anti-fraud score, 0 (safe) .. 100 (fraud)", low=_D(0), high=_D(100)),
    "face_score": InputSpec("number", "Selfie against ID portrait, 0..1; 0.5 is the match threshold",
                            low=_D(0), high=_D(1)),
    "id_2factor": InputSpec("string", "Name + ID number check", values=FACTOR_RESULTS),
    "id_3factor": InputSpec("string", "Name + ID number + mobile number check", values=FACTOR_RESULTS),
    "id_4factor": InputSpec("string", "Name + ID number + mobile + bank card check", values=FACTOR_RESULTS),
    # affordability (derived)
    "monthly_debt_service": InputSpec("number", "Existing monthly debt service (stated or estimated)", derived=True),
    "debt_to_income": InputSpec("number", "monthly_debt_service / monthly_income", derived=True),
}


# --------------------------------------------------------------------------------------------------
# Errors


class ExpressionError(ValueError):
    """A condition that cannot be parsed or typed; ``position`` is a 0-based character offset."""

    def __init__(self, message: str, source: str, position: int | None = None):
        self.message, self.source, self.position = message, source, position
        where = "" if position is None else f" at {position + 1}: {source[:position]}\u2192{source[position:]}"
        super().__init__(f"{message}{where}")


@dataclass(frozen=True)
class PolicyProblem:
    path: str  # "rules[3].when", "limit.bands.B.max_limit"
    detail: str


class InvalidPolicy(ValueError):
    """Every problem in a policy document, at once."""

    def __init__(self, problems: list[PolicyProblem]):
        self.problems = problems
        super().__init__("invalid policy: " + "; ".join(f"{p.path}: {p.detail}" for p in problems))


# --------------------------------------------------------------------------------------------------
# AST


@dataclass(frozen=True)
class Name:
    name: str
    pos: int


@dataclass(frozen=True)
class Literal:
    value: Any  # Decimal | str | bool
    pos: int


@dataclass(frozen=True)
class Compare:
    op: str
    left: Node
    right: Node
    pos: int


@dataclass(frozen=True)
class In:
    item: Node
    options: tuple[Literal, ...]
    negated: bool
    pos: int


@dataclass(frozen=True)
class Between:
    item: Node
    low: Node
    high: Node
    negated: bool
    pos: int


@dataclass(frozen=True)
class IsNull:
    item: Node
    negated: bool
    pos: int


@dataclass(frozen=True)
class Not:
    operand: Node
    pos: int


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    operands: tuple[Node, ...]
    pos: int


Node = Name | Literal | Compare | In | Between | IsNull | Not | BoolOp

# --------------------------------------------------------------------------------------------------
# Tokens and parser

KEYWORDS = frozenset({"and", "or", "not", "in", "between", "is", "null", "true", "false"})
COMPARISONS = ("==", "!=", "<=", ">=", "<", ">")
MAX_SOURCE = 2000
MAX_DEPTH = 50

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<number>-?\d+(?:\.\d+)?(?![A-Za-z_\d.]))
  | (?P<string>'[^'\\\n]*'|"[^"\\\n]*")
  | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
""", re.VERBOSE)


@dataclass(frozen=True)
class Token:
    kind: str  # number string op name keyword end
    text: str
    pos: int


def tokenize(source: str) -> list[Token]:
    out: list[Token] = []
    i = 0
    while i < len(source):
        m = _TOKEN.match(source, i)
        if not m:
            ch = source[i]
            hint = " (use == to compare)" if ch == "=" else " (strings are quoted with ' or \", no escapes)" \
                if ch == "\\" else ""
            raise ExpressionError(f"unexpected character {ch!r}{hint}", source, i)
        kind = m.lastgroup
        text = m.group()
        if kind == "name" and text in KEYWORDS:
            kind = "keyword"
        if kind != "ws":
            out.append(Token(kind, text, i))
        i = m.end()
    out.append(Token("end", "", len(source)))
    return out


class _Parser:
    """Recursive descent, one function per precedence level (lowest first): or, and, not, comparison."""

    def __init__(self, source: str):
        if len(source) > MAX_SOURCE:
            raise ExpressionError(f"a condition is at most {MAX_SOURCE} characters", source)
        self.source = source
        self.tokens = tokenize(source)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def error(self, message: str, tok: Token | None = None) -> ExpressionError:
        return ExpressionError(message, self.source, (tok or self.tok).pos)

    def at(self, kind: str, text: str | None = None) -> bool:
        return self.tok.kind == kind and (text is None or self.tok.text == text)

    def take(self, kind: str, text: str | None = None) -> Token:
        if not self.at(kind, text):
            found = "the end" if self.tok.kind == "end" else repr(self.tok.text)
            raise self.error(f"expected {text or kind}, found {found}")
        t = self.tok
        self.i += 1
        return t

    def parse(self) -> Node:
        if self.at("end"):
            raise self.error("empty condition")
        node = self.or_expr()
        if not self.at("end"):
            raise self.error(f"unexpected {self.tok.text!r}")
        return node

    def _nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"nested deeper than {MAX_DEPTH}")

    def or_expr(self) -> Node:
        first = self.tok
        parts = [self.and_expr()]
        while self.at("keyword", "or"):
            self.i += 1
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else BoolOp("or", tuple(parts), first.pos)

    def and_expr(self) -> Node:
        first = self.tok
        parts = [self.not_expr()]
        while self.at("keyword", "and"):
            self.i += 1
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else BoolOp("and", tuple(parts), first.pos)

    def not_expr(self) -> Node:
        if self.at("keyword", "not"):
            t = self.take("keyword", "not")
            self._nest()
            node = Not(self.not_expr(), t.pos)
            self.depth -= 1
            return node
        return self.comparison()

    def comparison(self) -> Node:
        left = self.operand()
        t = self.tok
        if t.kind == "op" and t.text in COMPARISONS:
            self.i += 1
            node: Node = Compare(t.text, left, self.operand(), t.pos)
        elif self.at("keyword", "in"):
            self.i += 1
            node = In(left, self.list_literal(), False, t.pos)
        elif self.at("keyword", "between"):
            self.i += 1
            node = self.between(left, False, t)
        elif self.at("keyword", "not"):  # "x not in [...]" / "x not between a and b"
            self.i += 1
            if self.at("keyword", "in"):
                self.i += 1
                node = In(left, self.list_literal(), True, t.pos)
            elif self.at("keyword", "between"):
                self.i += 1
                node = self.between(left, True, t)
            else:
                raise self.error("expected 'in' or 'between' after 'not'")
        elif self.at("keyword", "is"):
            self.i += 1
            negated = False
            if self.at("keyword", "not"):
                self.i += 1
                negated = True
            self.take("keyword", "null")
            node = IsNull(left, negated, t.pos)
        else:
            return left
        if self.tok.kind == "op" and self.tok.text in COMPARISONS:
            raise self.error("comparisons do not chain: write 'a < b and b < c'")
        return node

    def between(self, item: Node, negated: bool, t: Token) -> Node:
        low = self.operand()
        self.take("keyword", "and")
        return Between(item, low, self.operand(), negated, t.pos)

    def operand(self) -> Node:
        t = self.tok
        if t.kind == "op" and t.text == "(":
            self.i += 1
            self._nest()
            node = self.or_expr()
            self.depth -= 1
            self.take("op", ")")
            return node
        if t.kind == "name":
            self.i += 1
            return Name(t.text, t.pos)
        if t.kind in ("number", "string") or (t.kind == "keyword" and t.text in ("true", "false")):
            return self.literal()
        if t.kind == "keyword" and t.text == "null":
            raise self.error("compare with null using 'is null' or 'is not null'")
        raise self.error("expected an input name, a number, a string, true, false or '('"
                         if t.kind != "end" else "the condition ends too early")

    def literal(self) -> Literal:
        t = self.tok
        self.i += 1
        if t.kind == "number":
            return Literal(Decimal(t.text), t.pos)
        if t.kind == "string":
            return Literal(t.text[1:-1], t.pos)
        if t.kind == "keyword" and t.text in ("true", "false"):
            return Literal(t.text == "true", t.pos)
        raise self.error("expected a number, a string, true or false", t)

    def list_literal(self) -> tuple[Literal, ...]:
        self.take("op", "[")
        items: list[Literal] = []
        if not self.at("op", "]"):
            items.append(self.literal())
            while self.at("op", ","):
                self.i += 1
                items.append(self.literal())
        self.take("op", "]")
        if not items:
            raise self.error("an empty list: 'in []' is never true")
        return tuple(items)


def parse(source: str) -> Node:
    """Parse a condition into its AST (raises :class:`ExpressionError`)."""
    if not isinstance(source, str):
        raise ExpressionError("a condition is a string", repr(source))
    return _Parser(source).parse()


# --------------------------------------------------------------------------------------------------
# Type checking


def _lit_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    return "number" if isinstance(value, Decimal) else "string"


def check(node: Node, source: str, inputs: Mapping[str, InputSpec] = INPUTS,
          vocab: Mapping[str, tuple[str, ...]] | None = None) -> str:
    """The type of ``node`` (``bool``, ``number``, ``string``); raises :class:`ExpressionError` for an
    unknown name, mismatched types, or a string literal outside an input's vocabulary."""
    vocab = vocab or {}

    def err(msg: str, n: Node) -> ExpressionError:
        return ExpressionError(msg, source, n.pos)

    def values_of(n: Node) -> tuple[str, ...] | None:
        if isinstance(n, Name):
            return vocab.get(n.name) or inputs[n.name].values
        return None

    def check_vocab(n: Node, lits: tuple[Literal, ...]) -> None:
        allowed = values_of(n)
        if allowed is None:
            return
        for lit in lits:
            if isinstance(lit.value, str) and lit.value not in allowed:
                raise err(f"{n.name} is never {lit.value!r}; its values are {', '.join(allowed)}", lit)

    def typ(n: Node) -> str:
        if isinstance(n, Name):
            if n.name not in inputs:
                close = [k for k in inputs if k.startswith(n.name[:4])][:3]
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                raise err(f"unknown input {n.name!r}{hint}", n)
            return inputs[n.name].type
        if isinstance(n, Literal):
            return _lit_type(n.value)
        if isinstance(n, Compare):
            lt, rt = typ(n.left), typ(n.right)
            if lt != rt:
                raise err(f"cannot compare {lt} with {rt}", n)
            if n.op not in ("==", "!=") and lt != "number":
                raise err(f"'{n.op}' compares numbers, not {lt}s", n)
            if isinstance(n.right, Literal):
                check_vocab(n.left, (n.right,))
            if isinstance(n.left, Literal):
                check_vocab(n.right, (n.left,))
            return "bool"
        if isinstance(n, In):
            it = typ(n.item)
            for lit in n.options:
                if _lit_type(lit.value) != it:
                    raise err(f"a list for a {it} holds {_lit_type(lit.value)} {lit.value!r}", lit)
            check_vocab(n.item, n.options)
            return "bool"
        if isinstance(n, Between):
            for part in (n.item, n.low, n.high):
                if typ(part) != "number":
                    raise err("'between' takes numbers", part)
            if isinstance(n.low, Literal) and isinstance(n.high, Literal) and n.low.value > n.high.value:
                raise err(f"between {n.low.value} and {n.high.value}: the low end is above the high end", n)
            return "bool"
        if isinstance(n, IsNull):
            if not isinstance(n.item, Name):
                raise err("'is null' applies to an input name", n)
            typ(n.item)
            return "bool"
        if isinstance(n, Not):
            if typ(n.operand) != "bool":
                raise err("'not' takes a condition", n)
            return "bool"
        if isinstance(n, BoolOp):
            for part in n.operands:
                if typ(part) != "bool":
                    raise err(f"'{n.op}' joins conditions; this part is a {typ(part)}", part)
            return "bool"
        raise TypeError(n)  # pragma: no cover

    return typ(node)


def names(node: Node) -> tuple[str, ...]:
    """The inputs a condition reads, in order of first use."""
    seen: dict[str, None] = {}

    def walk(n: Node) -> None:
        if isinstance(n, Name):
            seen.setdefault(n.name)
        elif isinstance(n, Compare):
            walk(n.left), walk(n.right)
        elif isinstance(n, In):
            walk(n.item)
        elif isinstance(n, Between):
            walk(n.item), walk(n.low), walk(n.high)
        elif isinstance(n, IsNull):
            walk(n.item)
        elif isinstance(n, Not):
            walk(n.operand)
        elif isinstance(n, BoolOp):
            for p in n.operands:
                walk(p)

    walk(node)
    return tuple(seen)


# --------------------------------------------------------------------------------------------------
# Evaluation: Kleene three-valued logic, None = unknown


def evaluate(node: Node, values: Mapping[str, Any]) -> bool | None:
    """True, False, or None (unknown: a null input decided it).  ``values`` hold Decimal for numbers."""

    def val(n: Node) -> Any:
        if isinstance(n, Name):
            return values[n.name]
        if isinstance(n, Literal):
            return n.value
        return ev(n)

    def ev(n: Node) -> bool | None:
        if isinstance(n, (Name, Literal)):
            return val(n)
        if isinstance(n, Compare):
            a, b = val(n.left), val(n.right)
            if a is None or b is None:
                return None
            return {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[n.op]
        if isinstance(n, In):
            x = val(n.item)
            if x is None:
                return None
            return (x in [o.value for o in n.options]) != n.negated
        if isinstance(n, Between):
            x, lo, hi = val(n.item), val(n.low), val(n.high)
            if x is None or lo is None or hi is None:
                return None
            return (lo <= x <= hi) != n.negated
        if isinstance(n, IsNull):
            return (values[n.item.name] is None) != n.negated
        if isinstance(n, Not):
            r = ev(n.operand)
            return None if r is None else not r
        if isinstance(n, BoolOp):
            results = [ev(p) for p in n.operands]
            if n.op == "and":
                return False if False in results else None if None in results else True
            return True if True in results else None if None in results else False
        raise TypeError(n)  # pragma: no cover

    return ev(node)


# --------------------------------------------------------------------------------------------------
# Policy documents


@dataclass(frozen=True)
class Rule:
    code: str
    description: str
    when: str
    outcome: str
    reason_code: str
    reason_text: str
    condition: Node = field(compare=False, repr=False)

    @property
    def inputs(self) -> tuple[str, ...]:
        return names(self.condition)


@dataclass(frozen=True)
class ScoreBand:
    band: str
    min_score: int | None  # None: everything below the band above


@dataclass(frozen=True)
class Policy:
    id: str
    version: int
    currency: str
    description: str
    bands: tuple[ScoreBand, ...]
    rules: tuple[Rule, ...]
    limit: dict[str, Any]    # parsed by pricing.limit_table (Decimals)
    pricing: dict[str, Any]  # parsed by pricing.price_table (Decimals)
    document: dict[str, Any] = field(compare=False, repr=False)
    sha256: str = ""

    def band_of(self, score: int) -> str:
        for b in self.bands:
            if b.min_score is None or score >= b.min_score:
                return b.band
        raise AssertionError("the last band has no floor")  # validation guarantees it

    @property
    def key(self) -> tuple[str, int]:
        return (self.id, self.version)


_CODE = re.compile(r"^[A-Z][A-Z0-9_]{1,63}$")
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def canonical(doc: Any) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def document_sha256(doc: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(doc).encode()).hexdigest()


def from_dict(doc: Mapping[str, Any]) -> Policy:
    """Read and validate a policy document; raises :class:`InvalidPolicy` listing every problem."""
    from . import pricing  # the limit and price tables are pricing's to read

    problems: list[PolicyProblem] = []

    def bad(path: str, detail: str) -> None:
        problems.append(PolicyProblem(path, detail))

    if not isinstance(doc, Mapping):
        raise InvalidPolicy([PolicyProblem("", "a policy document is a JSON object")])
    known = {"format", "id", "version", "currency", "description", "score_bands", "rules", "limit", "pricing"}
    for k in sorted(set(doc) - known):
        bad(k, "unknown field")
    if doc.get("format") != FORMAT:
        bad("format", f"must be {FORMAT!r}")
    pid = doc.get("id")
    if not isinstance(pid, str) or not _ID.match(pid):
        bad("id", "must be lower-case letters, digits, '.', '_' or '-' (at most 64)")
    version = doc.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        bad("version", "must be a whole number from 1")
    currency = doc.get("currency")
    from openlend.money import ISO_CURRENCIES
    if currency not in ISO_CURRENCIES:
        bad("currency", "must be an ISO 4217 code such as CNY")
    description = doc.get("description", "")
    if not isinstance(description, str):
        bad("description", "must be a string")

    # score bands: best first, floors strictly falling, the last one without a floor
    bands: list[ScoreBand] = []
    raw_bands = doc.get("score_bands")
    if not isinstance(raw_bands, list) or not raw_bands:
        bad("score_bands", "must be a non-empty list, best band first")
        raw_bands = []
    for i, b in enumerate(raw_bands):
        p = f"score_bands[{i}]"
        if not isinstance(b, Mapping) or not isinstance(b.get("band"), str) or not b.get("band"):
            bad(p, "must be an object with a band name and a min_score")
            continue
        ms = b.get("min_score")
        last = i == len(raw_bands) - 1
        if last and ms is not None:
            bad(f"{p}.min_score", "the last band takes every lower score: its min_score must be null")
        elif not last and (isinstance(ms, bool) or not isinstance(ms, int)):
            bad(f"{p}.min_score", "must be a whole number (only the last band has none)")
        elif not last and bands and bands[-1].min_score is not None and ms >= bands[-1].min_score:
            bad(f"{p}.min_score", "bands go from best to worst: each floor below the one before")
        if any(x.band == b["band"] for x in bands):
            bad(f"{p}.band", f"duplicate band {b['band']!r}")
        bands.append(ScoreBand(b["band"], ms if isinstance(ms, int) and not isinstance(ms, bool) else None))
    band_names = tuple(b.band for b in bands)

    # rules
    rules: list[Rule] = []
    raw_rules = doc.get("rules")
    if not isinstance(raw_rules, list):
        bad("rules", "must be a list")
        raw_rules = []
    seen: set[str] = set()
    vocab = {"score_band": band_names}
    for i, r in enumerate(raw_rules):
        p = f"rules[{i}]"
        if not isinstance(r, Mapping):
            bad(p, "must be an object")
            continue
        for k in sorted(set(r) - {"code", "description", "when", "outcome", "reason"}):
            bad(f"{p}.{k}", "unknown field")
        code = r.get("code")
        if not isinstance(code, str) or not _CODE.match(code):
            bad(f"{p}.code", "must be upper-case letters, digits and '_', such as P001_AGE")
        elif code in seen:
            bad(f"{p}.code", f"duplicate rule code {code!r}")
        else:
            seen.add(code)
        if not isinstance(r.get("description"), str) or not r.get("description"):
            bad(f"{p}.description", "is required")
        if r.get("outcome") not in OUTCOMES:
            bad(f"{p}.outcome", "must be one of " + ", ".join(OUTCOMES))
        reason = r.get("reason")
        if not (isinstance(reason, Mapping) and isinstance(reason.get("code"), str) and _CODE.match(reason["code"])
                and isinstance(reason.get("text"), str) and reason["text"]):
            bad(f"{p}.reason", "must be {code: UPPER_CASE, text: ...}")
            reason = {"code": "", "text": ""}
        when = r.get("when")
        node: Node | None = None
        try:
            node = parse(when)
            if check(node, when, INPUTS, vocab) != "bool":
                raise ExpressionError("a condition must be true or false, not a bare value", when, 0)
        except ExpressionError as exc:
            bad(f"{p}.when", str(exc))
            node = None
        if node is not None and not problems_for(problems, p):
            rules.append(Rule(code, r["description"], when, r["outcome"], reason["code"], reason["text"], node))

    limit = pricing_tables = None
    try:
        limit = pricing.limit_table(doc.get("limit"), band_names)
    except InvalidPolicy as exc:
        problems.extend(exc.problems)
    try:
        pricing_tables = pricing.price_table(doc.get("pricing"), band_names)
    except InvalidPolicy as exc:
        problems.extend(exc.problems)

    if problems:
        raise InvalidPolicy(problems)
    return Policy(id=pid, version=version, currency=currency, description=description, bands=tuple(bands),
                  rules=tuple(rules), limit=limit, pricing=pricing_tables,
                  document=json.loads(canonical(doc)), sha256=document_sha256(doc))


def problems_for(problems: list[PolicyProblem], prefix: str) -> bool:
    return any(p.path == prefix or p.path.startswith(prefix + ".") for p in problems)


def from_json(text: str | bytes) -> Policy:
    def no_floats(s: str) -> Any:
        raise InvalidPolicy([PolicyProblem("", f"the JSON number {s} has a fraction: write decimals as strings")])

    try:
        doc = json.loads(text, parse_float=no_floats)
    except json.JSONDecodeError as exc:
        raise InvalidPolicy([PolicyProblem("", f"not JSON: {exc}")]) from None
    return from_dict(doc)


DEFAULT_POLICY = "default_policy.json"


def default_policy() -> Policy:
    """The policy shipped in the wheel (docs/design/decisioning.md explains each rule)."""
    return from_json(resources.files(__package__).joinpath(DEFAULT_POLICY).read_text(encoding="utf-8"))


def to_decimal(value: Any) -> Decimal:
    """A number from a policy document or an input: int, Decimal, decimal string (float by its repr)."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")  # noqa: TRY004 - callers catch ValueError
    if isinstance(value, float):
        value = repr(value)
    try:
        d = Decimal(value) if isinstance(value, (int, str, Decimal)) else None
    except InvalidOperation:
        d = None
    if d is None or not d.is_finite():
        raise ValueError(f"{value!r} is not a finite decimal")
    return d
