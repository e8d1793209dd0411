"""Exceptions shared by every layer.

Every error tzero raises for bad input derives from :class:`TzeroError`, so the
CLI can print its message and exit with a non-zero code without a traceback.
"""


class TzeroError(Exception):
    """Base class of every error caused by user input or data on disk."""


class SymbolError(TzeroError, ValueError):
    """A symbol string that is not one ``ts_code`` (unknown or ambiguous)."""


class CalendarError(TzeroError, ValueError):
    """A date outside the XSHG calendar, or not a session where one is required."""


class DataFormatError(TzeroError, ValueError):
    """A file whose bytes or text do not follow its format; names file and row."""


class StoreError(TzeroError):
    """The market store is missing, locked or holds no data for a request."""


class ModelError(TzeroError):
    """A model could not be trained or used (too little data, bad state)."""
