"""python -m experiments.run --config configs/deep_relu.py --workdir runs/deep_relu

The deep_relu study's config; it lives with the study's code in research/studies/deep_relu/config.py, whose
docstring says what it runs and what it should show.
"""

from research.studies.deep_relu.config import *  # noqa: F401,F403  (get_config and the study's constants)
