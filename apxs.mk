# apxs-based compile and link rules for httpd modules. Included by Makefile.
# apxs tells where httpd's and APR's headers are and how httpd was built;
# modules are compiled with those flags plus ours and linked as shared objects.

APXS        ?= $(shell command -v apxs 2>/dev/null || echo /usr/bin/apxs)
APXS_CC     := $(shell $(APXS) -q CC 2>/dev/null)
CC          := $(if $(APXS_CC),$(APXS_CC),cc)
APXS_INC    := $(shell $(APXS) -q INCLUDEDIR 2>/dev/null)
APR_CONFIG  := $(shell $(APXS) -q APR_CONFIG 2>/dev/null)
APU_CONFIG  := $(shell $(APXS) -q APU_CONFIG 2>/dev/null)
APR_CFLAGS  := $(shell $(APR_CONFIG) --cflags --cppflags --includes 2>/dev/null)
APU_INC     := $(shell $(APU_CONFIG) --includes 2>/dev/null)
MODULES_DIR := $(shell $(APXS) -q LIBEXECDIR 2>/dev/null)

WARN        := -Wall -Wextra -Werror
OPT         ?= -O2 -g
MOD_CFLAGS  := $(OPT) $(WARN) -fPIC -fvisibility=default -I$(APXS_INC) $(APR_CFLAGS) $(APU_INC)
MOD_LDFLAGS := -shared
SSL_LIBS    := -lssl -lcrypto -lpthread

# $(call apxs_module,OUTPUT,SOURCES,LIBS)
define apxs_module
$(1): $(2) | build/out
	$$(CC) $$(MOD_CFLAGS) -Isocache_ocsp $$(EXTRA_CFLAGS) -o $$@ $(2) $$(MOD_LDFLAGS) $(3)
endef
