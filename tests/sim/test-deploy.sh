#!/bin/sh
# Tests that azcmk's exports deploy with the real Azure CLI against the simulator's
# Microsoft.Resources/deployments: a plan's ARM template (az deployment group create), a fleet's
# (az deployment sub create) and the guard's policy assignments, each then judged by azcmk itself; a
# template with a function the simulator does not know is InvalidTemplate and changes nothing; a
# resource the caller may not write fails the deployment with DeploymentFailed and the inner
# AuthorizationFailed; with the guard's --deny assignments, a later write without a customer-managed key
# is refused, for DICOM and Health Bot through the custom definitions guard writes (their built-ins allow
# no Deny), by template and by az script, at the subscription and the management group, while a DICOM
# service with a key is allowed; a fleet across two resource groups, creating its vaults, deploys and leaves
# every resource protected. Skips (77) without az.
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
# shellcheck source=tests/sim/simlib.sh disable=SC2154
. "$top_srcdir/tests/sim/simlib.sh"
# The real az's path (simlib.sh's az function runs azcmk; a new shell does not have it).
realaz=$(sh -c 'command -v az')
[ -n "$realaz" ] || { echo "skip: the Azure CLI (az) is not installed"; exit 77; }
# Debian's az 2.45 needs the import shims tests/azure/az-script.sh uses too.
pyshim=$top_srcdir/../shared/conformance/pyshim
RO=77777777-7777-4777-8777-777777777777
COG=67121cc7-ff39-4ab8-b7e3-95b84dab487d

# The minimal tenant, plus a subscription where the operator is only a Reader, and the built-in policy
# definition the guard assigns for Cognitive Services (its rule as the simulator's policy engine reads it).
python3 - "$top_srcdir/tests/scenarios/minimal.json" "$work/scen.json" "$RO" "$COG" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
ro, cog = sys.argv[3], sys.argv[4]
d["subscriptions"].append({"subscriptionId": ro, "displayName": "Read only"})
d["resources"].append({"id": "/subscriptions/%s/resourceGroups/rg-ro" % ro, "type": "Microsoft.Resources/resourceGroups", "name": "rg-ro", "location": "westus3", "properties": {"provisioningState": "Succeeded"}})
d["roleAssignments"].append({"scope": "/subscriptions/" + ro, "principalId": d["operator"]["objectId"], "roleDefinitionId": "acdd72a7-3385-48ef-bd42-f606fba81ae7", "name": "7777e001-7777-4777-8777-77777777e001", "principalType": "ServicePrincipal"})
d["resources"].append({"id": "/providers/Microsoft.Authorization/policyDefinitions/" + cog, "type": "Microsoft.Authorization/policyDefinitions", "name": cog,
  "properties": {"displayName": "Azure AI Services resources should encrypt data at rest with a customer-managed key (CMK)", "policyType": "BuiltIn",
    "parameters": {"effect": {"type": "String", "defaultValue": "Audit"}, "excludedKinds": {"type": "Array", "defaultValue": []}},
    "policyRule": {"if": {"allOf": [{"field": "type", "equals": "Microsoft.CognitiveServices/accounts"},
                                    {"field": "kind", "notIn": "[parameters('excludedKinds')]"},
                                    {"field": "Microsoft.CognitiveServices/accounts/encryption.keySource", "notEquals": "Microsoft.KeyVault"}]},
                   "then": {"effect": "[parameters('effect')]"}}}})
# At management group contoso-prod the operator may deploy, define and assign policies, nothing more (a custom role).
role = "7777d001-7777-4777-8777-77777777d001"
d["resources"].append({"id": "/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions/%s" % (d["subscriptions"][0]["subscriptionId"], role),
  "type": "Microsoft.Authorization/roleDefinitions", "name": role,
  "properties": {"roleName": "Policy deployer", "type": "CustomRole", "assignableScopes": ["/providers/Microsoft.Management/managementGroups/contoso-prod"],
                 "permissions": [{"actions": ["Microsoft.Authorization/policyAssignments/*", "Microsoft.Authorization/policyDefinitions/*", "Microsoft.Resources/deployments/*"], "notActions": []}]}})
