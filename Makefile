# mod_ocsp_guard and socache_ocsp. `make` builds build/out/*.so.
include apxs.mk

GUARD_CORE  := mod_ocsp_guard/og_ocsp.c mod_ocsp_guard/og_http.c mod_ocsp_guard/og_sched.c \
               mod_ocsp_guard/og_table.c mod_ocsp_guard/og_refresher.c
GUARD_SRC   := mod_ocsp_guard/mod_ocsp_guard.c mod_ocsp_guard/mod_ocsp_guard_check.c $(GUARD_CORE)
SOCACHE_CORE:= socache_ocsp/soc_record.c
SOCACHE_SRC := socache_ocsp/mod_socache_ocsp.c $(SOCACHE_CORE)
GUARD_HDR   := $(wildcard mod_ocsp_guard/*.h) socache_ocsp/mod_socache_ocsp.h
SOCACHE_HDR := $(wildcard socache_ocsp/*.h)

MODULES := build/out/mod_ocsp_guard.so build/out/mod_socache_ocsp.so

.PHONY: all deps test unit integration demo install clean bench bench-quick fuzz
all: $(MODULES)

build/out:
	mkdir -p $@

$(eval $(call apxs_module,build/out/mod_ocsp_guard.so,$(GUARD_SRC),$(SSL_LIBS)))
$(eval $(call apxs_module,build/out/mod_socache_ocsp.so,$(SOCACHE_SRC),-laprutil-1 -lapr-1))
build/out/mod_ocsp_guard.so: $(GUARD_HDR)
build/out/mod_socache_ocsp.so: $(SOCACHE_HDR)

deps:
	@sh build/deps

# Unit tests (Check) of the pure cores, plain and under ASan+UBSan.
UNIT_CFLAGS := -O1 -g $(WARN) -Imod_ocsp_guard -Isocache_ocsp $(shell pkg-config --cflags check 2>/dev/null)
UNIT_LIBS   := $(shell pkg-config --libs check 2>/dev/null) -lssl -lcrypto -lpthread
SAN_FLAGS   := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
UNIT_SRC    := test/unit/test_main.c test/unit/testpki.c test/unit/test_ocsp.c test/unit/test_sched.c \
               test/unit/test_table.c test/unit/test_refresher.c test/unit/test_record.c
UNIT_DEPS   := $(UNIT_SRC) $(GUARD_CORE) $(SOCACHE_CORE) $(wildcard test/unit/*.h) $(GUARD_HDR) $(SOCACHE_HDR)

build/unit/unit_tests: $(UNIT_DEPS)
	mkdir -p build/unit
	$(CC) $(UNIT_CFLAGS) -o $@ $(UNIT_SRC) $(GUARD_CORE) $(SOCACHE_CORE) $(UNIT_LIBS)

build/unit/unit_tests_san: $(UNIT_DEPS)
	mkdir -p build/unit
	$(CC) $(UNIT_CFLAGS) $(SAN_FLAGS) -o $@ $(UNIT_SRC) $(GUARD_CORE) $(SOCACHE_CORE) $(UNIT_LIBS)

unit: deps build/unit/unit_tests build/unit/unit_tests_san
	build/unit/unit_tests
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 build/unit/unit_tests_san

integration: deps all
	bash test/integration/run.sh

test: deps
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) bench-quick
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

bench: deps all $(BENCH_BINS)
	bash bench/run.sh

bench-quick: deps all $(BENCH_BINS)
	bash bench/run.sh --quick

demo: deps all
	bash build/demo.sh

install: all
	install -d $(DESTDIR)$(MODULES_DIR)
	install -m 644 build/out/mod_ocsp_guard.so build/out/mod_socache_ocsp.so $(DESTDIR)$(MODULES_DIR)/

clean:
	rm -rf build/out build/unit build/tmp build/bench
