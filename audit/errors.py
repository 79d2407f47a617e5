"""Errors a user can fix.

``AuditInputError`` is raised for bad input (a spec key that does not exist, a missing column,
scores outside [0, 1], an untrusted pickle, ...). Its message is one plain sentence that names
the problem and the fix; the command line prints it without a traceback and exits with code 2.
Anything else that escapes is an internal error (exit code 1).
"""

from __future__ import annotations

import re


#: numpy's reprs of scalars and dtypes (``np.int64(3)``, ``np.str_('F')``, ``dtype('float64')``), which a message
#: passing on a library's text could carry; they become the plain value.
_NUMPY_REPR = re.compile(r"\bnp\.(?:int|uint|float|complex|bool|str|bytes)\w*\((.*?)\)|\bdtype\((['\"]?)(\w+)\2\)")


def plain_values(text: str) -> str:
    """``text`` with numpy reprs replaced by the values they show: ``np.int64(3)`` → ``3``, ``dtype('float64')`` → ``float64``."""
    return _NUMPY_REPR.sub(lambda m: m.group(1) if m.group(1) is not None else m.group(3), text)


#: Longest message: a longer one (a listing gone wild) is cut, keeping its start, which names the problem.
MAX_MESSAGE = 600


class AuditInputError(Exception):
    """Bad input that the user can fix: the message names the problem and the fix (at most ``MAX_MESSAGE`` characters)."""

    exit_code = 2

    def __init__(self, message: object = "") -> None:
        text = plain_values(str(message))
        if len(text) > MAX_MESSAGE:
            text = text[: MAX_MESSAGE - 1] + "…"
        super().__init__(text)


class TrustRequired(AuditInputError):
    """Loading the input would run code (a pickle, untrusted skops types, ``model.architecture``) and the user
    has not consented with ``trust``: a plain input error that callers can tell apart (``reproduce`` rewords it)."""