d["roleAssignments"].append({"scope": "/providers/Microsoft.Management/managementGroups/contoso-prod", "principalId": d["operator"]["objectId"], "roleDefinitionId": role, "name": "7777e002-7777-4777-8777-77777777e002", "principalType": "ServicePrincipal"})
# The other two built-ins the guard assigns, Audit only: az policy assignment create reads each.
for g, n in (("14961b63-a1eb-4378-8725-7e84ca8db0e6", "DICOM Service should use a customer-managed key to encrypt data at rest"),
             ("4d080fa5-a6d2-4f98-ba9c-f482d0d335c0", "Azure Health Bots should use customer-managed keys to encrypt data at rest")):
    d["resources"].append({"id": "/providers/Microsoft.Authorization/policyDefinitions/" + g, "type": "Microsoft.Authorization/policyDefinitions", "name": g,
      "properties": {"displayName": n, "policyType": "BuiltIn", "parameters": {"effect": {"type": "String", "defaultValue": "Audit"}},
                     "policyRule": {"if": {"field": "type", "equals": "Microsoft.Resources/none"}, "then": {"effect": "[parameters('effect')]"}}}})
json.dump(d, open(sys.argv[2], "w"))
PY
sim_start "$work/scen.json"
sub=66666666-6666-4666-8666-666666666666

# realaz ARGS...: the real Azure CLI through the simulator's proxy, trusting its CA.
realaz() {
	env -u AZURE_CLIENT_ID -u AZURE_CLIENT_SECRET -u AZURE_TENANT_ID AZURE_CONFIG_DIR="$work/${azdir:-az}" \
		REQUESTS_CA_BUNDLE="$work/ca.pem" AZURE_CORE_COLLECT_TELEMETRY=false AZURE_CORE_SURVEY_MESSAGE=false \
		AZURE_CORE_ERROR_RECOMMENDATION=off AZURE_EXTENSION_USE_DYNAMIC_INSTALL=no AZURE_CORE_NO_COLOR=true \
		AZURE_CORE_ONLY_SHOW_ERRORS=true PYTHONPATH="$pyshim" "$realaz" "$@"
}
if ! realaz login --service-principal -u "$AZURE_CLIENT_ID" -p "$AZURE_CLIENT_SECRET" --tenant "$AZURE_TENANT_ID" \
	>"$work/login" 2>&1; then
	echo "skip: az cannot sign in to the simulator (its packaging?): $(head -c 300 "$work/login")"
	exit 77
fi

# a. One plan, exported as a resource group template, deployed with az; azcmk check then finds its key.
az plan oai-cmk-test --vault kv-cmk-test --create-key cmk-oai-deployed --confirm-irreversible --format arm \
	>"$work/plan.json" 2>"$work/plan.err" || bad "plan --format arm: $(cat "$work/plan.err")"
expect "a plan's template deploys with az deployment group create" 0 '"provisioningState": "Succeeded"' -- \
	realaz deployment group create -g rg-cmk-test -n plan-oai --template-file "$work/plan.json" -o json
check "the deployment saved the new key on the account (its outputResources name the save)" \
	'any("azcmk-save-" in r["id"] for r in d["properties"]["outputResources"])' "$work/out"
expect "azcmk check: oai-cmk-test now has its customer-managed key" 0 "key: https://kv-cmk-test.vault.azure.net/keys/cmk-oai-deployed/" -- \
	az check oai-cmk-test
simget /state >"$work/state.json"
check "the role assignment was made through the simulator's role logic, for the account's identity" \
	'any(a["scope"].lower().endswith("/keys/cmk-oai-deployed") and a["principalId"] == "6666a003-6666-4666-8666-66666666a003" for a in d["roleAssignments"])' \
	"$work/state.json"
expect "az deployment group show reads the deployment back" 0 '"name": "plan-oai"' -- \
	realaz deployment group show -g rg-cmk-test -n plan-oai -o json
expect "az deployment operation group list lists what it did" 0 "Microsoft.KeyVault/vaults/keys" -- \
	realaz deployment operation group list -g rg-cmk-test -n plan-oai -o json

# b. The fleet: fix --all as a subscription template, deployed with az; the audit then finds them clean.
az audit >/dev/null 2>&1
az fix --all --format arm --confirm-irreversible >"$work/fleet.json" 2>"$work/fleet.err" ||
	bad "fix --all --format arm: $(cat "$work/fleet.err")"
expect "the fleet's template deploys with az deployment sub create" 0 '"provisioningState": "Succeeded"' -- \
	realaz deployment sub create -l westus3 -n fleet --template-file "$work/fleet.json" -o json
az audit -o json >"$work/audit.json" 2>"$work/audit.err"
check "azcmk audit: every resource is now on a customer-managed key" \
	'not [f for f in d["findings"] if f["rule"] == "resource.cmk"]' "$work/audit.json"

