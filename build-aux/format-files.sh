#!/bin/sh
# Lists the C files the house style covers (make format, tests/lint.sh): every
# .c and .h under src, ui and tests, less what a program generates
# (src/demo-scenario.c by the build, src/core/roles.c by gen-roles.py).
cd "$(dirname "$0")/.." || exit 1
find src ui tests -name '*.[ch]' ! -path 'tests/conformance-js/*' \
	! -path 'src/demo-scenario.c' ! -path 'src/core/roles.c' | LC_ALL=C sort
