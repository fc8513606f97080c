"""Credit lines: limit, used, available, status, expiry, limit history; drawdowns make loans."""
