"""Training recipes of the neural-ODE zoo models: ODENet, TisODE (Gaussian-noise training with
the steady-state penalty) and LT-NODE (random end time)."""
