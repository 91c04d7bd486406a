"""rib's exceptions: every one carries a one-line message and the exit code the CLI uses.

Exit codes: 0 success; 1 a claim was not reproduced (``rib verify``); 2 invalid input (an unknown name, a
malformed card, grid or option); 3 a model refused (weights that fail their sha256 or cannot be read, a failed
admission check); 4 any other error (missing data, a damaged store, a diverged training); 130 interrupted.
"""

from __future__ import annotations

EXIT_CLAIM_FAILED = 1
EXIT_INVALID = 2
EXIT_REFUSED = 3
EXIT_ERROR = 4
EXIT_INTERRUPTED = 130


class RibError(Exception):
    """A user-facing error: the CLI prints its message on one line and exits with ``exit_code``."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class ConfigError(RibError):
    """A malformed card, recipe, grid or command-line value."""

    exit_code = EXIT_INVALID


class UnknownNameError(ConfigError, KeyError):
    """A name that no registry holds; the message suggests the closest names."""

    exit_code = EXIT_INVALID

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class WeightsError(RibError):
    """Weights that are missing, altered, unreadable or do not fit their architecture: the model is refused."""

    exit_code = EXIT_REFUSED


class DivergedError(RibError):
    """A training whose loss became NaN or infinite."""


class AdmissionError(RibError):
    """An outside model that failed an admission check (``rib.admission``): it is not evaluated, or not verified."""

    exit_code = EXIT_REFUSED


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
