# quant — build, test, demo.  See README.md for the two commands that matter.
#
#   make            build build/libquant.a, build/quant and the unit tests
#   make test       run every test (unit + integration), then the unit tests under ASan+UBSan
#   make demo       install what is missing (scripts/setup.sh), build, run ptq-nn on Fashion-MNIST
#   make CC=clang   the same with clang
#   make fuzz       every tests/fuzz/fuzz_*.c under libFuzzer + ASan + UBSan, FUZZ_SECONDS (60) each
#
# Sources are found by wildcard: a new .c file under src/ joins the library, a new
# tools/quant/*.c joins the program, a new tests/test_*.c becomes a test binary.
# Files named *_avx2.c / *_avx512.c / *_amx.c get the matching -m flags (runtime dispatch picks them).

ifeq ($(origin CC),default)
CC      = gcc
endif
BUILD   ?= build
OPT     ?= -O2
SAN     ?=
CFLAGS  ?=
CFLAGS  += -std=c11 $(OPT) -g -Wall -Wextra -Werror -D_GNU_SOURCE -fno-math-errno -fno-trapping-math -Iinclude -Isrc \
           -fopenmp $(SAN)
LDLIBS  += -lopenblas -llapacke -lcjson -lcurl -lz -lsnappy -lm -fopenmp $(SAN)

