#!/usr/bin/env python3
"""Writes a 40-resource simulator tenant for test-fleet-scale.sh: 4 subscriptions, 2 regions, the four
services in turn, one ready RBAC vault per region in a central key subscription (the first), and three
resources no fleet can fix (hb-05 created before 2021-11-11 and oai-14 without the CustomerManagedKey
capability: not eligible; dicom-24 not ready). Every 9th resource from the 8th has no managed identity yet.
Usage: gen-fleet-tenant.py SCENARIO EXPECT; EXPECT gets {name: {"id", "region", "service"}} of every
service resource and the ids that must be skipped, by the rule that stops them."""
import json
import sys

T = "11111111-1111-4111-8111-111111111111"
OP = "0b0b0b0b-0b0b-4b0b-8b0b-0b0b0b0b0b0b"
USER = "0c0c0c0c-0c0c-4c0c-8c0c-0c0c0c0c0c0c"
OWNER, KVADMIN = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "00482a5a-887f-4fb3-b363-3b7fe8e74483"
NRES, NSUBS = 40, 4
REGIONS = ("westus3", "eastus2")
SVCS = ("dicom", "hb", "oai", "fdy")
def sub(s): p = "%04x" % (0x8100 + s); return "%s%s-%s-4%s-8%s-%s%s%s" % (p, p, p, p[1:], p[1:], p, p, p)
def guid(s, kind, n): p = "%04x" % (0x8100 + s); return "%s%s%03x-%s-4%s-8%s-%s%s%s%03x" % (p, kind, n, p, p[1:], p[1:], p, p, kind, n)
SD = lambda who, when: {"createdBy": who + "@contoso-health.example", "createdByType": "User", "createdAt": when,
    "lastModifiedBy": who + "@contoso-health.example", "lastModifiedByType": "User", "lastModifiedAt": when}
res, principals, ras = [], [{"objectId": OP, "type": "ServicePrincipal", "displayName": "azcmk-demo-operator"},
    {"objectId": USER, "type": "User", "displayName": "Dana Whitfield"}], []
def ra(scope, pid, role, s, n, ptype):
    ras.append({"scope": scope, "principalId": pid, "roleDefinitionId": role, "name": guid(s, "e", n), "principalType": ptype})
for s in range(1, NSUBS + 1):
    rg = "/subscriptions/%s/resourceGroups/rg-fleet-%d" % (sub(s), s)
    res.append({"id": rg, "type": "Microsoft.Resources/resourceGroups", "name": "rg-fleet-%d" % s, "location": REGIONS[0],
                "properties": {"provisioningState": "Succeeded"}})
    ra("/subscriptions/" + sub(s), OP, OWNER, s, 1, "ServicePrincipal")
    ra("/subscriptions/" + sub(s), USER, OWNER, s, 2, "User")
# The central key subscription (the first) holds one ready vault per region.
keys = {}
for k, region in enumerate(REGIONS):
    name = "kv-fleet-" + region
    vid = "/subscriptions/%s/resourceGroups/rg-fleet-1/providers/Microsoft.KeyVault/vaults/%s" % (sub(1), name)
    res.append({"id": vid, "type": "Microsoft.KeyVault/vaults", "name": name, "location": region, "tags": {},
        "systemData": SD("platform", "2024-02-12T09:14:00.0000000Z"),
        "properties": {"sku": {"family": "A", "name": "standard"}, "tenantId": T, "accessPolicies": [],
            "enabledForDeployment": False, "enabledForDiskEncryption": False, "enabledForTemplateDeployment": False,
            "enableSoftDelete": True, "softDeleteRetentionInDays": 90, "enableRbacAuthorization": True,
            "enablePurgeProtection": True, "vaultUri": "https://%s.vault.azure.net/" % name, "provisioningState": "Succeeded",
            "publicNetworkAccess": "Enabled", "networkAcls": {"bypass": "AzureServices", "defaultAction": "Allow",
            "ipRules": [], "virtualNetworkRules": []}}})
    keys[name] = {}
    ra(vid, OP, KVADMIN, 1, 3 + 2 * k, "ServicePrincipal")
    ra(vid, USER, KVADMIN, 1, 4 + 2 * k, "User")
