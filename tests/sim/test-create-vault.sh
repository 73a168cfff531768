#!/bin/sh
# Tests fix --all --create-vault against the simulator: a tenant with no key vault at all, where the fleet
# plan creates one vault per region (Azure RBAC, soft delete 90 days, purge protection), grants the operator
# Key Vault Crypto Officer on it (an Owner has no data-plane access to a new RBAC vault), then protects every
# resource with a key of its own; the refusals of the options, one name serving one region only, and a
# clean re-audit.
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
# shellcheck source=tests/sim/simlib.sh disable=SC2154
. "$top_srcdir/tests/sim/simlib.sh"

# The minimal tenant without its vault, its keys and the grants on it; Azure OpenAI moved to eastus (it
# needs a vault in its own region); the operator (an Owner) has no data-plane access it is not granted.
python3 "$top_srcdir/tests/sim/gen-no-vault-tenant.py" "$top_srcdir/tests/scenarios/minimal.json" "$work/scen.json"
# And a key subscription of the operator's own (Owner there), with an empty resource group, for
# --vault-subscription.
keysub=88888888-8888-4888-8888-888888888888
python3 - "$work/scen.json" "$keysub" <<'PY'
import json, sys
d, keysub = json.load(open(sys.argv[1])), sys.argv[2]
d["subscriptions"].append({"subscriptionId": keysub, "displayName": "Contoso Keys"})
d["resources"].append({"id": "/subscriptions/%s/resourceGroups/rg-keys" % keysub, "name": "rg-keys",
                       "type": "Microsoft.Resources/resourceGroups", "location": "westus3",
                       "properties": {"provisioningState": "Succeeded"}})
d["roleAssignments"].append({"scope": "/subscriptions/%s" % keysub, "principalId": d["operator"]["objectId"],
                             "roleDefinitionId": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
                             "name": "8888e001-8888-4888-8888-88888888e001", "principalType": "ServicePrincipal"})
json.dump(d, open(sys.argv[1], "w"))
PY
sim_start "$work/scen.json"
sub=66666666-6666-4666-8666-666666666666

az audit >/dev/null 2>&1
expect "without --vault-group" 2 "--create-vault needs --vault-group RG" -- \
	az fix --all --dry-run --create-vault kv-new --confirm-irreversible
expect "without --confirm-irreversible" 2 "add --confirm-irreversible" -- \
	az fix --all --dry-run --create-vault kv-new --vault-group rg-cmk-test
expect "a name Key Vault refuses" 2 "invalid --create-vault '9kv'" -- \
	az fix --all --dry-run --create-vault 9kv --vault-group rg-cmk-test --confirm-irreversible
expect "beside --vault" 2 "already name where the keys go" -- \
	az fix --all --dry-run --create-vault kv-new --vault kv-other --vault-group rg-cmk-test --confirm-irreversible
expect "a region named twice" 2 "each region, and each vault, once" -- \
	az fix --all --dry-run --create-vault eastus=kv-a --create-vault eastus=kv-b --vault-group rg-cmk-test \
	--confirm-irreversible
expect "a name taken in Azure, by a vault you cannot see" 2 "key vault name kv-taken is taken in Azure (The vault name 'kv-taken' is already in use" -- \
	az fix --all --dry-run --create-vault kv-taken --vault-group rg-cmk-test --confirm-irreversible
# A name check Azure does not answer is no answer: no plan is built on a name nobody said was free.
simadmin POST /faults '{"host": "management.azure.com", "path": "*/checkNameAvailability", "status": 500}' >/dev/null
expect "a name check Azure did not answer" 2 "could not check whether key vault name kv-new is free (HTTP 500" -- \
	az fix --all --dry-run --create-vault kv-new --vault-group rg-cmk-test --confirm-irreversible
simadmin DELETE /faults >/dev/null
simadmin POST /faults '{"host": "management.azure.com", "path": "*/resourceGroups/rg-cmk-test", "status": 500}' >/dev/null
expect "a resource group Azure did not read" 2 "could not read resource group rg-cmk-test in subscription" -- \
	az fix --all --dry-run --create-vault kv-new --vault-group rg-cmk-test --confirm-irreversible
