"""Origination: registration (verified mobile numbers, consents); later the application itself.

* :mod:`.sms`: the ``SmsSender`` interface and its SMPP implementation (the sandbox SMSC stand-in
  under ``sim/smsc`` speaks the same SMPP 3.4 a real SMS centre does).
* :mod:`.codes`: one-time verification codes sent by SMS (hashed, single use, purpose-bound,
  rate-limited).
* :mod:`.consents`: versioned consent texts and their acceptance.
"""
