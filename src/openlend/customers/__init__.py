"""Customers: borrowers, with their ID number encrypted (see :mod:`.crypto`)."""
