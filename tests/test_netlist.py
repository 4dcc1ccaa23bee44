"""Repairs of qflow's synthesised netlists (flows/builtin/netlist.py) on small texts of the shapes qflow
writes; the real case (the default expert core: OpenSTA could not read its netlist before) is
in the module docstring."""
from spikestack.flows.builtin.netlist import drop_port_buffers, repair_header

SOURCE = """module blk(clk, a, y, z);
  input clk;
  input [3:0] a;
  output [3:0] y;
  output z;
endmodule
"""


def test_a_garbled_header_is_rebuilt_and_lost_port_bits_renamed():
    good = ("module blk (clk, a, y, z);\n\ninput clk;\noutput z;\ninput [3:0] a;\noutput [3:0] y;\n\n"
            "wire vdd = 1'b1;\nINVX1 INVX1_1 ( .A(a[0]), .Y(y[0]) );\nendmodule\n")
    assert repair_header(good.encode(), "blk", SOURCE) == good           # a right header: unchanged
    garbled = (b"module blk (clk, a, y\x90\x8a, \xfe);\n\ninput clk;\ninput \xfe;\noutput y\x90\x8a;\n\n"
               b"wire vdd = 1'b1;\nINVX1 INVX1_1 ( .A(a_0_), .Y(y_0_) );\n"
               b"BUFX2 BUFX2_1 ( .A(core_y_3_), .Y(y_3_) );\nINVX1 INVX1_2 ( .A(ay_1_), .Y(z) );\nendmodule\n")
    fixed = repair_header(garbled, "blk", SOURCE)
    head, body = fixed.split("wire vdd", 1)
    assert head.splitlines()[0] == "module blk (clk, a, y, z);"
    assert sorted(head.splitlines()[2:6]) == ["input [3:0] a;", "input clk;", "output [3:0] y;", "output z;"]
    assert ".A(a[0]), .Y(y[0])" in body and ".A(core_y_3_), .Y(y[3])" in body   # ports' bits back
    assert ".A(ay_1_)" in body                                  # another net that merely ends alike


BLIF = """.model blk
.inputs clk a[0]
.outputs y[0] y[1] y[2] z
.gate mac clk=clk q[0]=m.q[0] q[1]=m.q[1] q[2]=m.q[2]
.gate BUFX2 A=m.q[0] Y=y[0]
.gate BUFX2 A=m.q[1] Y=y[1]
.gate INVX1 A=m.q[1] Y=n1
.gate BUFX2 A=n1 Y=y[2]
.gate BUFX2 A=m.q[2] Y=z
.end
"""
VERILOG = """module blk (clk, a, y, z);

input clk;
output z;
input [0:0] a;
output [2:0] y;

wire vdd = 1'b1;
mac mac_1 ( .clk(clk), .q[0](m_q_0_), .q[1](m_q_1_), .q[2](m_q_2_) );
BUFX2 BUFX2_1 ( .A(m_q_0_), .Y(y[0]) );
BUFX2 BUFX2_2 ( .A(m_q_1_), .Y(y[1]) );
INVX1 INVX1_1 ( .A(m_q_1_), .Y(n1) );
BUFX2 BUFX2_3 ( .A(n1), .Y(y[2]) );
BUFX2 BUFX2_4 ( .A(m_q_2_), .Y(z) );
endmodule
"""


def test_buffers_from_a_macro_pin_to_a_port_go_and_the_pin_drives_the_port():
    """Dropped: a buffer that is the only load of a macro pin's net and drives an output port
    (y[0], z). Kept: one whose net has another load (y[1]), one driven by a standard cell (y[2])."""
    blif, v, n = drop_port_buffers(BLIF, VERILOG, {"mac"})
    assert n == 2
    assert ".gate mac clk=clk q[0]=y[0] q[1]=m.q[1] q[2]=z\n" in blif
    assert "A=m.q[0]" not in blif and ".gate BUFX2 A=m.q[1] Y=y[1]" in blif and ".gate BUFX2 A=n1 Y=y[2]" in blif
    assert "mac mac_1 ( .clk(clk), .q[0](y[0]), .q[1](m_q_1_), .q[2](z) );" in v
    assert "BUFX2_1 " not in v and "BUFX2_4 " not in v and "BUFX2_2 " in v and "BUFX2_3 " in v
    assert drop_port_buffers(BLIF, VERILOG, {"other"}) == (BLIF, VERILOG, 0)     # not a macro: kept
    # the two netlists disagree (the Verilog lost a buffer): nothing is changed
    assert drop_port_buffers(BLIF, VERILOG.replace("BUFX2 BUFX2_4 ( .A(m_q_2_), .Y(z) );\n", ""),
                             {"mac"})[2] == 0
