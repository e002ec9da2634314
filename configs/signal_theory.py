"""python -m experiments.run --config configs/signal_theory.py --workdir runs/signal_theory

The signal_theory study's config; it lives with the study's code in research/studies/signal_theory/config.py, whose
docstring says what it runs and what it should show.
"""

from research.studies.signal_theory.config import *  # noqa: F401,F403  (get_config and the study's constants)
