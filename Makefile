# mod_ocsp_guard and socache_ocsp. `make` builds build/out/*.so.
include apxs.mk

GUARD_CORE  := mod_ocsp_guard/og_ocsp.c mod_ocsp_guard/og_http.c mod_ocsp_guard/og_sched.c \
               mod_ocsp_guard/og_table.c mod_ocsp_guard/og_refresher.c
GUARD_SRC   := mod_ocsp_guard/mod_ocsp_guard.c mod_ocsp_guard/mod_ocsp_guard_check.c $(GUARD_CORE)
SOCACHE_CORE:= socache_ocsp/soc_record.c socache_ocsp/soc_path.c socache_ocsp/soc_redis.c
SOCACHE_SRC := socache_ocsp/mod_socache_ocsp.c $(SOCACHE_CORE)
GUARD_HDR   := $(wildcard mod_ocsp_guard/*.h) socache_ocsp/mod_socache_ocsp.h
SOCACHE_HDR := $(wildcard socache_ocsp/*.h)

MODULES := build/out/mod_ocsp_guard.so build/out/mod_socache_ocsp.so

.PHONY: all modules deps test test-sanitize unit integration demo install clean bench bench-quick bench-callgrind fuzz
# Each entry point installs what is missing first, then re-reads this file in
# a sub-make, so apxs and pkg-config answer on a fresh machine too.
all: deps
	@$(MAKE) --no-print-directory modules

modules: $(MODULES)

build/out:
	mkdir -p $@

$(eval $(call apxs_module,build/out/mod_ocsp_guard.so,$(GUARD_SRC),$(SSL_LIBS)))
$(eval $(call apxs_module,build/out/mod_socache_ocsp.so,$(SOCACHE_SRC),-laprutil-1 -lapr-1))
build/out/mod_ocsp_guard.so: $(GUARD_HDR)
build/out/mod_socache_ocsp.so: $(SOCACHE_HDR)

deps:
	@sh build/deps

.PHONY: unit-run

# Unit tests (Check) of the pure cores, plain and under ASan+UBSan.
UNIT_CFLAGS := -O1 -g $(WARN) -Imod_ocsp_guard -Isocache_ocsp $(shell pkg-config --cflags check 2>/dev/null)
UNIT_LIBS   := $(shell pkg-config --libs check 2>/dev/null) -lssl -lcrypto -lpthread
SAN_FLAGS   := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
UNIT_SRC    := test/unit/test_main.c test/unit/testpki.c test/unit/test_ocsp.c test/unit/test_sched.c \
               test/unit/test_table.c test/unit/test_refresher.c test/unit/test_record.c \
               test/unit/test_redis.c
UNIT_DEPS   := $(UNIT_SRC) $(GUARD_CORE) $(SOCACHE_CORE) $(wildcard test/unit/*.h) $(GUARD_HDR) $(SOCACHE_HDR)

build/unit/unit_tests: $(UNIT_DEPS)
	mkdir -p build/unit
	$(CC) $(UNIT_CFLAGS) -o $@ $(UNIT_SRC) $(GUARD_CORE) $(SOCACHE_CORE) $(UNIT_LIBS)

build/unit/unit_tests_san: $(UNIT_DEPS)
	mkdir -p build/unit
	$(CC) $(UNIT_CFLAGS) $(SAN_FLAGS) -o $@ $(UNIT_SRC) $(GUARD_CORE) $(SOCACHE_CORE) $(UNIT_LIBS)

unit: deps
	@$(MAKE) --no-print-directory unit-run

unit-run: build/unit/unit_tests build/unit/unit_tests_san
	build/unit/unit_tests
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 build/unit/unit_tests_san

integration: all
	bash test/integration/run.sh

# The modules with ASan+UBSan, run in the real apache2 (ASan's runtime
# preloaded by build/asan-apache2) through part of the integration suite.
ASAN_MODULES := build/asan/mod_ocsp_guard.so build/asan/mod_socache_ocsp.so
SAN_TESTS := basic graceful persist cluster configtest refresher_restart proxy symlink redis_hostile
build/asan/mod_ocsp_guard.so: $(GUARD_SRC) $(GUARD_HDR) | build/out
	mkdir -p build/asan
	$(CC) $(MOD_CFLAGS) -Isocache_ocsp $(SAN_FLAGS) -O1 -o $@ $(GUARD_SRC) $(MOD_LDFLAGS) $(SSL_LIBS)
build/asan/mod_socache_ocsp.so: $(SOCACHE_SRC) $(SOCACHE_HDR) | build/out
	mkdir -p build/asan
	$(CC) $(MOD_CFLAGS) $(SAN_FLAGS) -O1 -o $@ $(SOCACHE_SRC) $(MOD_LDFLAGS) -laprutil-1 -lapr-1

test-sanitize: all
	@$(MAKE) --no-print-directory $(ASAN_MODULES)
	H_SANITIZE=1 bash test/integration/run.sh $(SAN_TESTS:%=test/integration/t_%.sh)

test: all
	@$(MAKE) --no-print-directory unit-run
	@$(MAKE) --no-print-directory bench-quick
	@$(MAKE) --no-print-directory test-sanitize
	bash test/integration/run.sh

BENCH_BINS := build/bench/hsload build/bench/lookup_bench build/bench/mkcerts
build/bench/hsload: bench/hsload.c
	mkdir -p build/bench
	$(CC) -O2 -g $(WARN) -o $@ $< -lssl -lcrypto -lpthread
build/bench/mkcerts: bench/mkcerts.c
	mkdir -p build/bench
	$(CC) -O2 -g $(WARN) -o $@ $< -lssl -lcrypto
build/bench/lookup_bench: bench/lookup_bench.c mod_ocsp_guard/og_table.c $(GUARD_HDR)
	mkdir -p build/bench
	$(CC) -O2 -g $(WARN) -Imod_ocsp_guard -o $@ bench/lookup_bench.c mod_ocsp_guard/og_table.c -lcrypto

bench: all
	@$(MAKE) --no-print-directory $(BENCH_BINS)
	bash bench/run.sh

bench-callgrind: all
	@$(MAKE) --no-print-directory $(BENCH_BINS)
	bash bench/callgrind.sh 50

bench-quick: all
	@$(MAKE) --no-print-directory $(BENCH_BINS)
	bash bench/run.sh --quick

demo: all
	bash build/demo.sh

# Fuzzing the cores with libFuzzer (clang): make fuzz [FUZZ_SECONDS=N]
FUZZ_SECONDS ?= 30
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -Imod_ocsp_guard -Isocache_ocsp -Itest/unit
build/fuzz/fuzz_verify: test/fuzz/fuzz_verify.c test/unit/testpki.c $(GUARD_CORE) $(GUARD_HDR)
	mkdir -p build/fuzz
	clang $(FUZZ_FLAGS) -o $@ test/fuzz/fuzz_verify.c test/unit/testpki.c mod_ocsp_guard/og_ocsp.c -lssl -lcrypto
build/fuzz/fuzz_record: test/fuzz/fuzz_record.c $(SOCACHE_CORE) $(SOCACHE_HDR)
	mkdir -p build/fuzz
	clang $(FUZZ_FLAGS) -o $@ test/fuzz/fuzz_record.c $(SOCACHE_CORE)
build/fuzz/fuzz_redis: test/fuzz/fuzz_redis.c $(SOCACHE_CORE) $(SOCACHE_HDR)
	mkdir -p build/fuzz
	clang $(FUZZ_FLAGS) -o $@ test/fuzz/fuzz_redis.c $(SOCACHE_CORE)

fuzz:
	@sh build/deps fuzz
	@$(MAKE) --no-print-directory build/fuzz/fuzz_verify build/fuzz/fuzz_record build/fuzz/fuzz_redis
	mkdir -p build/fuzz/corpus-verify build/fuzz/corpus-record build/fuzz/corpus-redis
	build/fuzz/fuzz_verify -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -artifact_prefix=build/fuzz/ build/fuzz/corpus-verify
	build/fuzz/fuzz_record -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -artifact_prefix=build/fuzz/ build/fuzz/corpus-record
	build/fuzz/fuzz_redis -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -artifact_prefix=build/fuzz/ build/fuzz/corpus-redis

install: all
	@test -n "$(MODULES_DIR)" || { echo "apxs not found: run make deps as root"; exit 1; }
	install -d $(DESTDIR)$(MODULES_DIR)
	install -m 644 build/out/mod_ocsp_guard.so build/out/mod_socache_ocsp.so $(DESTDIR)$(MODULES_DIR)/

clean:
	rm -rf build/out build/unit build/tmp build/bench build/fuzz build/asan