# d. The guard's az script, run with the real az (test-guard.sh runs it with a stand-in that records).
mkdir -p "$work/bin"
{
	echo '#!/bin/sh'
	echo 'unset AZURE_CLIENT_ID AZURE_CLIENT_SECRET AZURE_TENANT_ID'
	echo "export AZURE_CONFIG_DIR='$work/az' REQUESTS_CA_BUNDLE='$work/ca.pem' PYTHONPATH='$pyshim'"
	echo 'export AZURE_CORE_COLLECT_TELEMETRY=false AZURE_CORE_ONLY_SHOW_ERRORS=true AZURE_CORE_NO_COLOR=true'
	echo "exec '$realaz' \"\$@\""
} >"$work/bin/az"
chmod +x "$work/bin/az"
"$azcmk" guard --format az >"$work/guard.sh" 2>/dev/null
expect "the guard's az script runs with the real az" 0 "" -- env PATH="$work/bin:$PATH" sh "$work/guard.sh"
simget /state >"$work/state.json"
check "it assigned the three built-ins at the current subscription, effect Audit" \
	'sorted((r["name"], r["properties"]["policyDefinitionId"].rsplit("/", 1)[1], r["properties"]["parameters"]["effect"]["value"]) for r in d["resources"] if r["type"] == "Microsoft.Authorization/policyAssignments") == [("azcmk-cmk-cognitive", "'$COG'", "Audit"), ("azcmk-cmk-dicom", "14961b63-a1eb-4378-8725-7e84ca8db0e6", "Audit"), ("azcmk-cmk-healthbot", "4d080fa5-a6d2-4f98-ba9c-f482d0d335c0", "Audit")]' \
	"$work/state.json"

# c. The guard's assignments, as a subscription template with --deny (replacing the script's).
"$azcmk" guard --deny --format arm >"$work/guard.json" 2>/dev/null
expect "the guard's template deploys with az deployment sub create" 0 '"provisioningState": "Succeeded"' -- \
	realaz deployment sub create -l westus3 -n guard --template-file "$work/guard.json" -o json
simget /state >"$work/state.json"
check "the simulator holds the three policy assignments at the subscription, each Deny" \
	'sorted((r["name"], r["properties"]["parameters"]["effect"]["value"]) for r in d["resources"] if r["type"] == "Microsoft.Authorization/policyAssignments" and r["properties"]["scope"] == "/subscriptions/'$sub'") == [("azcmk-cmk-cognitive", "Deny"), ("azcmk-cmk-dicom", "Deny"), ("azcmk-cmk-healthbot", "Deny")]' \
	"$work/state.json"
# DICOM and Health Bot's built-ins allow no Deny: the template defined guard's custom definitions at the
# subscription (policyType Custom, mode Indexed), and their assignments name them.
check "the custom definitions for DICOM and Health Bot are at the subscription, Custom and Indexed" \
	'sorted((r["name"], r["properties"]["policyType"], r["properties"]["mode"]) for r in d["resources"] if r["type"] == "Microsoft.Authorization/policyDefinitions" and r["id"].startswith("/subscriptions/'$sub'/")) == [("azcmk-cmk-dicom-deny", "Custom", "Indexed"), ("azcmk-cmk-healthbot-deny", "Custom", "Indexed")]' \
	"$work/state.json"
check "ARM stored the rule's effect unescaped, and the assignments name the custom definitions" \
	'all(r["properties"]["policyRule"]["then"]["effect"] == "[parameters(\x27effect\x27)]" for r in d["resources"] if r["name"].endswith("-deny")) and {r["name"]: r["properties"]["policyDefinitionId"] for r in d["resources"] if r["type"] == "Microsoft.Authorization/policyAssignments" and r["properties"]["scope"] == "/subscriptions/'$sub'"}["azcmk-cmk-dicom"] == "/subscriptions/'$sub'/providers/Microsoft.Authorization/policyDefinitions/azcmk-cmk-dicom-deny"' \
	"$work/state.json"
cat >"$work/oai.json" <<'JSON'
{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
 "resources": [{"type": "Microsoft.CognitiveServices/accounts", "apiVersion": "2025-06-01", "name": "oai-no-cmk",
   "location": "[resourceGroup().location]", "kind": "OpenAI", "sku": {"name": "S0"}, "properties": {}}]}
JSON
expect "with --deny, a later account without a customer-managed key is refused by policy" 1 "RequestDisallowedByPolicy" -- \
	realaz deployment group create -g rg-cmk-test -n no-cmk --template-file "$work/oai.json" -o json
grep -q "DeploymentFailed" "$work/out" && ok "the refusal is the deployment's DeploymentFailed" ||
	bad "policy refusal shape: $(head -c 400 "$work/out")"
