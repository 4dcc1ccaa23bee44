"""The options of a PPA run and the flow jobs it runs: one record each instead of long argument
lists and tuples (as ORFS keeps one ``config.mk`` per design run)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..builtin.bondpins import Bond

__all__ = ["PpaOptions", "FlowJob"]


@dataclass(frozen=True)
class PpaOptions:
    """Everything :func:`~spikestack.flows.ppa.ppa_for_config` can be asked for.

    Attributes
    ----------
    partition: the tier split (:mod:`spikestack.gen.partition`).
    clock_ns: the STA clock period.
    activity: the global switching activity of each flow's own power report.
    three_d: also the two tiers (else 2D only).
    bond: the F2F bond (a :class:`Bond`; a dict of some of its fields is completed from the defaults).
    sim_activity: measure the activity on a Verilator run of the workload (``seed``, ``rate``) for
        the whole-design power and energy.
    reuse: keep finished flow runs of the same Verilog in the output directory.
    plot: write ``ppa_ratios.png``.
    sram_macros: the GLBs are SRAM macros (:mod:`spikestack.flows.builtin.sram`) in the 2D top and the tiers.
    harden: hierarchical flow: the repeated blocks of this grain (``pe``, ``expert_core``, ...) are
        hardened once and the 2D top and the tiers are assembled from their macros.
    common_footprint: the tier with the smaller die is placed and routed again, spread to the
        larger tier's die, so both tiers occupy one 3D footprint.
    bond_pins: the F2F bonds become area pins of both tiers, which are routed again to them.
    blocks: design blocks or groups (``expert_core``, ``merge``, ...) hardened alone, each from its
        own inner ``harden`` macros, and instantiated as macros in the 2D top and both tiers.
    block_grains: the blocks' inner grains, innermost first (``("pe", "pe_array", "repeated")``: PE
        macros inside one PE-array macro, beside the block's repeated sub-blocks as macros; see
        :mod:`spikestack.flows.builtin.blockmacros`); None: ``(harden,)``.
    flat_blocks: blocks of ``blocks`` hardened without inner macros (``block_grains`` apply to the
        others): the default MoE's merge block routed with its cells flat, not with its lanes as macros.
    jobs: flows (and hardened blocks) run at once.
    precision: the workload's mode for a MoE with ``[elastic]`` (``full`` or ``draft``; None: the
        configuration's), for the simulated activity.
    method: ``coplaced`` (the Macro-3D co-placed flow of :mod:`spikestack.flows.coplace.run`, with
        ``independent`` reported beside it as the baseline) or ``independent`` (each tier alone,
        bonds as area pins afterwards). None (the default): ``coplaced`` for the flat flow,
        ``independent`` with ``harden`` / ``blocks`` (the co-placed flow with hardened macros is
        tested on ``moe_ppa_small --harden pe`` only) or ``common_footprint`` (which the co-placed
        flow refuses: it puts the tiers in one frame itself).
    same_cells: the 2D top and both tiers are built from one gate netlist of each block
        (:mod:`spikestack.flows.builtin.samecells`), so 2D and 3D have the same cells (not with ``harden`` /
        ``blocks``, whose macros are shared already).
    """
    partition: str = "memory-on-logic"
    clock_ns: float = 10.0
    activity: float = 0.1
    three_d: bool = True
    bond: Bond = field(default_factory=Bond)
    sim_activity: bool = True
    seed: int = 0
    rate: float = 0.2
    reuse: bool = False
    plot: bool = True
    sram_macros: bool = False
    harden: str | None = None
    common_footprint: bool = False
    bond_pins: bool = True
    blocks: tuple[str, ...] | None = None
    block_grains: tuple[str, ...] | None = None
    flat_blocks: tuple[str, ...] = ()
    jobs: int = 2
    precision: str | None = None
    method: str | None = None
    same_cells: bool = True

    def __post_init__(self):
        if isinstance(self.bond, dict):
            object.__setattr__(self, "bond", Bond(**self.bond))
        if self.method is None:
            object.__setattr__(self, "method", "independent" if (self.harden or self.blocks or self.common_footprint)
                               else "coplaced")
        if self.method not in ("independent", "coplaced"):
            raise ValueError(f"method: {self.method!r} is not one of independent, coplaced")
        if self.method == "coplaced" and self.common_footprint:
            raise ValueError("method: coplaced sets its own footprint (the tiers in one frame); drop --common-footprint "
                             "or use --method independent")
        if self.blocks is not None:
            object.__setattr__(self, "blocks", tuple(self.blocks) or None)
        if self.block_grains is not None:
            object.__setattr__(self, "block_grains", tuple(self.block_grains) or None)
        object.__setattr__(self, "flat_blocks", tuple(self.flat_blocks or ()))
        if set(self.flat_blocks) - set(self.blocks or ()):
            raise ValueError(f"flat-blocks: {', '.join(sorted(set(self.flat_blocks) - set(self.blocks or ())))} "
                             f"not among the blocks ({', '.join(self.blocks or ()) or 'none given'})")

    def replace(self, **changes) -> "PpaOptions":
        """A copy with ``changes`` (``TypeError`` naming an unknown option)."""
        return dataclasses.replace(self, **changes)


@dataclass
class FlowJob:
    """One run of the built-in flow: the 2D top or one tier.

    Attributes
    ----------
    name: ``"2d"``, ``"tier_top"`` or ``"tier_bottom"`` (also its directory).
    text, top: the Verilog and its top module.
    port_loads_pf: lumped loads on output ports (a tier's bonds), pF.
    input_delays_ns: arrival times of input ports (a tier's bonds), ns.
    blocks: the hardened blocks (abstracts) the text instantiates.
    """
    name: str
    text: str
    top: str
    port_loads_pf: dict[str, float] | None = None
    input_delays_ns: dict[str, float] | None = None
    blocks: list | None = None
