"""Sandbox stand-ins for the outside world (banks, bureau, data providers, the SMSC).

Each stand-in runs as its own process and speaks the protocol a real counterpart speaks, so that
switching openlend to a real provider is configuration.  Stand-ins import nothing from openlend.
"""