# A new DICOM service without a customer-managed key is refused through the custom definition; one with
# the key the fleet gave dicom-test (its identity and key URL) is allowed; a Health Bot without one is refused.
python3 - "$work/state.json" "$work" "$sub" <<'PY'
import json, sys
d, out = json.load(open(sys.argv[1])), sys.argv[2]
dicom = [r for r in d["resources"] if r["id"].endswith("/dicomservices/dicom-test")][0]
def template(typ, name, props, identity, extra):
    res = dict({"type": typ, "apiVersion": "2024-03-31" if "Healthcare" in typ else "2024-02-01", "name": name,
                "location": "[resourceGroup().location]", "properties": props}, **extra)
    if identity:
        res["identity"] = identity
    return {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
            "contentVersion": "1.0.0.0", "resources": [res]}
dt = "Microsoft.HealthcareApis/workspaces/dicomservices"
json.dump(template(dt, "cmktestws/dicomnocmk", {}, None, {}), open(out + "/dicom-no.json", "w"))
json.dump(template(dt, "cmktestws/dicomempty", {"encryption": {"customerManagedKeyEncryption": {"keyEncryptionKeyUrl": ""}}}, None, {}),
          open(out + "/dicom-empty.json", "w"))
# With a key: the user-assigned identity id-cmk-test, given Key Vault Crypto Service Encryption User on the
# vault by the same template, and the key the fleet gave dicom-test.
uai = "/subscriptions/%s/resourceGroups/rg-cmk-test/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-cmk-test" % sys.argv[3]
cmk = template(dt, "cmktestws/dicomcmk", {"encryption": dicom["properties"]["encryption"]},
               {"type": "UserAssigned", "userAssignedIdentities": {uai: {}}}, {})
cmk["resources"].insert(0, {"type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01",
    "name": "7777f001-7777-4777-8777-77777777f001", "scope": "Microsoft.KeyVault/vaults/kv-cmk-test",
    "properties": {"roleDefinitionId": "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'e147488a-f6f5-4113-8e2d-b22465e65bf6')]",
                   "principalId": "6666b001-6666-4666-8666-66666666b001", "principalType": "ServicePrincipal"}})
cmk["resources"][1]["dependsOn"] = ["7777f001-7777-4777-8777-77777777f001"]
json.dump(cmk, open(out + "/dicom-cmk.json", "w"))
json.dump(template("Microsoft.HealthBot/healthBots", "hb-no-cmk", {}, None, {"sku": {"name": "F0"}}), open(out + "/bot-no.json", "w"))
json.dump(template("Microsoft.HealthBot/healthBots", "hb-empty-cmk", {"keyVaultProperties": {"keyVaultUri": ""}}, None,
                   {"sku": {"name": "F0"}}), open(out + "/bot-empty.json", "w"))
PY
expect "with --deny, a new DICOM service without a customer-managed key is refused by policy" 1 \
	"RequestDisallowedByPolicy" -- \
	realaz deployment group create -g rg-cmk-test -n dicom-no --template-file "$work/dicom-no.json" -o json
grep -q "policyAssignments/azcmk-cmk-dicom" "$work/out" && grep -q "azcmk-cmk-dicom-deny" "$work/out" &&
	ok "the refusal names guard's DICOM assignment and its custom definition" ||
	bad "the DICOM refusal names neither: $(head -c 600 "$work/out")"
expect "an empty key URL is refused too (the built-in's second condition)" 1 "RequestDisallowedByPolicy" -- \
	realaz deployment group create -g rg-cmk-test -n dicom-empty --template-file "$work/dicom-empty.json" -o json
expect "a new DICOM service with a customer-managed key is allowed" 0 '"provisioningState": "Succeeded"' -- \
	realaz deployment group create -g rg-cmk-test -n dicom-cmk --template-file "$work/dicom-cmk.json" -o json
expect "with --deny, a new Health Bot without a customer-managed key is refused by policy" 1 \
	"RequestDisallowedByPolicy" -- \
	realaz deployment group create -g rg-cmk-test -n bot-no --template-file "$work/bot-no.json" -o json
expect "a Health Bot with an empty key vault URI is refused too (guard widens Microsoft's condition)" 1 \
	"RequestDisallowedByPolicy" -- \
	realaz deployment group create -g rg-cmk-test -n bot-empty --template-file "$work/bot-empty.json" -o json
