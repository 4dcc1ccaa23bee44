"""spikestack.hw"""
