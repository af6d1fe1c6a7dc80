# Two commands matter: `make demo` and `make test`. Both build everything they need.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# What a headless napari needs from Debian: a virtual X server, Mesa's software OpenGL,
# and the xcb libraries Qt's platform plugin loads.
DEB_PACKAGES := xvfb xauth libgl1 libgl1-mesa-dri libegl1 libglx-mesa0 libfontconfig1 \
	libdbus-1-3 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 \
	libxcb-randr0 libxcb-render-util0 libxcb-xinerama0 libxcb-xfixes0 libxcb-shape0 \
	libxcb-cursor0 libxcb-xkb1 libxrender1 libxi6

.PHONY: test demo bench sysdeps venv lint clean

sysdeps:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null \
		| grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "Installing Debian packages for a headless display: $$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		else \
			echo "Missing Debian packages. Run as root:"; \
			echo "  sudo apt-get update && sudo apt-get install -y $$missing"; \
			exit 1; \
		fi; \
	fi

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	@touch $(STAMP)

venv: $(STAMP)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: sysdeps venv
	$(VENV)/bin/npe2 validate napari-omezarr-export
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pytest

demo: sysdeps venv
	@if [ -n "$$DISPLAY" ]; then $(PY) -m napari_omezarr_export._napari._demo; \
	else xvfb-run -a -s "-screen 0 1280x1024x24" $(PY) -m napari_omezarr_export._napari._demo --headless; fi

bench: sysdeps venv
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) demo_output .pytest_cache
