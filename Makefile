# syncdax - top-level build.
#
#   make            library (static and shared), the syncdax command, tests
#   make test       run every test; the last line is "N passed, N failed"
#   make bench      run every benchmark (make bench-NAME for one: pmem, ...)
#   make demo       install what is missing, then show synchronous faults
#   make install    PREFIX=/usr/local DESTDIR=
#   make SAN=1 ...  the same with AddressSanitizer + UBSan (build-san/)
#   make TSAN=1 test-tsan   the concurrency tests under ThreadSanitizer
#   make BUILD=dir  build somewhere else (parallel work trees)
#
# Every src/<layer>/*.c goes into the library; every tests/<layer>/test_*.c
# is a test program (cmocka, TAP output) linked with tests/lib/*.c; every
# bench/bench_*.c a benchmark.  Header dependencies are generated (-MMD).

PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc

ifeq ($(TSAN),1)
B       := $(or $(BUILD),build-tsan)
SANFLAGS := -fsanitize=thread -fno-omit-frame-pointer
OPT     := -O1
else ifeq ($(SAN),1)
B       := $(or $(BUILD),build-san)
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer \
	    -fno-sanitize-recover=undefined
OPT     := -O1
else
B       := $(or $(BUILD),build)
SANFLAGS :=
OPT     := -O2
endif

CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror -fPIC -pthread $(SANFLAGS)
CPPFLAGS += -D_GNU_SOURCE -Iinclude -Isrc
LDFLAGS += -pthread $(SANFLAGS)
TESTLIBS := $(shell pkg-config --libs cmocka 2>/dev/null || echo -lcmocka)

