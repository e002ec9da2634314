"""python -m experiments.run --config configs/batchnorm.py --workdir runs/batchnorm

The batchnorm study's config; it lives with the study's code in research/studies/batchnorm/config.py, whose
docstring says what it runs and what it should show.
"""

from research.studies.batchnorm.config import *  # noqa: F401,F403  (get_config and the study's constants)
