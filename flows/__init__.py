"""Physical design of the generated Verilog.

* :mod:`~spikestack.flows.ppa` -- the PPA of a configuration, 2D against pseudo-3D (``spikestack ppa``);
* :mod:`~spikestack.flows.builtin` -- the built-in flow's steps (Yosys, graywolf, qrouter, OpenSTA on
  osu018), SRAM and hardened-block macros, the block cache, bond pins;
* :mod:`~spikestack.flows.coplace` -- the co-placed 3D method (Macro-3D + Pin-3D);
* :mod:`~spikestack.flows.analysis` -- parasitics, 3D timing, switching activity, cell census;
* :mod:`~spikestack.flows.orfs` -- OpenROAD-flow-scripts design directories (``spikestack orfs``);
* :mod:`~spikestack.flows.formats` -- readers and writers of the file formats (no tools run).
"""
