"""Start the stand-in as a subprocess for tests::

    with running_funder(tmp, bank_code="BANKA", rules={"min_score": 620}) as bank:
        bank.base_url, bank.secret
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sim.process import running
from typing import Any

PARTNER = ("openlend", "sandbox-funder-secret")


@dataclass
class FunderProcess:
    bank_code: str
    host: str
    port: int
    log_file: Path
    process: subprocess.Popen
    partner_id: str = PARTNER[0]
    secret: str = PARTNER[1]

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def log(self) -> str:
        return self.log_file.read_text()


@contextlib.contextmanager
def running_funder(workdir: Path, *extra_args: str, bank_code: str = "BANKA", rules: dict[str, Any] | None = None,
                   timeout: float = 10.0) -> Iterator[FunderProcess]:
    """Run ``python -m sim.funder --port 0`` (its own process), wait for its port, stop it afterwards."""
    workdir.mkdir(parents=True, exist_ok=True)
    log_file = workdir / f"funder-{bank_code}.log"
    args = ["--port", "0", "--bank-code", bank_code, "--partner", ":".join(PARTNER), *extra_args]
    if rules is not None:
        rules_file = workdir / f"rules-{bank_code}.json"
        rules_file.write_text(json.dumps(rules))
        args += ["--rules", str(rules_file)]
    with running("sim.funder", args, log_file, r"FUNDER \S+ listening on ([\d.]+):(\d+)", "funder",
                 timeout) as (proc, port):
        yield FunderProcess(bank_code, "127.0.0.1", port, log_file, proc)
