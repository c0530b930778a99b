# Two entry points that work on a fresh machine with only Python 3.11+:
#   make demo   set up .venv and run the end-to-end demo
#   make serve  the web console and REST API on http://127.0.0.1:8000/ (after make demo), with
#               the public pages of published cases on (/public/cases)
#   make test   set up .venv with test extras; ruff, the layers contract, mypy, then the
#               whole test suite
#   make typecheck  mypy over the packages (configured in pyproject.toml)
#   make upgrade  re-pin constraints.txt to the newest versions pyproject.toml allows
#   make bench  add the benchmark extras (and, with npm, a Chinese poetry corpus; as root,
#               Debian's photographic wallpapers and game music) and run bench/*.py (results
#               in bench/results/)
#   make browser  install Debian's chromium (for JavaScript targets and their tests; needs root)
#   make media  install Debian's ffmpeg and Chromaprint (audio; make demo and make test do it)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed
# Every package of a `.[test]` install at a tested version (make upgrade writes it).
CONSTRAINTS := constraints.txt
UPGRADE_VENV := .venv-upgrade

CHROMIUM := /usr/bin/chromium

.PHONY: demo serve test lint typecheck upgrade bench bench-setup browser media clean

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e '.[test]'
	touch $(STAMP)

# A fresh venv with the newest versions pyproject.toml allows, frozen. pip and the
# editable swordnet itself are left out; setuptools stays in (swordnet[node] caps it).
upgrade:
	rm -rf $(UPGRADE_VENV)
	$(PYTHON) -m venv $(UPGRADE_VENV)
	$(UPGRADE_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(UPGRADE_VENV)/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager \
	  -e '.[test]'
	{ echo "# Written by make upgrade from a fresh .[test] install on Python" \
	    "$$($(UPGRADE_VENV)/bin/python -c 'import platform; print(platform.python_version())')."; \
	  echo "# make installs with -c $(CONSTRAINTS), so every machine tests these versions."; \
	  $(UPGRADE_VENV)/bin/python -m pip freeze --all --exclude-editable --exclude pip; \
	} > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)
	rm -rf $(UPGRADE_VENV)

demo: $(STAMP) media
	$(BIN)/swordnet demo

# The demo's published case is public: SWORDNET_PUBLIC_PAGES is on unless set otherwise.
serve: export SWORDNET_PUBLIC_PAGES ?= on
serve: $(STAMP)
	$(BIN)/swordnet serve

# The static checks are prerequisites, so they run (and fail fast) before pytest starts.
test: $(STAMP) browser media lint typecheck
	$(BIN)/python -m pytest -n auto --dist loadgroup $(PYTEST_ARGS)

# JavaScript rendering uses the system Chromium through scrapy-playwright; no browser download.
browser:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else \
	    echo "note: $(CHROMIUM) missing; JavaScript tests will be skipped (sudo make browser)"; \
	  fi; }

# Sound and video tools from Debian: ffmpeg decodes audio (and video soundtracks) for the
# chromaprint signal and the review's excerpts; libchromaprint-tools brings libchromaprint1,
# which pyacoustid's bindings load, and fpcalc. Without them audio works are refused with a
# one-line reason and video works are registered by their frames alone.
media:
	@test -x /usr/bin/ffmpeg -a -x /usr/bin/fpcalc || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      ffmpeg libchromaprint-tools; \
	  else \
	    echo "note: ffmpeg or fpcalc missing; audio tests will fail (sudo make media)"; \
	  fi; }

# The bench extras are not pinned (they are not part of make test, and pinning them would put
# FAISS and scikit-learn into every make upgrade), but they install under the constraints, so
# a package they share with the rest (numpy, pillow, ...) stays at its tested version.
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e '.[test,bench]'
	touch $(BENCH_STAMP)

# Real Chinese text for bench/text.py: the chinese-poetry npm package (Tang and Song poems).
POETRY := bench/.data/chinese-poetry/package/dist
$(POETRY):
	mkdir -p bench/.data/chinese-poetry
	cd bench/.data && npm pack chinese-poetry@2.0.1 --silent >/dev/null && \
	  tar xzf chinese-poetry-2.0.1.tgz -C chinese-poetry && rm chinese-poetry-2.0.1.tgz

# Real photographs for bench/scale.py's filler works: two Debian wallpaper packages (GPL-2+).
FILLER_PHOTOS := /usr/share/backgrounds/mate/nature/Dune.jpg /usr/share/wallpapers/Path
$(FILLER_PHOTOS):
	@if [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    mate-backgrounds plasma-workspace-wallpapers; \
	else \
	  echo "note: $@ missing; bench/scale.py needs: sudo apt-get install mate-backgrounds plasma-workspace-wallpapers"; \
	fi

# Real recordings for bench/audio_recordings.py: three Debian game-music packages (Wesnoth's
# and Warzone 2100's GPL-2+, Endgame: Singularity's CC-BY-SA-3.0; about 290 MB installed).
GAME_MUSIC := /usr/share/games/wesnoth/1.16/data/core/music /usr/share/games/warzone2100/music \
  /usr/share/games/singularity/music
$(GAME_MUSIC):
	@if [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    wesnoth-1.16-music warzone2100-music singularity-music; \
	else \
	  echo "note: $@ missing; bench/audio_recordings.py needs: sudo apt-get install wesnoth-1.16-music warzone2100-music singularity-music"; \
	fi

bench-setup: $(BENCH_STAMP) $(POETRY) $(FILLER_PHOTOS) $(GAME_MUSIC)

bench: bench-setup
	$(BIN)/python bench/detection.py
	$(BIN)/python bench/hashing.py
	$(BIN)/python bench/image_index.py
	$(BIN)/python bench/index.py
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/crawl.py
	$(BIN)/python bench/crawl_start.py
	$(BIN)/python bench/text.py
	$(BIN)/python bench/video.py
	$(BIN)/python bench/audio.py
	$(BIN)/python bench/audio_recordings.py
	$(BIN)/python bench/software.py
	$(BIN)/python bench/console.py
	$(BIN)/python bench/notice_delivery.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(UPGRADE_VENV) .swordnet .pytest_cache .mypy_cache
