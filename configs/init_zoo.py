"""python -m experiments.run --config configs/init_zoo.py --workdir runs/init_zoo

The init_zoo study's config; it lives with the study's code in research/studies/init_zoo/config.py, whose
docstring says what it runs and what it should show.
"""

from research.studies.init_zoo.config import *  # noqa: F401,F403  (get_config and the study's constants)
