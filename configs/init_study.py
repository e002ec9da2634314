"""python -m experiments.run --config configs/init_study.py --workdir runs/init_study

The init_study study's config; it lives with the study's code in research/studies/init_study/config.py, whose
docstring says what it runs and what it should show.
"""

from research.studies.init_study.config import *  # noqa: F401,F403  (get_config and the study's constants)
