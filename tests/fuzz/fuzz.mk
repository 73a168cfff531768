## libFuzzer suite over the parsers of untrusted input in src/core (and the simulator's scenario checks).
## Included from Makefile.am. "make fuzz [FUZZ_SECONDS=60] [FUZZ_JOBS=1] [CLANG=clang]" builds every harness
## with clang, ASan and UBSan, then runs each for FUZZ_SECONDS over tests/fuzz/corpus/NAME; any crash fails.
## Nothing else depends on it: the normal build, make check and make distcheck need no clang.
CLANG ?= clang
FUZZ_SECONDS = 60
FUZZ_JOBS = 1
FUZZ_HARNESSES = wire text jx jscan armid b64 jwt plan fleet scenario audit rules tokcache dexpr
FUZZ_BINS = tests/fuzz/fuzz-wire tests/fuzz/fuzz-text tests/fuzz/fuzz-jx tests/fuzz/fuzz-jscan tests/fuzz/fuzz-armid \
	tests/fuzz/fuzz-b64 tests/fuzz/fuzz-jwt tests/fuzz/fuzz-plan tests/fuzz/fuzz-scenario tests/fuzz/fuzz-audit \
	tests/fuzz/fuzz-rules tests/fuzz/fuzz-tokcache tests/fuzz/fuzz-fleet tests/fuzz/fuzz-dexpr
FUZZ_CFLAGS = -std=c11 -g -O1 $(WARN_CFLAGS) -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer -I$(top_srcdir)/src/core -I$(top_srcdir)/src/sim -I$(top_srcdir)/tests/fuzz \
	-I$(top_builddir) $(JSONC_CFLAGS) $(OPENSSL_CFLAGS)
FUZZ_LIBS = tests/fuzz/libfuzzcore.a $(JSONC_LIBS) $(OPENSSL_LIBS)
FUZZ_CORE_SRCS = $(src_core_libazcore_a_SOURCES) src/sim/scenario.c src/sim/scenario.h