simget /state >"$work/state.json"
check "only the DICOM service with a customer-managed key was made" \
	'sorted(r["id"].rsplit("/", 1)[1] for r in d["resources"] if r["type"] in ("Microsoft.HealthcareApis/workspaces/dicomservices", "Microsoft.HealthBot/healthBots")) == ["dicom-test", "dicomcmk", "hb-cmk-test"]' \
	"$work/state.json"

# The guard at a management group: az deployment mg create.
"$azcmk" guard --management-group contoso-prod --deny --format arm >"$work/guard-mg.json" 2>/dev/null
expect "the guard's management group template deploys with az deployment mg create" 0 '"provisioningState": "Succeeded"' -- \
	realaz deployment mg create --management-group-id contoso-prod -l westus3 -n guard-mg \
	--template-file "$work/guard-mg.json" -o json
simget /state >"$work/state.json"
check "the simulator holds the three assignments at the management group" \
	'len([r for r in d["resources"] if r["type"] == "Microsoft.Authorization/policyAssignments" and r["properties"]["scope"] == "/providers/Microsoft.Management/managementGroups/contoso-prod"]) == 3' \
	"$work/state.json"
check "the management group holds guard's two custom definitions, and its DICOM assignment names the one there" \
	'sorted(r["name"] for r in d["resources"] if r["type"] == "Microsoft.Authorization/policyDefinitions" and r["id"].startswith("/providers/Microsoft.Management/managementGroups/contoso-prod/")) == ["azcmk-cmk-dicom-deny", "azcmk-cmk-healthbot-deny"] and [r["properties"]["policyDefinitionId"] for r in d["resources"] if r["id"] == "/providers/Microsoft.Management/managementGroups/contoso-prod/providers/Microsoft.Authorization/policyAssignments/azcmk-cmk-dicom"] == ["/providers/Microsoft.Management/managementGroups/contoso-prod/providers/Microsoft.Authorization/policyDefinitions/azcmk-cmk-dicom-deny"]' \
	"$work/state.json"
# The management group's Deny holds on its own, once the subscription's assignment is gone.
realaz policy assignment delete --name azcmk-cmk-cognitive --scope "/subscriptions/$sub" >"$work/out" 2>&1 ||
	bad "az policy assignment delete: $(head -c 400 "$work/out")"
expect "with the guard's --deny at the management group, an account without a customer-managed key is refused" 1 \
	"RequestDisallowedByPolicy" -- \
	realaz deployment group create -g rg-cmk-test -n no-cmk-mg --template-file "$work/oai.json" -o json
grep -q "managementGroups/contoso-prod/providers/Microsoft.Authorization/policyAssignments/azcmk-cmk-cognitive" \
	"$work/out" && ok "the refusal names the management group's assignment" ||
	bad "the refusal does not name the management group's assignment: $(head -c 600 "$work/out")"

# The --deny az script with the real az. At the management group, for DICOM, once the template's definition
# and the subscription's assignment are gone: az policy definition create --management-group, then az policy
# assignment create, which reads the definition there by its id.
realaz policy assignment delete --name azcmk-cmk-dicom --scope "/subscriptions/$sub" >"$work/out" 2>&1 &&
	realaz policy assignment delete --name azcmk-cmk-dicom \
		--scope /providers/Microsoft.Management/managementGroups/contoso-prod >>"$work/out" 2>&1 &&
	realaz policy definition delete --name azcmk-cmk-dicom-deny --management-group contoso-prod >>"$work/out" 2>&1 ||
	bad "removing the DICOM assignments and definition: $(head -c 400 "$work/out")"
expect "with the DICOM guard gone, a DICOM service without a customer-managed key is allowed" 0 \
	'"provisioningState": "Succeeded"' -- \
	realaz deployment group create -g rg-cmk-test -n dicom-free --template-file "$work/dicom-no.json" -o json
"$azcmk" guard --deny --format az --service dicom --management-group contoso-prod >"$work/guard-mg.sh" 2>/dev/null
expect "the guard's --deny az script for DICOM runs with the real az at the management group" 0 "" -- \
	env PATH="$work/bin:$PATH" sh "$work/guard-mg.sh"
simget /state >"$work/state.json"
check "it defined azcmk-cmk-dicom-deny at the management group and assigned it there with Deny" \
	'[(r["properties"]["policyDefinitionId"], r["properties"]["parameters"]["effect"]["value"]) for r in d["resources"] if r["id"] == "/providers/Microsoft.Management/managementGroups/contoso-prod/providers/Microsoft.Authorization/policyAssignments/azcmk-cmk-dicom"] == [("/providers/Microsoft.Management/managementGroups/contoso-prod/providers/Microsoft.Authorization/policyDefinitions/azcmk-cmk-dicom-deny", "Deny")] and [r["properties"]["policyType"] for r in d["resources"] if r["id"] == "/providers/Microsoft.Management/managementGroups/contoso-prod/providers/Microsoft.Authorization/policyDefinitions/azcmk-cmk-dicom-deny"] == ["Custom"]' \
	"$work/state.json"
