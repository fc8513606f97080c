"""Constants shared by the risk tests and their conftest (a module of its own: ``conftest`` is not
importable by name when several test folders have one)."""

from datetime import date

AS_OF = date(2024, 6, 15)  # every date in the stand-in's answers is pinned to this one
HANG_MS = 5000             # the timeout identity's sleep: far past the clients' timeouts below
CLIENT_TIMEOUT_S = 2.0     # ordinary calls: generous, so a loaded machine does not flake
SHORT_TIMEOUT_S = 0.3      # for the calls that are meant to time out
