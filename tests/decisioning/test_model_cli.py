from __future__ import annotations

import io
import json

from openlend.cli import main
from openlend.decisioning import from_json, packaged_model


def run(capsys, monkeypatch, *argv, stdin: str = ""):
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(["model", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_report_prints_auc_ks_and_gini_on_the_hold_out_and_train(capsys, monkeypatch):
    code, out, _ = run(capsys, monkeypatch, "report")
    assert code == 0
    model = packaged_model()
    assert model.version_id in out
    assert "AUC" in out and "KS" in out and "Gini" in out
    holdout = next(line for line in out.splitlines() if line.strip().startswith("hold-out"))
    assert f"{model.metrics['holdout']['auc']:.4f}" in holdout
    assert "personal_status_sex" in out  # named as excluded
    assert "WoE" not in out  # bins only on request


def test_report_bins_prints_each_variables_points_table(capsys, monkeypatch):
    code, out, _ = run(capsys, monkeypatch, "report", "--bins")
    assert code == 0 and "WoE" in out and "checking_account (categorical" in out


def test_report_json_carries_metrics_and_bins(capsys, monkeypatch):
    code, out, _ = run(capsys, monkeypatch, "report", "--json", "--bins")
    doc = json.loads(out)
    assert code == 0 and doc["version_id"] == packaged_model().version_id
    assert set(doc["metrics"]) == {"train", "holdout"} and {"auc", "ks", "gini"} <= set(doc["metrics"]["holdout"])
    assert all(v["bins"] for v in doc["variables"])


def test_train_writes_a_model_with_the_scale_asked_for(capsys, monkeypatch, tmp_path, trained):
    path = tmp_path / "model.json"
    code, _, err = run(capsys, monkeypatch, "train", "--output", str(path), "--base-points", "500", "--pdo", "40")
    model = from_json(path.read_text())
    assert code == 0 and model.version_id in err
    assert (model.scaling.base_points, model.scaling.pdo) == (500, 40)
    # same split and coefficients as the default model; only the points are rescaled
    assert [v.coefficient for v in model.variables] == [v.coefficient for v in trained.variables]
    assert model.max_score - model.min_score > trained.max_score - trained.min_score
    code, out, _ = run(capsys, monkeypatch, "report", "--model", str(path), "--json")
    assert json.loads(out)["version_id"] == model.version_id


def test_score_reads_an_applicant_on_stdin(capsys, monkeypatch, german):
    code, out, _ = run(capsys, monkeypatch, "score", stdin=json.dumps(german.rows[0]))
    result = json.loads(out)
    assert code == 0 and result["model_version"] == packaged_model().version_id
    assert result["score"] == sum(result["points"].values())


def test_score_refuses_an_incomplete_applicant_and_bad_input(capsys, monkeypatch):
    code, out, _ = run(capsys, monkeypatch, "score", stdin='{"age": 30}')
    assert code == 1 and "checking_account" in json.loads(out)["errors"]
    code, _, err = run(capsys, monkeypatch, "score", stdin="not json")
    assert code == 2 and "not JSON" in err
    code, _, err = run(capsys, monkeypatch, "report", "--model", "/nonexistent.json")
    assert code == 2 and "cannot read" in err
