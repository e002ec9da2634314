"""python -m experiments.run --config configs/init_study_notes.py --workdir runs/init_study_notes

The init study in the notes' own regime (sigmoid outputs, squared error, plain SGD, [0, 1] pixels,
batch 10); its config lives with the study's code in research/studies/init_study/notes_config.py,
whose docstring says what the notes ran, what this runs and what it should show.
"""

from research.studies.init_study.notes_config import *  # noqa: F401,F403  (get_config and the constants)
