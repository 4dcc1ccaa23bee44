"""spikestack.flows"""
