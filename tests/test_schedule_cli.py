"""``openlend schedule``: the stable stdin/stdout contract."""

from __future__ import annotations

import json
import subprocess
import sys

CASE = {"principal": "5000", "annual_rate": "12", "method": "equal_installment", "term": 18,
        "disbursement_date": "2022-11-01", "first_due_date": "2022-12-01", "installment_multiple": "1"}


def run(stdin: str):
    return subprocess.run([sys.executable, "-m", "openlend.cli", "schedule"], input=stdin,
                          capture_output=True, text=True, timeout=60)


def test_one_object_in_one_schedule_out():
    r = run(json.dumps(CASE))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    rows = out["installments"]
    assert len(rows) == 18
    assert {row["total"] for row in rows[:-1]} == {"305.00"}
    assert rows[-1]["total"] == "303.22"
    assert out["total_interest"] == "488.22"
    assert set(rows[0]) == {"number", "from_date", "due_date", "days", "principal", "interest", "fees", "total", "outstanding"}
    assert set(out) >= {"installments", "total_principal", "total_interest", "total_fees", "total", "apr"}
    assert set(out["apr"]) == {"nominal", "effective"}


def test_an_array_in_an_array_out():
    flat = dict(CASE, method="flat")
    r = run(json.dumps([CASE, flat]))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert isinstance(out, list) and len(out) == 2
    assert out[1]["total_interest"] == "900.00"


def test_bad_input_exits_nonzero_with_one_line_naming_the_field():
    r = run(json.dumps(dict(CASE, principal=5000)))
    assert r.returncode != 0 and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and "principal" in r.stderr
    r = run(json.dumps([CASE, dict(CASE, frequency={"unit": "fortnight", "every": 1})]))
    assert r.returncode != 0 and r.stdout == "" and "frequency.unit" in r.stderr and "[1]" in r.stderr
    r = run("{oops")
    assert r.returncode != 0 and r.stdout == "" and len(r.stderr.strip().splitlines()) == 1


def test_preview_route_answers_with_the_same_engine(client):
    r = client.post("/v1/schedules/preview", json=CASE)
    assert r.status_code == 200, r.text
    cli = json.loads(run(json.dumps(CASE)).stdout)
    assert r.json() == cli
    r = client.post("/v1/schedules/preview", json=dict(CASE, annual_rate=12))
    assert r.status_code == 422
    body = r.json()
    assert body["type"] == "/problems/invalid-schedule-terms"
    assert body["errors"][0]["pointer"] == "/annual_rate"
