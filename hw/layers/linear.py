"""A spiking linear layer, ``S_out = LIF_out(S_in @ W + b)``, as a graph of named blocks.

Blocks: ``activation_glb`` (input spikes, row ``n*T + t`` holds token n at timestep t),
``weight_buffer`` (row ``tile*D + j`` holds W[j, tile*P : (tile+1)*P], one weight per lane),
``bias_buffer`` (row ``tile``), ``output_glb`` (row ``n*T + t``, bit ``tile*P + lane``),
``sequencer`` (control: walks tiles, tokens, timesteps) and ``core`` (the spiking core: event
encoder + rows x cols LIF PE array). P = rows*cols output lanes; a layer wider than P is tiled.

Cycles: about ``tiles * sum over (n, t) of max(1, popcount(S[t, n]))`` plus a few cycles of
pipeline fill; the dense baseline is ``tiles * T * N * D``.
"""
from __future__ import annotations

import numpy as np
from amaranth import Cat, Module, Signal
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from ...config import LayerConfig
from ..blocks.core import CoreParams, SpikingCore
from ..lib.control import RunControl, control_members
from ..lib.event import flow_signature
from ..lib.glb import GLB, GlbParams, addr_width
from ..lib.pack import pack_bits, pack_lanes, unpack_bits
from ..lib.shapes import ceil_div
from .graph import Design, layer_design

__all__ = ["LinearPlan", "RowSequencer", "linear_design"]


class LinearPlan:
    """Sizes of the linear layer's blocks, derived once from the configuration."""

    def __init__(self, cfg: LayerConfig):
        hw = cfg.hw
        self.cfg = cfg
        self.counters: list[str] = []          # no hardware counters but the top's cycles
        self.lanes = hw.lanes
        self.tiles = ceil_div(cfg.d_out, self.lanes)
        self.rows_per_tile = cfg.t * cfg.n
        self.row_bits = addr_width(self.rows_per_tile)
        self.tile_bits = addr_width(self.tiles)
        self.core = CoreParams(
            rows=hw.rows, cols=hw.cols, d_in=cfg.d, pops=(cfg.lif["out"],),
            w_bits=cfg.w_bits, b_bits=cfg.b_bits, acc_bits=cfg.synaptic_bits(cfg.d), v_bits=cfg.v_bits,
            w_depth=cfg.d * self.tiles, b_depth=self.tiles, tag_bits=self.row_bits + self.tile_bits,
            event_driven=hw.event_driven)
        self.activation = GlbParams(depth=self.rows_per_tile, width=cfg.d)
        self.weights = GlbParams(depth=cfg.d * self.tiles, width=self.lanes * cfg.w_bits)
        self.biases = GlbParams(depth=self.tiles, width=self.lanes * cfg.b_bits)
        self.output = GlbParams(depth=self.rows_per_tile, width=self.tiles * self.lanes,
                                granularity=self.lanes, read_ports=0, write_ports=1, host_read=True)

    # -- host side: what the bench writes into the buffers and how it reads the result ----------
    readout = "output_glb_host_r"

    def images(self, spikes: np.ndarray, tensors: dict) -> dict[str, list[int]]:
        """Buffer contents for one run: ``{host port: words from address 0}``."""
        cfg, P, tiles = self.cfg, self.lanes, self.tiles
        w = np.zeros((cfg.d, tiles * P), dtype=np.int64)
        w[:, :cfg.d_out] = tensors["w"]
        b = np.zeros(tiles * P, dtype=np.int64)
        b[:cfg.d_out] = tensors["b"]
        w_rows = w.reshape(cfg.d, tiles, P).transpose(1, 0, 2).reshape(tiles * cfg.d, P)
        return {
            "activation_glb_host_w": pack_bits(spikes.transpose(1, 0, 2).reshape(-1, cfg.d)),
            "weight_buffer_host_w": pack_lanes(w_rows, cfg.w_bits),
            "bias_buffer_host_w": pack_lanes(b.reshape(tiles, P), cfg.b_bits),
        }

    def readout_depth(self) -> int:
        return self.rows_per_tile

    def decode(self, words: list[int]) -> np.ndarray:
        """Output buffer rows -> spikes ``(T, N, d_out)``."""
        cfg = self.cfg
        bits = unpack_bits(words, self.tiles * self.lanes)[:, :cfg.d_out]
        return bits.reshape(cfg.n, cfg.t, cfg.d_out).transpose(1, 0, 2).copy()

    def dense_cycles(self) -> int:
        """Cycles of the dense (non event-driven) schedule: a bound for time-outs."""
        return self.tiles * self.rows_per_tile * self.cfg.d + 64

    def sops(self, spikes, tensors=None) -> int:
        """Synaptic adds: every input spike adds one weight to each of the Dout neurons."""
        return int(np.asarray(spikes).sum()) * self.cfg.d_out

    def ideal_cycles(self, spikes=None, tensors=None) -> float:
        """The ideal for the linear layer: T*N*Din*Dout / (rows*cols) (every input, dense);
        with ``spikes``, the event-driven ideal: synaptic adds (spikes x Dout) / (rows*cols)."""
        cfg = self.cfg
        if spikes is None:
            return cfg.t * cfg.n * cfg.d * cfg.d_out / self.lanes
        return float(self.sops(spikes)) / self.lanes


