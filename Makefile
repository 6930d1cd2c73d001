# tcp-fault-lab: the front door.
#   make scenario NAME=crash-reset   run one scenario, print its verdict table
#        (REPEAT=20: run it 20 times and report whether every outcome was the same;
#         BACKEND=netns: hosts as network namespaces on this machine, no Docker;
#         RUNTIME=java-nio: the hosts' programs in c, go, node, java-nio or java-socket, not python;
#         FAMILY=6: over IPv6, FAMILY=both: once over each)
#   make scenarios                   run the whole catalogue, three runs per core (JOBS=1: serially;
#                                    JUnit XML and runs/index.html in runs/)
#        (RUNTIMES="c java-nio": once per runtime; FAMILY=6 or FAMILY=both, as for one scenario)
#   make test                        unit and integration tests, then the catalogue
#   make unit                        the tests that need no Docker, root, qemu or toolchain (seconds)
#   make matrix KERNELS="5.10 6.1"   the catalogue on Debian kernels booted in qemu, one compare page
#        (RUNTIME=c or RUNTIMES="python c go": the guests' hosts in those runtimes; c and go only;
#         FAMILY=6 or both: over IPv6 too; SHARD=2/4: the second of four disjoint shares of the cells)
#   make nightly                     the catalogue over IPv4 and IPv6 on this host (Docker; netns in the
#                                    five other runtimes) and on KERNELS (python, c, go), compared
#        (SHARD=2/4: a CI job's share of each part; make nightly-merge: the shards in runs/shards/, one page)
#   make bench NAMES="a b" RUNS=20   time warm runs, phase by phase; then the floor ratio and the catalogue's
#                                    time beside their goals (on Docker)
#        (RUNTIMES="python c go node java-nio java-socket": each runtime's added time per run, interleaved)
#   make bench-matrix                the warm four-kernel matrix (KERNELS) timed beside its goal, 5 minutes
#   make bench-compare               the compare page of a synthetic 10,000-row matrix: its build and
#                                    render time (headless Chromium) beside their goals
#   make soak N=10                   the catalogue N times: verdict changes, leftovers, time per round
#        (KILL=0.3: SIGKILL that share of runs at random points, `lab clean` after each)
#   make killsweep KILLS=60          SIGKILL `make scenario`'s process group at seeded points, one
#                                    `lab clean` each, a live run beside: what is left, at once and 10 s later
#   make readme                      regenerate the README's catalogue table and matrix paragraph
#   make findings                    keep runs/matrix/compare.json as the matrix the README tells of
#   make schema                      regenerate lab/scenario/schema.json from the step kinds' declarations
#   make clean                       remove what killed runs left, and runs/
#   make distclean                   also the images and the virtual environment
# Each target sets up what it needs (.venv, images) when missing, and nothing when present.

VENV    := .venv
PY      := $(VENV)/bin/python
LAB     := $(PY) -m lab
# A long run starts with Ctrl-C and SIGTERM ignored: one that came while CPython itself was still
# starting (importing site, before lab/__main__.py can hold it) could only end it with a "Fatal
# Python error" and a traceback; lab/__main__.py takes both signals over within milliseconds.
RUN_LAB := trap '' INT TERM; exec $(LAB)
STAMP   := $(VENV)/.installed
# The lab's own Python processes keep their bytecode (in .venv and the ignored __pycache__ folders): with
# PYTHONDONTWRITEBYTECODE set, as on this project's CI machines, each of a catalogue's pytest processes
# compiled every module again and pytest rewrote the lab's asserts again (it caches those as bytecode too).
unexport PYTHONDONTWRITEBYTECODE
SUDO    := $(if $(filter 0,$(shell id -u)),,sudo)
NAME    ?= crash-reset
REPEAT  ?= 1
RUNS    ?= 20
N       ?= 10
KILL    ?= 0
KILLS   ?= 60
NAMES   ?= $(NAME)
RUNTIME ?= python
RUNTIMES ?=
FAMILY  ?= 4
# pytest's items per family: none named for the default, IPv4 alone
LAB_FAMILIES = $(if $(filter both,$(FAMILY)),--lab-family 4 --lab-family 6,$(if $(filter-out 4,$(FAMILY)),--lab-family $(FAMILY)))
# make scenarios: parallel runs (runs are isolated), three per core: a run mostly waits on its scenario's
# timers, and past three per core the machine is saturated (2 cores, Docker, 2026-11-29: 103 s with 2,
# 75 s with 4, 62-65 s with 6, 67 s with 8). make test and make nightly's runs on this machine take one
# per core, as the timing windows were measured.
JOBS    ?= $(shell echo $$((3 * $$(nproc))))
# pytest over the catalogue, without hypothesis's plugin (the unit tests' fuzzing needs it, no run does):
# its import was 0.12 s of each catalogue process's 0.8 s start, in the session and in every worker
CATALOGUE = $(PY) -m pytest -p no:hypothesispytest
TEST_JOBS ?= auto
# a run in another runtime than python needs its toolchain on this machine (make runtimes)
NEEDS_RUNTIMES = $(if $(filter-out python,$(RUNTIME) $(RUNTIMES))$(shell grep -ls '^ *runtime:' scenarios/$(NAME).yaml 2>/dev/null),runtimes)
BACKEND ?= docker
OUT     ?= runs
KERNELS ?= 5.10 6.1 6.12 7.2
NIGHTLY ?= runs/nightly
# make nightly SHARD=I/N runs the I-th of N disjoint shares of the cells (lab/shard.py), the whole matrix
# fanned out over N CI jobs (.github/workflows/nightly.yml); make nightly-merge compares SHARDS_IN's runs
SHARD   ?=
SHARDS_IN ?= runs/shards
SCENARIOS ?= scenarios/
NIGHTLY_RUNTIMES ?= c java-nio java-socket go node
VM_RUNTIMES ?= python c go
APT     := $(SUDO) apt-get install -y -qq --no-install-recommends

