# tcp-fault-lab: the front door.
#   make scenario NAME=crash-reset   run one scenario, print its verdict table
#        (REPEAT=20: run it 20 times and report whether every outcome was the same;
#         BACKEND=netns: hosts as network namespaces on this machine, no Docker)
#   make scenarios                   run the whole catalogue (JUnit XML in runs/)
#   make test                        unit and integration tests, then the catalogue
#   make bench NAMES="a b" RUNS=20   time warm runs, phase by phase
#   make soak N=10                   the catalogue N times: verdict changes, leftovers, time per round
#   make readme                      regenerate the README's catalogue table
#   make clean                       remove what killed runs left, and runs/
#   make distclean                   also the images and the virtual environment
# Each target sets up what it needs (.venv, images) when missing, and nothing when present.

VENV    := .venv
PY      := $(VENV)/bin/python
LAB     := $(PY) -m lab
STAMP   := $(VENV)/.installed
SUDO    := $(if $(filter 0,$(shell id -u)),,sudo)
NAME    ?= crash-reset
REPEAT  ?= 1
RUNS    ?= 20
N       ?= 10
NAMES   ?= $(NAME)
BACKEND ?= docker
APT     := $(SUDO) apt-get install -y -qq --no-install-recommends

.PHONY: scenario scenarios test bench soak images readme browser tools clean distclean setup

setup: $(STAMP) images

$(STAMP): requirements.lock pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

# mmdebstrap builds the base root file system; installed from Debian once.
images: $(STAMP)
	@command -v mmdebstrap >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq mmdebstrap >/dev/null; }
	@$(LAB) images

scenario: setup tools
	$(LAB) --backend $(BACKEND) run $(NAME) --repeat $(REPEAT)

scenarios: setup
	$(PY) -m pytest scenarios/ --junitxml=runs/junit.xml -q

# Chromium renders the HTML report in a test; from Debian's packages, once.
browser:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && $(APT) chromium >/dev/null; }

# The netns backend runs tcpdump on this machine; from Debian's packages, once.
tools:
	@command -v tcpdump >/dev/null || { $(SUDO) apt-get update -qq && $(APT) tcpdump >/dev/null; }

test: setup browser tools
	$(PY) -m pytest --junitxml=runs/junit.xml

bench: setup tools
	$(PY) tests/bench.py $(NAMES) --repeat $(RUNS) --backend $(BACKEND)

soak: setup
	$(PY) tests/soak.py -n $(N)

readme: $(STAMP)
	$(PY) -c 'import pathlib, lab.catalogue as c; p = pathlib.Path("README.md"); p.write_text(c.readme_with_catalogue(p.read_text()))'

clean:
	@if [ -x $(PY) ]; then $(LAB) clean; fi
	rm -rf runs

distclean: clean
	-docker images --format '{{.Repository}}:{{.Tag}}' 'tcp-fault-lab/*' | xargs -r docker rmi
	rm -rf $(VENV) *.egg-info
