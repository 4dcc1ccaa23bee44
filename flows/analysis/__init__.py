"""Analyses of routed designs: parasitics (SPEF), 3D timing, switching activity, cell census."""
