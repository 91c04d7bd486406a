"""Admission checks for outside models (ONNX graphs, modules given to ``rib.evaluate``, RobustBench networks, and
every submission to ``rib verify`` / ``rib submit``), run before any attack and stored with the results.

- ``deterministic``: 3 forward passes on the same 32 test images agree to 1e-4 of the largest logit. A randomized
  model is evaluated but refused for the leaderboard: never ranked, never verified (rib does not run Expectation
  over Transformation).
- ``batch_independent``: each of 16 test images gets the same logits (to 1e-3 of the largest) and class alone, in
  its batch, and beside 16 unrelated images. Refused otherwise.
- ``finite_under_perturbation``: finite logits at 4 random points of the largest linf and l2 eps balls of the
  dataset around each of 32 test images. Refused otherwise.
- ``logits``: refused when more than half of the output rows (64 test images, 64 uniform-noise images) lie in
  [0, 1] and sum to 1: probabilities, not logits.
- ``usable_gradients``: the input gradient of the logit margin is missing, non-finite or below 1e-7 on more than
  half of 64 test images: the model is evaluated with black-box and transfer attacks only (its white-box,
  AutoAttack and CAM-attack cells are stored as not applicable), never ranked or verified.
- ``generalizes``: clean and PGD-10 robust accuracy (the trained norm's headline eps) on 200 held-out training
  images (the ``val`` split, never in the test split) against 200 images of the test sample: it fails when, for
  either, the test sample's 95% Wilson interval lies wholly above the held-out one's (a model that memorized the
  public test images). Never ranked or verified.

A refusal is one line and a non-zero exit, a failure of the others one ``rib: warning:`` line per check; either is
stored first (``flag:admission:<check>`` rows of the model's ``admission`` cell). ``rib verify`` and ``rib submit``
refuse every failure. On the leaderboard, a model with a failed check or an unresolved masking flag is never
``verified`` and is listed apart, unranked, with the reason.
"""

from rib.admission.checks import ADMISSION_FLAGS, CHECKS, Check, run_checks
from rib.admission.gate import admit, admit_cells, needs_admission
from rib.admission.record import Admission, failure_reasons, stored_admission

__all__ = ["ADMISSION_FLAGS", "CHECKS", "Admission", "Check", "admit", "admit_cells", "failure_reasons",
           "needs_admission", "run_checks", "stored_admission"]
