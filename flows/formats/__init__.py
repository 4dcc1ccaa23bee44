"""Readers and writers of the physical-design file formats (Verilog netlists, DEF, LEF, Liberty,
qrouter's ``.rc``) and of Markdown tables: pure functions of text, no tools run here."""
