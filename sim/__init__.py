"""spikestack.sim"""
