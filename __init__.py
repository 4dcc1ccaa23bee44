"""spikestack: RTL generator for low-power spiking MoE and MHA transformer accelerators.

Layers, each importing only those before it: ``config`` (the configuration), ``sim`` (numpy golden
models), ``hw`` (Amaranth blocks), ``gen`` (Verilog and tiers), ``tb`` (cocotb benches), ``flows``
(physical design), and ``cli`` / ``demo`` / ``bench`` (the command line) on top.
"""
__version__ = "0.1.0"
