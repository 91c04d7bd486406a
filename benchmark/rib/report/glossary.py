"""What the site's words, badges and flags mean: the glossary page and the hover texts read this module.

Flag descriptions are not written here: the modules that raise the flags (``rib.sanity``, ``rib.checks``,
``rib.admission.checks``) describe them in ``rib.flags``'s one table (AutoAttack's own warnings in
``rib.attacks.autoattack``), so the page cannot drift from the code.
"""

from __future__ import annotations

from dataclasses import dataclass

from rib.admission.checks import ADMISSION_FLAGS
from rib.attacks.autoattack import AA_WARNING_DESCRIPTION, AA_WARNINGS
from rib.checks import CHECK_FLAGS
from rib.flags import FLAG_DESCRIPTIONS
from rib.sanity import SANITY_FLAGS

AA_PREFIX = "autoattack_warning:"
# short badge texts; a flag without one here shows its own name
FLAG_SHORT = {"vanishing_gradients": "zero grad", "ce_saturation": "CE sat", "non_monotone": "non-mono",
              "large_eps_not_zero": "big-eps", "black_box_beats_white_box": "BB>WB", "pgd_unreliable": "PGD weak",
              "admission:deterministic": "randomized", "admission:batch_independent": "batch-dep",
              "admission:finite_under_perturbation": "NaN", "admission:logits": "probs",
              "admission:usable_gradients": "no grads", "admission:generalizes": "memorized"}



def verification_meanings() -> dict[str, str]:
    """Each verification status (``rib.verify.STATUSES``) and what it means."""
    from rib.verify import (  # imported when asked: the site's other modules do not need verify
        CLEAN_ONLY,
        FAILED,
        FLAGGED,
        NO_WORST_CASE,
        NOT_ADMITTED,
        UNVERIFIED,
        VERIFIED,
    )

    return {
        VERIFIED: "every claim of the card reproduced when rib re-ran it, among them a worst-case claim (PGD, then "
                  "AutoAttack on PGD's survivors) at the headline eps of the trained norm",
        FAILED: "at least one claim of the card did not reproduce when rib re-ran it",
        CLEAN_ONLY: "the card's claims reproduced, but it claims no robust accuracy",
        NO_WORST_CASE: "the card's claims reproduced, but none is a worst-case claim at the headline eps",
        UNVERIFIED: "no verification record for these weights: rib verify has not been run on them",
        NOT_ADMITTED: "an admission check failed (randomized, batch-dependent, NaN under perturbation, probability "
                      "outputs, unusable gradients or memorized test images): never verified, not ranked",
        FLAGGED: "a masking flag the headline does not answer fired (non-monotone attack, accuracy left at a very "
                 "large eps, a randomized, dynamic or probability-output model per AutoAttack): a verified record "
                 "does not count, not ranked",
    }


@dataclass(frozen=True)
class Term:
    """One glossary entry: an anchor id, the term as shown, and its meaning."""

    id: str
    term: str
    meaning: str


def flag_anchor(flag: str) -> str:
    """The glossary anchor of a flag (``autoattack_warning:<kind>`` flags share one entry)."""
    name = AA_PREFIX.rstrip(":") if flag.startswith(AA_PREFIX) else flag
    return "flag-" + name.replace("_", "-").replace(":", "-")


def flag_short(flag: str) -> str:
    """A flag's badge text: a few characters, its meaning on hover."""
    if flag.startswith(AA_PREFIX):
        return "AA: " + flag[len(AA_PREFIX):].replace("_", " ")
    return FLAG_SHORT.get(flag, flag)


def flag_words(flag: str) -> str:
    """A flag as prose names it: its badge text, then its stored name ("AA: square beats gradient (autoattack_...)")."""
    return f"{flag_short(flag)} ({flag})"


def flag_description(flag: str) -> str:
    """What a flag means, from the module that raises it (a flag rib does not know says so)."""
    if flag.startswith(AA_PREFIX):
        return f"{AA_WARNING_DESCRIPTION} (kind: {flag[len(AA_PREFIX):]})"
    return FLAG_DESCRIPTIONS.get(flag, "a flag this version of rib does not describe")


def flag_terms() -> list[Term]:
    """Every flag rib can raise, as glossary entries."""
    flags = {**SANITY_FLAGS, **CHECK_FLAGS, **ADMISSION_FLAGS}  # a fixed order, whatever was imported first
    terms = [Term(flag_anchor(f), f"{f} ({flag_short(f)})", d) for f, d in flags.items()]
    kinds = ", ".join(sorted({*AA_WARNINGS.values(), "other"}))
    terms.append(Term(flag_anchor(AA_PREFIX), f"{AA_PREFIX}<kind> (AA: kind)",
                      f"{AA_WARNING_DESCRIPTION}; kinds: {kinds}"))
    return terms


def verification_terms() -> list[Term]:
    """The verification statuses a model can have, as glossary entries."""
    return [Term(verification_anchor(s), s, m) for s, m in verification_meanings().items()]


def verification_anchor(status: str) -> str:
    """The glossary anchor of a verification status."""
    return "verification-" + "-".join(status.replace("(", "").replace(")", "").split())
