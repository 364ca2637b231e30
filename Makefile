# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# mod_ocsp_guard and socache_ocsp. `make` builds build/out/*.so; `make help`
# lists the other targets.
VERSION := $(shell cat VERSION)
include apxs.mk

# ------------------------------------------------------------------ sources
# The pure cores, one list each: built once per flavour into a static
# library that the modules, the unit tests, the fuzzers and the benches link.
OG_SRC       := mod_ocsp_guard/og_text.c mod_ocsp_guard/og_clock.c mod_ocsp_guard/og_ocsp.c mod_ocsp_guard/og_http.c \
                mod_ocsp_guard/og_sched.c mod_ocsp_guard/og_notify.c mod_ocsp_guard/og_control.c \
                mod_ocsp_guard/og_table.c mod_ocsp_guard/og_refresher.c
SOC_SRC      := socache_ocsp/soc_record.c socache_ocsp/soc_path.c socache_ocsp/soc_redis.c
# The httpd glue of each module.
GUARD_GLUE   := mod_ocsp_guard/guard_log.c mod_ocsp_guard/guard_cache.c mod_ocsp_guard/guard_config.c \
                mod_ocsp_guard/guard_registry.c mod_ocsp_guard/guard_table.c mod_ocsp_guard/guard_control.c \
                mod_ocsp_guard/guard_process.c mod_ocsp_guard/guard_check.c mod_ocsp_guard/guard_status.c \
                mod_ocsp_guard/mod_ocsp_guard.c
SOCACHE_GLUE := socache_ocsp/mod_socache_ocsp.c

MODULES := build/out/mod_ocsp_guard.so build/out/mod_socache_ocsp.so
# Reads and writes socache_ocsp records with the provider's own code.
RECORD_TOOL := build/out/socache-ocsp-record

.PHONY: all modules build-deps test-deps test test-sanitize unit unit-run integration demo \
        install uninstall deb clean bench bench-quick bench-callgrind fuzz fuzz-run check-layers help

# `make` and `make install` need only the build dependencies: when one is
# missing they say which and how to install it, and install nothing.
all: build-deps
	@$(MAKE) --no-print-directory modules

build-deps:
	@sh build/deps build

# make test, demo, bench and fuzz install what they need (never starting or
# stopping a service), then re-read this file in a sub-make so apxs answers.
test-deps:
	@sh build/deps test

modules: $(MODULES) $(RECORD_TOOL)

# ------------------------------------------------------------ core libraries
# Flavours: plain (PIC, for the modules too), san (ASan+UBSan), fuzz
# (libFuzzer instrumentation). The cores are compiled without httpd's and
# APR's include paths, so a core file that includes one of their headers
# does not build (and check-layers says so by name).
CORE_CFLAGS := $(WARN) -fPIC -Imod_ocsp_guard -Isocache_ocsp -MMD -MP
SAN_FLAGS   := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer-no-link,address,undefined
FUZZ_LINK   := -g -O1 -fsanitize=fuzzer,address,undefined

build/obj/plain/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(OPT) $(CORE_CFLAGS) -c -o $@ $<
build/obj/san/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) -O1 -g $(CORE_CFLAGS) $(SAN_FLAGS) -c -o $@ $<
build/obj/fuzz/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) $(CORE_CFLAGS) -c -o $@ $<

# $(call core_lib,FLAVOUR,DIR)
define core_libs
build/lib$(2)/libog.a: $$(OG_SRC:%.c=build/obj/$(1)/%.o)
	@mkdir -p $$(dir $$@)
	rm -f $$@ && ar rcs $$@ $$^
build/lib$(2)/libsoc.a: $$(SOC_SRC:%.c=build/obj/$(1)/%.o)
	@mkdir -p $$(dir $$@)
	rm -f $$@ && ar rcs $$@ $$^
endef
$(eval $(call core_libs,plain,))
$(eval $(call core_libs,san,/san))
$(eval $(call core_libs,fuzz,/fuzz))
-include $(shell find build/obj -name '*.d' 2>/dev/null)

