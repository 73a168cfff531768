#!/bin/bash
# Benchmark of a fleet (issue 14): azcmk fix --all --parallel 8 protecting N Azure OpenAI accounts at 50 ms per
# answer, against N single `azcmk fix RESOURCE` run one after another, the way an operator without a fleet plan
# would. The single fixes are timed on a sample (BENCH_FLEET_SINGLES of them, on a fresh tenant) and scaled
# to N; the line says so. Prints a "goal" line for make bench's summary (goal: the fleet at least 6x faster).
# BENCH_FLEET_N sets N (default 200; make bench's BENCH_QUICK=1 uses 40).
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
azcmk=$top_builddir/src/azcmk
sim=$top_builddir/src/azcmk-sim
n=${BENCH_FLEET_N:-200}
singles=${BENCH_FLEET_SINGLES:-10}
GOAL_RATIO=6
work=$(mktemp -d)
simpid=

# Stops the simulator.
stop_sim() {
	[ -n "$simpid" ] && kill "$simpid" 2>/dev/null && wait "$simpid" 2>/dev/null
	simpid=
}
trap 'stop_sim; rm -rf "$work"' EXIT
if ! command -v python3 >/dev/null 2>&1; then
	echo "goal  skipped  fleet of $n at 50 ms vs single fixes: python3 is not installed (goal >= ${GOAL_RATIO}x)"
	exit 0
fi
unset AZURE_CLIENT_CERTIFICATE_PATH AZURE_FEDERATED_TOKEN_FILE IDENTITY_ENDPOINT IDENTITY_HEADER MSI_ENDPOINT \
	MSI_SECRET AZURE_TOKEN_CREDENTIALS REQUESTS_CA_BUNDLE SSL_CERT_FILE CURL_CA_BUNDLE AZURE_CORE_OUTPUT
export AZURE_POD_IDENTITY_AUTHORITY_HOST=http://127.0.0.1:9 AZURE_CONFIG_DIR=$work/no-az LC_ALL=C

# The tenant: one subscription, a ready key vault (Azure RBAC, soft delete, purge protection) and N Azure
# OpenAI accounts on Microsoft-managed keys in its region, each with its system-assigned identity; the
# operator is Owner of the subscription and Key Vault Administrator of the vault.
python3 - "$n" >"$work/fleet.json" <<'EOF'
import json, sys
n = int(sys.argv[1])
T, S = "11111111-1111-4111-8111-111111111111", "77777777-7777-4777-8777-777777777777"
OP = "0b0b0b0b-0b0b-4b0b-8b0b-0b0b0b0b0b0b"
rg = "/subscriptions/%s/resourceGroups/rg-fleet" % S
vault = rg + "/providers/Microsoft.KeyVault/vaults/kv-fleet"
res = [{"id": rg, "type": "Microsoft.Resources/resourceGroups", "name": "rg-fleet", "location": "westus3",
        "properties": {"provisioningState": "Succeeded"}},
       {"id": vault, "type": "Microsoft.KeyVault/vaults", "name": "kv-fleet", "location": "westus3",
        "properties": {"sku": {"family": "A", "name": "standard"}, "tenantId": T, "accessPolicies": [],
                       "enableSoftDelete": True, "softDeleteRetentionInDays": 90, "enableRbacAuthorization": True,
                       "enablePurgeProtection": True, "vaultUri": "https://kv-fleet.vault.azure.net/",
                       "provisioningState": "Succeeded", "publicNetworkAccess": "Enabled",
                       "networkAcls": {"bypass": "AzureServices", "defaultAction": "Allow", "ipRules": [],
                                       "virtualNetworkRules": []}}}]
principals = [{"objectId": OP, "type": "ServicePrincipal", "displayName": "operator"}]
for i in range(n):
    name, pid = "oai-fleet-%04d" % i, "7777a%03x-7777-4777-8777-7777%08x" % (i % 4096, i)
    principals.append({"objectId": pid, "type": "ServicePrincipal", "displayName": name})
    res.append({"id": rg + "/providers/Microsoft.CognitiveServices/accounts/" + name,
                "type": "Microsoft.CognitiveServices/accounts", "name": name, "location": "westus3",
                "sku": {"name": "S0"}, "kind": "OpenAI",
                "identity": {"type": "SystemAssigned", "principalId": pid, "tenantId": T},
                "properties": {"provisioningState": "Succeeded", "customSubDomainName": name,
                               "publicNetworkAccess": "Enabled",
                               "capabilities": [{"name": "CustomerManagedKey"}],
                               "encryption": {"keySource": "Microsoft.CognitiveServices"}},
                "systemData": {"createdAt": "2025-03-14T16:20:05.0000000Z"}})
