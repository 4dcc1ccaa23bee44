"""spikestack.hw.blocks: the accelerator's blocks: core, job core, router, dispatcher, merge, attention cores."""
