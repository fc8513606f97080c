"""``openlend model``: the credit scorecard from the command line.

    openlend model report [--bins] [--json] [--model FILE | --retrain [training options]]
    openlend model train [--output FILE] [training options]      the model JSON (stdout or FILE)
    openlend model score [--model FILE] [--file applicant.json]   applicant JSON (stdin) -> score JSON
    openlend model compare [--json]     hold-out AUC/KS/Gini with and without protected attributes

Without ``--model`` or ``--retrain`` the packaged model is used (no training, no optbinning import).
Training options: --seed, --test-size, --base-points, --base-odds, --pdo, --include-protected.
Bad input exits 2 with the reason on stderr; an applicant the model cannot score exits 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from . import (
    ApplicantError,
    ModelError,
    Scaling,
    Scorecard,
    from_json,
    packaged_model,
    score,
    to_dict,
    to_json,
)
from .data import FIELDS_BY_NAME, PROTECTED


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("model", help="credit scorecard: report, train, score, compare")
    sub = p.add_subparsers(dest="model_command", required=True)

    r = sub.add_parser("report", help="AUC, KS and Gini on the hold-out and train sets; --bins for the points table")
    r.add_argument("--bins", action="store_true", help="print each variable's bins, WoE and points")
    r.add_argument("--json", action="store_true", help="JSON instead of text")
    src = r.add_mutually_exclusive_group()
    src.add_argument("--model", help="a scorecard JSON file (default: the packaged model)")
    src.add_argument("--retrain", action="store_true", help="train now instead of reading a model")
    _training_options(r)
    r.set_defaults(func=_report)

    t = sub.add_parser("train", help="train the scorecard and write its JSON")
    t.add_argument("--output", "-o", help="file to write (default: stdout)")
    _training_options(t)
    t.set_defaults(func=_train)

    s = sub.add_parser("score", help="score one applicant: JSON object of form fields on stdin (or --file)")
    s.add_argument("--model", help="a scorecard JSON file (default: the packaged model)")
    s.add_argument("--file", "-f", default="-", help="applicant JSON file, or - for stdin")
    s.add_argument("--reasons", type=int, default=4, help="at most this many reason codes (default 4)")
    s.set_defaults(func=_score)

    c = sub.add_parser("compare", help="train with and without protected attributes; hold-out metrics of each")
    c.add_argument("--json", action="store_true")
    c.add_argument("--seed", type=int, default=42)
    c.set_defaults(func=_compare)


def _training_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=42, help="seed of the stratified split (default 42)")
    p.add_argument("--test-size", type=float, default=0.3, help="hold-out share (default 0.3)")
    p.add_argument("--base-points", type=float, default=600.0, help="points at the base odds (default 600)")
    p.add_argument("--base-odds", type=float, default=50.0, help="good:bad odds at base points (default 50)")
    p.add_argument("--pdo", type=float, default=20.0, help="points to double the odds (default 20)")
    p.add_argument("--include-protected", action="store_true",
                   help=f"also use the protected attributes ({', '.join(sorted(PROTECTED))})")


class _BadInput(Exception):
    pass


def _train_from(args: argparse.Namespace) -> Scorecard:
    from . import train

    if not 0 < args.test_size < 1:
        raise _BadInput("--test-size must lie between 0 and 1")
    try:
        scaling = Scaling(args.base_points, args.base_odds, args.pdo)
    except ValueError as exc:
        raise _BadInput(str(exc)) from exc
    protected = {"exclude": (), "include": PROTECTED} if args.include_protected else {}
    return train(seed=args.seed, test_size=args.test_size, scaling=scaling, **protected)


def _load(path: str | None) -> Scorecard:
    if path is None:
        return packaged_model()
    try:
        return from_json(Path(path).read_bytes())
    except OSError as exc:
        raise _BadInput(f"cannot read {path}: {exc.strerror}") from exc
    except ModelError as exc:
        raise _BadInput(f"{path}: {exc}") from exc


def _run(fn, args: argparse.Namespace) -> int:
    try:
        return fn(args)
    except _BadInput as exc:
        sys.stderr.write(f"openlend: {exc}\n")
        return 2


def _summary(model: Scorecard, *, bins: bool) -> dict[str, Any]:
    doc = to_dict(model)
    variables = []
    for v in model.variables:
        item: dict[str, Any] = {"name": v.name, "kind": v.kind, "reason_code": v.reason_code,
                                "coefficient": v.coefficient, "iv": v.iv,
                                "min_points": v.min_points, "max_points": v.max_points}
        if bins:
            item["bins"] = [{"bin": b.label, "count": b.count, "bad_rate": b.bad_rate, "woe": b.woe,
                             "points": b.points} for b in v.bins]
        variables.append(item)
    return {"version_id": doc["version_id"], "name": model.name, "scaling": doc["scaling"],
            "score_range": [model.min_score, model.max_score], "metrics": model.metrics,
            "training": model.training, "provenance": model.provenance, "variables": variables}


def _metrics_lines(metrics: dict[str, dict[str, float]], labels=(("train", "train"), ("holdout", "hold-out"))) -> list[str]:
    lines = [f"  {'':10}{'AUC':>8}{'KS':>8}{'Gini':>8}{'n':>6}{'bad rate':>10}"]
    for key, label in labels:
        m = metrics[key]
        lines.append(f"  {label:10}{m['auc']:8.4f}{m['ks']:8.4f}{m['gini']:8.4f}{m['n']:6d}{m['bad_rate']:10.1%}")
    return lines


def _report_text(model: Scorecard, *, bins: bool) -> str:
    t, s = model.training, model.scaling
    out = [
        f"scorecard {model.name}  version {model.version_id}",
        (
            f"scale: {s.base_points:g} points at {s.base_odds:g}:1 good:bad odds, "
            f"{s.pdo:g} points to double the odds; scores {model.min_score}..{model.max_score}"
        ),
        (
            f"data: {t['data']['package']} {t['data']['version']} {t['data']['file']} "
            f"(sha256 {t['data']['sha256'][:12]}), {t['n_train']} train / {t['n_test']} hold-out, "
            f"stratified, seed {t['seed']}"
        ),
        f"excluded: {', '.join(t['excluded']) or '(none)'}",
    ]
    out += [f"dropped: {name}: {why}" for name, why in t["dropped"].items()]
    out += ["", *_metrics_lines(model.metrics), "",
            f"  {'variable':24}{'code':>5}{'coef':>9}{'IV':>8}{'points':>10}"]
    for v in model.variables:
        out.append(f"  {v.name:24}{v.reason_code:>5}{v.coefficient:9.4f}{v.iv:8.4f}{v.min_points:>5}..{v.max_points}")
    if bins:
        for v in model.variables:
            out += ["", f"{v.name} ({v.kind}, IV {v.iv:.4f})",
                    f"  {'bin':44}{'count':>6}{'bad rate':>10}{'WoE':>9}{'points':>8}"]
            for b in v.bins:
                out.append(f"  {b.label[:44]:44}{b.count:6d}{b.bad_rate:10.1%}{b.woe:9.4f}{b.points:8d}")
    return "\n".join(out) + "\n"


def _report(args: argparse.Namespace) -> int:
    def run(args: argparse.Namespace) -> int:
        model = _train_from(args) if args.retrain else _load(args.model)
        if args.json:
            sys.stdout.write(json.dumps(_summary(model, bins=args.bins), indent=2, ensure_ascii=False) + "\n")
        else:
            sys.stdout.write(_report_text(model, bins=args.bins))
        return 0

    return _run(run, args)


def _train(args: argparse.Namespace) -> int:
    def run(args: argparse.Namespace) -> int:
        model = _train_from(args)
        text = to_json(model)
        if args.output:
            Path(args.output).write_text(text, encoding="utf-8")
            h = model.metrics["holdout"]
            sys.stderr.write(f"wrote {args.output}: {model.version_id}, hold-out AUC {h['auc']:.4f} "
                             f"KS {h['ks']:.4f} Gini {h['gini']:.4f}\n")
        else:
            sys.stdout.write(text)
        return 0

    return _run(run, args)


def _score(args: argparse.Namespace) -> int:
    def run(args: argparse.Namespace) -> int:
        model = _load(args.model)
        try:
            text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
            applicant = json.loads(text)
        except OSError as exc:
            raise _BadInput(f"cannot read {args.file}: {exc.strerror}") from exc
        except json.JSONDecodeError as exc:
            raise _BadInput(f"applicant is not JSON: {exc}") from exc
        if not isinstance(applicant, dict):
            raise _BadInput("the applicant is a JSON object of form fields")
        try:
            result = score(model, applicant, max_reasons=args.reasons)
        except ApplicantError as exc:
            sys.stdout.write(json.dumps({"errors": exc.errors}, indent=2, ensure_ascii=False) + "\n")
            return 1
        sys.stdout.write(json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n")
        return 0

    return _run(run, args)


VARIANTS = (
    ("without_protected", "without sex/marital status and foreign worker (default)", {}),
    ("with_protected", "with them forced in", {"exclude": (), "include": PROTECTED}),
    ("without_protected_and_age", "also without age", {"exclude": PROTECTED | {"age"}}),
)


def compare(seed: int = 42) -> list[dict[str, Any]]:
    from . import train
    from .data import load_german_credit

    data = load_german_credit()
    rows = []
    for key, label, kwargs in VARIANTS:
        model = train(data, seed=seed, **kwargs)
        rows.append({"variant": key, "description": label, "version_id": model.version_id,
                     "variables": [v.name for v in model.variables],
                     "dropped": model.training["dropped"], "metrics": model.metrics})
    return rows


def _compare(args: argparse.Namespace) -> int:
    rows = compare(args.seed)
    if args.json:
        sys.stdout.write(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
        return 0
    out = [f"  {'hold-out':28}{'AUC':>8}{'KS':>8}{'Gini':>8}  protected variables used"]
    for r in rows:
        m = r["metrics"]["holdout"]
        used = [v for v in r["variables"] if FIELDS_BY_NAME[v].protected] or ["none"]
        out.append(f"  {r['variant']:28}{m['auc']:8.4f}{m['ks']:8.4f}{m['gini']:8.4f}  {', '.join(used)}")
    for r in rows:
        for name, why in r["dropped"].items():
            if FIELDS_BY_NAME[name].protected:
                out.append(f"  {r['variant']}: {name} dropped: {why}")
    sys.stdout.write("\n".join(out) + "\n")
    return 0
