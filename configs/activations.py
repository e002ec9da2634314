"""python -m experiments.run --config configs/activations.py --workdir runs/activations

The activations study's config; it lives with the study's code in research/studies/activations/config.py, whose
docstring says what it runs and what it should show.
"""

from research.studies.activations.config import *  # noqa: F401,F403  (get_config and the study's constants)
