"""The OpenROAD-flow-scripts export."""
