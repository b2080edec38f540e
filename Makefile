# causalphys: `make demo` and `make test` set everything up on a fresh machine (a local .venv/).
PYTHON ?= python3
VENV ?= .venv
# The CPU build of torch is installed first so that no CUDA build is pulled in; override for a GPU machine,
# e.g. `make test TORCH_SPEC="torch==2.13.0 --index-url ..."`.
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.causalphys-installed

.PHONY: install demo test test-real test-cluster lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet $(TORCH_SPEC)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(PY) -m causalphys.cli.demo

# pytest's exit code 5 (no test collected) is a failure here, not a pass.
test: install
	$(PY) -m pytest -m "not cluster and not real_data" -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$rc

# The tests on the shared real data of ../shared/data/: the recorded SrTiO3 image (or $$CAUSALPHYS_STEM) — its physics,
# its file benchmark and the README section that uses it — and the Sachs finding of experiments/equations/sachs/.
# They fail, never skip, without the files.
test-real: install
	$(PY) -m pytest -m real_data -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test-real: pytest collected no tests" >&2; exit 1; fi; exit $$rc

# Sweeps through Slurm (hydra/launcher=slurm) against a real single-node Slurm that tests/cluster/with_slurm.sh
# installs (apt-get, as root on Debian 12), starts before and stops after the tests, pass or fail.
test-cluster: install
	bash tests/cluster/with_slurm.sh $(PY) -m pytest -m cluster -q tests/cluster; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test-cluster: pytest collected no tests" >&2; exit 1; fi; exit $$rc

lint: install
	$(VENV)/bin/ruff check causalphys hydra_plugins tests benchmarks experiments notebooks
	$(VENV)/bin/ruff format --check causalphys hydra_plugins tests benchmarks experiments notebooks

bench: install
	$(PY) benchmarks/scm_sampling.py && $(PY) benchmarks/microscopy_throughput.py && $(PY) benchmarks/microscopy_time_split.py && $(PY) benchmarks/detector_noise.py && $(PY) benchmarks/trainer_steps.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis outputs multirun
