EXTENSION = limaml
EXTVERSION = 0.3.0

MODULE_big = limaml
DATA = $(wildcard limaml--*.sql)
PGFILEDESC = "limaml - LiMAML meta-learned personalization in PostgreSQL"

CORE_OBJS = $(patsubst %.c,%.o,$(wildcard src/core/*.c))
GLUE_OBJS = $(patsubst %.c,%.o,$(wildcard src/*.c))
OBJS = $(GLUE_OBJS) $(CORE_OBJS)

REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --load-extension=$(EXTENSION)

# OpenBLAS, single-threaded build: a backend must never start BLAS threads
BLAS_DIR = /usr/lib/x86_64-linux-gnu/openblas-serial
BLAS_INC = /usr/include/x86_64-linux-gnu/openblas-serial
PG_CPPFLAGS = -I$(BLAS_INC) -I$(srcdir)/src
SHLIB_LINK = -L$(BLAS_DIR) -Wl,-rpath,$(BLAS_DIR) -lopenblas -lm

# Portable code; AVX2/AVX-512 only through run-time dispatch (target_clones)
PG_CFLAGS = -std=gnu11 -O3 -fno-math-errno

# The bitcode step ignores PG_CFLAGS and gains nothing for numeric code
override with_llvm = no

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: rebuild everything when a header changes
$(OBJS): $(wildcard src/*.h src/core/*.h)

# C unit tests of the numeric core (no server needed)
.PHONY: unittest
unittest:
	$(MAKE) -C test/unit run

prove_installcheck:
	rm -rf $(CURDIR)/tmp_check
	cd $(srcdir) && TESTDIR='$(CURDIR)' PATH="$(bindir):$$PATH" PGPORT='6$(DEF_PGPORT)' \
		PG_REGRESS='$(top_builddir)/src/test/regress/pg_regress' \
		$(PROVE) $(PG_PROVE_FLAGS) $(PROVE_FLAGS) $(if $(PROVE_TESTS),$(PROVE_TESTS),test/t/*.pl)

EXTRA_CLEAN = tmp_check
