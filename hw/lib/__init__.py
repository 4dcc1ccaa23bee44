"""spikestack.hw.lib: building blocks: LIF neuron, PE, PE array, event encoder, GLB, FIFO, arbiter, small helpers."""
