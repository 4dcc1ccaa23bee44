"""`spikestack bench --only stack`: N-tier stacks (docs/ntier.md), cycles with and without registered
bonds, and bonds per interface of the default configurations.

Cycles: the reduced MoE (3 tiers, ``memory-on-logic``) and MHA (4 tiers, ``pipeline``) of
``configs/*_ppa_small.toml``, seeds 0-2 at spike rate 0.2, every run checked bit-exact against the
golden model; the stack without registers has the 2D top's cycles (tests/test_stack.py). Bonds:
per interface and per protocol of the default MoE and MHA (elaboration only). Attention pipeline
(:func:`attention_pipeline`): the default MHA with and without ``[hw] attn_pipeline``, 2D and
4-tier ``pipeline`` (bonds as wires, registered), seed 0 at rate 0.2: cycles and GLB accesses
counted in the simulation (``MhaPlan.glb_probes``), each run bit-exact.
"""
from __future__ import annotations

from pathlib import Path

from ..config import load_config
from ..gen.partition import stack_assignment
from ..hw.layers import design_for
from ..hw.layers.stack import nets, registered_streams
from ..sim.layers import run_golden
from ..sim.tensors import random_case
from ..config import HwConfig
from ..tb.harness import build, compare, simulate, simulate_full
from . import markdown_table

__all__ = ["run"]

ROOT = Path(__file__).resolve().parents[1]
CASES = (("moe", 3, "memory-on-logic"), ("mha", 4, "pipeline"))
BONDS = (("moe", 3, "memory-on-logic"), ("moe", 4, "memory-control-logic"), ("mha", 3, "pipeline"),
         ("mha", 4, "pipeline"))


def _cycles(cfg, variant, cases) -> list[int]:
    out = []
    for (s, w), (o, c) in zip(cases, simulate(build(cfg, variant), cases)):
        err = compare(run_golden(cfg, s, w), o)
        if err:
            raise AssertionError(f"stack bench: {variant} differs from the golden model: {err}")
        out.append(c)
    return out


def run(out_dir: Path) -> str:
    rows = []
    for kind, n, part in CASES:
        cfg = load_config(ROOT / "configs" / f"{kind}_ppa_small.toml")
        cases = [random_case(cfg, seed=i, rate=0.2) for i in range(3)]
        plain = _cycles(cfg, f"3d{n}:{part}", cases)
        regs = _cycles(cfg, f"3d{n}:{part}:regs", cases)
        for i, (a, b) in enumerate(zip(plain, regs)):
            rows.append([f"{kind}_ppa_small", n, part, i, a, b, f"{b / a:.3f}"])
    text = markdown_table(["configuration", "tiers", "partition", "seed", "cycles (bonds as wires = 2D)",
                           "cycles (registered stream bonds)", "ratio"], rows)
    brow = []
    for kind, n, part in BONDS:
        d = design_for(load_config(ROOT / "configs" / f"{kind}_default.toml"))
        ns = nets(d, stack_assignment(d, n, part), n)
        per = [0] * (n - 1)
        for x in ns:
            for i, _ in x.crossings():
                per[i] += x.width
        kinds = {k: sum(x.width for x in ns if x.kind == k) for k in ("memory", "stream", "signal")}
        reg = sum(x.width for g in registered_streams(ns).values() for x in g.values())
        brow.append([f"{kind}_default", n, part, " / ".join(map(str, per)), kinds["memory"], kinds["stream"],
                     kinds["signal"], reg])
    text += "\n\n" + markdown_table(["configuration", "tiers", "partition", "bond bits per interface, tier_0/1 up",
                                     "memory-port bits", "stream bits", "plain-signal bits",
                                     "registrable stream bits"], brow)
    text += "\n\n" + attention_pipeline()
    (Path(out_dir) / "stack.md").write_text(text + "\n")
    return text


_REGS = ("2d", "3d3:pipeline:regs", "3d4:pipeline:regs")
SPLITS = ((False, "off", _REGS), (True, "off", _REGS), (True, "wire", _REGS[::2]),
          (True, "registered", _REGS[::2] + ("3d5:pipeline:regs",)))


def attention_pipeline(path=ROOT / "configs" / "mha_default.toml", seed: int = 0, splits=SPLITS) -> str:
    """The default MHA with and without ``attn_pipeline`` and ``attn_split``: cycles and GLB
    accesses (writes: cycles with a write enable; reads: rows a block takes), 2D and 4-tier
    ``pipeline`` (registered bonds; with the bonds as wires a stack has the 2D top's cycles,
    tests/test_stack.py). Without the split 3 tiers are projection cores, attention, control and
    memory, and 4 put control below memory; with it 4 are projection cores, Q·Kᵀ (and the attention
    stage), A·V, control and memory, and 5 put control below memory."""
    base = load_config(path)
    rows = []
    for pipe, split, variants in splits:
        cfg = base.replace(hw=HwConfig(**{**vars(base.hw), "attn_pipeline": pipe, "attn_split": split}))
        d = design_for(cfg)
        case = [random_case(cfg, seed=seed, rate=0.2)]
        for variant in variants:
            tiers = 4 if variant == "2d" else int(variant[2])
            a = stack_assignment(d, tiers, "pipeline")
            where = (lambda b: b) if variant == "2d" else (lambda b, a=a: f"tier_{a[b]}.{b}")
            (r,) = simulate_full(build(cfg, variant, probes=d.plan.glb_probes(where)), case)
            err = compare(run_golden(cfg, *case[0]), r["spikes"])
            if err:
                raise AssertionError(f"stack bench: {variant} attn_pipeline={pipe} attn_split={split}: {err}")
            pr = r["probes"]
            wr = sum(v for k, v in pr.items() if k.endswith("_wr"))
            rd = sum(v for k, v in pr.items() if k.endswith("_rd"))
            qa = sum(pr.get(f"{g}_glb_{x}", 0) for g in ("q", "attn") for x in ("rd", "wr"))
            ns = nets(d, a, tiers)
            reg = sum(x.width for g in registered_streams(ns).values() for x in g.values())
            rows.append(["on" if pipe else "off", split, variant, r["cycles"], r["counters"]["cycles_qkv"],
                         r["cycles"] - r["counters"]["cycles_qkv"], wr, rd, wr + rd, qa, pr["activation_glb_rd"],
                         " / ".join(str(sum(x.width for x in ns if any(i == k for i, _ in x.crossings())))
                                    for k in range(tiers - 1)), reg])
    return markdown_table(["attn_pipeline", "attn_split", "top", "cycles", "phase 1 (q,k,v / k,v)", "after phase 1",
                           "GLB writes", "GLB reads", "GLB accesses", "of q_glb + attn_glb", "activation reads",
                           "bond bits t0/1 / t1/2 / ... (2d: of 4 tiers)", "registrable stream bits"], rows)
