"""The model and policy registry: scorecard versions with their metrics and roles (one champion,
challengers with a share), policy versions with their hash (one active); the shipped ones are
registered on first use.  Parsed documents are cached by version (a version is its content's hash)."""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from .. import errors
from ..errors import Problem, field_error


@functools.lru_cache(maxsize=1)
def _shipped():
    """The scorecard and policy that ship in the wheel, parsed once."""
    from ..decisioning import packaged_model, to_dict
    from ..decisioning.policy import default_policy

    model = packaged_model()
    return model, to_dict(model), default_policy()


def ensure_registry(conn: psycopg.Connection) -> None:
    """The shipped scorecard and policy are registered (champion / active) on first use; one small
    read when they are (the documents are sent only when one is missing)."""
    model, body, pol = _shipped()
    have = conn.execute("SELECT EXISTS (SELECT 1 FROM risk_models WHERE version = %s) AS m, "
                        "EXISTS (SELECT 1 FROM risk_policies WHERE id = %s AND version = %s) AS p",
                        [model.version_id, pol.id, pol.version], prepare=True).fetchone()
    if not have["m"]:
        conn.execute("INSERT INTO risk_models (version, kind, body, metrics, role) VALUES (%s, 'scorecard', %s, %s, "
                     "CASE WHEN EXISTS (SELECT 1 FROM risk_models WHERE kind = 'scorecard' AND role = 'champion') "
                     "THEN 'retired' ELSE 'champion' END) ON CONFLICT (version) DO NOTHING",
                     [model.version_id, Jsonb(body), Jsonb(body.get("metrics") or {})])
    if not have["p"]:
        conn.execute("INSERT INTO risk_policies (id, version, body, sha256, created_by, status) VALUES (%s, %s, %s, "
                     "%s, 'openlend', CASE WHEN EXISTS (SELECT 1 FROM risk_policies WHERE id = %s AND status = 'active') "
                     "THEN 'retired' ELSE 'active' END) ON CONFLICT (id, version) DO NOTHING",
                     [pol.id, pol.version, Jsonb(pol.document), pol.sha256, pol.id])


def champion(conn: psycopg.Connection):
    from ..decisioning.engine import ChampionChallenger

    rows = conn.execute("SELECT version, body, role, share FROM risk_models WHERE kind = 'scorecard' "
                        "AND role IN ('champion', 'challenger') ORDER BY role, version").fetchall()
    champ = next(_model(r["version"], r["body"]) for r in rows if r["role"] == "champion")
    chal = next((r for r in rows if r["role"] == "challenger" and r["share"] > 0), None)
    cc = None
    if chal is not None:
        cc = ChampionChallenger(challenger=_model(chal["version"], chal["body"]), share=chal["share"],
                                experiment="scorecard")
    return champ, cc


_parsed: dict[tuple[str, str], Any] = {}


def _model(version: str, body: dict[str, Any]):
    """A registered scorecard, parsed once per version (a version is its content's hash)."""
    from ..decisioning import from_dict
    key = ("model", version)
    if key not in _parsed:
        _parsed[key] = from_dict(body)
    return _parsed[key]


def active_policy(conn: psycopg.Connection):
    from ..decisioning.policy import from_dict

    r = conn.execute("SELECT sha256, body FROM risk_policies WHERE status = 'active' ORDER BY created_at DESC LIMIT 1"
                     ).fetchone()
    key = ("policy", r["sha256"])
    if key not in _parsed:
        _parsed[key] = from_dict(r["body"])
    return _parsed[key]


def list_models(conn: psycopg.Connection) -> dict[str, Any]:
    ensure_registry(conn)
    rows = conn.execute("SELECT version, kind, metrics, role, share, created_at FROM risk_models ORDER BY created_at"
                        ).fetchall()
    return {"object": "list", "data": [{"object": "risk_model", **r, "share": format(r["share"], "f"),
                                        "created_at": r["created_at"].isoformat()} for r in rows],
            "has_more": False, "next_cursor": None}


def list_policies(conn: psycopg.Connection) -> dict[str, Any]:
    ensure_registry(conn)
    rows = conn.execute("SELECT id, version, sha256, status, body, created_by, created_at FROM risk_policies "
                        "ORDER BY id, version").fetchall()
    return {"object": "list", "data": [{"object": "risk_policy", **r, "created_at": r["created_at"].isoformat()}
                                       for r in rows], "has_more": False, "next_cursor": None}


