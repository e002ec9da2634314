"""Tests run with float64 available: maths that says 'equal' is checked in float64."""

import jax

jax.config.update("jax_enable_x64", True)

# The engine checkpoints a group at most once a minute; the fault and resume tests need one after
# every epoch (0), in this process and in the runs they start as subprocesses.
import os  # noqa: E402

os.environ["RESEARCH_CHECKPOINT_SECONDS"] = "0"