.PHONY: scenario scenarios test unit bench soak killsweep images mmdebstrap qemu matrix nightly nightly-merge readme findings browser tools runtimes clean distclean setup

setup: $(STAMP) images

$(STAMP): requirements.lock pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

# mmdebstrap builds the root file systems (images and VMs); installed from Debian once.
mmdebstrap:
	@command -v mmdebstrap >/dev/null || { $(SUDO) apt-get update -qq && $(APT) mmdebstrap >/dev/null; }

images: $(STAMP) mmdebstrap
	@$(RUN_LAB) images

scenario: $(STAMP) mmdebstrap tools $(NEEDS_RUNTIMES)
	$(RUN_LAB) --backend $(BACKEND) run $(NAME) --repeat $(REPEAT) --runtime $(RUNTIME) --family $(FAMILY) --out $(OUT)

scenarios: setup $(NEEDS_RUNTIMES)
	$(CATALOGUE) scenarios/ --junitxml=runs/junit.xml -q -n $(JOBS) $(foreach r,$(RUNTIMES),--lab-runtime $(r)) $(LAB_FAMILIES)

# Chromium renders the HTML report in a test; from Debian's packages, once.
browser:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && $(APT) chromium >/dev/null; }

# The netns backend runs tcpdump on this machine; from Debian's packages, once.
tools:
	@command -v tcpdump >/dev/null || { $(SUDO) apt-get update -qq && $(APT) tcpdump >/dev/null; }

# The agents' toolchains (lab/agents/, tests/test_agents.py): c, go, node, java; from Debian's packages, once.
runtimes:
	@command -v gcc >/dev/null && command -v go >/dev/null && command -v node >/dev/null && command -v javac >/dev/null || { $(SUDO) apt-get update -qq && $(APT) gcc libc6-dev golang-go nodejs default-jdk-headless >/dev/null; }

# qemu boots other kernels, depmod indexes their modules; from Debian's packages, once.
qemu:
	@command -v qemu-system-x86_64 >/dev/null && command -v depmod >/dev/null || { $(SUDO) apt-get update -qq && $(APT) qemu-system-x86 kmod >/dev/null; }

matrix: $(STAMP) mmdebstrap qemu $(NEEDS_RUNTIMES)
	$(RUN_LAB) matrix $(KERNELS) $(foreach r,$(RUNTIMES) $(filter-out python,$(RUNTIME)),--runtime $(r)) --family $(FAMILY) \
		$(if $(SHARD),--shard $(SHARD))

