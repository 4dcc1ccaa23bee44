"""Stream drivers and monitors for the cocotb benches, in the style of cocotbext-axi.

A stream port ``<prefix>`` of a generated top is the Amaranth ``stream.Signature`` flattened to
``<prefix>__valid``, ``<prefix>__ready`` (absent on a flow without back-pressure) and
``<prefix>__payload``. The payload is packed and unpacked through the port's Amaranth layout,
passed to the bench as a field list (:func:`layout_fields`, made on the host where Amaranth runs;
the bench only needs names, offsets and widths), so no bench decodes payload bits by hand.

- :class:`StreamSource` (``Source(dut, "rows", fields)``): ``offer(value)`` drives ``valid`` and
  the payload packed from a dict of fields; ``taken()`` says whether the offer was accepted in
  this cycle (valid and ready, sampled after the combinational outputs settle).
- :class:`StreamSink` (``Sink(dut, "events", fields)``): ``fired()`` (valid, and ready if the
  port has one) and ``payload()``, a dict of the fields.
"""
from __future__ import annotations

import json

from amaranth.lib import data

from spikestack.tb.util import uint

__all__ = ["layout_fields", "StreamSource", "StreamSink"]


def layout_fields(layout) -> str:
    """The leaf fields of an Amaranth ``data.StructLayout`` as JSON ``[[name, offset, width], ...]``
    (nested structs as dotted names), to pass to a bench in its job file."""
    out = []

    def walk(lay, prefix, base):
        for name, field in lay:
            if isinstance(field.shape, data.StructLayout):
                walk(field.shape, f"{prefix}{name}.", base + field.offset)
            else:
                out.append([f"{prefix}{name}", base + field.offset, field.width])
    walk(layout, "", 0)
    return json.dumps(out)


class _Fields:
    def __init__(self, fields: str | list):
        self.fields = json.loads(fields) if isinstance(fields, str) else list(fields)

    def pack(self, value: dict) -> int:
        known = {name for name, _, _ in self.fields}
        if set(value) - known:
            raise KeyError(f"unknown payload fields {sorted(set(value) - known)}")
        word = 0
        for name, offset, width in self.fields:
            v = int(value.get(name, 0))
            if not 0 <= v < (1 << width):
                raise ValueError(f"payload field {name}: {v} does not fit {width} bits")
            word |= v << offset
        return word

    def unpack(self, word: int) -> dict:
        return {name: (word >> offset) & ((1 << width) - 1) for name, offset, width in self.fields}


class StreamSource(_Fields):
    """Drives stream ``prefix`` of ``dut``; see the module docstring."""

    def __init__(self, dut, prefix: str, fields: str | list):
        super().__init__(fields)
        self.valid = getattr(dut, f"{prefix}__valid")
        self.ready = getattr(dut, f"{prefix}__ready")
        self.data = getattr(dut, f"{prefix}__payload")
        self.idle()

    def idle(self):
        self.valid.value = 0
        self.data.value = 0

    def offer(self, value: dict):
        self.valid.value = 1
        self.data.value = self.pack(value)

    def taken(self) -> bool:
        return bool(uint(self.valid)) and bool(uint(self.ready))


class StreamSink(_Fields):
    """Watches stream ``prefix`` of ``dut`` (``ready`` is the bench's to drive, when there is one)."""

    def __init__(self, dut, prefix: str, fields: str | list):
        super().__init__(fields)
        self.valid = getattr(dut, f"{prefix}__valid")
        self.ready = getattr(dut, f"{prefix}__ready", None)
        self.data = getattr(dut, f"{prefix}__payload")

    def fired(self) -> bool:
        return bool(uint(self.valid)) and (self.ready is None or bool(uint(self.ready)))

    def payload(self) -> dict:
        return self.unpack(uint(self.data))