# ------------------------------------------------------------------ modules
GUARD_HDR   := $(wildcard mod_ocsp_guard/*.h) $(wildcard socache_ocsp/*.h)
SOCACHE_HDR := $(wildcard socache_ocsp/*.h)
VERSION_DEF := -DOG_VERSION='"$(VERSION)"'

build/out/mod_ocsp_guard.so: $(GUARD_GLUE) $(GUARD_HDR) build/lib/libog.a
	@mkdir -p build/out
	$(CC) $(MOD_CFLAGS) $(VERSION_DEF) -Isocache_ocsp -o $@ $(GUARD_GLUE) build/lib/libog.a $(MOD_LDFLAGS) $(SSL_LIBS)
build/out/mod_socache_ocsp.so: $(SOCACHE_GLUE) $(SOCACHE_HDR) build/lib/libsoc.a
	@mkdir -p build/out
	$(CC) $(MOD_CFLAGS) $(VERSION_DEF) -o $@ $(SOCACHE_GLUE) build/lib/libsoc.a $(MOD_LDFLAGS) -laprutil-1 -lapr-1

$(RECORD_TOOL): socache_ocsp/tools/socache_ocsp_record.c build/lib/libsoc.a
	@mkdir -p build/out
	$(CC) $(OPT) $(WARN) -Isocache_ocsp -o $@ $< build/lib/libsoc.a -lpthread

# The modules with ASan+UBSan, run in the real apache2 (ASan's runtime
# preloaded by build/asan-apache2) through part of the integration suite.
ASAN_MODULES := build/asan/mod_ocsp_guard.so build/asan/mod_socache_ocsp.so
build/asan/mod_ocsp_guard.so: $(GUARD_GLUE) $(GUARD_HDR) build/lib/san/libog.a
	@mkdir -p build/asan
	$(CC) $(MOD_CFLAGS) $(VERSION_DEF) -Isocache_ocsp $(SAN_FLAGS) -O1 -o $@ $(GUARD_GLUE) build/lib/san/libog.a $(MOD_LDFLAGS) $(SSL_LIBS)
build/asan/mod_socache_ocsp.so: $(SOCACHE_GLUE) $(SOCACHE_HDR) build/lib/san/libsoc.a
	@mkdir -p build/asan
	$(CC) $(MOD_CFLAGS) $(VERSION_DEF) $(SAN_FLAGS) -O1 -o $@ $(SOCACHE_GLUE) build/lib/san/libsoc.a $(MOD_LDFLAGS) -laprutil-1 -lapr-1

# ------------------------------------------------------------- unit tests
# Check tests of the pure cores, plain and under ASan+UBSan.
UNIT_CFLAGS := -O1 -g $(WARN) -Imod_ocsp_guard -Isocache_ocsp $(shell pkg-config --cflags check 2>/dev/null)
UNIT_LIBS   := $(shell pkg-config --libs check 2>/dev/null) -lssl -lcrypto -lpthread
UNIT_SRC    := test/unit/test_main.c test/unit/testpki.c test/unit/testlog.c test/unit/simclock.c test/unit/test_ocsp.c test/unit/test_sched.c \
               test/unit/test_table.c test/unit/test_refresher.c test/unit/test_record.c \
               test/unit/test_http.c test/unit/test_redis.c test/unit/test_notify.c \
               test/unit/test_control.c test/unit/test_text.c
UNIT_DEPS   := $(UNIT_SRC) $(wildcard test/unit/*.h) $(GUARD_HDR)

build/unit/unit_tests: $(UNIT_DEPS) build/lib/libog.a build/lib/libsoc.a
	@mkdir -p build/unit
	$(CC) $(UNIT_CFLAGS) -o $@ $(UNIT_SRC) build/lib/libog.a build/lib/libsoc.a $(UNIT_LIBS)
build/unit/unit_tests_san: $(UNIT_DEPS) build/lib/san/libog.a build/lib/san/libsoc.a
	@mkdir -p build/unit
	$(CC) $(UNIT_CFLAGS) $(SAN_FLAGS) -o $@ $(UNIT_SRC) build/lib/san/libog.a build/lib/san/libsoc.a $(UNIT_LIBS)

unit: test-deps
	@$(MAKE) --no-print-directory unit-run

unit-run: build/unit/unit_tests build/unit/unit_tests_san
	build/unit/unit_tests
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 build/unit/unit_tests_san

# The cores include no httpd or APR header; the glue files include only
# the headers of the units below them.
check-layers:
	@python3 build/check-layers
	@python3 build/check-messages

.PHONY: check-messages
check-messages:
	@python3 build/check-messages

# ------------------------------------------------------ integration, test
integration: test-deps
	@$(MAKE) --no-print-directory modules
	bash test/integration/run.sh

SAN_TESTS := basic graceful persist cluster configtest dump_ocsp refresher_restart proxy redirect \
             refresher_life symlink redis_hostile rollback forged keepalive dualstack rate \
             control notify status metrics muststaple_wait startup
test-sanitize: modules $(ASAN_MODULES)
	H_SANITIZE=1 bash test/integration/run.sh $(SAN_TESTS:%=test/integration/t_%.sh)

test: test-deps
	@$(MAKE) --no-print-directory check-layers modules
	@$(MAKE) --no-print-directory unit-run
	@$(MAKE) --no-print-directory fuzz-run
	@$(MAKE) --no-print-directory bench-quick-run
	@$(MAKE) --no-print-directory test-sanitize
	bash test/integration/run.sh

# ------------------------------------------------------------------ fuzzing
# libFuzzer on the cores. make test runs each target FUZZ_SECONDS (20) from
# the corpus committed under test/fuzz/corpus/; make fuzz runs longer.
FUZZ_TARGETS := verify record redis
FUZZ_SECONDS ?= 20
build/fuzz/fuzz_verify: test/fuzz/fuzz_verify.c test/unit/testpki.c build/lib/fuzz/libog.a
	@mkdir -p build/fuzz
	clang $(FUZZ_LINK) -Imod_ocsp_guard -Itest/unit -o $@ $(filter %.c,$^) build/lib/fuzz/libog.a -lssl -lcrypto -lpthread
build/fuzz/fuzz_record: test/fuzz/fuzz_record.c build/lib/fuzz/libsoc.a
	@mkdir -p build/fuzz
	clang $(FUZZ_LINK) -Isocache_ocsp -o $@ $(filter %.c,$^) build/lib/fuzz/libsoc.a

build/fuzz/fuzz_redis: test/fuzz/fuzz_redis.c build/lib/fuzz/libsoc.a
	@mkdir -p build/fuzz
	clang $(FUZZ_LINK) -Isocache_ocsp -o $@ $(filter %.c,$^) build/lib/fuzz/libsoc.a -lpthread

fuzz-run: $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)
	@for t in $(FUZZ_TARGETS); do \
	    mkdir -p build/fuzz/corpus-$$t; \
	    echo "fuzz_$$t: $(FUZZ_SECONDS) s from test/fuzz/corpus/$$t"; \
	    build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=8192 -print_final_stats=0 \
	        -artifact_prefix=build/fuzz/ build/fuzz/corpus-$$t test/fuzz/corpus/$$t 2>build/fuzz/$$t.log \
	        || { tail -40 build/fuzz/$$t.log; echo "FAIL - fuzz_$$t found a crash (build/fuzz/)"; exit 1; }; \
	    grep -m1 '^Done' build/fuzz/$$t.log || true; \
	done

fuzz: test-deps
	@$(MAKE) --no-print-directory fuzz-run FUZZ_SECONDS=$(if $(filter command line,$(origin FUZZ_SECONDS)),$(FUZZ_SECONDS),60)

# ---------------------------------------------------------------- benches
BENCH_BINS := build/bench/hsload build/bench/lookup_bench build/bench/mkcerts
build/bench/hsload: bench/hsload.c
	@mkdir -p build/bench
	$(CC) -O2 -g $(WARN) -o $@ $< -lssl -lcrypto -lpthread
build/bench/mkcerts: bench/mkcerts.c
	@mkdir -p build/bench
	$(CC) -O2 -g $(WARN) -o $@ $< -lssl -lcrypto
build/bench/lookup_bench: bench/lookup_bench.c build/lib/libog.a $(GUARD_HDR)
	@mkdir -p build/bench
	$(CC) -O2 -g $(WARN) -Imod_ocsp_guard -o $@ bench/lookup_bench.c build/lib/libog.a -lssl -lcrypto -lpthread

.PHONY: bench-quick-run
bench: test-deps
	@$(MAKE) --no-print-directory modules $(BENCH_BINS)
	bash bench/run.sh
bench-quick: test-deps
	@$(MAKE) --no-print-directory bench-quick-run
bench-quick-run: modules $(BENCH_BINS)
	bash bench/run.sh --quick
bench-callgrind: test-deps
	@$(MAKE) --no-print-directory modules $(BENCH_BINS)
	bash bench/callgrind.sh 50

demo: test-deps
	@$(MAKE) --no-print-directory modules
	bash build/demo.sh

# ---------------------------------------------------------------- install
# Honours DESTDIR; installs the modules and Debian-style .load/.conf files
# (an existing ocsp_guard.conf, perhaps edited, is left alone and ours goes
# beside it as ocsp_guard.conf.dist). Starts, stops and enables nothing.
MODS_AVAILABLE ?= $(HTTPD_CONFDIR)/mods-available
INSTALLED_CONF := $(DESTDIR)$(MODS_AVAILABLE)/ocsp_guard.conf
install: all
	@test -n "$(MODULES_DIR)" || { echo "apxs did not answer: install apache2-dev"; exit 1; }
	install -d $(DESTDIR)$(MODULES_DIR) $(DESTDIR)$(MODS_AVAILABLE)
	install -m 644 $(MODULES) $(DESTDIR)$(MODULES_DIR)/
	sed 's|/usr/lib/apache2/modules|$(MODULES_DIR)|' debian/ocsp_guard.load > $(DESTDIR)$(MODS_AVAILABLE)/ocsp_guard.load
	sed 's|/usr/lib/apache2/modules|$(MODULES_DIR)|' debian/socache_ocsp.load > $(DESTDIR)$(MODS_AVAILABLE)/socache_ocsp.load
	@if [ -e $(INSTALLED_CONF) ] && ! cmp -s debian/ocsp_guard.conf $(INSTALLED_CONF); then \
	    install -m 644 debian/ocsp_guard.conf $(INSTALLED_CONF).dist; \
	    echo "kept your $(INSTALLED_CONF); the new defaults are in ocsp_guard.conf.dist"; \
	else \
	    install -m 644 debian/ocsp_guard.conf $(INSTALLED_CONF); \
	fi
	@echo "mod_ocsp_guard $(VERSION) installed. Next, as root:"
	@echo "    a2enmod ocsp_guard         # also enables socache_ocsp and ssl"
	@echo "    apachectl configtest && apachectl graceful"
	@echo "    openssl s_client -connect YOUR.HOST:443 -servername YOUR.HOST -status </dev/null | grep -A3 'OCSP Response Status'"

uninstall:
	@test -n "$(MODULES_DIR)" || { echo "apxs did not answer: install apache2-dev"; exit 1; }
	rm -f $(DESTDIR)$(MODULES_DIR)/mod_ocsp_guard.so $(DESTDIR)$(MODULES_DIR)/mod_socache_ocsp.so
	rm -f $(DESTDIR)$(MODS_AVAILABLE)/ocsp_guard.load $(DESTDIR)$(MODS_AVAILABLE)/socache_ocsp.load \
	      $(INSTALLED_CONF).dist
	@if cmp -s debian/ocsp_guard.conf $(INSTALLED_CONF); then rm -f $(INSTALLED_CONF); \
	elif [ -e $(INSTALLED_CONF) ]; then echo "left your edited $(INSTALLED_CONF) in place"; fi
	@echo "If the modules were enabled, run: a2dismod ocsp_guard socache_ocsp && apachectl graceful"

# ------------------------------------------------------------ Debian package
# build/out/libapache2-mod-ocsp-guard_VERSION_ARCH.deb, built by Debian's own
# tools (dpkg-buildpackage, debhelper, dh_apache2) from a staging copy.
DEB_ARCH := $(shell dpkg --print-architecture 2>/dev/null)
DEB      := build/out/libapache2-mod-ocsp-guard_$(VERSION)_$(DEB_ARCH).deb
deb: build-deps
	@sh build/deps deb
	rm -rf build/deb && mkdir -p build/deb/src build/out
	cp -r Makefile apxs.mk VERSION LICENSE README.md mod_ocsp_guard socache_ocsp debian build/deb/src/
	mkdir -p build/deb/src/build && cp build/deps build/check-layers build/deb/src/build/
	printf 'libapache2-mod-ocsp-guard (%s) unstable; urgency=medium\n\n  * Release %s.\n\n -- mod_ocsp_guard developers <mod-ocsp-guard@localhost>  %s\n' \
	    "$(VERSION)" "$(VERSION)" "$$(date -R)" > build/deb/src/debian/changelog
	cd build/deb/src && dpkg-buildpackage -us -uc -b >../build.log 2>&1 || { tail -40 ../build.log; exit 1; }
	mv build/deb/libapache2-mod-ocsp-guard_$(VERSION)_*.deb build/out/
	@echo "built $(DEB)"

clean:
	rm -rf build/out build/obj build/lib build/unit build/tmp build/bench build/fuzz build/asan build/deb

help:
	@echo "make              build build/out/mod_ocsp_guard.so and mod_socache_ocsp.so"
	@echo "make install      install them and the .load/.conf files (DESTDIR honoured); make uninstall"
	@echo "make deb          build/out/libapache2-mod-ocsp-guard_$(VERSION)_$(DEB_ARCH).deb"
	@echo "make test         every test (installs test dependencies); make demo; make bench"
	@echo "make unit | integration | fuzz | bench-quick | bench-callgrind | check-layers | clean"
