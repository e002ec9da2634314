"""Pure maths: initializers, activations, the MLP, losses, hand backprop, gradient checking,
update rules, LSUV, mean-field theory, Jacobian spectra and per-layer probes. Imports nothing of
the engine or the studies."""