def publish_policy(conn: psycopg.Connection, doc: Any, *, operator: str) -> dict[str, Any]:
    """A new version of a policy (decision tables as data, see docs/design/decisioning.md): validated in
    full (every problem reported), stored with its hash, made the active version; the previous one is
    kept (retired) so that old decisions still replay."""
    from ..decisioning.policy import InvalidPolicy, from_dict

    ensure_registry(conn)
    if not isinstance(doc, dict):
        raise field_error(errors.VALIDATION, "", "a policy document (JSON object)")
    try:
        pol = from_dict(doc)
    except InvalidPolicy as exc:
        raise Problem(errors.VALIDATION, "The policy has errors.",
                      errors=[{"pointer": "/" + p.path.replace(".", "/").replace("[", "/").replace("]", ""),
                               "detail": p.detail} for p in exc.problems]) from None
    have = conn.execute("SELECT max(version) AS v FROM risk_policies WHERE id = %s", [pol.id]).fetchone()["v"] or 0
    if pol.version <= have:
        raise field_error(errors.VALIDATION, "/version", f"policy {pol.id} is at version {have}: give {have + 1}")
    conn.execute("UPDATE risk_policies SET status = 'retired' WHERE id = %s AND status = 'active'", [pol.id])
    conn.execute("UPDATE risk_policies SET status = 'retired' WHERE status = 'active'")
    conn.execute("INSERT INTO risk_policies (id, version, body, sha256, created_by, status) "
                 "VALUES (%s, %s, %s, %s, %s, 'active')", [pol.id, pol.version, Jsonb(pol.document), pol.sha256, operator])
    return {"object": "risk_policy", "id": pol.id, "version": pol.version, "sha256": pol.sha256, "status": "active"}


def set_model_role(conn: psycopg.Connection, version: str, *, role: Any, share: Any = None) -> dict[str, Any]:
    """Make a registered scorecard the champion, a challenger (with its share of applications, chosen by
    the application id's hash), or retire it."""
    ensure_registry(conn)
    if role not in ("champion", "challenger", "retired"):
        raise field_error(errors.VALIDATION, "/role", "champion, challenger or retired")
    r = conn.execute("SELECT version, role FROM risk_models WHERE version = %s", [version]).fetchone()
    if r is None:
        raise errors.not_found("risk model", version)
    sh = Decimal(0)
    if role == "challenger":
        try:
            sh = Decimal(share) if isinstance(share, str) else None
        except ArithmeticError:
            sh = None
        if sh is None or not Decimal(0) < sh < Decimal(1):
            raise field_error(errors.VALIDATION, "/share", "a decimal string between 0 and 1 (the challenger's share)")
        conn.execute("UPDATE risk_models SET role = 'retired', share = 0 WHERE kind = 'scorecard' AND role = 'challenger'")
    if role == "champion":
        if r["role"] != "champion":
            conn.execute("UPDATE risk_models SET role = 'retired', share = 0 WHERE kind = 'scorecard' AND role = 'champion'")
    elif r["role"] == "champion":
        raise field_error(errors.VALIDATION, "/role", "make another model the champion first")
    conn.execute("UPDATE risk_models SET role = %s, share = %s WHERE version = %s", [role, sh, version])
    return next(m for m in list_models(conn)["data"] if m["version"] == version)


def register_model(conn: psycopg.Connection, doc: Any) -> dict[str, Any]:
    """Register a scorecard document (``openlend model train -o FILE`` makes one); it starts retired."""
    from ..decisioning import ModelError, from_dict

    ensure_registry(conn)
    try:
        model = from_dict(doc)
    except (ModelError, KeyError, TypeError, ValueError) as exc:
        raise field_error(errors.VALIDATION, "", f"not a scorecard document: {exc}") from None
    conn.execute("INSERT INTO risk_models (version, kind, body, metrics) VALUES (%s, 'scorecard', %s, %s) "
                 "ON CONFLICT (version) DO NOTHING", [model.version_id, Jsonb(doc), Jsonb(doc.get("metrics") or {})])
    return next(m for m in list_models(conn)["data"] if m["version"] == model.version_id)
