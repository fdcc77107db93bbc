# Set-up and the two everyday commands. Every target creates the virtual environment in .venv/ when missing.
#   make demo   the main job on the embedded default (simulator + scripted expert, no hardware)
#   make test   the lint step (ruff), the manual (docs/, built strictly), Monado for the VR tests (built once),
#               then the test suite
#   make docs   the manual alone: site/ from docs/ with MkDocs, failing on any broken link or anchor
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Headless OpenGL (EGL and OSMesa on Mesa's software renderer), a virtual display for the viewer test,
# and FFmpeg's libraries for LeRobot's video decoding.
APT_PACKAGES := libegl1 libegl-mesa0 libgl1 libgl1-mesa-dri libglx-mesa0 libopengl0 libosmesa6 xvfb xauth ffmpeg
DEMO_OUTPUT ?= outputs/demo

.PHONY: setup system-deps monado demo lint docs test clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(MAKE) --no-print-directory system-deps
	@$(PYTHON) -c 'import sys; sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, 12) else "Python 3.10-3.12 is needed; set PYTHON=/path/to/python3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,ray]'
	touch $@

system-deps:
	@if ! command -v dpkg >/dev/null 2>&1; then \
	  echo "Not a Debian/Ubuntu system: install EGL or OSMesa, Xvfb and FFmpeg libraries with your package manager."; \
	  exit 0; fi; \
	missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	else \
	  echo "Missing Debian packages:$$missing"; \
	  echo "Install them with:  sudo apt-get install -y --no-install-recommends$$missing"; \
	  exit 1; \
	fi

demo: setup
	$(BIN)/so101 pipeline --output $(DEMO_OUTPUT)

lint: setup
	$(BIN)/ruff check .

# The manual: MkDocs in strict mode (mkdocs.yml), so a broken link, a missing anchor or a page left out of the
# navigation fails the build.
docs: setup
	$(BIN)/mkdocs build --strict

# Monado, the open-source OpenXR runtime, built once into ~/.cache/so101/monado for the VR tests (Debian only;
# elsewhere the VR tests skip, saying why).
monado:
	@sh tests/vr_runtime.sh >/dev/null || echo "Monado could not be built: the VR tests will be skipped"

test: lint docs monado
	HF_HUB_OFFLINE=1 WANDB_MODE=offline $(BIN)/python -m pytest

clean:
	rm -rf $(VENV) outputs .pytest_cache site
