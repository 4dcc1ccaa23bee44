"""spikestack: RTL generator for low-power spiking MoE and MHA transformer accelerators.

Sub-packages: ``hw`` (Amaranth blocks), ``gen`` (configuration and command line),
``sim`` (numpy golden models), ``tb`` (cocotb benches), ``flows`` (physical design).
"""
__version__ = "0.1.0"