class RowSequencer(wiring.Component):
    """Feeds the core every activation row once per output tile and collects its spikes.

    Order: for tile, for token n, for timestep t (t innermost, so each PE's membrane follows its
    neuron through time). Rows are prefetched from ``act_rd`` into a 4-deep FIFO so the core
    never waits on the buffer. ``results`` (the core's out flow) are written to ``out_wr`` at row
    ``n*T + t`` in lane group ``tile``. ``finish`` when ``tiles * T * N`` results are written.
    """

    def __init__(self, plan: LinearPlan):
        self.plan = plan
        p = plan.core
        super().__init__({
            **control_members(),
            "act_rd": In(plan.activation.read_signature()),
            "rows": Out(stream.Signature(p.row_layout)),
            "results": In(flow_signature(p.out_layout)),
            "out_wr": In(plan.output.write_signature()),
        })

    def elaborate(self, platform):
        m = Module()
        plan, p, cfg = self.plan, self.plan.core, self.plan.cfg
        ctl = RunControl(m, self)
        depth = 4
        m.submodules.queue = queue = fifo.SyncFIFO(width=p.row_layout.size, depth=depth)
        # --- fetch: (tile, row) counters, row = n*T + t ---
        fetching = Signal()
        tile = Signal(plan.tile_bits)
        row = Signal(plan.row_bits)
        t = Signal(range(max(2, cfg.t)))
        w_base = Signal(p.meta_layout["w_base"].shape)
        inflight = Signal()
        meta = Signal(p.meta_layout)
        issue = Signal()
        m.d.comb += issue.eq(fetching & (queue.level + inflight < depth - 1))
        m.d.comb += [self.act_rd.addr.eq(row), self.act_rd.en.eq(1)]
        m.d.sync += inflight.eq(issue)
        with m.If(ctl.go):
            m.d.sync += [fetching.eq(1), tile.eq(0), row.eq(0), t.eq(0), w_base.eq(0)]
        with m.Elif(issue):
            m.d.sync += [
                meta.w_base.eq(w_base), meta.b_addr.eq(tile), meta.v_zero.eq(t == 0), meta.fire.eq(1),
                meta.sel.eq(0), meta.tag.eq(Cat(row, tile)),
            ]
            last_row = row == plan.rows_per_tile - 1
            m.d.sync += [row.eq(row + 1), t.eq(t + 1)]
            with m.If(t == cfg.t - 1):
                m.d.sync += t.eq(0)
            with m.If(last_row):
                m.d.sync += [row.eq(0), tile.eq(tile + 1), w_base.eq(w_base + cfg.d)]
                with m.If(tile == plan.tiles - 1):
                    m.d.sync += fetching.eq(0)
        row_in = Signal(p.row_layout)
        m.d.comb += [
            row_in.spikes.eq(self.act_rd.data), row_in.meta.eq(meta),
            queue.w_en.eq(inflight), queue.w_data.eq(row_in),
            self.rows.valid.eq(queue.r_rdy), self.rows.payload.eq(queue.r_data), queue.r_en.eq(self.rows.ready),
        ]
        # --- collect ---
        res = self.results.payload
        res_row, res_tile = res.tag[:plan.row_bits], res.tag[plan.row_bits:]
        m.d.comb += [
            self.out_wr.addr.eq(res_row),
            self.out_wr.data.eq(Cat(*([res.spikes] * plan.tiles))),
        ]
        with m.If(self.results.valid):
            m.d.comb += self.out_wr.en.eq(1 << res_tile)
        done_count = Signal(range(plan.tiles * plan.rows_per_tile + 1))
        with m.If(ctl.go):
            m.d.sync += done_count.eq(0)
        with m.Elif(self.results.valid):
            m.d.sync += done_count.eq(done_count + 1)
        m.d.comb += ctl.finish.eq(self.results.valid & (done_count == plan.tiles * plan.rows_per_tile - 1))
        return m


def linear_design(cfg: LayerConfig) -> Design:
    """The graph of the spiking linear layer (see module docstring)."""
    d, plan = layer_design(cfg, "linear", LinearPlan)
    d.add("activation_glb", lambda: GLB(plan.activation), role="memory")
    d.add("weight_buffer", lambda: GLB(plan.weights), role="memory")
    d.add("bias_buffer", lambda: GLB(plan.biases), role="memory")
    d.add("output_glb", lambda: GLB(plan.output), role="memory")
    d.add("sequencer", lambda: RowSequencer(plan), role="control")
    d.add("core", lambda: SpikingCore(plan.core), role="logic", group="core")
    d.wire_all([("sequencer.act_rd", "activation_glb.rd0"), ("sequencer.rows", "core.rows"),
                ("core.w_rd", "weight_buffer.rd0"), ("core.b_rd", "bias_buffer.rd0"),
                ("core.out", "sequencer.results"), ("sequencer.out_wr", "output_glb.wr0")])
    d.export_ports("sequencer", ("start", "busy", "done", "cycles"))
    d.export_host(("activation_glb", "weight_buffer", "bias_buffer", "output_glb"), read=("output_glb",))
    return d
