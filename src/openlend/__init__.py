"""openlend: an open-source digital consumer-lending platform."""

__version__ = "0.1.0"
