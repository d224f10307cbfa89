# Two commands from a fresh Debian 12 machine: `make run` and `make test`. Both install what is
# missing (scripts/bootstrap), build with CMake + Ninja, then run.
BUILD ?= build
TSAN_BUILD ?= build-tsan
CMAKE_FLAGS ?=
JOBS ?= $(shell nproc)

.PHONY: run test build bootstrap configure bench test-tsan format clean

bootstrap:
	@bash scripts/bootstrap

$(BUILD)/build.ninja:
	@cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS) >/dev/null

configure: bootstrap $(BUILD)/build.ninja

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	@$(BUILD)/src/cli/xervo serve --demo $(ARGS)

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 900

# The core, net and library tests under ThreadSanitizer (llama.cpp is linked uninstrumented, so
# the engine tests are left out of this build). halt_on_error: any race report fails its test;
# tests/tsan.supp names the uninstrumented code whose own races are not ours to fix. Left out:
# tests that fork a multi-threaded process and start threads in the child, which TSAN cannot run
# ("starting new threads after multi-threaded fork is not supported").
TSAN_EXCLUDE ?= ^Hub\.ConcurrentPullsFromTwoProcessesDownloadOnce$$
test-tsan: bootstrap
	@cmake -S . -B $(TSAN_BUILD) -G Ninja -DXERVO_TSAN=ON >/dev/null
	@cmake --build $(TSAN_BUILD) -j $(JOBS)
	@cd $(TSAN_BUILD) && \
		TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp $(TSAN_OPTIONS)" \
		ctest --output-on-failure -j $(JOBS) --timeout 900 -E '$(TSAN_EXCLUDE)'

bench: build
	@bash bench/run_all.sh $(BUILD)

format:
	@git ls-files '*.cpp' '*.h' | xargs clang-format -i

clean:
	@rm -rf $(BUILD) $(TSAN_BUILD)
