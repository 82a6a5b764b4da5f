# volo — developer entry points. `make help` lists them.
PRESET ?= release
BUILD := build/$(PRESET)
VOLO := $(BUILD)/volo
JOBS ?= $(shell nproc)
WERROR := $(if $(CI),ON,OFF)
TEST_TIMEOUT ?= 600
CTEST_FLAGS ?=

.DEFAULT_GOAL := help
.PHONY: help deps configure build run exercise test test-unit test-asan bench fuzz format clean

help: ## List the targets with what each does
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z_-]+:.*## /{printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

deps: ## Install the Debian packages the build and tests need (idempotent)
	@scripts/install-deps

configure: deps ## Configure the CMake build (PRESET=release|debug|asan)
	@cmake --preset $(PRESET) -DVOLO_WERROR=$(WERROR) > /dev/null

build: configure ## Build volo and its tests
	@cmake --build $(BUILD) -j $(JOBS)

run: build ## Run volo's main job: examples/pi.fly (Monte Carlo pi, 1,000,000 points, local threads)
	$(VOLO) run examples/pi.fly

exercise: build ## Run seed exercise 5: 100 tasks on 10 general + 10 mult + 10 add local workers
	$(VOLO) up --workers 10 --mult 10 --add 10 --tasks 100 --duration-scale 0.1

test: build ## Build and run every test (unit, FLY corpus, integration, manifests, fuzz smoke)
# No retries: a test that fails once fails the run, so a flaky test is seen and its race fixed.
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout $(TEST_TIMEOUT) $(CTEST_FLAGS)

# UBSan only prints by default: halting makes undefined behaviour fail the test (the integration
# harness passes the variables on to the volo processes it starts); ASan halts by itself and
# LSan reports leaks at exit. allocator_may_return_null: a request too large for any machine
# fails as it does without ASan (malloc returns null, operator new throws std::bad_alloc, which
# volo handles) instead of aborting the process. ASan at -O1 runs several times slower, hence
# the longer per-test timeout (ctest's --timeout wins over the suites' TIMEOUT properties). The
# fuzz smoke tests build and run the same sanitized libFuzzer binaries (build/fuzz) whatever the
# preset, so `make test` has run them already. The browser tests (label browser) drive Chromium
# through Selenium against the planner's pages; what they exercise in volo is its HTTP layer,
# which the integration tests cover here, so they are left out too. tests/lsan.supp names the
# leaks of libraries (libedit) that are not volo's.
test-asan: ## Run every test under ASan+UBSan+LSan (-O1 build in build/asan)
	@echo "test-asan: the fuzz smoke tests (label fuzz) and browser tests (label browser) run in make test, not here"
	@UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	  $(MAKE) --no-print-directory test PRESET=asan TEST_TIMEOUT=1800 CTEST_FLAGS="-LE '(fuzz|browser)'"

bench: ## Benchmarks: volo and the peers (Celery, RQ, Dask, Lua, Python) side by side
	@scripts/install-deps --bench
	@$(MAKE) --no-print-directory build
	@bench/run.sh $(BUILD)

fuzz: ## Run the libFuzzer targets for longer (FUZZ_SECONDS=60 each)
	@cmake --preset fuzz > /dev/null && cmake --build build/fuzz -j $(JOBS)
	@for f in build/fuzz/src/*/*_fuzz; do echo "== $$f"; $$f -max_total_time=$${FUZZ_SECONDS:-60} || exit 1; done

format: ## clang-format every C++ source in place
	@find src tests bench -name '*.cc' -o -name '*.h' | xargs clang-format -i

clean: ## Remove build outputs
	rm -rf build
