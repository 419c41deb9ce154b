# ClassPulse: `make demo` runs everything on embedded defaults, `make test` runs the test suite.
# Both create .venv when it is missing and (re)install the project only when pyproject.toml changed.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.classpulse-installed
# torch is pinned to a build known to work with facenet-pytorch 2.5.3; override for another CUDA:
#   make test TORCH_SPEC="torch==2.14.1 torchvision==0.29.1 --index-url https://download.pytorch.org/whl/cpu"
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
PYTEST_ARGS ?=
# Two test processes: most tests wait on a broker, a database or a child process, so a second one
# cuts the suite by about 40% on two cores. Each file runs whole in one process (its fixtures are
# built once), files holding slow tests first (tests/conftest.py). PYTEST_WORKERS=0: one process.
PYTEST_WORKERS ?= 2

.PHONY: demo test lint install clean

demo: $(STAMP)
	$(BIN)/classpulse demo $(DEMO_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

install: $(STAMP)

# pip, not python, marks a finished venv: `python3 -m venv` without ensurepip (Debian without
# python3-venv) fails after creating bin/python, and make would never try again
$(BIN)/pip:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/pip
	$(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis artifacts
