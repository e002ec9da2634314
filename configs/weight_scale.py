"""python -m experiments.run --config configs/weight_scale.py --workdir runs/weight_scale

The weight_scale study's config; it lives with the study's code in research/studies/weight_scale/config.py, whose
docstring says what it runs and what it should show.
"""

from research.studies.weight_scale.config import *  # noqa: F401,F403  (get_config and the study's constants)