workspaces = set()
SKIP = {5: "resource.eligible", 14: "resource.eligible", 24: "resource.ready"}
expect = {"resources": {}, "skip": {}}
for i in range(NRES):
    s, svc, region = i // (NRES // NSUBS) + 1, SVCS[i % 4], REGIONS[(i // 4) % 2]
    rg = "/subscriptions/%s/resourceGroups/rg-fleet-%d" % (sub(s), s)
    name = "%s-%02d" % (svc, i)
    r = {"location": region, "tags": {"fleet": "scale"}}
    state = "Updating" if i == 24 else "Succeeded"
    if svc == "dicom":
        ws = "ws%d%s" % (s, region[:4])
        if ws not in workspaces:
            workspaces.add(ws)
            res.append({"id": rg + "/providers/Microsoft.HealthcareApis/workspaces/" + ws, "type": "Microsoft.HealthcareApis/workspaces",
                "name": ws, "location": region, "properties": {"provisioningState": "Succeeded", "publicNetworkAccess": "Enabled"},
                "systemData": SD("imaging-admin", "2023-09-18T14:02:11.5530120Z")})
        host = "%s-%s.dicom.azurehealthcareapis.com" % (ws, name)
        r.update({"id": rg + "/providers/Microsoft.HealthcareApis/workspaces/%s/dicomservices/%s" % (ws, name),
            "type": "Microsoft.HealthcareApis/workspaces/dicomservices", "name": ws + "/" + name,
            "etag": "\"%08x-0000-0100-0000-%012x\"" % (0x1000 + i, i),
            "properties": {"provisioningState": state, "serviceUrl": "https://" + host,
                "authenticationConfiguration": {"authority": "https://login.microsoftonline.com/" + T,
                    "audiences": ["https://dicom.healthcareapis.azure.com", "https://" + host]},
                "corsConfiguration": {"origins": [], "headers": [], "methods": [], "allowCredentials": False},
                "publicNetworkAccess": "Enabled", "eventState": "Disabled", "enableDataPartitions": False},
            "systemData": SD("imaging-admin", "2024-01-22T10:41:09.1200000Z")})
    elif svc == "hb":
        # hb-05 was created before 2021-11-11: not eligible for a customer-managed key.
        r.update({"id": rg + "/providers/Microsoft.HealthBot/healthBots/" + name, "type": "Microsoft.HealthBot/healthBots",
            "name": name, "sku": {"name": "C0"}, "properties": {"provisioningState": state,
                "botManagementPortalLink": "https://us.healthbot.microsoft.com/account/" + name, "accessControlMethod": "BotRBAC"},
            "systemData": SD("bots-admin", "2021-06-01T09:30:00.0000000Z" if i == 5 else "2023-03-01T10:00:00.0000000Z")})
    else:
        fdy = svc == "fdy"
        caps = [{"name": "VirtualNetworks"}] + ([] if i == 14 else [{"name": "CustomerManagedKey"}]) + [
            {"name": "MaxFineTuneCount", "value": "500"}, {"name": "TrustedServices",
             "value": "Microsoft.CognitiveServices,Microsoft.MachineLearningServices,Microsoft.Search"}]
        props = {"provisioningState": state, "endpoint": "https://%s.%s/" % (name, "cognitiveservices.azure.com" if fdy else "openai.azure.com"),
            "customSubDomainName": name, "capabilities": caps, "publicNetworkAccess": "Enabled", "dateCreated": "2025-03-14T16:20:05Z"}
        if fdy:
            props["allowProjectManagement"] = True
        props["encryption"] = {"keySource": "Microsoft.CognitiveServices"}
        r.update({"id": rg + "/providers/Microsoft.CognitiveServices/accounts/" + name, "type": "Microsoft.CognitiveServices/accounts",
            "name": name, "sku": {"name": "S0"}, "kind": "AIServices" if fdy else "OpenAI",
            "etag": "\"%08x-0000-0100-0000-%012x\"" % (0x2000 + i, i), "properties": props,
            "systemData": SD("ai-platform", "2025-03-14T16:20:05.0000000Z")})
    if i % 9 != 7:  # a few have no managed identity yet: the plan enables one
        oid = guid(s, "a", i + 1)
        r["identity"] = {"type": "SystemAssigned", "principalId": oid, "tenantId": T}
        principals.append({"objectId": oid, "type": "ServicePrincipal", "displayName": r["name"]})
    res.append(r)
    expect["resources"][name] = {"id": r["id"], "region": region, "service": svc}
    if i in SKIP:
        expect["skip"][r["id"]] = SKIP[i]
json.dump({"tenantId": T, "operator": {"clientId": "0a0a0a0a-0a0a-4a0a-8a0a-0a0a0a0a0a0a", "objectId": OP,
    "clientSecret": "demo-secret", "displayName": "azcmk-demo-operator"},
    "user": {"objectId": USER, "userPrincipalName": "operator@contoso-health.example", "displayName": "Dana Whitfield"},
    "principals": principals, "subscriptions": [{"subscriptionId": sub(s), "displayName": "Contoso Fleet %d" % s}
    for s in range(1, NSUBS + 1)], "resources": res, "keys": keys, "roleAssignments": ras,
    "settings": {"latencyMs": 0, "propagationSeconds": 0, "lroPolls": 0}, "faults": []}, open(sys.argv[1], "w"), indent=1)
json.dump(expect, open(sys.argv[2], "w"), indent=1)
