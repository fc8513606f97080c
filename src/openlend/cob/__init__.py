"""Close of business: ``openlend cob`` (see :mod:`.service`)."""
