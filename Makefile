# pvlab: one non-recursive Makefile.
#   make            build the pvlab binary, the guest programs and the unit tests
#   make check      unit tests + quick end-to-end tests (real QEMU boots)
#   make check-all  check + every slow end-to-end test
#   make check-ci   check + the slow tests CI runs (one per capability; see SLOW_CI)
#   make bench      benchmarks that print figures
#   make demo       install what is missing, then run pvlab's main job on defaults

CC ?= cc
CFLAGS ?= -O2 -g
# make SAN=1 B=build-san: AddressSanitizer and UBSan (the unit tests run under them in CI)
BIN := pvlab
ifeq ($(SAN),1)
CFLAGS += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
BIN = $(B)/pvlab
endif
WARN := -Wall -Wextra -Wno-unused-parameter -Wshadow -Wformat=2 -Wno-format-nonliteral
TOP := $(abspath .)
B ?= build
CPPFLAGS += -I. -D_GNU_SOURCE -DPVLAB_TOP='"$(TOP)"' -DPVLAB_GUEST_DIR='"$(TOP)/$(B)/guest"'
LIBS := -linih -lsqlite3 -ljansson -lcurl -lmicrohttpd -lvirt -lpthread -lz -lm
GUEST_CFLAGS := -O2 -static -Wall -Wextra -Wno-unused-parameter

LAYERS := util config kernels images lab jobs reporter
LIB_SRC := $(sort $(foreach d,$(LAYERS),$(wildcard $(d)/*.c)))
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o)
CLI_SRC := $(sort $(wildcard cli/*.c))
CLI_OBJ := $(CLI_SRC:%.c=$(B)/%.o)
GUEST_SRC := $(sort $(wildcard images/guest/*.c))
GUEST_COMMON := $(wildcard images/guest/common/*.c)
GUEST_PROGS := $(patsubst images/guest/%.c,$(B)/guest/%,$(GUEST_SRC))
# the accelerator probe guest: a 32-bit multiboot kernel, assembled without a C library
PROBE := $(B)/guest/accel-probe
# dom0's supervisor of domU trials: a busybox sh script, shipped as it is
GUEST_SCRIPTS := $(B)/guest/domus.sh
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
BENCH_SRC := $(sort $(wildcard bench/*.c))
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(B)/bench/%)

all: $(BIN) $(GUEST_PROGS) $(GUEST_SCRIPTS) $(PROBE) $(UNIT_BIN) $(BENCH_BIN)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -MMD -MP -c -o $@ $<

$(B)/libpvlab.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(CLI_OBJ) $(B)/libpvlab.a
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(B)/libpvlab.a $(LIBS)

$(B)/guest/%: images/guest/%.c $(GUEST_COMMON) $(wildcard images/guest/common/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -Iimages/guest/common -o $@ $< $(GUEST_COMMON)

$(B)/guest/%.sh: images/guest/%.sh
	@mkdir -p $(dir $@)
	cp $< $@

$(PROBE): images/probe/accel-probe.S images/probe/accel-probe.ld
	@mkdir -p $(dir $@)
	as --32 -o $@.o $<
	ld -m elf_i386 --no-warn-rwx-segments -T images/probe/accel-probe.ld -o $@ $@.o

$(B)/tests/%: tests/unit/%.c $(B)/libpvlab.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -Itests/unit -o $@ $< $(B)/libpvlab.a $(LIBS) -lcmocka \
		$(shell sed -n 's,^/\* *LDWRAP: *\(.*\)\*/,\1,p' $<)

$(B)/bench/%: bench/%.c $(B)/libpvlab.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -o $@ $< $(B)/libpvlab.a $(LIBS)

unit: $(UNIT_BIN) $(BIN) $(GUEST_PROGS) $(GUEST_SCRIPTS) $(PROBE)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t 2>&1; done

# prove --timer prints each test's wall time, so a slow CI log says where the time went
PROVE := prove --timer -v

# the Debian packages pvlab needs (idempotent: only what is missing is installed)
deps:
	scripts/install-deps.sh

check: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory unit
	$(PROVE) tests/e2e/t[0-9]*.sh

# The slow tests that fit CI's time: one per capability with a slow test (a source build, a
# real-boot bisection, build errors, a matrix over ssh hosts). The Linux source build (~16 min) and the kernel bisection
# with pvlab's builder (~21 min) run in check-all only.
SLOW_CI := tests/e2e/slow/t5010-build-xen-debsrc.sh tests/e2e/slow/t5020-build-errors.sh \
	tests/e2e/slow/t6000-bisect-boot.sh tests/e2e/slow/t6020-bisect-plugin.sh \
	tests/e2e/slow/t6100-matrix-hosts.sh tests/e2e/slow/t6300-libvirt.sh

check-slow: all
	$(PROVE) tests/e2e/slow/*.sh

check-slow-ci: all
	$(PROVE) $(SLOW_CI)

check-all: check check-slow

check-ci: check check-slow-ci

bench: all
	@set -e; for b in $(BENCH_BIN); do echo "== $$b"; $$b; done
	@for s in bench/*.sh; do [ -e "$$s" ] || continue; echo "== $$s"; bash $$s; done

# the unit tests built and run under AddressSanitizer and UBSan, in their own build directory
unit-san:
	ASAN_OPTIONS=fast_unwind_on_malloc=0 $(MAKE) --no-print-directory SAN=1 B=build-san unit

# clang-format on the C files changed since FORMAT_BASE (default: the commit in .ci/format-base)
FORMAT_BASE ?= $(shell cat .ci/format-base 2>/dev/null || echo HEAD~1)
format-check:
	@files=$$(git diff --name-only --diff-filter=AM $(FORMAT_BASE) -- '*.c' '*.h'); \
	bad=0; for f in $$files; do \
		if ! clang-format --dry-run --Werror "$$f" 2>/dev/null; then \
			echo "format-check: $$f is not clang-format clean (make format)"; bad=1; fi; \
	done; [ $$bad = 0 ] && echo "format-check: $$(echo $$files | wc -w) changed file(s) clean"

demo: deps
	$(MAKE) all
	./pvlab run --xen 4.17 --linux 6.1 --repro fpu-leak --trials 1

format:
	clang-format -i $(LIB_SRC) $(CLI_SRC) $(wildcard */*.h)

clean:
	rm -rf build build-san pvlab

.PHONY: all deps unit unit-san format-check check check-slow check-slow-ci check-all check-ci bench demo format clean
-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
