"""spikestack.tb"""
