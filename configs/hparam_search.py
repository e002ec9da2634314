"""python -m experiments.run --config configs/hparam_search.py --workdir runs/hparam_search

The hparam_search study's config; it lives with the study's code in research/studies/hparam_search/config.py, whose
docstring says what it runs and what it should show.
"""

from research.studies.hparam_search.config import *  # noqa: F401,F403  (get_config and the study's constants)
