#!/usr/bin/env python3
"""Generates src/core/roles.c: the built-in role definitions azcmk and the simulator know.

The five Key Vault roles come verbatim from shared/azure-api/reference-data
(Learn's built-in roles page); the others are the ARM roles an operator holds
and the Managed HSM local roles. Run: build-aux/gen-roles.py REF.json > src/core/roles.c
"""
import json, sys

KV = json.load(open(sys.argv[1]))
OTHER = [
    ("8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "Owner", "Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
     {"actions": ["*"], "notActions": [], "dataActions": [], "notDataActions": []}),
    ("b24988ac-6180-42a0-ab88-20f7382dd24c", "Contributor", "Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC.",
     {"actions": ["*"], "notActions": ["Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write", "Microsoft.Authorization/elevateAccess/Action",
      "Microsoft.Blueprint/blueprintAssignments/write", "Microsoft.Blueprint/blueprintAssignments/delete", "Microsoft.Compute/galleries/share/action",
      "Microsoft.Purview/consents/write", "Microsoft.Purview/consents/delete", "Microsoft.Resources/deploymentStacks/manageDenySetting/action",
      "Microsoft.Subscription/cancel/action", "Microsoft.Subscription/enable/action"], "dataActions": [], "notDataActions": []}),
    ("acdd72a7-3385-48ef-bd42-f606fba81ae7", "Reader", "View all resources, but does not allow you to make any changes.",
     {"actions": ["*/read"], "notActions": [], "dataActions": [], "notDataActions": []}),
    ("18d7d88d-d35e-4fb5-a5c3-7773c20a72d9", "User Access Administrator", "Lets you manage user access to Azure resources.",
     {"actions": ["*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"], "notActions": [], "dataActions": [], "notDataActions": []}),
    ("f58310d9-a9f6-439a-9e8d-f62e7b41a168", "Role Based Access Control Administrator", "Manage access to Azure resources by assigning roles using Azure RBAC.",
     {"actions": ["Microsoft.Authorization/roleAssignments/write", "Microsoft.Authorization/roleAssignments/delete", "*/read", "Microsoft.Support/*"],
      "notActions": [], "dataActions": [], "notDataActions": []}),
    ("f25e0fa2-a7c8-4377-a976-54943a77a395", "Key Vault Contributor", "Lets you manage key vaults, but not access to them.",
     {"actions": ["Microsoft.Authorization/*/read", "Microsoft.Insights/alertRules/*", "Microsoft.KeyVault/*", "Microsoft.Resources/deployments/*",
      "Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.Support/*"],
      "notActions": ["Microsoft.KeyVault/locations/deletedVaults/purge/action", "Microsoft.KeyVault/hsmPools/*", "Microsoft.KeyVault/managedHsms/*"],
      "dataActions": [], "notDataActions": []}),
    ("8b54135c-b56d-4d72-a534-26097cfdc8d8", "Key Vault Data Access Administrator", "Manage access to Azure Key Vault by adding or removing role assignments for the Key Vault roles.",
     {"actions": ["Microsoft.Authorization/roleAssignments/write", "Microsoft.Authorization/roleAssignments/delete", "Microsoft.Authorization/*/read",
      "Microsoft.Resources/deployments/*", "Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.Management/managementGroups/read",
      "Microsoft.Resources/subscriptions/read", "Microsoft.Support/*", "Microsoft.KeyVault/vaults/*/read"],
      "notActions": [], "dataActions": [], "notDataActions": []}),
    ("f1a07417-d97a-45cb-824c-7a7467783830", "Managed Identity Operator", "Read and Assign User Assigned Identity",
     {"actions": ["Microsoft.ManagedIdentity/userAssignedIdentities/*/read", "Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action",
      "Microsoft.Authorization/*/read", "Microsoft.Insights/alertRules/*", "Microsoft.Resources/subscriptions/resourceGroups/read",
      "Microsoft.Resources/deployments/*", "Microsoft.Support/*"], "notActions": [], "dataActions": [], "notDataActions": []}),
    ("33413926-3206-4cdd-b39a-83574fe37a17", "Managed HSM Crypto Service Encryption User", "Managed HSM local role: read key metadata and wrap and unwrap keys.",
     {"actions": [], "notActions": [], "dataActions": ["Microsoft.KeyVault/managedHsm/keys/read/action", "Microsoft.KeyVault/managedHsm/keys/wrap/action",
      "Microsoft.KeyVault/managedHsm/keys/unwrap/action"], "notDataActions": []}),
    ("21dbd100-6940-42c2-9190-5d6cb909625b", "Managed HSM Crypto User", "Managed HSM local role: use keys for cryptographic operations.",
     {"actions": [], "notActions": [], "dataActions": ["Microsoft.KeyVault/managedHsm/keys/read/action", "Microsoft.KeyVault/managedHsm/keys/write/action",
      "Microsoft.KeyVault/managedHsm/keys/create", "Microsoft.KeyVault/managedHsm/keys/encrypt/action", "Microsoft.KeyVault/managedHsm/keys/decrypt/action",
      "Microsoft.KeyVault/managedHsm/keys/wrap/action", "Microsoft.KeyVault/managedHsm/keys/unwrap/action", "Microsoft.KeyVault/managedHsm/keys/sign/action",
      "Microsoft.KeyVault/managedHsm/keys/verify/action"], "notDataActions": []}),
    # Crypto Officer, Administrator and Policy Administrator: the data actions of Microsoft's "Permitted
    # operations" table (learn.microsoft.com/azure/key-vault/managed-hsm/built-in-roles). Neither of the
    # first two may wrap or unwrap: the Administrator is "not permitted to perform any key management
    # operations", the Crypto Officer "not permitted to perform any other key management operations" than
    # purging, recovering and exporting keys.
    ("515eb02d-2335-4d2d-92f2-b1cbdf9c3778", "Managed HSM Crypto Officer",
     "Managed HSM local role: role management, purge or recover deleted keys, export keys.",
     {"actions": [], "notActions": [], "dataActions": [
         "Microsoft.KeyVault/managedHsm/keys/deletedKeys/read/action", "Microsoft.KeyVault/managedHsm/keys/deletedKeys/recover/action",
         "Microsoft.KeyVault/managedHsm/keys/deletedKeys/delete", "Microsoft.KeyVault/managedHsm/keys/export/action",
         "Microsoft.KeyVault/managedHsm/roleAssignments/read/action", "Microsoft.KeyVault/managedHsm/roleAssignments/write/action",
         "Microsoft.KeyVault/managedHsm/roleAssignments/delete/action", "Microsoft.KeyVault/managedHsm/roleDefinitions/read/action",
         "Microsoft.KeyVault/managedHsm/roleDefinitions/write/action", "Microsoft.KeyVault/managedHsm/roleDefinitions/delete/action"],
      "notDataActions": []}),
    ("a290e904-7015-4bba-90c8-60543313cdb4", "Managed HSM Administrator",
     "Managed HSM local role: security domain, full backup and restore, role management; no key management.",
     {"actions": [], "notActions": [], "dataActions": [
         "Microsoft.KeyVault/managedHsm/securitydomain/download/action", "Microsoft.KeyVault/managedHsm/securitydomain/upload/action",
         "Microsoft.KeyVault/managedHsm/securitydomain/upload/read", "Microsoft.KeyVault/managedHsm/securitydomain/transferkey/read",
         "Microsoft.KeyVault/managedHsm/roleAssignments/read/action", "Microsoft.KeyVault/managedHsm/roleAssignments/write/action",
         "Microsoft.KeyVault/managedHsm/roleAssignments/delete/action", "Microsoft.KeyVault/managedHsm/roleDefinitions/read/action",
         "Microsoft.KeyVault/managedHsm/roleDefinitions/write/action", "Microsoft.KeyVault/managedHsm/roleDefinitions/delete/action",
         "Microsoft.KeyVault/managedHsm/backup/start/action", "Microsoft.KeyVault/managedHsm/backup/status/action",
         "Microsoft.KeyVault/managedHsm/restore/start/action", "Microsoft.KeyVault/managedHsm/restore/status/action"],
      "notDataActions": []}),
    ("4bd23610-cdcf-4971-bdee-bdc562cc28e4", "Managed HSM Policy Administrator",
     "Managed HSM local role: create and delete role assignments.",
     {"actions": [], "notActions": [], "dataActions": [
         "Microsoft.KeyVault/managedHsm/roleAssignments/read/action", "Microsoft.KeyVault/managedHsm/roleAssignments/write/action",
         "Microsoft.KeyVault/managedHsm/roleAssignments/delete/action", "Microsoft.KeyVault/managedHsm/roleDefinitions/read/action",
         "Microsoft.KeyVault/managedHsm/roleDefinitions/write/action", "Microsoft.KeyVault/managedHsm/roleDefinitions/delete/action"],
      "notDataActions": []}),
]

