"""PPA of a configuration: the 2D top and its two-tier (pseudo-3D) split through the built-in flow.

2D: the flat top through :func:`run_flow`. Pseudo-3D: each tier of the split
(:mod:`spikestack.gen.tiers`) through the same flow on its own — a tier-by-tier implementation in
the spirit of the tier-by-tier step of Shrunk-2D / Pin-3D, simplified: each tier is placed in its
own die (with ``common_footprint`` the smaller tier is placed again, spread to the larger one's die;
no 3D-aware placement). Then the F2F bonds become area pins (``bond_pins``, default;
:mod:`spikestack.flows.builtin.bondpins`): each bond gets one location from both tiers' placements (the
midpoint of its pins' centroids on the two tiers: a one-pass form of Pin-3D's inter-tier via
planning), written into both tiers as a ``metal6`` pin, and both tiers are routed again to
them. Each bond is modelled by a lumped load on the driving tier's bond port (default: a hybrid bond of
3.0 Ω, 0.6 fF at 1 µm pitch — the values of issue #8, typical of published Cu-Cu hybrid bonding,
e.g. imec/TSMC SoIC reports of ~1 fF and a few Ω per bond). Each tier's own report times it alone
(bond input arrival = the bond's RC delay, 3.0 Ω x 0.6 fF ≈ 2 fs, i.e. 0; power the flow's global
activity); the 3D footprint is the larger tier's die.

The two tiers run in parallel (one tool per core). Then the designs are analysed as wholes, and
these are the 3D numbers compared with 2D
(:mod:`spikestack.flows.analysis.sta3d`): one OpenSTA run on the stitched 3D design (both tiers' routed
netlists joined by the bond nets, bond R and C modelled) gives the 3D fmax and worst path, the
same analysis on the 2D netlist the 2D ones; both give the GLB-to-PE memory-access path delay and
the power with the switching activity measured on a simulation of the same design
(:mod:`spikestack.flows.analysis.activity`), from which the energy per synaptic operation follows.
Results: ``ppa.json``, ``ppa.md`` and ``ppa_ratios.png`` (:mod:`spikestack.flows.plot`) with the
2D and per-tier reports and the 3D/2D ratios next to the paper's ranges.

Co-placed 3D (``method="coplaced"``, flat, either partition): beside the tier-by-tier method above
(kept as the baseline), a Macro-3D + Pin-3D flow (:mod:`spikestack.flows.coplace.run`): one
footprint, the tiers placed again in turn with the other tier's bond pins as fixed attractors
until the 3D wirelength settles, one routing over a combined 12-layer
stack with an F2F bond cut (the 3D nets, then each tier's nets on its own metals), bonds counted from the routed result; analysed by the
same stitched STA; ``ppa.md`` / ``ppa.json`` (``methods``) give both methods against one 2D run
(:mod:`spikestack.flows.ppa.methods`).

Hierarchical (``harden="pe"`` etc., :func:`harden_for`): before the flows, each distinct repeated
block of that grain is hardened once (:mod:`spikestack.flows.builtin.harden`: LEF + liberty abstract) and
swapped in for its instances; the 2D top and each tier are then placed and routed with those
macros, and the whole-design analyses time paths into them through their liberty models (a
hardened block's instances are PE endpoints). Run times of every step are in the reports.
"""
from .analysis import analyse_2d, analyse_3d, energy
from .report import PAPER_RANGES, PAPER_RATIOS
from ..builtin.bondpins import Bond
from .options import FlowJob, PpaOptions
from .run import ppa_for_config

__all__ = ["ppa_for_config", "PpaOptions", "Bond", "FlowJob", "PAPER_RANGES", "PAPER_RATIOS", "energy", "analyse_2d",
           "analyse_3d"]