simadmin DELETE /faults >/dev/null
expect "a resource group that does not exist" 2 "resource group rg-nowhere does not exist in subscription $sub" -- \
	az fix --all --dry-run --create-vault kv-new --vault-group rg-nowhere --confirm-irreversible
expect "--vault-group alone" 2 "go with --create-vault" -- az fix --all --dry-run --vault-group rg-cmk-test
expect "only with --all" 2 "apply to fix --all" -- az fix oai-cmk-test --dry-run --create-vault kv-new

# Without --create-vault nothing can be planned: no vault anywhere.
az fix --all --dry-run -o json >"$work/none.json" 2>/dev/null
check "with no vault and no --create-vault, every resource is skipped saying so" \
	'not d["resources"] and len(d["skipped"]) == 4 and all("no key vault" in s["reason"] for s in d["skipped"])' \
	"$work/none.json"

# One plain name serves the first region that needs a vault; the other region's resource is skipped,
# saying how to name one there.
az fix --all --dry-run -o json --create-vault kv-cmk-new --vault-group rg-cmk-test --confirm-irreversible \
	>"$work/one.json" 2>"$work/one.err"
check "one --create-vault NAME: one region planned, the other skipped with how to name its vault" \
	'len(d["resources"]) == 3 and len(d["skipped"]) == 1 and "--create-vault " in d["skipped"][0]["reason"] and "=NAME" in d["skipped"][0]["reason"]' \
	"$work/one.json"

# A vault per region: the review counts each vault's creation and your grant on it once.
az fix --all --dry-run -o json --create-vault westus3=kv-cmk-west --create-vault eastus=kv-cmk-east \
	--vault-group rg-cmk-test --confirm-irreversible --file "$work/fleet.json" >"$work/two.json" 2>"$work/two.err"
check "a vault per region: every resource planned, each vault created once, you granted once per vault" \
	'len(d["resources"]) == 4 and not d["skipped"] and d["changes"]["create-vault"] == 2 and d["changes"]["grant-operator"] == 2' \
	"$work/two.json"
check "each new key goes in its region's new vault, in the first resource's subscription and the group named" \
	'all(r["vault"].lower() == ("/subscriptions/'$sub'/resourceGroups/rg-cmk-test/providers/Microsoft.KeyVault/vaults/" + ("kv-cmk-east" if r["id"].endswith("/oai-cmk-test") else "kv-cmk-west")).lower() for r in d["resources"])' \
	"$work/two.json"

# --vault-subscription: the new vaults go in the subscription it names (a central key subscription), not in the
# first resource's; a subscription you cannot see is refused, naming it.
az fix --all --dry-run -o json --create-vault westus3=kv-cmk-west --create-vault eastus=kv-cmk-east \
	--vault-group rg-keys --vault-subscription $keysub --confirm-irreversible --file "$work/keys-fleet.json" \
	>"$work/keysub.json" 2>"$work/keysub.err"
check "--vault-subscription: every new vault goes in the subscription and group named, for resources elsewhere" \
	'len(d["resources"]) == 4 and d["changes"]["create-vault"] == 2 and all(r["id"].startswith("/subscriptions/'$sub'/") and r["vault"].lower() == ("/subscriptions/'$keysub'/resourceGroups/rg-keys/providers/Microsoft.KeyVault/vaults/" + ("kv-cmk-east" if r["id"].endswith("/oai-cmk-test") else "kv-cmk-west")).lower() for r in d["resources"])' \
	"$work/keysub.json"
python3 - "$work/keys-fleet.json" "$keysub" >"$work/keysub.check" 2>&1 <<'PY'
import json, sys
d, keysub = json.load(open(sys.argv[1])), sys.argv[2].lower()
puts = {s["url"].lower() for p in d["plans"] for s in p["steps"] if s["step"] == "create-vault"}
if not puts or not all("/subscriptions/%s/resourcegroups/rg-keys/" % keysub in u for u in puts):
    sys.exit("the plan's vault creations go elsewhere: %s" % sorted(puts))
PY
[ $? -eq 0 ] && ok "the fleet plan creates the vaults in the key subscription" || bad "fleet plan's vault creation: $(cat "$work/keysub.check")"
expect "--vault-subscription naming a subscription you cannot see" 2 \
	"could not read resource group rg-x in subscription 77777777-7777-4777-8777-777777777777, where --create-vault" -- \
	az fix --all --dry-run --create-vault kv-cmk-else --vault-group rg-x \
	--vault-subscription 77777777-7777-4777-8777-777777777777 --confirm-irreversible

