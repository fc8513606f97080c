"""Risk data: clients for the outside data providers (identity factor checks, carrier, court list,
multi-lending, credit bureau) in :mod:`.providers`, and the credit report's parser and features in
:mod:`.bureau`.  See docs/design/risk-data.md."""
