"""Errors a user can fix.

``AuditInputError`` is raised for bad input (a spec key that does not exist, a missing column,
scores outside [0, 1], an untrusted pickle, ...). Its message is one plain sentence that names
the problem and the fix; the command line prints it without a traceback and exits with code 2.
Anything else that escapes is an internal error (exit code 1).
"""

from __future__ import annotations


class AuditInputError(Exception):
    """Bad input that the user can fix: the message names the problem and the fix."""

    exit_code = 2
