"""rib's exceptions: every one carries a one-line message and the exit code the CLI uses."""

from __future__ import annotations


class RibError(Exception):
    """A user-facing error: the CLI prints its message on one line and exits with ``exit_code``."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class UnknownNameError(RibError, KeyError):
    """A name that no registry holds; the message suggests the closest names."""

    exit_code = 2

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class ConfigError(RibError):
    """A malformed card, recipe, grid or command-line value."""

    exit_code = 2


class WeightsError(RibError):
    """Weights that are missing, altered, unreadable or do not fit their architecture."""


class DivergedError(RibError):
    """A training whose loss became NaN or infinite."""


class DatasetError(RibError):
    """A dataset whose files are missing or malformed."""


class DamagedFileError(RibError):
    """A stored file that cannot be read (cut short, not Parquet, wrong columns); ``path`` names it."""

    def __init__(self, path: object, reason: object) -> None:
        super().__init__(f"{path} is not a readable result file ({reason})")
        self.path = path


class RibWarning(UserWarning):
    """Something rib worked around and reports (a damaged result file left out or set aside); the CLI prints it on
    one line as ``rib: warning: …``."""
