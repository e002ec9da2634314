"""python -m experiments.run --config configs/optimizers.py --workdir runs/optimizers

The optimizers study's config; it lives with the study's code in research/studies/optimizers/config.py, whose
docstring says what it runs and what it should show.
"""

from research.studies.optimizers.config import *  # noqa: F401,F403  (get_config and the study's constants)