print(json.dumps({
    "tenantId": T,
    "operator": {"clientId": "0a0a0a0a-0a0a-4a0a-8a0a-0a0a0a0a0a0a", "objectId": OP, "clientSecret": "s",
                 "displayName": "operator"},
    "principals": principals,
    "subscriptions": [{"subscriptionId": S, "displayName": "Fleet"}],
    "resources": res, "keys": {},
    "roleAssignments": [
        {"scope": "/subscriptions/" + S, "principalId": OP, "principalType": "ServicePrincipal",
         "roleDefinitionId": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"},
        {"scope": vault, "principalId": OP, "principalType": "ServicePrincipal",
         "roleDefinitionId": "00482a5a-887f-4fb3-b363-3b7fe8e74483"}],
    "settings": {"latencyMs": 50, "propagationSeconds": 0}}))
EOF

# start_sim: a fresh simulator on the fleet tenant, and a fresh state directory; exports what azcmk needs.
start_sim() {
	rm -rf "$work/ports.json" "$work/state"
	"$sim" --scenario "$work/fleet.json" --port-file "$work/ports.json" --ca-out "$work/ca.pem" >"$work/sim.out" 2>&1 &
	simpid=$!
	for _ in $(seq 200); do [ -s "$work/ports.json" ] && break; sleep 0.05; done
	[ -s "$work/ports.json" ] || { echo "the simulator did not start: $(cat "$work/sim.out")"; exit 1; }
	export HTTPS_PROXY=http://127.0.0.1:$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["proxy"])' \
		"$work/ports.json") NO_PROXY= XDG_STATE_HOME=$work/state AZURE_TENANT_ID=11111111-1111-4111-8111-111111111111 \
		AZURE_CLIENT_ID=0a0a0a0a-0a0a-4a0a-8a0a-0a0a0a0a0a0a AZURE_CLIENT_SECRET=s
	"$azcmk" --ca-file "$work/ca.pem" --auth environment audit -o none 2>/dev/null
}

# now: the time in seconds, to the millisecond.
now() { date +%s.%N; }

start_sim
t0=$(now)
"$azcmk" --ca-file "$work/ca.pem" --auth environment --yes --propagation-wait 0 fix --all --parallel 8 \
	>"$work/fleet.out" 2>&1
rc=$?
t1=$(now)
stop_sim
if [ $rc -ne 0 ] || ! grep -q "^Fleet plan [0-9a-f]*: $n done, 0 failed" "$work/fleet.out"; then
	echo "the fleet run failed (exit $rc): $(tail -c 600 "$work/fleet.out")"
	exit 1
fi

start_sim
t2=$(now)
for i in $(seq 0 $((singles - 1))); do
	"$azcmk" --ca-file "$work/ca.pem" --auth environment --yes --propagation-wait 0 fix "$(printf 'oai-fleet-%04d' "$i")" \
		>"$work/single.out" 2>&1 || { echo "a single fix failed: $(tail -c 600 "$work/single.out")"; exit 1; }
done
t3=$(now)
stop_sim

python3 - "$n" "$singles" "$t0" "$t1" "$t2" "$t3" "$GOAL_RATIO" <<'EOF'
import sys
n, k, t0, t1, t2, t3, goal = int(sys.argv[1]), int(sys.argv[2]), *map(float, sys.argv[3:7]), float(sys.argv[7])
fleet, one = t1 - t0, (t3 - t2) / k
singles = one * n
ratio = singles / fleet
print("fleet of %d at 50 ms, fix --all --parallel 8 (plan and apply): %.1f s" % (n, fleet))
print("single fix, one after another: %.2f s each (%d timed), so %.0f s for %d" % (one, k, singles, n))
print("goal  %s  fleet of %d at 50 ms vs %d single fixes: %.1f s vs %.0f s, %.1fx (goal >= %gx)" % (
    "met" if ratio >= goal else "NOT met", n, n, fleet, singles, ratio, goal))
EOF
