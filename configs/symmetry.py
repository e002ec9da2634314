"""python -m experiments.run --config configs/symmetry.py --workdir runs/symmetry

The symmetry study's config; it lives with the study's code in research/studies/symmetry/config.py, whose
docstring says what it runs and what it should show.
"""

from research.studies.symmetry.config import *  # noqa: F401,F403  (get_config and the study's constants)