# Each part runs whatever the one before gives; the exit status is the worst. With SHARD, each part
# its share; with KERNELS empty, no matrix (tests/test_shard_merge.py runs it so on netns).
nightly: setup tools qemu runtimes
	rm -rf $(NIGHTLY)
	status=0; \
	$(CATALOGUE) $(SCENARIOS) -p no:cacheprovider -n $(TEST_JOBS) --lab-backend $(BACKEND) --lab-family 4 --lab-family 6 \
		$(if $(SHARD),--lab-shard $(SHARD)) --lab-out $(NIGHTLY)/host --junitxml=$(NIGHTLY)/host/junit.xml || status=$$?; \
	$(CATALOGUE) $(SCENARIOS) -p no:cacheprovider -n $(TEST_JOBS) --lab-backend netns $(foreach r,$(NIGHTLY_RUNTIMES),--lab-runtime $(r)) \
		--lab-family 4 --lab-family 6 $(if $(SHARD),--lab-shard $(SHARD)) \
		--lab-out $(NIGHTLY)/runtimes --junitxml=$(NIGHTLY)/runtimes/junit.xml || status=$$?; \
	$(if $(KERNELS),$(LAB) matrix $(KERNELS) $(foreach r,$(VM_RUNTIMES),--runtime $(r)) --family both \
		$(if $(SHARD),--shard $(SHARD)) --out $(NIGHTLY)/kernels --also $(NIGHTLY)/host $(NIGHTLY)/runtimes \
		|| status=$$?;) \
	exit $$status

# The nightly workflow's last job: every shard's runs (folders or archives) in SHARDS_IN on one compare
# page, each run once; exit 1 when a cell disagrees with its expectation.
nightly-merge: $(STAMP)
	mkdir -p $(NIGHTLY)
	$(LAB) compare $(SHARDS_IN) --json $(NIGHTLY)/compare.json --html $(NIGHTLY)/compare.html

unit: $(STAMP)
	$(PY) -m pytest tests/ -q -m "not docker and not vm and not slow"

# The tests, one at a time (several watch the whole machine's state); then, runs side by side, each
# scenario on both backends compared, the catalogue over IPv4 and IPv6 on Docker, and the catalogue
# once more in c and java-nio on netns (the other runtimes: nightly).
test: setup browser tools qemu runtimes
	$(PY) -m pytest tests/ --ignore=tests/test_backends_agree.py --junitxml=runs/junit-tests.xml
	$(CATALOGUE) tests/test_backends_agree.py scenarios/ -q -n $(TEST_JOBS) --lab-family 4 --lab-family 6 \
		--junitxml=runs/junit.xml
	$(CATALOGUE) scenarios/ -q -n $(TEST_JOBS) --lab-backend netns --lab-runtime c --lab-runtime java-nio \
		--lab-family 4 --lab-family 6 --junitxml=runs/junit-runtimes.xml

bench: setup tools $(NEEDS_RUNTIMES)
	$(PY) tests/bench.py $(NAMES) --repeat $(RUNS) --backend $(BACKEND) $(if $(RUNTIMES),--runtimes $(RUNTIMES)) \
		$(if $(filter docker,$(BACKEND)),--floor --catalogue)

# The warm four-kernel matrix (python, IPv4) timed as a whole, beside its goal of 5 minutes.
.PHONY: bench-matrix
bench-matrix: $(STAMP) mmdebstrap qemu
	$(PY) tests/bench.py --matrix $(KERNELS)

# The compare page at scale (issue 16): built and rendered for 10,000 rows, figures beside goals.
.PHONY: bench-compare
bench-compare: $(STAMP) browser
	$(PY) tests/bench_compare.py

soak: setup tools
	$(PY) tests/soak.py -n $(N) --kill $(KILL) --backend $(BACKEND)

killsweep: setup tools
	$(PY) tests/killsweep.py --backend $(BACKEND) --kills $(KILLS)

# Editors validate scenarios against it; tests/test_kinds.py fails when it is stale.
.PHONY: schema
schema: $(STAMP)
	$(PY) -m lab.scenario.schema

readme: $(STAMP)
	$(PY) -c 'import pathlib, lab.catalogue as c, lab.findings as f; p = pathlib.Path("README.md"); \
		p.write_text(f.readme_with_findings(c.readme_with_catalogue(p.read_text())))'

# Keep the last full matrix's compare.json (make matrix FAMILY=both) for the README's paragraph.
findings:
	mkdir -p scenarios/matrix && cp runs/matrix/compare.json scenarios/matrix/compare.json
	$(MAKE) readme

clean:
	@if [ -x $(PY) ]; then $(LAB) clean; fi
	rm -rf runs

distclean: clean
	rm -rf $${LAB_CACHE:-.cache}
	-docker images --format '{{.Repository}}:{{.Tag}}' 'tcp-fault-lab/*' | xargs -r docker rmi
	rm -rf $(VENV) *.egg-info
