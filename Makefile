# bnshift — build, test, lint, sanitize. See README.md.
# The default build targets x86-64-v3 (AVX2 + FMA: any x86 CPU since 2013;
# FMA contraction stays off under -std=c11, so results do not depend on it).
# `make ARCH=-march=x86-64` builds for older CPUs; `make native` a tuned copy
# in build/native.

CC      ?= gcc
BACKEND ?= onednn
# MPI=1: data-parallel training under mpirun (OpenMPI from Debian:
# openmpi-bin libopenmpi-dev), in its own folder build/mpi.
MPI     ?= 0
# Each backend builds into its own folder (different flags, different objects).
BUILD   ?= $(if $(filter reference,$(BACKEND)),build/ref,build)$(if $(filter 1,$(MPI)),/mpi)
ARCH    ?= -march=x86-64-v3
OPT     ?= -O3 -g $(ARCH)
EXTRA_CFLAGS ?=
EXTRA_LDFLAGS ?=

VERSION  := 0.1.0
GIT_HASH := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

BLAS_INC := /usr/include/x86_64-linux-gnu/openblas-openmp
BLAS_LIB := /usr/lib/x86_64-linux-gnu/openblas-openmp
PKGS     := libcjson libpng zlib
# Convolution backend: onednn (default: libdnnl-dev, faster, see
# docs/PERFORMANCE.md) or reference (im2col + OpenBLAS only). Both builds can
# still run the reference path with BNSHIFT_CONV=im2col.
ifeq ($(BACKEND),onednn)
  BACKEND_CPPFLAGS := -DBS_HAVE_ONEDNN
  BACKEND_LIBS     := -ldnnl
else ifneq ($(BACKEND),reference)
  $(error BACKEND must be onednn or reference, not '$(BACKEND)')
endif

ifeq ($(MPI),1)
  MPI_CPPFLAGS := -DBNSHIFT_MPI $(shell pkg-config --cflags ompi-c)
  MPI_LIBS     := $(shell pkg-config --libs ompi-c)
else ifneq ($(MPI),0)
  $(error MPI must be 0 or 1, not '$(MPI)')
endif

CPPFLAGS := -Ilib -I$(BLAS_INC) $(shell pkg-config --cflags $(PKGS) 2>/dev/null) \
            $(BACKEND_CPPFLAGS) $(MPI_CPPFLAGS) -D_GNU_SOURCE -DBS_VERSION=\"$(VERSION)\" -I$(BUILD)/gen
CFLAGS  := -std=c11 -Wall -Wextra -Wshadow -fopenmp -MMD -MP $(OPT) $(EXTRA_CFLAGS)
LDLIBS  := $(BACKEND_LIBS) $(MPI_LIBS) -L$(BLAS_LIB) -Wl,-rpath,$(BLAS_LIB) -lopenblas \
           $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm
LDFLAGS := -fopenmp $(EXTRA_LDFLAGS)

