#!/usr/bin/env python3
"""Writes the tenant of tests/sim/test-create-vault.sh and the wizard's new-vault test: the minimal tenant
without its vault, its keys and the grants on it; Azure OpenAI moved to eastus (it needs a vault in its own
region); the operator (an Owner) has no data-plane access it is not granted; and someone else's vault, in a
subscription the operator cannot see, whose name is taken in Azure.

usage: gen-no-vault-tenant.py MINIMAL.json OUT.json"""
import json
import sys

TAKEN_SUB = "77777777-7777-4777-8777-777777777777"


def main(src, out):
    d = json.load(open(src))
    d["resources"] = [r for r in d["resources"] if r["type"] != "Microsoft.KeyVault/vaults"]
    for r in d["resources"]:
        if r["name"] == "oai-cmk-test":
            r["location"] = "eastus"
    d["keys"] = {}
    d["roleAssignments"] = [a for a in d["roleAssignments"] if "/vaults/" not in a["scope"]]
    d["settings"]["operatorDataPlane"] = "enforced"
    d["subscriptions"].append({"subscriptionId": TAKEN_SUB, "displayName": "Not yours"})
    group = "/subscriptions/%s/resourceGroups/rg-x" % TAKEN_SUB
    d["resources"].append({"id": group, "type": "Microsoft.Resources/resourceGroups", "name": "rg-x",
                           "location": "westus3", "properties": {"provisioningState": "Succeeded"}})
    d["resources"].append({"id": group + "/providers/Microsoft.KeyVault/vaults/kv-taken",
                           "type": "Microsoft.KeyVault/vaults", "name": "kv-taken", "location": "westus3",
                           "properties": {"tenantId": d["tenantId"], "sku": {"family": "A", "name": "standard"},
                                          "enableRbacAuthorization": True,
                                          "vaultUri": "https://kv-taken.vault.azure.net/"}})
    json.dump(d, open(out, "w"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
