"""`make bench` section ``elastic`` (issue 24): draft runs along the expert and the bit axes.

A grid over ``(k_draft, draft_slices)`` of one MoE layer with 8-bit weights in four 2-bit slices:
for every point the same seeded inputs run in full precision and as a draft on the generated RTL
(Verilator; every output checked bit-exact against the golden model of its mode). Columns: the
agreement of the draft's output spikes with the full run's (fraction of the ``T*N*D`` output bits
equal), output spikes of each, the synaptic operations of the routed work (golden model), the
weight-GLB bits read (one weight word per core event cycle - an empty row costs one cycle and one
read - times the bits the run reads per word: ``P*b*slices``) and the measured cycles.

Then the 3D split of ``configs/moe_ppa_small.toml`` with ``weight_slices = 2`` (memory-on-logic,
``spikestack gen --tiers 2``): the F2F bonds of each slice bank, and which of them a draft run keeps
still (read enable low, address 0, read data held: no toggles).
"""
from __future__ import annotations

from pathlib import Path


from ..config import ElasticConfig, HwConfig, LayerConfig, LifConfig, load_config
from ..flows.analysis.activity import parse_vcd
from ..gen.tiers import f2f_map, tier_sources
from ..hw.layers.moe import MoePlan
from ..sim.layers import run_golden
from ..sim.tensors import random_case
from ..tb.harness import build, compare, simulate_full
from . import markdown_table

__all__ = ["run", "grid_config", "slice_bonds", "bond_toggles"]

SEEDS = (0, 1, 2, 3)
RATE = 0.2


def grid_config(k_draft: int, used: int, rounding: str = "truncate") -> LayerConfig:
    """The bench layer: T=4, N=16, D=32, Dh=32, E=4, top-2, 8-bit weights in 4 slices; 4 cores of
    4x4 PEs, weight GLBs shared by core pairs."""
    pop = dict(threshold=48, leak_shift=3, reset="hard")
    return LayerConfig(kind="moe", t=4, n=16, d=32, dh=32, experts=4, top_k=2, w_bits=8, b_bits=12, v_bits=16,
                       lif={"hidden": LifConfig(name="hidden", **pop), "out": LifConfig(name="out", **pop)},
                       hw=HwConfig(rows=4, cols=4, cores=4, glb_share=2, weight_slices=4),
                       elastic=ElasticConfig(k_draft=k_draft, draft_slices=used, rounding=rounding))


def _point(cfg: LayerConfig, cases) -> dict:
    """Both modes of every case on one build; sums over the cases."""
    runs = [(c, m) for c in cases for m in ("full", "draft")]
    res = simulate_full(build(cfg), [c for c, _ in runs], precisions=[m for _, m in runs])
    plan = MoePlan(cfg)
    out = {m: {"cycles": 0, "sops": 0, "bits": 0, "spikes": 0} for m in ("full", "draft")}
    agree, total, outs = 0, 0, {}
    for ((s, w), mode), r in zip(runs, res):
        err = compare(run_golden(cfg, s, w, mode), r["spikes"])
        if err:
            raise AssertionError(f"elastic bench {cfg.elastic} {mode}: RTL differs from the golden model: {err}")
        work = plan.work(s, w, mode)
        o = out[mode]
        o["cycles"] += r["cycles"]
        o["sops"] += int(work["adds"].sum())
        o["bits"] += int(work["core_cycles"].sum()) * plan.weight_bits_per_read(mode)
        o["spikes"] += int(r["spikes"].sum())
        outs[(id(s), mode)] = r["spikes"]
    for s, w in cases:
        a, b = outs[(id(s), "full")], outs[(id(s), "draft")]
        agree += int((a == b).sum())
        total += a.size
    out["agreement"] = agree / total
    return out


def slice_bonds(cfg: LayerConfig, partition: str = "memory-on-logic") -> dict:
    """F2F bonds per weight-slice bank (:func:`~spikestack.gen.tiers.f2f_map`) and the total."""
    m = f2f_map(tier_sources(cfg, partition))
    per = {int(k[1:]): v for k, v in m["weight_slice_bonds"].items()}
    return {"per_slice": per, "other": m["bond_count"] - sum(per.values()), "total": m["bond_count"]}


