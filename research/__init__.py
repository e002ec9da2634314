"""research: initialization, BatchNorm, backprop and update rules as pure JAX functions."""
