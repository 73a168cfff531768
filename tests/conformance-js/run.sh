#!/bin/bash
# Microsoft's Azure SDK for JavaScript, unmodified, judges the simulator: starts azcmk-sim on
# tests/conformance-js/scenario.json, points Node at it (HTTPS_PROXY, NODE_EXTRA_CA_CERTS) and runs suite.js.
# Needs node and the SDK packages: npm ci --prefix tests/conformance-js (or AZCMK_JS_MODULES=DIR/node_modules).
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
here=$top_srcdir/tests/conformance-js
sim=$top_builddir/src/azcmk-sim
modules=${AZCMK_JS_MODULES:-$here/node_modules}
cannot() {
	echo "conformance-js: not run: $1"
	if [ "${CI:-}" = true ]; then exit 99; fi
	exit 77
}
command -v node >/dev/null 2>&1 || cannot "node is not installed (apt-get install nodejs)"
[ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ] 2>/dev/null || cannot "node $(node --version) is older than 20"
[ -d "$modules/@azure/identity" ] || cannot "no Azure SDK packages in $modules (run: npm ci --prefix tests/conformance-js)"
[ -x "$sim" ] || { echo "conformance-js: $sim is not built"; exit 99; }

work=$(mktemp -d)
simpid=
trap 'stop_sim; rm -rf "$work"' EXIT

# Starts the simulator on the suite's scenario; exports what Node and the SDK need to reach it.
start_sim() {
	"$sim" --scenario "$here/scenario.json" --port-file "$work/ports.json" --ca-out "$work/ca.pem" \
		--log "$work/requests.log" >"$work/sim.out" 2>&1 &
	simpid=$!
	for _ in $(seq 100); do [ -s "$work/ports.json" ] && break; sleep 0.1; done
	[ -s "$work/ports.json" ] || { echo "the simulator did not start:"; cat "$work/sim.out"; exit 1; }
	local port
	port=$(sed -n 's/.*"proxy": *\([0-9]*\).*/\1/p' "$work/ports.json")
	export HTTPS_PROXY=http://127.0.0.1:$port HTTP_PROXY= NO_PROXY= NODE_EXTRA_CA_CERTS=$work/ca.pem
	export AZURE_AUTHORITY_HOST= AZURE_TENANT_ID= AZURE_CLIENT_ID= AZURE_CLIENT_SECRET= AZURE_LOG_LEVEL=
	# NODE_PATH lets the packages find each other in a modules directory not named node_modules.
	export AZCMK_JS_MODULES=$modules NODE_PATH=$modules
}

# Stops the simulator.
stop_sim() {
	[ -n "$simpid" ] && kill "$simpid" 2>/dev/null && wait "$simpid" 2>/dev/null
	simpid=
}

start_sim
node "$here/suite.js"
rc=$?
if [ $rc -ne 0 ] && [ -n "${AZCMK_JS_LOG:-}" ]; then cp "$work/requests.log" "$AZCMK_JS_LOG"; fi
exit $rc