def bond_toggles(cfg: LayerConfig, out_dir: Path, seeds=SEEDS, partition: str = "memory-on-logic") -> dict:
    """Toggles on the F2F bonds of each weight slice, per mode: the stitched 3D top built with VCD
    tracing runs each seeded input once in full precision and once as a draft; the toggles of every
    bit of the slice banks' bonds (``tier_bottom.<bond>``) are counted from start to done
    (:func:`~spikestack.flows.analysis.activity.parse_vcd`). Returns ``{mode: {slice: toggles}, "cycles": ...}``."""
    src = tier_sources(cfg, partition)
    fmap = f2f_map(src)
    of = {}
    for b in fmap["bonds"]:
        banks = [x for x in [b["source_block"]] + b["sink_blocks"] if x.startswith("weight_glb_")]
        if banks:
            of[b["name"]] = int(banks[0].rsplit("_s", 1)[1])
    b = build(cfg, f"3d:{partition}", trace=True)
    out = {m: {i: 0 for i in range(cfg.hw.weight_slices)} for m in ("full", "draft")}
    cycles = {"full": 0, "draft": 0}
    for seed in seeds:
        case = random_case(cfg, seed=seed, rate=RATE)
        for mode in ("full", "draft"):
            wd = Path(out_dir) / "elastic_vcd" / f"{mode}_{seed}"
            r, = simulate_full(b, [case], workdir=wd, waves=True, precisions=[mode])
            err = compare(run_golden(cfg, *case, mode), r["spikes"])
            if err:
                raise AssertionError(f"elastic bench (3D, {mode}): RTL differs from the golden model: {err}")
            vcd = parse_vcd(wd / "dump.vcd")
            (wd / "dump.vcd").unlink()
            cycles[mode] += r["cycles"]
            for name, n in vcd["bits"].items():
                scope, _, leaf = name.split("[")[0].partition(".")
                if scope == "tier_bottom" and leaf in of:
                    out[mode][of[leaf]] += n
    return {**out, "cycles": cycles}


def run(out_dir: Path) -> str:
    parts = []
    probe = grid_config(1, 1)
    cases = [random_case(probe, seed=s, rate=RATE) for s in SEEDS]
    parts.append("Elastic experts (after ELMoE-3D): MoE T=4, N=16, D=32, Dh=32, E=4, top-2, 8-bit weights "
                 "stored as 4 slices of 2 bits (`[hw] weight_slices = 4`), 4 cores of 4x4 PEs; "
                 f"{len(SEEDS)} seeds at spike rate {RATE}, sums over the seeds. Full = top-2 on all 4 slices "
                 "(the same in every build: the full run of each build gave the cycles below). "
                 "Every run bit-exact with the golden model of its mode.\n")
    rows, full = [], None
    grid = [("truncate", k, u) for k in (2, 1) for u in (4, 3, 2, 1) if (k, u) != (2, 4)]
    grid += [("midpoint", 2, u) for u in (3, 2, 1)]        # k=2 on 4 slices is the full run
    for rounding, k, used in grid:
        p = _point(grid_config(k, used, rounding), cases)
        if full is None:
            full = p["full"]
            rows.append(["full", 2, 4, "1.0000", full["spikes"], full["sops"], full["bits"], "1.00",
                         full["cycles"], "1.00"])
        assert p["full"] == full, "full runs differ between builds"
        d = p["draft"]
        rows.append([rounding, k, used, f"{p['agreement']:.4f}", d["spikes"], d["sops"], d["bits"],
                     f"{d['bits'] / full['bits']:.2f}", d["cycles"], f"{d['cycles'] / full['cycles']:.2f}"])
    parts.append(markdown_table(["draft", "k_draft", "slices read", "spike agreement with full", "output spikes",
                                 "synaptic ops", "weight-GLB bits read", "bits / full", "cycles",
                                 "cycles / full"], rows))
    (Path(out_dir) / "elastic_grid.md").write_text("\n".join(parts) + "\n")

    plain = load_config(Path(__file__).resolve().parents[1] / "configs" / "moe_ppa_small.toml")
    small = plain.replace(hw=HwConfig(**{**plain.hw.__dict__, "weight_slices": 2}),
                          elastic=ElasticConfig(k_draft=1, draft_slices=1))
    sb = slice_bonds(small)
    base = f2f_map(tier_sources(plain))
    parts.append("\n3D split of `configs/moe_ppa_small.toml` (4-bit weights) with `weight_slices = 2`, "
                 "`[elastic] k_draft = 1, draft_slices = 1` (memory-on-logic: the slice banks on the memory "
                 "tier, each slice join beside its core on the logic tier). Bonds of each slice bank "
                 "(address, enable and read data of each of its 2 read ports):\n")
    rows = [[f"weight_glb_0_s{i}" + (" (top bits)" if i == 0 else ""), n,
             "toggles" if i < small.elastic.draft_slices else "held (enable low, address 0)"]
            for i, n in sb["per_slice"].items()]
    rows.append(["all other bonds", sb["other"], "-"])
    rows.append(["total (unsliced: %d)" % base["bond_count"], sb["total"], "-"])
    parts.append(markdown_table(["bank", "F2F bonds", "in a draft run"], rows))
    tg = bond_toggles(small, out_dir)
    parts.append(f"\nMeasured toggles on those bonds (the stitched 3D top on Verilator with VCD tracing, "
                 f"{len(SEEDS)} seeds at rate {RATE}, start to done; cycles full {tg['cycles']['full']}, "
                 f"draft {tg['cycles']['draft']}):\n")
    rows = [[f"weight_glb_0_s{i}", tg["full"][i], tg["draft"][i]] for i in range(small.hw.weight_slices)]
    rows.append(["all slices", sum(tg["full"].values()), sum(tg["draft"].values())])
    parts.append(markdown_table(["bank", "bond toggles, full", "bond toggles, draft (k=1, top slice)"], rows))
    text = "\n".join(parts)
    (Path(out_dir) / "elastic.md").write_text(text + "\n")
    return text
