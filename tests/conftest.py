"""Tests run with float64 available: maths that says 'equal' is checked in float64."""

import jax

jax.config.update("jax_enable_x64", True)
