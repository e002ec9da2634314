"""python -m experiments.run --config configs/width_transfer.py --workdir runs/width_transfer

The width_transfer study's config; it lives with the study's code in research/studies/width_transfer/config.py, whose
docstring says what it runs and what it should show.
"""

from research.studies.width_transfer.config import *  # noqa: F401,F403  (get_config and the study's constants)