SRC_LIB   := $(sort $(wildcard src/*/*.c src/*/*/*.c))
SRC_TOOL  := $(sort $(wildcard tools/quant/*.c))
SRC_TEST  := $(sort $(wildcard tests/test_*.c))
SRC_BENCH := $(sort $(wildcard bench/*.c))

OBJ_LIB   := $(SRC_LIB:%.c=$(BUILD)/obj/%.o)
OBJ_TOOL  := $(SRC_TOOL:%.c=$(BUILD)/obj/%.o)
BIN_TEST  := $(SRC_TEST:tests/%.c=$(BUILD)/tests/%)
BIN_BENCH := $(SRC_BENCH:bench/%.c=$(BUILD)/bench/%)
LIB       := $(BUILD)/libquant.a
QUANT     := $(BUILD)/quant

.PHONY: all lib tests bench test test-unit test-asan demo setup test-setup clean check-clang fuzz fuzz-ci fuzz-bins replay-bins
all: $(LIB) $(QUANT) $(BIN_TEST) $(BIN_BENCH)
lib: $(LIB)
tests: $(BIN_TEST)
bench: $(BIN_BENCH)

$(BUILD)/obj/%_avx2.o: CFLAGS += -mavx2 -mfma -mf16c
$(BUILD)/obj/%_avx512.o: CFLAGS += -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni
# the AMX kernel: AVX-512 for its f32 step, 512-bit vectors wherever the compiler vectorizes it
$(BUILD)/obj/%_amx.o: CFLAGS += -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni \
                               -mamx-tile -mamx-int8 -mprefer-vector-width=512

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC  $<"
	@$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(OBJ_LIB)
	@mkdir -p $(dir $@)
	@rm -f $@ && ar rcs $@ $^

$(QUANT): $(OBJ_TOOL) $(LIB)
	$(CC) $(CFLAGS) $(OBJ_TOOL) $(LIB) -o $@ $(LDLIBS)

$(BUILD)/tests/%: tests/%.c tests/test.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP $< $(LIB) -o $@ $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(LIB) -o $@ $(LDLIBS)

# Fuzz harnesses (tests/fuzz/fuzz_*.c, found by wildcard; tests/fuzz/README.md): each is linked
# with libFuzzer (make fuzz: clang, ASan + UBSan, FUZZ_SECONDS per harness) or with a small
# main that replays files (make test: gcc, ASan + UBSan; no libFuzzer needed).
SRC_FUZZ   := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_HDR   := $(wildcard tests/fuzz/*.h)
FUZZ_SECONDS ?= 60
replay-bins: $(SRC_FUZZ:tests/fuzz/fuzz_%.c=$(BUILD)/fuzz/replay_%) $(BUILD)/fuzz/seeds
fuzz-bins: $(SRC_FUZZ:tests/fuzz/fuzz_%.c=$(BUILD)/fuzz/fuzz_%) $(BUILD)/fuzz/seeds
$(BUILD)/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay_main.c $(FUZZ_HDR) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< tests/fuzz/replay_main.c $(LIB) -o $@ $(LDLIBS)
$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_HDR) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer $< $(LIB) -o $@ $(LDLIBS)
$(BUILD)/fuzz/seeds: tests/fuzz/seeds.c $(FUZZ_HDR) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(LIB) -o $@ $(LDLIBS)
# FUZZ_SAN=asan (default): ASan + UBSan, memory capped by libFuzzer's -malloc_limit_mb and
# -rss_limit_mb (ASan's shadow memory cannot run under ulimit -v); FUZZ_SAN=ubsan: UBSan only,
# run under ulimit -v 4000000, so an allocation a file asks for past 4 GB fails as it would
# for a user with that limit.
FUZZ_SAN ?= asan
FUZZ_FLAGS_asan  = -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -Wno-pass-failed
FUZZ_FLAGS_ubsan = -fsanitize=fuzzer-no-link,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -Wno-pass-failed
FUZZ_BUILD ?= build-fuzz$(if $(filter ubsan,$(FUZZ_SAN)),-ubsan)
FUZZ_CI_SECONDS ?= 2
fuzz:
	@case "$(FUZZ_SAN)" in asan|ubsan) ;; *) echo "make fuzz: FUZZ_SAN must be asan or ubsan, not '$(FUZZ_SAN)'" >&2; exit 2 ;; esac
	$(MAKE) BUILD=$(FUZZ_BUILD) CC=clang OPT=-O1 SAN="$(FUZZ_FLAGS_$(FUZZ_SAN))" fuzz-bins
	FUZZ_SAN=$(FUZZ_SAN) bash tests/fuzz/run.sh fuzz $(FUZZ_BUILD) $(FUZZ_SECONDS)
# make test's regression run: each libFuzzer harness FUZZ_CI_SECONDS on its seeds and
# regressions, when clang's libFuzzer is installed (scripts/setup.sh --test installs it)
fuzz-ci:
	@if echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }' | \
	    clang -x c - -fsanitize=fuzzer -o /dev/null 2>/dev/null; then $(MAKE) fuzz FUZZ_SECONDS=$(FUZZ_CI_SECONDS); \
	else echo "make test: clang's libFuzzer not installed (libclang-rt-14-dev): libFuzzer runs skipped"; fi

# The full suite: installs the test references (scripts/setup.sh --test), then unit tests,
# integration tests (CLI, numpy/PyTorch/npm references), then the unit tests again under
# AddressSanitizer + UndefinedBehaviorSanitizer with the fuzz regression inputs and seeds
# replayed, then each libFuzzer harness for FUZZ_CI_SECONDS.
test: test-setup
	$(MAKE) all
	QUANT_BUILD=$(BUILD) bash tests/run.sh
	$(MAKE) test-asan
	$(MAKE) fuzz-ci

test-unit: all
	QUANT_BUILD=$(BUILD) bash tests/run.sh --unit

test-asan:
	$(MAKE) BUILD=build-asan OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" tests replay-bins $(QUANT:build/%=build-asan/%)
	QUANT_BUILD=build-asan ASAN_OPTIONS=detect_leaks=0 bash tests/run.sh --unit
	bash tests/fuzz/run.sh replay build-asan

check-clang:
	$(MAKE) BUILD=build-clang CC=clang all

setup:
	bash scripts/setup.sh

test-setup:
	bash scripts/setup.sh --test

demo: setup
	$(MAKE) all
	$(QUANT) ptq-nn --save-model $(BUILD)/models

clean:
	rm -rf build build-asan build-clang build-fuzz build-fuzz-ubsan

-include $(OBJ_LIB:.o=.d) $(OBJ_TOOL:.o=.d) $(BIN_TEST:%=%.d)