roles = []
for r in KV:
    roles.append({"id": r["id"], "name": r["name"], "type": "Microsoft.Authorization/roleDefinitions",
                  "properties": {"roleName": r["roleName"], "type": "BuiltInRole", "description": r["description"],
                                 "assignableScopes": r["assignableScopes"], "permissions": r["permissions"]}})
for guid, name, desc, perm in OTHER:
    roles.append({"id": "/providers/Microsoft.Authorization/roleDefinitions/" + guid, "name": guid,
                  "type": "Microsoft.Authorization/roleDefinitions",
                  "properties": {"roleName": name, "type": "BuiltInRole", "description": desc,
                                 "assignableScopes": ["/"], "permissions": [perm]}})
text = json.dumps(roles, separators=(",", ":"))
print("/* Built-in Azure role definitions azcmk and the simulator know (generated by build-aux/gen-roles.py). */")
print('#include "config.h"\n\n#include <json-c/json.h>\n\n#include "roles.h"\n')
print("/* The definitions as ARM returns them, one JSON array. */")
print("static const char ROLES[] =")
for i in range(0, len(text), 100):
    chunk = text[i:i+100].replace("\\", "\\\\").replace('"', '\\"')
    print('\t"' + chunk + '"')
print(";\n")
print("/* Returns a new array of the built-in role definitions. */")
print("struct json_object *roles_builtin(void)\n{\n\treturn json_tokener_parse(ROLES);\n}")
