"""Errors that are the user's to fix (bad flags, bad data); binaries print them as one line."""


class UserError(Exception):
    """A problem with the user's input or configuration, reported without a traceback."""


class DataError(UserError):
    """Input data is missing, empty or unusable."""
