"""python -m experiments.run --config configs/gradcheck.py --workdir runs/gradcheck

The gradcheck study's config; it lives with the study's code in research/studies/gradcheck/config.py, whose
docstring says what it runs and what it should show.
"""

from research.studies.gradcheck.config import *  # noqa: F401,F403  (get_config and the study's constants)
