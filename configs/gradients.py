"""python -m experiments.run --config configs/gradients.py --workdir runs/gradients

The gradients study's config; it lives with the study's code in research/studies/gradients/config.py, whose
docstring says what it runs and what it should show.
"""

from research.studies.gradients.config import *  # noqa: F401,F403  (get_config and the study's constants)
