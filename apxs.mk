# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# What httpd's own build says about compiling modules, asked of apxs. Included
# by the Makefile. Every query is skipped while apxs is missing, so a fresh
# clone's first `make` can say what to install instead of printing errors.

APXS        ?= $(shell command -v apxs 2>/dev/null)
ifneq ($(APXS),)
APXS_CC     := $(shell $(APXS) -q CC 2>/dev/null)
APXS_INC    := $(shell $(APXS) -q INCLUDEDIR 2>/dev/null)
APR_CONFIG  := $(shell $(APXS) -q APR_CONFIG 2>/dev/null)
APU_CONFIG  := $(shell $(APXS) -q APU_CONFIG 2>/dev/null)
MODULES_DIR := $(shell $(APXS) -q LIBEXECDIR 2>/dev/null)
HTTPD_CONFDIR := $(shell $(APXS) -q SYSCONFDIR 2>/dev/null)
endif
APR_CFLAGS  := $(if $(APR_CONFIG),$(shell $(APR_CONFIG) --cflags --cppflags --includes 2>/dev/null))
APU_INC     := $(if $(APU_CONFIG),$(shell $(APU_CONFIG) --includes 2>/dev/null))
CC          := $(if $(APXS_CC),$(APXS_CC),cc)

WARN        := -Wall -Wextra -Werror
OPT         ?= -O2 -g
# CFLAGS, CPPFLAGS and LDFLAGS from the environment (dpkg-buildflags in a
# package build) come after ours.
MOD_CFLAGS  := $(OPT) $(WARN) -fPIC -fvisibility=default -I$(APXS_INC) $(APR_CFLAGS) $(APU_INC) \
               $(CPPFLAGS) $(CFLAGS)
MOD_LDFLAGS := -shared $(LDFLAGS)
SSL_LIBS    := -lssl -lcrypto -lpthread
