"""Loan products: what a lender offers (currency, method, frequency, rate/term/amount ranges, grace,
fees, penalty interest, prepayment fee, repayment allocation, rounding, APR cap), versioned so that a
loan keeps the version it was made on.

- :mod:`.rules`: pure validation, the worst-case APR check, and a loan's schedule terms from a
  product version (no database, no web).
- :mod:`.service`: the use cases over one connection, and the functions other domains call:
  ``get_product_version``, ``get_active_product_version``, ``schedule_terms_for``.
- :mod:`.api`: ``/v1/products``; :mod:`.cli`: ``openlend products``; :mod:`.demo`: demo products.
"""
