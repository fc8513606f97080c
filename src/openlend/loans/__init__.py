"""Loans: one per drawdown; the pure engine, the service that stores its state, the API."""
