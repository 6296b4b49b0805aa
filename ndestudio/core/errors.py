"""The one base class of every error a user can cause: bad files, configs and data.

Each subclass's message is complete and names the file (and line and column where there are
any) and what was expected. The CLI prints such an error as one message and exits with 2;
the window shows it in a dialog. Any other exception is a bug in NDE Studio.
"""

from __future__ import annotations


class UserError(ValueError):
    """Input that NDE Studio cannot use; ``str(error)`` is the message for the user."""