# The core and the scenario checks, instrumented for coverage as well as the sanitizers.
tests/fuzz/libfuzzcore.a: $(FUZZ_CORE_SRCS)
	$(AM_V_GEN)set -e; $(CLANG) --version >/dev/null 2>&1 || { echo "make fuzz needs clang and libFuzzer" \
	  "(apt-get install clang libclang-rt-dev), or CLANG=/path/to/clang" >&2; exit 1; }; \
	$(MKDIR_P) tests/fuzz; rm -f $@ $@.tmp tests/fuzz/core-*.o; \
	for f in $(FUZZ_CORE_SRCS); do \
	  case $$f in *.c) o=tests/fuzz/core-`basename $$f .c`.o; \
	    $(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $(top_srcdir)/$$f -o $$o; $(AR) cr $@.tmp $$o;; esac; \
	done; $(RANLIB) $@.tmp; mv $@.tmp $@

FUZZ_DEPS = $(top_srcdir)/tests/fuzz/fuzz.h tests/fuzz/libfuzzcore.a
FUZZ_LINK = $(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer

tests/fuzz/fuzz-wire: $(top_srcdir)/tests/fuzz/fuzz-wire.c $(FUZZ_DEPS)
	$(AM_V_CCLD)$(FUZZ_LINK) $(top_srcdir)/tests/fuzz/fuzz-wire.c $(FUZZ_LIBS) -o $@
tests/fuzz/fuzz-text: $(top_srcdir)/tests/fuzz/fuzz-text.c $(FUZZ_DEPS)
	$(AM_V_CCLD)$(FUZZ_LINK) $(top_srcdir)/tests/fuzz/fuzz-text.c $(FUZZ_LIBS) -o $@
tests/fuzz/fuzz-jx: $(top_srcdir)/tests/fuzz/fuzz-jx.c $(FUZZ_DEPS)
	$(AM_V_CCLD)$(FUZZ_LINK) $(top_srcdir)/tests/fuzz/fuzz-jx.c $(FUZZ_LIBS) -o $@
tests/fuzz/fuzz-jscan: $(top_srcdir)/tests/fuzz/fuzz-jscan.c $(FUZZ_DEPS)
	$(AM_V_CCLD)$(FUZZ_LINK) $(top_srcdir)/tests/fuzz/fuzz-jscan.c $(FUZZ_LIBS) -o $@
tests/fuzz/fuzz-armid: $(top_srcdir)/tests/fuzz/fuzz-armid.c $(FUZZ_DEPS)
	$(AM_V_CCLD)$(FUZZ_LINK) $(top_srcdir)/tests/fuzz/fuzz-armid.c $(FUZZ_LIBS) -o $@
tests/fuzz/fuzz-b64: $(top_srcdir)/tests/fuzz/fuzz-b64.c $(FUZZ_DEPS)
	$(AM_V_CCLD)$(FUZZ_LINK) $(top_srcdir)/tests/fuzz/fuzz-b64.c $(FUZZ_LIBS) -o $@
tests/fuzz/fuzz-jwt: $(top_srcdir)/tests/fuzz/fuzz-jwt.c $(FUZZ_DEPS)
	$(AM_V_CCLD)$(FUZZ_LINK) $(top_srcdir)/tests/fuzz/fuzz-jwt.c $(FUZZ_LIBS) -o $@
tests/fuzz/fuzz-plan: $(top_srcdir)/tests/fuzz/fuzz-plan.c $(FUZZ_DEPS)
	$(AM_V_CCLD)$(FUZZ_LINK) $(top_srcdir)/tests/fuzz/fuzz-plan.c $(FUZZ_LIBS) -o $@
tests/fuzz/fuzz-fleet: $(top_srcdir)/tests/fuzz/fuzz-fleet.c $(FUZZ_DEPS)
	$(AM_V_CCLD)$(FUZZ_LINK) $(top_srcdir)/tests/fuzz/fuzz-fleet.c $(FUZZ_LIBS) -o $@
tests/fuzz/fuzz-scenario: $(top_srcdir)/tests/fuzz/fuzz-scenario.c $(FUZZ_DEPS)
	$(AM_V_CCLD)$(FUZZ_LINK) $(top_srcdir)/tests/fuzz/fuzz-scenario.c $(FUZZ_LIBS) -o $@
tests/fuzz/fuzz-audit: $(top_srcdir)/tests/fuzz/fuzz-audit.c $(FUZZ_DEPS)
	$(AM_V_CCLD)$(FUZZ_LINK) $(top_srcdir)/tests/fuzz/fuzz-audit.c $(FUZZ_LIBS) -o $@
tests/fuzz/fuzz-rules: $(top_srcdir)/tests/fuzz/fuzz-rules.c $(FUZZ_DEPS)
	$(AM_V_CCLD)$(FUZZ_LINK) $(top_srcdir)/tests/fuzz/fuzz-rules.c $(FUZZ_LIBS) -o $@
# The simulator's template expressions, with stand-ins for the state and reference() it reaches.
tests/fuzz/fuzz-dexpr: $(top_srcdir)/tests/fuzz/fuzz-dexpr.c $(top_srcdir)/src/sim/dexpr.c $(FUZZ_DEPS)
	$(AM_V_CCLD)$(FUZZ_LINK) $(MHD_CFLAGS) $(top_srcdir)/tests/fuzz/fuzz-dexpr.c $(top_srcdir)/src/sim/dexpr.c \
	  $(FUZZ_LIBS) -o $@
# The token cache's reader, compiled from src/azure with the state directory it
# opens files through (the harness only parses).
FUZZ_TOKCACHE_SRCS = $(top_srcdir)/src/azure/tokcache.c $(top_srcdir)/src/azure/statedir.c $(top_srcdir)/src/azure/digest.c
tests/fuzz/fuzz-tokcache: $(top_srcdir)/tests/fuzz/fuzz-tokcache.c $(FUZZ_TOKCACHE_SRCS) $(FUZZ_DEPS)
	$(AM_V_CCLD)$(FUZZ_LINK) -I$(top_srcdir)/src/azure $(CURL_CFLAGS) $(top_srcdir)/tests/fuzz/fuzz-tokcache.c \
	  $(FUZZ_TOKCACHE_SRCS) $(FUZZ_LIBS) -o $@

## make fuzz: builds the harnesses and runs them (FUZZ_SECONDS=0 only replays the seed corpus).
fuzz: $(FUZZ_BINS)
	@FUZZ_SECONDS='$(FUZZ_SECONDS)' FUZZ_JOBS='$(FUZZ_JOBS)' $(SHELL) $(top_srcdir)/tests/fuzz/run.sh tests/fuzz \
	  $(top_srcdir)/tests/fuzz/corpus $(FUZZ_HARNESSES)

.PHONY: fuzz
EXTRA_DIST += tests/fuzz/fuzz.mk tests/fuzz/run.sh tests/fuzz/fuzz.h tests/fuzz/corpus \
	tests/fuzz/fuzz-wire.c tests/fuzz/fuzz-text.c tests/fuzz/fuzz-jx.c tests/fuzz/fuzz-jscan.c tests/fuzz/fuzz-armid.c \
	tests/fuzz/fuzz-b64.c tests/fuzz/fuzz-jwt.c tests/fuzz/fuzz-plan.c tests/fuzz/fuzz-scenario.c tests/fuzz/fuzz-audit.c \
	tests/fuzz/fuzz-rules.c tests/fuzz/fuzz-tokcache.c tests/fuzz/fuzz-fleet.c tests/fuzz/fuzz-dexpr.c
CLEANFILES += $(FUZZ_BINS) tests/fuzz/libfuzzcore.a tests/fuzz/libfuzzcore.a.tmp tests/fuzz/core-*.o \
	tests/fuzz/fuzz-*.log tests/fuzz/artifact-*
