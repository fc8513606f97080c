"""Start the stand-in as a subprocess for tests::

    with running_funder(tmp, bank_code="BANKA", rules={"min_score": 620}) as bank:
        bank.base_url, bank.secret
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
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
    # Output goes to a file, not a pipe: nobody drains a pipe, and a full one would stall the server.
    with log_file.open("w") as out:
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        proc = subprocess.Popen([sys.executable, "-m", "sim.funder", *args], cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + timeout
        port = None
        while port is None:
            m = re.search(r"FUNDER \S+ listening on ([\d.]+):(\d+)", log_file.read_text())
            if m:
                port = int(m.group(2))
            elif proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the funder stand-in did not start:\n" + log_file.read_text())
            else:
                time.sleep(0.02)
        yield FunderProcess(bank_code, "127.0.0.1", port, log_file, proc)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
