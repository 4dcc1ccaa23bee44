"""Co-placed pseudo-3D (see :mod:`spikestack.flows.coplace.run`)."""
