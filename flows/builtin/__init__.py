"""The built-in flow's steps: qflow/Yosys synthesis, graywolf placement, qrouter routing, OpenSTA, macros, hardened blocks and bond pins."""
