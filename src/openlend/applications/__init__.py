"""Credit applications: origination from a mobile number to a credit line (issue 5)."""