LIB_SRC   := $(sort $(wildcard src/*/*.c))
LIB_OBJ   := $(LIB_SRC:%.c=$(B)/%.o)
TOOL_SRC  := $(sort $(wildcard tools/*.c))
TOOL_OBJ  := $(TOOL_SRC:%.c=$(B)/%.o)
TLIB_SRC  := $(sort $(wildcard tests/lib/*.c))
TLIB_OBJ  := $(TLIB_SRC:%.c=$(B)/%.o)
TEST_SRC  := $(sort $(wildcard tests/*/test_*.c))
TEST_BIN  := $(TEST_SRC:%.c=$(B)/%)
BENCH_SRC := $(sort $(wildcard bench/bench_*.c))
BENCH_BIN := $(BENCH_SRC:%.c=$(B)/%)
EXAMPLE_SRC := $(sort $(wildcard examples/*.c))
EXAMPLE_BIN := $(EXAMPLE_SRC:%.c=$(B)/%)

STATIC  := $(B)/libsyncdax.a
SHARED  := $(B)/libsyncdax.so
CMD     := $(B)/syncdax

.PHONY: all test test-tsan bench demo install clean
.SECONDARY:
all: $(STATIC) $(SHARED) $(CMD) $(TEST_BIN) $(BENCH_BIN) $(EXAMPLE_BIN)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(STATIC): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(SHARED): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libsyncdax.so.0 $(LDFLAGS) -o $@ $^

$(CMD): $(TOOL_OBJ) $(STATIC)
	$(CC) $(LDFLAGS) -o $@ $^ -lm

$(B)/tests/%: tests/%.c $(TLIB_OBJ) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests/lib $(CFLAGS) -MMD -MP $(LDFLAGS) -o $@ $< \
		$(TLIB_OBJ) $(STATIC) $(TESTLIBS) -lm

$(B)/bench/%: bench/%.c $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP $(LDFLAGS) -o $@ $< $(STATIC) -lm

$(B)/examples/%: examples/%.c $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP $(LDFLAGS) -o $@ $< $(STATIC) -lm

test: all
	@B=$(B) SYNCDAX=$(abspath $(CMD)) sh tests/run-tests.sh $(TEST_BIN)

# The concurrency tests, under ThreadSanitizer (make TSAN=1 test-tsan).
TSAN_TESTS := dax/test_dax_fault dax/test_dax_fs fs/test_file fs/test_iomap \
	      journal/test_journal pmem/test_crashsim pmem/test_dev
test-tsan: $(TSAN_TESTS:%=$(B)/tests/%)
	@TSAN_OPTIONS="suppressions=$(abspath tests/dax/tsan-signal.supp) $$TSAN_OPTIONS" \
		NO_SCRIPTS=1 sh tests/run-tests.sh $^

bench: all
	@for b in $(BENCH_BIN); do echo "== $$b"; $$b || exit 1; done

bench-%: all
	$(B)/bench/bench_$*

demo:
	@sh tools/install-deps.sh
	@$(MAKE) --no-print-directory -j2 all >/dev/null
	@sh tools/demo.sh $(abspath $(CMD))

install: $(STATIC) $(SHARED) $(CMD)
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib \
		$(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 644 include/syncdax.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(STATIC) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(SHARED) $(DESTDIR)$(PREFIX)/lib/libsyncdax.so.0
	ln -sf libsyncdax.so.0 $(DESTDIR)$(PREFIX)/lib/libsyncdax.so
	install -m 755 $(CMD) $(DESTDIR)$(PREFIX)/bin/
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/man/man3
	install -m 644 man/syncdax.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 man/syncdax.3 $(DESTDIR)$(PREFIX)/share/man/man3/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|0.1.0|' syncdax.pc.in \
		> $(DESTDIR)$(PREFIX)/lib/pkgconfig/syncdax.pc

clean:
	rm -rf build build-san build-tsan

-include $(shell find $(B) -name '*.d' 2>/dev/null)

# ---- syncdax mount (tools/cmd_mount.c) speaks FUSE: libfuse3 -------------
FUSE_CFLAGS := $(shell pkg-config --cflags fuse3 2>/dev/null)
FUSE_LIBS   := $(or $(shell pkg-config --libs fuse3 2>/dev/null),-lfuse3)
$(B)/tools/cmd_mount.o: CPPFLAGS += $(FUSE_CFLAGS)
$(CMD): LDFLAGS += -Wl,--push-state,--no-as-needed $(FUSE_LIBS) -Wl,--pop-state

# ---- make fuzz [FUZZ_SECONDS=60]: libFuzzer targets fuzz/fuzz_*.c --------
# The library and fuzz/util.c again with clang (coverage, ASan+UBSan) in
# $(B)/fuzz; fuzz/fuzz.sh makes the seed corpora and runs each target.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FZ           := $(B)/fuzz
FUZZ_CFLAGS  := -g -O1 -std=gnu11 -Wall -Wextra -Werror -pthread \
		-fno-omit-frame-pointer -fsanitize=address,undefined \
		-fno-sanitize-recover=undefined
FUZZ_OBJ     := $(patsubst %.c,$(FZ)/%.o,$(LIB_SRC) fuzz/util.c)
FUZZ_TARGETS := $(patsubst fuzz/%.c,$(FZ)/%,$(wildcard fuzz/fuzz_*.c))

$(FZ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link \
		-MMD -MP -c $< -o $@

$(FZ)/fuzz_%: fuzz/fuzz_%.c $(FUZZ_OBJ)
	$(FUZZ_CC) $(CPPFLAGS) -Ifuzz $(FUZZ_CFLAGS) -fsanitize=fuzzer \
		-o $@ $^ -lm

.PHONY: fuzz fuzz-build
fuzz-build: $(FUZZ_TARGETS)

fuzz: $(FUZZ_TARGETS) $(CMD)
	@FZ=$(FZ) SYNCDAX=$(abspath $(CMD)) FUZZ_SECONDS=$(FUZZ_SECONDS) \
		sh fuzz/fuzz.sh $(FUZZ_TARGETS)

# ---- make bench-kernel: syncdax against the kernel's ext4 -o dax MAP_SYNC
# in a QEMU guest (bench/kernel/README.md).  Host tools: qemu-system-x86,
# cpio, kmod, gnuplot-nox.  Minutes long; not part of make test or CI; not
# with SAN=1 (the guest's benchmarks are linked -static).
KBENCH := bench_faultlat bench_durability
.PHONY: bench-kernel
bench-kernel: $(STATIC) $(CMD)
	@mkdir -p $(B)/kernel
	for b in $(KBENCH); do $(CC) $(CPPFLAGS) $(CFLAGS) -static $(LDFLAGS) \
		-o $(B)/kernel/$$b bench/$$b.c $(STATIC) -lm || exit 1; done
	sh bench/kernel/run.sh $(B)/kernel \
		$(addprefix $(B)/kernel/,$(KBENCH)) $(abspath $(CMD))