# The ARM export of such a fleet creates the vaults too, with the same settings, once each.
az fix --all --dry-run --format arm --file "$work/t.json" --create-vault westus3=kv-cmk-west \
	--create-vault eastus=kv-cmk-east --vault-group rg-cmk-test --confirm-irreversible >/dev/null 2>&1
python3 - "$work/t.json" >"$work/vaults.txt" 2>&1 <<'PY'
import json, sys
def walk(o):
    if isinstance(o, dict):
        if o.get("type") == "Microsoft.KeyVault/vaults":
            p = o["properties"]
            print(o["name"], o["location"], p["enableRbacAuthorization"], p["enablePurgeProtection"],
                  p["softDeleteRetentionInDays"])
        for v in o.values():
            walk(v)
    elif isinstance(o, list):
        for v in o:
            walk(v)
walk(json.load(open(sys.argv[1])))
PY
if [ "$(sort "$work/vaults.txt" | tr '\n' ';')" = "kv-cmk-east eastus True True 90;kv-cmk-west westus3 True True 90;" ]; then
	ok "the ARM export creates each new vault once, with its settings and region"
else
	bad "ARM export of the new vaults: $(cat "$work/vaults.txt")"
fi

az --yes --propagation-wait 0 apply --parallel 4 "$work/fleet.json" >"$work/apply.out" 2>&1
rc=$?
[ $rc -eq 0 ] && grep -q "4 done, 0 failed" "$work/apply.out" && ok "the fleet applies: vaults made, every resource done" ||
	bad "apply: exit $rc: $(tail -c 800 "$work/apply.out")"

simget /log >"$work/log.json"
check "each vault is created once, by one PUT" \
	'sorted(e["path"].rsplit("/", 1)[1] for e in d["value"] if e["method"] == "PUT" and "/providers/Microsoft.KeyVault/vaults/" in e["path"] and "/providers/Microsoft.Authorization/" not in e["path"]) == ["kv-cmk-east", "kv-cmk-west"]' \
	"$work/log.json"
simget /state >"$work/state.json"
check "the new vaults are as the Conformity rule asks: Azure RBAC, soft delete 90 days, purge protection, in their region" \
	'sorted((r["name"], r["location"]) for r in d["resources"] if r["type"] == "Microsoft.KeyVault/vaults" and "/rg-cmk-test/" in r["id"]) == [("kv-cmk-east", "eastus"), ("kv-cmk-west", "westus3")] and all(r["properties"]["enableRbacAuthorization"] and r["properties"]["enablePurgeProtection"] and r["properties"]["softDeleteRetentionInDays"] == 90 and r["properties"]["enableSoftDelete"] for r in d["resources"] if r["type"] == "Microsoft.KeyVault/vaults" and "/rg-cmk-test/" in r["id"])' \
	"$work/state.json"
check "you are granted Key Vault Crypto Officer once on each new vault, and on nothing else" \
	'sorted(a["scope"].rsplit("/", 1)[1] for a in d["roleAssignments"] if a["principalId"] == "0b0b0b0b-0b0b-4b0b-8b0b-0b0b0b0b0b0b" and a["roleDefinitionId"].endswith("14b46e9e-c2b7-41b4-b07b-48a6ebf60603")) == ["kv-cmk-east", "kv-cmk-west"]' \
	"$work/state.json"

az audit -o json >"$work/audit.json" 2>/dev/null
check "the re-audit finds every resource on a customer-managed key" \
	'not [f for f in d["findings"] if f["rule"] == "resource.cmk"]' "$work/audit.json"

# Planned again, the names are taken: nothing to create, nothing left to fix.
az fix --all --dry-run -o json --create-vault westus3=kv-cmk-west --vault-group rg-cmk-test --confirm-irreversible \
	>"$work/again.json" 2>/dev/null
check "once fixed, fix --all plans nothing and creates no vault" \
	'not d["resources"] and "create-vault" not in d.get("changes", {})' "$work/again.json"
finish