expect "then a change to a DICOM service without a customer-managed key is refused by policy" 1 \
	"RequestDisallowedByPolicy" -- \
	realaz deployment group create -g rg-cmk-test -n dicom-no-mg --template-file "$work/dicom-no.json" -o json
grep -q "managementGroups/contoso-prod/providers/Microsoft.Authorization/policyAssignments/azcmk-cmk-dicom" \
	"$work/out" && ok "the refusal names the management group's DICOM assignment" ||
	bad "the DICOM refusal does not name the management group's assignment: $(head -c 600 "$work/out")"
# At the current subscription, for Health Bot: az policy definition create --subscription, then the
# assignment by the definition's id below /subscriptions/.
realaz policy assignment delete --name azcmk-cmk-healthbot --scope "/subscriptions/$sub" >"$work/out" 2>&1 &&
	realaz policy definition delete --name azcmk-cmk-healthbot-deny >>"$work/out" 2>&1 ||
	bad "removing the Health Bot assignment and definition: $(head -c 400 "$work/out")"
"$azcmk" guard --deny --format az --service healthbot >"$work/guard-bot.sh" 2>/dev/null
expect "the guard's --deny az script for Health Bot runs with the real az at the current subscription" 0 "" -- \
	env PATH="$work/bin:$PATH" sh "$work/guard-bot.sh"
simget /state >"$work/state.json"
check "it defined azcmk-cmk-healthbot-deny at the subscription and assigned it there with Deny" \
	'[(r["properties"]["policyDefinitionId"], r["properties"]["parameters"]["effect"]["value"]) for r in d["resources"] if r["id"] == "/subscriptions/'$sub'/providers/Microsoft.Authorization/policyAssignments/azcmk-cmk-healthbot"] == [("/subscriptions/'$sub'/providers/Microsoft.Authorization/policyDefinitions/azcmk-cmk-healthbot-deny", "Deny")]' \
	"$work/state.json"

# e. Failures: an unknown function changes nothing; a resource the caller may not write fails the deployment.
cat >"$work/bad.json" <<'JSON'
{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
 "resources": [{"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2023-01-31", "name": "id-first", "location": "westus3"},
   {"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2023-01-31", "name": "[concat('id-', utcNow())]", "location": "westus3"}]}
JSON
expect "a function the simulator does not know: InvalidTemplate, naming it" 1 "InvalidTemplate.*utcNow" -- \
	realaz deployment group create -g rg-cmk-test -n bad --template-file "$work/bad.json"
simget /state >"$work/state.json"
check "and nothing was deployed, not even the valid resource before it" \
	'not [r for r in d["resources"] if r["name"] == "id-first"]' "$work/state.json"
cat >"$work/ro.json" <<JSON
{"\$schema": "https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#", "contentVersion": "1.0.0.0",
 "resources": [{"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "into-ro",
   "subscriptionId": "$RO", "resourceGroup": "rg-ro",
   "properties": {"mode": "Incremental", "expressionEvaluationOptions": {"scope": "inner"},
     "template": {"\$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
       "resources": [{"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2023-01-31", "name": "id-ro", "location": "westus3"}]}}}]}
JSON
expect "a resource group the caller may only read: az fails with DeploymentFailed" 1 "DeploymentFailed" -- \
	realaz deployment sub create -l westus3 -n ro --template-file "$work/ro.json"
grep -q "AuthorizationFailed" "$work/out" && ok "its details hold the inner AuthorizationFailed" ||
	bad "inner error: $(head -c 400 "$work/out")"
expect "the failed deployment reads back as Failed" 0 '"provisioningState": "Failed"' -- \
	realaz deployment sub show -n ro -o json
# Custom policy definitions the simulator refuses, as ARM does: a rule without its effect, an effect that
# names an undefined parameter, one below a subscription, and a built-in.
defurl=https://management.azure.com/subscriptions/$sub/providers/Microsoft.Authorization/policyDefinitions
expect "a custom definition whose rule has no effect: InvalidPolicyRule" 1 "InvalidPolicyRule" -- \
	realaz rest --method put --url "$defurl/no-effect?api-version=2023-04-01" \
	--body '{"properties": {"mode": "Indexed", "policyRule": {"if": {"field": "type", "equals": "x/y"}, "then": {}}}}'
