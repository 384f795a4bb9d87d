# make demo : set everything up (venv, package with torch+tf extras, data) and run the main job
# make test : set everything up and run the test suite (what CI runs)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
DATA   := /usr/share/datasets/fashion-mnist

.PHONY: venv install dev test test-slow sanitize bench demo data browser clean cuda-check gpu-check

$(VENV)/.stamp: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt torch==2.13.0 "tensorflow-cpu>=2.16" "jax[cpu]==0.10.2" numpy scipy \
	    pytest pytest-timeout matplotlib tqdm tensorboard scikit-build-core pybind11 ninja cmake
	touch $@

venv: $(VENV)/.stamp

# Builds and installs the package (incremental: the build folder is kept).
install: venv
	$(PIP) install -q --no-build-isolation -c constraints.txt ".[all]"

# Developer build: compiles _core into src/twincore for PYTHONPATH=src runs.
BUILD ?= build/dev
dev:
	cmake -S . -B $(BUILD) -G Ninja -DPython_EXECUTABLE=$(abspath $(PY)) \
	    -Dpybind11_DIR=$$($(PY) -m pybind11 --cmakedir) -DTWINCORE_INPLACE_DIR=$(abspath src/twincore) \
	    -DTWINCORE_CUDA=$(DEV_CUDA) >/dev/null
	cmake --build $(BUILD)

# The developer build skips nvcc (minutes); `make cuda-check` builds the CUDA kernels and
# launcher into build/cuda (the module lands in build/cuda/pkg, not in src/).
DEV_CUDA ?= OFF
cuda-check:
	mkdir -p build/cuda/pkg
	cmake -S . -B build/cuda -G Ninja -DPython_EXECUTABLE=$(abspath $(PY)) \
	    -Dpybind11_DIR=$$($(PY) -m pybind11 --cmakedir) -DTWINCORE_CUDA=ON \
	    -DCMAKE_CUDA_COMPILER=$${CUDACXX:-/usr/local/cuda/bin/nvcc} \
	    -DTWINCORE_INPLACE_DIR=$(abspath build/cuda/pkg) >/dev/null
	cmake --build build/cuda

# On a GPU machine (torch with CUDA, CuPy, nvcc, pybind11; no network needed): builds _core in
# place for that GPU, runs the GPU tests of both launchers, compute-sanitizer memcheck and
# benchmarks/bench_gpu.py, in under 9 minutes, and prints one table (tools/gpu_check.sh).
# Uses the Python given as GPU_PY (default python3: the one that holds torch there).
GPU_PY ?= python3
gpu-check:
	PY=$(GPU_PY) bash tools/gpu_check.sh

test: install
	@$(MAKE) --no-print-directory data || echo "warning: no Fashion-MNIST; the tests on real data will be skipped"
	@$(MAKE) --no-print-directory browser || echo "warning: no chromium; the web page's browser test will be skipped"
	$(PY) -m pytest -q -m "not slow" -p no:cacheprovider

test-slow: install
	$(PY) -m pytest -q -m slow

# The core under AddressSanitizer + UBSan, kernel tests only (numpy inputs).
sanitize: venv
	cmake -S . -B build/asan -G Ninja -DPython_EXECUTABLE=$(abspath $(PY)) \
	    -Dpybind11_DIR=$$($(PY) -m pybind11 --cmakedir) -DTWINCORE_SANITIZE=ON \
	    -DTWINCORE_CUDA=OFF -DTWINCORE_INPLACE_DIR=$(abspath build/asan/pkg) >/dev/null
	mkdir -p build/asan/pkg && cmake --build build/asan
	rm -rf build/asan/site && mkdir -p build/asan/site && cp -r src/twincore build/asan/site/ \
	    && cp build/asan/pkg/_core*.so build/asan/site/twincore/
	LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libubsan.so)" \
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	TWINCORE_SANITIZE=1 PYTHONPATH=build/asan/site $(PY) -m pytest -q -p no:cacheprovider tests/kernels tests/core

bench: install
	$(PY) benchmarks/bench_cpu.py

data:
	@test -f $(DATA)/train-images-idx3-ubyte.gz || { \
	  echo "installing Debian's dataset-fashion-mnist (the embedded default data)"; \
	  (apt-get update -q && apt-get install -y -q dataset-fashion-mnist) >/dev/null \
	  || sudo sh -c 'apt-get update -q && apt-get install -y -q dataset-fashion-mnist' >/dev/null; }

# Debian's chromium and its driver, for the web page's test (tests/serve/test_page.py).
browser:
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || { \
	  echo "installing Debian's chromium and chromium-driver (the web page's browser test)"; \
	  (apt-get update -q && apt-get install -y -q chromium chromium-driver) >/dev/null \
	  || sudo sh -c 'apt-get update -q && apt-get install -y -q chromium chromium-driver' >/dev/null; }

demo: install data
	$(VENV)/bin/twincore compare --model cnn --epochs 1 --max-steps 200 --native --channels-last

clean:
	rm -rf build $(VENV) src/twincore/_core*.so
