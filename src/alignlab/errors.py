"""User-facing errors: each message says what went wrong and what to do about it.

The CLI prints an ``AlignlabError`` as one clean message (no traceback); anything else
is a bug and keeps its traceback.
"""


class AlignlabError(Exception):
    """An error caused by input or environment, with a message that says what to do."""


class UnknownNameError(AlignlabError, KeyError):
    """A registry lookup for a name that is not registered."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class MissingPackageError(AlignlabError, ImportError):
    """An optional package is not installed; the message holds the install command."""


class IntegrityError(AlignlabError):
    """A file's checksum does not match what was expected; it is refused, not loaded."""


class DataError(AlignlabError, ValueError):
    """Malformed or empty data: the message names the file and line where it can."""


class WeightsMismatchError(IntegrityError):
    """A model's weight file no longer has the sha256 recorded when it was prepared; the
    message names the file and the command that repairs it."""


class MissingPathError(AlignlabError, FileNotFoundError):
    """A name that reads as a local path, but nothing is there."""

    def __str__(self) -> str:  # OSError would prefix an errno when given more arguments
        return str(self.args[0]) if self.args else ""


class NotAModelError(AlignlabError):
    """A local path exists but is not a loadable model folder; the message says what is missing."""
