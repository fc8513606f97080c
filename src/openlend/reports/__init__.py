"""Reports over the loan book: subledger-to-GL reconciliation and portfolio at risk."""