expect "an effect naming an undefined parameter: UndefinedPolicyParameter" 1 "UndefinedPolicyParameter" -- \
	realaz rest --method put --url "$defurl/no-param?api-version=2023-04-01" \
	--body '{"properties": {"mode": "Indexed", "policyRule": {"if": {"field": "type", "equals": "x/y"}, "then": {"effect": "[parameters('"'effect'"')]"}}}}'
expect "a definition below a subscription is refused" 1 "MethodNotAllowed" -- \
	realaz rest --method put \
	--url "https://management.azure.com/subscriptions/$sub/resourceGroups/rg-cmk-test/providers/Microsoft.Authorization/policyDefinitions/in-rg?api-version=2023-04-01" \
	--body '{"properties": {"policyRule": {"if": {"field": "type", "equals": "x/y"}, "then": {"effect": "deny"}}}}'
expect "a built-in is not written" 1 "MethodNotAllowed" -- \
	realaz rest --method put --url "https://management.azure.com/providers/Microsoft.Authorization/policyDefinitions/$COG?api-version=2023-04-01" \
	--body '{"properties": {"policyRule": {"if": {"field": "type", "equals": "x/y"}, "then": {"effect": "deny"}}}}'
simget /state >"$work/state.json"
check "none of them was stored" \
	'not [r for r in d["resources"] if r["name"] in ("no-effect", "no-param", "in-rg")] and [r["properties"]["policyType"] for r in d["resources"] if r["name"] == "'$COG'"] == ["BuiltIn"]' \
	"$work/state.json"
expect "Complete mode is refused, saying so" 1 "Incremental" -- \
	realaz deployment group create -g rg-cmk-test -n complete --mode Complete --template-file "$work/oai.json"

# A deployment is a long-running operation: with lroPolls 2 it stays Running for two polls, and az waits for
# it, polling its Azure-AsyncOperation at once (Retry-After 0), then reads the outcome (lroSeconds is long: only
# the polls end it).
kill "$simpid" && wait "$simpid" 2>/dev/null
rm -f "$work/ports.json"
python3 -c 'import json, sys
d = json.load(open(sys.argv[1])); d["settings"].update(lroPolls=2, lroSeconds=3600, retryAfterSeconds=0)
json.dump(d, open(sys.argv[2], "w"))' "$work/scen.json" "$work/scen-lro.json"
sim_start "$work/scen-lro.json"
azdir=az-lro
realaz login --service-principal -u "$AZURE_CLIENT_ID" -p "$AZURE_CLIENT_SECRET" --tenant "$AZURE_TENANT_ID" >/dev/null 2>&1
expect "with lroPolls 2, az waits for the deployment and reads it Succeeded" 0 '"provisioningState": "Succeeded"' -- \
	realaz deployment group create -g rg-cmk-test -n slow --template-file "$work/plan.json" -o json
simget /log >"$work/log.json"
check "az polled the deployment's operation until it ended (InProgress twice, then Succeeded)" \
	'len([e for e in d["value"] if "/deployments/slow/operationStatuses/" in e["path"]]) >= 3' \
	"$work/log.json"

# f. A fleet across two resource groups, with the vaults it creates: the tenant without a vault (Azure OpenAI in
# eastus), its Health Bot and Azure OpenAI account moved to a second group, rg-cmk-two. fix --all --create-vault
# exports one subscription template; az deploys it, and azcmk then finds every resource protected.
kill "$simpid" && wait "$simpid" 2>/dev/null
rm -f "$work/ports.json"
python3 "$top_srcdir/tests/sim/gen-no-vault-tenant.py" "$top_srcdir/tests/scenarios/minimal.json" "$work/scen-novault.json"
python3 - "$work/scen-novault.json" "$work/scen-two.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
one = "/resourceGroups/rg-cmk-test/"
for r in d["resources"]:
    if r["name"] in ("hb-cmk-test", "oai-cmk-test"):
        r["id"] = r["id"].replace(one, "/resourceGroups/rg-cmk-two/")
sub = d["subscriptions"][0]["subscriptionId"]
d["resources"].append({"id": "/subscriptions/%s/resourceGroups/rg-cmk-two" % sub, "type": "Microsoft.Resources/resourceGroups",
                       "name": "rg-cmk-two", "location": "westus3", "properties": {"provisioningState": "Succeeded"}})
