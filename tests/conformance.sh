#!/bin/sh
# Runs the real Azure CLI against azcmk-sim with ../shared/conformance/az-against-sim.sh.
# Says plainly when it cannot (no az, no ../shared); in CI it must run, so there that is a failure.
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
script=$top_srcdir/../shared/conformance/az-against-sim.sh
cannot() {
	echo "conformance: not run: $1"
	if [ "${CI:-}" = true ]; then exit 99; fi
	exit 77
}
[ -f "$script" ] || cannot "no $script (the shared folder is not beside this checkout)"
command -v az >/dev/null 2>&1 || cannot "the Azure CLI is not installed (apt-get install azure-cli)"
command -v python3 >/dev/null 2>&1 || cannot "python3 is not installed"
exec bash "$script" "$top_builddir/src/azcmk-sim"