LIB_SRC  := $(sort $(wildcard lib/*/*.c))
CMD_SRC  := $(sort $(wildcard cmd/*.c))
TEST_SRC := $(sort $(wildcard tests/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CMD_OBJ  := $(CMD_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)

# Debian packages a fresh Debian 12 machine needs to build, test and demo.
DEPS := build-essential pkg-config libopenblas-openmp-dev libcjson-dev libpng-dev \
        zlib1g-dev check gnuplot-nox dataset-fashion-mnist cppcheck libdnnl-dev man-db parallel
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all bnshift deps test test-scripts bench bench-all lint sanitize fuzz fuzz-smoke fuzz-build native demo \
        fixtures clean install
all: bnshift bnshift.1

# The man page, generated from the same sources as docs/REFERENCE.md (the
# command table and the config schema): `bnshift help man`.
bnshift.1: $(BUILD)/bnshift
	$(BUILD)/bnshift help man > $@.tmp && mv -f $@.tmp $@

# make install PREFIX=DIR: DIR/bin/bnshift and DIR/share/man/man1/bnshift.1.
PREFIX ?= /usr/local
install: $(BUILD)/bnshift bnshift.1
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(BUILD)/bnshift $(DESTDIR)$(PREFIX)/bin/bnshift
	install -m 644 bnshift.1 $(DESTDIR)$(PREFIX)/share/man/man1/bnshift.1

# Copy-then-rename: works while an experiment is running the old binary.
# Phony and compared, so ./bnshift always is the build just asked for (a
# `make BACKEND=reference` in between does not leave it stale).
bnshift: $(BUILD)/bnshift
	@cmp -s $< $@ || { cp $< $@.tmp && mv -f $@.tmp $@ && echo "./bnshift <- $<"; }

# Made afresh: `ar r` into an old archive would keep the objects of deleted sources.
$(BUILD)/lib/libbnshift.a: $(LIB_OBJ)
	@mkdir -p $(@D)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/bnshift: $(CMD_OBJ) $(BUILD)/lib/libbnshift.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The tests also build runs from configs as `run` does (cmd/setup.c).
$(BUILD)/run_tests: $(TEST_OBJ) $(BUILD)/cmd/setup.o $(BUILD)/lib/libbnshift.a
	$(CC) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs check) $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

# The commit a binary was built from (--version, a run's config.resolved.json):
# a header rewritten only when HEAD moves, so the objects that print it are
# rebuilt then and only then (a -D flag left them naming an older commit).
$(BUILD)/gen/git_hash.h: FORCE
	@mkdir -p $(@D)
	@echo '#define BS_GIT_HASH "$(GIT_HASH)"' > $@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv -f $@.tmp $@
$(BUILD)/cmd/main.o $(BUILD)/cmd/run.o: $(BUILD)/gen/git_hash.h
FORCE:

# Installs only what is missing, so `make demo` is quick the second time.
deps:
	@dpkg -s $(DEPS) >/dev/null 2>&1 || { $(SUDO) apt-get update && \
	  $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(DEPS); }

# Tests run with 2 threads unless told otherwise; OpenBLAS follows the same knob.
# check's default 4 s per test is too tight on a loaded 2-core machine.
# The experiment drivers' --smoke versions first (~35 s), then the check suites.
test: $(BUILD)/run_tests $(BUILD)/bnshift test-scripts
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} CK_DEFAULT_TIMEOUT=$${CK_DEFAULT_TIMEOUT:-120} \
	  BNSHIFT_BIN=$${BNSHIFT_BIN:-$(BUILD)/bnshift} $(BUILD)/run_tests

test-scripts: $(BUILD)/bnshift $(BUILD)/run_tests
	for f in scripts/*.sh scripts/torch/*.sh; do bash -n "$$f" || exit 1; done
	BNSHIFT_SHARE_CORES=1 BNSHIFT=$(BUILD)/bnshift scripts/smoke_drivers.sh
	SAME_BITS_BACKENDS=$(if $(filter reference,$(BACKEND)),im2col,onednn) \
	  scripts/same_bits.sh $(BUILD)/bnshift $(BUILD)/bnshift --quick
	scripts/ci_slurm.sh $(BUILD)/bnshift
	BUILD=$(BUILD) BACKEND=$(BACKEND) scripts/ci_mpi.sh $(BUILD)/bnshift
	scripts/ci_chromium.sh $(BUILD)/bnshift
	scripts/torch/ci_torch.sh $(BUILD)/bnshift
	BUILD=$(BUILD) scripts/check_install.sh

# Timing only, never part of `make test`: bnshift's own step benchmark, then
# the side-by-side against PyTorch (installs python3-torch if missing).
bench: bnshift
	./bnshift bench
	scripts/bench_vs_pytorch.sh
# The whole table of docs/PERFORMANCE.md (~35 minutes), whole epochs, runs side by side.
bench-all: bnshift
	scripts/bench_vs_pytorch.sh --matrix --repeat 2
	scripts/bench_epoch_vs_pytorch.sh --repeat 2
	scripts/bench_concurrency.sh

lint:
	$(MAKE) --no-print-directory BUILD=build/lint EXTRA_CFLAGS=-Werror build/lint/bnshift build/lint/run_tests
	scripts/check_includes.sh
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	  --inline-suppr --suppress=missingIncludeSystem -Ilib lib cmd tests

sanitize:
	$(MAKE) --no-print-directory BUILD=build/san OPT="-O1 -g -fno-omit-frame-pointer" \
	  EXTRA_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all" \
	  EXTRA_LDFLAGS="-fsanitize=address,undefined" build/san/run_tests build/san/bnshift
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 CK_FORK=no \
	  OMP_NUM_THREADS=2 BNSHIFT_BIN=build/san/bnshift build/san/run_tests

# libFuzzer harnesses for the input parsers (tests/fuzz/, docs/fuzzing.md).
# The library is rebuilt with clang, coverage (fuzzer-no-link), ASan and
# UBSan into build/fuzz; each harness then runs FUZZ_SECONDS on its seed
# corpus tests/fuzz/corpus/<target>/, one after another on one core. New
# inputs go to build/fuzz/corpus/<target>/ (the committed corpus stays
# small), crashes to build/fuzz/artifacts/<target>-*, the log to
# build/fuzz/logs/<target>.log; tests/fuzz/<target>.flags holds extra
# libFuzzer flags (a dictionary, -max_len). Fails when any harness found
# something.
FUZZ_TARGETS := config idx cifar png checkpoint safetensors
FUZZ_SECONDS ?= 600
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_SRC     := $(FUZZ_TARGETS:%=tests/fuzz/fuzz_%.c)

fuzz-build:
	$(MAKE) --no-print-directory BUILD=build/fuzz CC=clang OPT="-O1 -g -fno-omit-frame-pointer" \
	  EXTRA_CFLAGS="-fsanitize=fuzzer-no-link $(FUZZ_SAN) -Wno-pass-failed" EXTRA_LDFLAGS="$(FUZZ_SAN)" \
	  $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)

.PRECIOUS: $(BUILD)/tests/fuzz/fuzz_%.o
$(BUILD)/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/lib/libbnshift.a
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

fuzz: fuzz-build
	@mkdir -p build/fuzz/artifacts build/fuzz/logs; failed=; \
	for t in $(FUZZ_TARGETS); do \
	  mkdir -p build/fuzz/corpus/$$t; \
	  flags=$$(cat tests/fuzz/$$t.flags 2>/dev/null); \
	  echo "fuzz_$$t: $(FUZZ_SECONDS) s (log build/fuzz/logs/$$t.log)"; \
	  if build/fuzz/fuzz_$$t build/fuzz/corpus/$$t tests/fuzz/corpus/$$t \
	       -max_total_time=$(FUZZ_SECONDS) -timeout=20 -print_final_stats=1 \
	       -artifact_prefix=build/fuzz/artifacts/$$t- $$flags \
	       >build/fuzz/logs/$$t.log 2>&1; then \
	    grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' build/fuzz/logs/$$t.log | tail -n 1; \
	    grep -E '^stat::(number_of_executed_units|peak_rss_mb)' build/fuzz/logs/$$t.log; \
	  else \
	    tail -n 40 build/fuzz/logs/$$t.log; failed="$$failed $$t"; \
	  fi; \
	done; \
	test -z "$$failed" || { echo "fuzz: findings in:$$failed (inputs in build/fuzz/artifacts/)"; exit 1; }

# The same, 30 s per harness: a quick check for CI.
fuzz-smoke:
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=30

native:
	$(MAKE) --no-print-directory BUILD=build/native OPT="-O3 -march=native -g" build/native/bnshift

# Recursive make: deps may have just installed what pkg-config reports.
demo: deps
	$(MAKE) --no-print-directory bnshift
	scripts/demo.sh

# Regenerates the PyTorch golden fixtures (needs Debian's python3-torch).
fixtures:
	@dpkg -s python3-torch >/dev/null 2>&1 || $(SUDO) apt-get install -y python3-torch
	/usr/bin/python3 scripts/reference/gen_fixtures.py tests/fixtures

clean:
	rm -rf build bnshift bnshift.1

-include $(LIB_OBJ:.o=.d) $(CMD_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(FUZZ_SRC:%.c=$(BUILD)/%.d)