json.dump(d, open(sys.argv[2], "w"))
PY
sim_start "$work/scen-two.json"
azdir=az-two
realaz login --service-principal -u "$AZURE_CLIENT_ID" -p "$AZURE_CLIENT_SECRET" --tenant "$AZURE_TENANT_ID" >/dev/null 2>&1
az audit -o json >"$work/audit-before.json" 2>/dev/null
check "before: azcmk audit finds the four resources, two in each group, without a customer-managed key" \
	'sorted(f["resourceId"].split("/resourceGroups/")[1].split("/")[0] for f in d["findings"] if f["rule"] == "resource.cmk") == ["rg-cmk-test", "rg-cmk-test", "rg-cmk-two", "rg-cmk-two"]' \
	"$work/audit-before.json"
az fix --all --format arm --create-vault westus3=kv-two-west --create-vault eastus=kv-two-east --vault-group rg-cmk-test \
	--confirm-irreversible >"$work/fleet-two.json" 2>"$work/fleet-two.err" ||
	bad "fix --all --format arm --create-vault across two groups: $(head -c 400 "$work/fleet-two.err")"
python3 - "$work/fleet-two.json" >"$work/fleet-two.txt" 2>&1 <<'PY'
import json, sys
groups, vaults = set(), []
def walk(o):
    if isinstance(o, dict):
        if o.get("type") == "Microsoft.Resources/deployments" and o.get("resourceGroup"):
            groups.add(o["resourceGroup"])
        if o.get("type") == "Microsoft.KeyVault/vaults":
            vaults.append(o["name"])
        for v in o.values():
            walk(v)
    elif isinstance(o, list):
        for v in o:
            walk(v)
walk(json.load(open(sys.argv[1])))
print(" ".join(sorted(groups)), "|", " ".join(sorted(vaults)))
PY
if grep -q "rg-cmk-test rg-cmk-two | kv-two-east kv-two-west" "$work/fleet-two.txt"; then
	ok "the fleet's template deploys into both groups and creates both vaults"
else
	bad "the two-group fleet template: $(head -c 400 "$work/fleet-two.txt")"
fi
expect "the two-group fleet's template, with its vaults, deploys with az deployment sub create" 0 \
	'"provisioningState": "Succeeded"' -- \
	realaz deployment sub create -l westus3 -n fleet-two --template-file "$work/fleet-two.json" -o json
simget /state >"$work/state.json"
check "the vaults exist, with purge protection, in rg-cmk-test" \
	'sorted((r["name"], r["location"], r["properties"].get("enablePurgeProtection")) for r in d["resources"] if r["type"] == "Microsoft.KeyVault/vaults" and "/resourceGroups/rg-cmk-test/" in r["id"]) == [("kv-two-east", "eastus", True), ("kv-two-west", "westus3", True)]' \
	"$work/state.json"
az audit -o json >"$work/audit-two.json" 2>"$work/audit-two.err"
check "azcmk audit: no resource without a customer-managed key, in either group" \
	'd["findings"] is not None and not [f for f in d["findings"] if f["rule"] in ("resource.cmk", "resource.eligible", "resource.ready")]' \
	"$work/audit-two.json"
# The resources of rg-cmk-two point at a key of their region's new vault, which their identity may use. (The
# template grants the operator nothing on the new vaults, so azcmk check cannot read their keys: the state
# says what was deployed.)
check "the Health Bot and Azure OpenAI in rg-cmk-two hold keys in the west and east vaults" \
	'sorted((r["name"], (r["properties"].get("keyVaultProperties") or r["properties"].get("encryption", {}).get("keyVaultProperties", {})).get("keyVaultUri")) for r in d["resources"] if "/resourceGroups/rg-cmk-two/providers/" in r["id"]) == [("hb-cmk-test", "https://kv-two-west.vault.azure.net/"), ("oai-cmk-test", "https://kv-two-east.vault.azure.net/")]' \
	"$work/state.json"
check "each of the four identities was granted its own key, in its region's vault" \
	'sorted((a["principalId"], a["scope"].split("/vaults/")[1]) for a in d["roleAssignments"] if "/vaults/kv-two-" in a["scope"]) == [("6666a001-6666-4666-8666-66666666a001", "kv-two-west/keys/cmk-dicom-test"), ("6666a002-6666-4666-8666-66666666a002", "kv-two-west/keys/cmk-hb-cmk-test"), ("6666a003-6666-4666-8666-66666666a003", "kv-two-east/keys/cmk-oai-cmk-test"), ("6666a004-6666-4666-8666-66666666a004", "kv-two-west/keys/cmk-fdy-cmk-test")]' \
	"$work/state.json"
finish
