"""``openlend schedule``: a stable contract for scripts and the sandbox.

Reads one JSON object, or a JSON array of them, on stdin; writes the schedule (or a JSON array of
schedules, in the same order) on stdout.  Bad input: exit status 2, nothing on stdout, one line on
stderr naming the field (``openlend schedule: [1].fees[0].amount: must be a decimal string``).
"""

from __future__ import annotations

import json
from typing import IO

from .engine import ScheduleInputError, generate
from .io import parse_terms, schedule_to_dict


def _one(obj: object) -> dict:
    return schedule_to_dict(generate(parse_terms(obj)))


def run(stdin: IO[str], stdout: IO[str], stderr: IO[str]) -> int:
    def fail(where: str, message: str) -> int:
        stderr.write(f"openlend schedule: {where}{message}\n")
        return 2

    text = stdin.read()
    try:
        data = json.loads(text)  # a JSON number where an amount belongs is refused by parse_terms
    except json.JSONDecodeError as exc:
        return fail("", f"input is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})")
    try:
        if isinstance(data, list):
            if not data:
                return fail("", "input is an empty array; give one object or an array of objects")
            out: object = []
            for i, obj in enumerate(data):
                try:
                    out.append(_one(obj))  # type: ignore[union-attr]
                except ScheduleInputError as exc:
                    return fail(f"[{i}].{exc.field}: " if exc.field else f"[{i}]: ", exc.message)
        else:
            out = _one(data)
    except ScheduleInputError as exc:
        return fail(f"{exc.field}: " if exc.field else "", exc.message)
    stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
    return 0
