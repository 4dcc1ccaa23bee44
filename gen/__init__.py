"""spikestack.gen"""
