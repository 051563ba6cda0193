"""The errors that mean "the input, a file or a setting is wrong", as opposed to a bug.

Everything that a user can cause and fix (a bad photo, a missing file, an option out of range, a
combination that cannot be honored, an optional extra not installed) raises a ``HuenetError``;
the command line prints it as one line (``huenet <command>: error: ...``) and exits 2. Any other
exception is a bug: the CLI prints a one-line summary and, with ``HUENET_DEBUG=1``, the traceback.

This module is the ground floor: it imports nothing from huenet, and the modules that raise the
specific errors below subclass ``HuenetError`` where they define them (``images.ImageLoadError``,
``video.VideoError``, ``checkpoints.CheckpointError``, ...).
"""

from __future__ import annotations


class HuenetError(Exception):
    """A problem with the user's input, files or settings; ``str()`` is one line that says which
    and why."""


class SettingsError(HuenetError, ValueError):
    """An option out of range, an unknown name, or a combination of options that cannot be honored.
    (A ``ValueError`` too, so that callers catching that keep working.)"""


class MissingExtraError(HuenetError, RuntimeError):
    """An optional dependency is not installed; the message names the ``pip install`` that adds it."""


def missing_extra(what: str, extra: str, cause: BaseException | None = None) -> MissingExtraError:
    """``MissingExtraError("<what> needs huenet[<extra>]: pip install 'huenet[<extra>]' (<cause>)")``."""
    detail = f" ({cause})" if cause else ""
    return MissingExtraError(f"{what}: pip install 'huenet[{extra}]'{detail}")
