/* Unit tests for the scenario schema: a valid base scenario, one mutation per
 * row, the expected JSON path. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jx.h"
#include "scenario.h"
#include "xalloc.h"

#define TENANT "11111111-1111-4111-8111-111111111111"
#define SUB "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
#define SUB_UP "AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE"
#define OTHER_SUB "99999999-9999-4999-8999-999999999999"
#define OP_APP "33333333-3333-4333-8333-333333333333"
#define OP_OBJ "44444444-4444-4444-8444-444444444444"
#define UUID1 "55555555-5555-4555-8555-555555555555"
#define ROLE "e147488a-f6f5-4113-8e2d-b22465e65bf6"
#define RG "/subscriptions/" SUB "/resourceGroups/rg"
#define KV RG "/providers/Microsoft.KeyVault/vaults/kv1"
#define HSM RG "/providers/Microsoft.KeyVault/managedHSMs/hsm1"
#define VER "0123456789abcdef0123456789abcdef"
#define CERT "-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n"

/* The valid scenario every row starts from; quotes are written ' and turned
 * into " before parsing. */
static const char BASE[] =
	"{ 'tenantId': '" TENANT "',"
	"  'operator': { 'clientId': '" OP_APP "', 'objectId': '" OP_OBJ "',"
	"                'clientSecret': 's3cret', 'displayName': 'ops' },"
	"  'user': { 'objectId': '" UUID1
	"', 'userPrincipalName': 'ops@contoso.example' },"
	"  'managedIdentity': { 'objectId': '" UUID1 "', 'clientId': '" OP_APP
	"' },"
	"  'principals': [ { 'objectId': '" OP_OBJ
	"', 'type': 'ServicePrincipal', 'displayName': 'ops' } ],"
	"  'subscriptions': [ { 'subscriptionId': '" SUB
	"', 'displayName': 'Prod' } ],"
	"  'resources': ["
	"    { 'id': '" RG
	"', 'type': 'Microsoft.Resources/resourceGroups', 'name': 'rg',"
	"      'location': 'westus3', 'tags': null, 'managedBy': null },"
	"    { 'id': '" KV "', 'type': 'Microsoft.KeyVault/vaults', 'name': "
	"'kv1', 'location': 'westus3',"
	"      'properties': { 'enablePurgeProtection': true }, 'tags': { "
	"'env': 'prod' } },"
	"    { 'id': '" HSM
	"', 'type': 'Microsoft.KeyVault/managedHSMs', 'name': 'hsm1',"
	"      'sku': { 'name': 'Standard_B1' } } ],"
	"  'keys': { 'kv1': { 'cmk': [ { 'version': '" VER
	"', 'kty': 'RSA', 'key_size': 2048,"
	"      'key_ops': [ 'wrapKey', 'unwrapKey' ],"
	"      'attributes': { 'enabled': true, 'created': 1700000000 } } ] } "
	"},"
	"  'roleAssignments': [ { 'scope': '/subscriptions/" SUB
	"', 'principalId': '" OP_OBJ "',"
	"      'roleDefinitionId': '" ROLE "' } ],"
	"  'settings': { 'latencyMs': 0, 'propagationSeconds': 0 },"
	"  'faults': [ { 'method': 'PUT', 'path': '*/roleAssignments/*', "
	"'status': 429,"
	"      'retryAfter': 1, 'times': 2 } ] }";

/*
 * One case. A patch is a JSON merge patch (RFC 7386) with two additions for
 * arrays: a key "name[i]" merges into element i of array "name" (null deletes
 * it), and "name[+]" appends. A doc replaces the base entirely. expect is a
 * substring of the error, starting with the JSON path, or NULL when valid.
 */
struct row {
	const char *patch;
	const char *doc;
	const char *expect;
};

#define P(patch, expect)                \
	{                               \
		(patch), NULL, (expect) \
	}
#define D(doc, expect)                \
	{                             \
		NULL, (doc), (expect) \
	}

static const struct row ROWS[] = {
	/* the document as a whole */
	P("{}", NULL),
	D("[]", "$: expected an object"),
	D("'scenario'", "$: expected an object"),
	P("{'setings': {}}", "$.setings: unknown key; did you mean settings?"),
	P("{'TenantId': '" TENANT "'}",
	  "$.TenantId: unknown key; did you mean tenantId?"),
	P("{'bogus': 1}",
	  "$.bogus: unknown key; expected one of tenantId, operator,"),
	P("{'tenantId': null}", "$.tenantId: missing; expected a UUID string"),
	P("{'tenantId': 'contoso'}", "$.tenantId: expected a UUID string"),
	P("{'tenantId': 42}", "$.tenantId: expected a UUID string"),
	/* operator */
	P("{'operator': null}", "$.operator: missing; expected an object"),
	P("{'operator': []}", "$.operator: expected an object"),
	P("{'operator': {'clientId': null}}",
	  "$.operator.clientId: missing; expected a UUID string"),
	P("{'operator': {'objectId': '4444'}}",
	  "$.operator.objectId: expected a UUID string"),
	P("{'operator': {'clientSecret': 7}}",
	  "$.operator.clientSecret: expected a string"),
	P("{'operator': {'displayName': false}}",
	  "$.operator.displayName: expected a string"),
	P("{'operator': {'certificate': 'MIIB'}}",
	  "$.operator.certificate: expected a PEM string"),
	P("{'operator': {'certificate': '" CERT "'}}", NULL),
	P("{'operator': {'clientSecert': 'x'}}",
	  "$.operator.clientSecert: unknown key; did you mean clientSecret?"),
	P("{'operator': {'federatedCredentials': [{'issuer': "
	  "'https://token.actions.githubusercontent.com',"
	  " 'subject': 'repo:contoso/app:ref:refs/heads/main', 'audiences': "
	  "['api://AzureADTokenExchange']}]}}",
	  NULL),
	P("{'operator': {'federatedCredentials': {}}}",
	  "$.operator.federatedCredentials: expected an array"),
	P("{'operator': {'federatedCredentials': [{'issuer': 'i'}]}}",
	  "$.operator.federatedCredentials[0].subject: missing; expected a "
	  "non-empty string"),
	P("{'operator': {'federatedCredentials': [{'issuer': 1, 'subject': "
	  "'s'}]}}",
	  "$.operator.federatedCredentials[0].issuer: expected a non-empty "
	  "string"),
	P("{'operator': {'federatedCredentials': [{'issuer': 'i', 'subject': "
	  "'s', 'audiences': [1]}]}}",
	  "$.operator.federatedCredentials[0].audiences[0]: expected a string"),
	P("{'operator': {'federatedCredentials': [{'issuer': 'i', 'subject': "
	  "'s', 'audiences': 'a'}]}}",
	  "$.operator.federatedCredentials[0].audiences: expected an array of "
	  "strings"),
	P("{'operator': {'federatedCredentials': [{'issuer': 'i', 'subject': "
	  "'s', 'audience': []}]}}",
	  "$.operator.federatedCredentials[0].audience: unknown key; did you "
	  "mean audiences?"),
	/* user and managed identity */
	P("{'user': {'userPrincipalName': null}}",
	  "$.user.userPrincipalName: missing"),
	P("{'user': {'userPrincipalName': ''}}",
	  "$.user.userPrincipalName: expected a non-empty string"),
	P("{'user': {'objectId': 'me'}}",
	  "$.user.objectId: expected a UUID string"),
	P("{'user': {'displayName': 1}}",
	  "$.user.displayName: expected a string"),
	P("{'user': 'ops@contoso.example'}", "$.user: expected an object"),
	P("{'managedIdentity': {'clientId': null}}",
	  "$.managedIdentity.clientId: missing"),
	P("{'managedIdentity': {'objectId': 'x'}}",
	  "$.managedIdentity.objectId: expected a UUID string"),
	P("{'managedIdentity': {'principalId': '" UUID1 "'}}",
	  "$.managedIdentity.principalId: unknown key"),
	/* principals */
	P("{'principals': {}}", "$.principals: expected an array of objects"),
	P("{'principals[+]': {'objectId': '" UUID1 "', 'type': 'Robot'}}",
	  "$.principals[1].type: expected one of ServicePrincipal, User, "
	  "Group"),
	P("{'principals[+]': {'objectId': '" UUID1
	  "', 'type': 'Group', 'appId': '" OP_APP "'}}",
	  NULL),
	P("{'principals[0]': {'objectId': null}}",
	  "$.principals[0].objectId: missing"),
	P("{'principals[0]': {'type': null}}",
	  "$.principals[0].type: missing; expected one of ServicePrincipal"),
	P("{'principals[0]': {'appId': 'app'}}",
	  "$.principals[0].appId: expected a UUID string"),
	P("{'principals[0]': {'displayName': []}}",
	  "$.principals[0].displayName: expected a string"),
	P("{'principals[0]': {'accountEnabled': true}}", NULL),
	/* subscriptions */
	P("{'subscriptions': null}",
	  "$.subscriptions: missing; expected a non-empty array"),
	P("{'subscriptions': []}",
	  "$.subscriptions: expected a non-empty array"),
	P("{'subscriptions[0]': 'sub'}",
	  "$.subscriptions[0]: expected an object"),
	P("{'subscriptions[0]': {'subscriptionId': 'sub'}}",
	  "$.subscriptions[0].subscriptionId: expected a UUID"),
	P("{'subscriptions[0]': {'displayName': null}}",
	  "$.subscriptions[0].displayName: missing"),
	P("{'subscriptions[0]': {'state': 1}}",
	  "$.subscriptions[0].state: expected a string"),
	P("{'subscriptions[0]': {'tenantId': 'x', 'state': 'Enabled'}}",
	  "$.subscriptions[0].tenantId: expected a UUID"),
	P("{'subscriptions[0]': {'subscriptionPolicies': {}, 'state': "
	  "'Enabled', 'tenantId': '" TENANT "'}}",
	  NULL),
	P("{'subscriptions[+]': {'subscriptionId': '" SUB_UP
	  "', 'displayName': 'Dup'}}",
	  "$.subscriptions[1].subscriptionId: duplicates "
	  "$.subscriptions[0].subscriptionId"),
	/* resources */
	P("{'resources': {}}", "$.resources: expected an array of objects"),
	P("{'resources[0]': 'rg'}", "$.resources[0]: expected an object"),
	P("{'resources[1]': {'id': null}}",
	  "$.resources[1].id: missing; expected a string starting with "
	  "/subscriptions/"),
	P("{'resources[1]': {'id': 'kv1'}}",
	  "$.resources[1].id: expected a string starting with /subscriptions/"),
	P("{'resources[1]': {'id': '/subscriptions/" OTHER_SUB
	  "/resourceGroups/rg'}}",
	  "$.resources[1].id: expected a string starting with /subscriptions/ "
	  "and a subscriptionId listed"),
	P("{'resources[1]': {'id': '/subscriptions/" SUB
	  "0/resourceGroups/rg'}}",
	  "$.resources[1].id: expected"),
	P("{'resources[1]': {'id': '" RG "/things/kv1'}}",
	  "$.resources[1].id: expected a resource id such as"),
	P("{'resources[1]': {'id': '" RG
	  "/providers/Microsoft.KeyVault/vaults'}}",
	  "$.resources[1].id: expected the id of one resource, not of a "
	  "collection"),
	P("{'resources[1]': {'id': '" KV "/'}}",
	  "$.resources[1].id: expected a resource id without empty segments"),
	P("{'resources[1]': {'id': '/subscriptions/" SUB
	  "//resourceGroups/rg'}}",
	  "$.resources[1].id: expected a resource"),
	P("{'resources[1]': {'id': '/SUBSCRIPTIONS/" SUB_UP
	  "/resourcegroups/rg/providers/Microsoft.KeyVault/vaults/kv1'}}",
	  NULL),
	P("{'resources[1]': {'type': 'Microsoft.KeyVault/managedHSMs'}}",
	  "$.resources[1].type: expected \"Microsoft.KeyVault/vaults\", the "
	  "type its id names"),
	P("{'resources[1]': {'type': null}}",
	  "$.resources[1].type: missing; expected a non-empty string"),
	P("{'resources[1]': {'type': 'microsoft.keyvault/VAULTS'}}", NULL),
	P("{'resources[+]': {'id': '" RG "/providers/Microsoft.HealthcareApis/"
	  "workspaces/ws1/dicomservices/d1',"
	  " 'type': 'Microsoft.HealthcareApis/workspaces/dicomservices', "
	  "'name': 'ws1/d1'}}",
	  NULL),
	P("{'resources[+]': {'id': '" RG "/providers/Microsoft.HealthcareApis/"
	  "workspaces/ws1/dicomservices/d1',"
	  " 'type': 'Microsoft.HealthcareApis/workspaces', 'name': 'ws1/d1'}}",
	  "$.resources[3].type: expected"),
	P("{'resources[+]': {'id': '" KV
	  "/providers/Microsoft.Authorization/roleAssignments/" UUID1 "',"
	  " 'type': 'Microsoft.Authorization/roleAssignments', 'name': '" UUID1
	  "'}}",
	  NULL),
	P("{'resources[+]': {'id': '/subscriptions/" SUB
	  "/providers/Microsoft.Authorization/roleDefinitions/" UUID1 "',"
	  " 'type': 'Microsoft.Authorization/roleDefinitions', 'name': '" UUID1
	  "'}}",
	  NULL),
	P("{'resources[1]': {'name': null}}",
	  "$.resources[1].name: missing; expected a non-empty string"),
	P("{'resources[1]': {'name': 5}}",
	  "$.resources[1].name: expected a non-empty string"),
	P("{'resources[1]': {'location': 5}}",
	  "$.resources[1].location: expected a string"),
	P("{'resources[1]': {'kind': {}}}",
	  "$.resources[1].kind: expected a string"),
	P("{'resources[1]': {'identity': 'SystemAssigned'}}",
	  "$.resources[1].identity: expected an object"),
	P("{'resources[1]': {'identity': {'type': 1}}}",
	  "$.resources[1].identity.type: expected a string"),
	P("{'resources[1]': {'identity': {'type': 'SystemAssigned', "
	  "'principalId': '" UUID1 "'}}}",
	  NULL),
	P("{'resources[1]': {'properties': []}}",
	  "$.resources[1].properties: expected an object"),
	P("{'resources[1]': {'systemData': []}}",
	  "$.resources[1].systemData: expected an object"),
	P("{'resources[1]': {'systemData': {'createdAt': 1700000000}}}",
	  "$.resources[1].systemData.createdAt: expected a string"),
	P("{'resources[1]': {'systemData': {'createdAt': "
	  "'2023-03-01T10:00:00Z', 'createdBy': 'ops'}}}",
	  NULL),
	P("{'resources[1]': {'tags': {'env': 1}}}",
	  "$.resources[1].tags.env: expected a string"),
	P("{'resources[1]': {'tags': {'cost-centre': 1}}}",
	  "$.resources[1].tags[\"cost-centre\"]: expected a string"),
	P("{'resources[1]': {'tags': []}}",
	  "$.resources[1].tags: expected an object of strings"),
	P("{'resources[1]': {'sku': 'standard'}}",
	  "$.resources[1].sku: expected an object"),
	P("{'resources[1]': {'etag': 'W/1', 'zones': ['1']}}", NULL),
	P("{'resources[+]': {'id': '" RG
	  "/providers/microsoft.keyvault/vaults/KV1', 'type': "
	  "'Microsoft.KeyVault/vaults',"
	  " 'name': 'KV1'}}",
	  "$.resources[3].id: duplicates $.resources[1].id"),
	/* keys */
	P("{'keys': []}", "$.keys: expected an object mapping vault or managed "
			  "HSM names to keys"),
	P("{'keys': {'kv-nine': {}}}", "$.keys[\"kv-nine\"]: expected the name "
				       "of a Microsoft.KeyVault/vaults"),
	P("{'keys': {'rg': {}}}",
	  "$.keys.rg: expected the name of a Microsoft.KeyVault/vaults"),
	P("{'keys': {'hsm1': {'hsm-key': [{'version': '" VER
	  "', 'kty': 'RSA-HSM'}]}}}",
	  NULL),
	P("{'keys': {'KV1': {'other': [{'version': '" VER
	  "', 'kty': 'EC', 'crv': 'P-256'}]}}}",
	  NULL),
	P("{'keys': {'kv1': []}}",
	  "$.keys.kv1: expected an object mapping key names"),
	P("{'keys': {'kv1': {'bad.name': [{'version': '" VER
	  "', 'kty': 'RSA'}]}}}",
	  "$.keys.kv1[\"bad.name\"]: expected a key name of 1 to 127 letters, "
	  "digits and hyphens"),
	P("{'keys': {'kv1': {'bad_name': [{'version': '" VER
	  "', 'kty': 'RSA'}]}}}",
	  "$.keys.kv1.bad_name: expected a key name"),
	P("{'keys': {'kv1': {'cmk': []}}}",
	  "$.keys.kv1.cmk: expected a non-empty array of key versions"),
	P("{'keys': {'kv1': {'cmk': {}}}}",
	  "$.keys.kv1.cmk: expected a non-empty array"),
	P("{'keys': {'kv1': {'cmk[0]': 'v1'}}}",
	  "$.keys.kv1.cmk[0]: expected an object"),
	P("{'keys': {'kv1': {'cmk[0]': {'version': null}}}}",
	  "$.keys.kv1.cmk[0].version: missing; expected 32 hexadecimal"),
	P("{'keys': {'kv1': {'cmk[0]': {'version': "
	  "'0123456789abcdef0123456789abcde'}}}}",
	  "$.keys.kv1.cmk[0].version: expected 32 hexadecimal digits"),
	P("{'keys': {'kv1': {'cmk[0]': {'version': "
	  "'0123456789abcdef0123456789abcdeg'}}}}",
	  "$.keys.kv1.cmk[0].version: expected 32 hexadecimal digits"),
	P("{'keys': {'kv1': {'cmk[0]': {'kty': 'rsa'}}}}",
	  "$.keys.kv1.cmk[0].kty: expected one of RSA, RSA-HSM, EC, EC-HSM, "
	  "oct, oct-HSM"),
	P("{'keys': {'kv1': {'cmk[0]': {'kty': null}}}}",
	  "$.keys.kv1.cmk[0].kty: missing"),
	P("{'keys': {'kv1': {'cmk[0]': {'kty': 'oct-HSM', 'key_size': 256}}}}",
	  NULL),
	P("{'keys': {'kv1': {'cmk[0]': {'key_size': 0}}}}",
	  "$.keys.kv1.cmk[0].key_size: expected an integer >= 1"),
	P("{'keys': {'kv1': {'cmk[0]': {'key_size': 2048.5}}}}",
	  "$.keys.kv1.cmk[0].key_size: expected an integer >= 1"),
	P("{'keys': {'kv1': {'cmk[0]': {'key_size': '2048'}}}}",
	  "$.keys.kv1.cmk[0].key_size: expected an integer >= 1"),
	P("{'keys': {'kv1': {'cmk[0]': {'crv': 256}}}}",
	  "$.keys.kv1.cmk[0].crv: expected a string"),
	P("{'keys': {'kv1': {'cmk[0]': {'key_ops': ['wrapKey', 'wrap']}}}}",
	  "$.keys.kv1.cmk[0].key_ops[1]: expected one of encrypt, decrypt, "
	  "sign, verify, wrapKey, unwrapKey, import, export"),
	P("{'keys': {'kv1': {'cmk[0]': {'key_ops': 'wrapKey'}}}}",
	  "$.keys.kv1.cmk[0].key_ops: expected an array"),
	P("{'keys': {'kv1': {'cmk[0]': {'key_ops': ['encrypt', 'decrypt', "
	  "'sign', 'verify', 'import', 'export']}}}}",
	  NULL),
	P("{'keys': {'kv1': {'cmk[0]': {'attributes': 'enabled'}}}}",
	  "$.keys.kv1.cmk[0].attributes: expected an object"),
	P("{'keys': {'kv1': {'cmk[0]': {'attributes': {'enabled': 'yes'}}}}}",
	  "$.keys.kv1.cmk[0].attributes.enabled: expected true or false"),
	P("{'keys': {'kv1': {'cmk[0]': {'attributes': {'created': '2023'}}}}}",
	  "$.keys.kv1.cmk[0].attributes.created: expected an integer"),
	P("{'keys': {'kv1': {'cmk[0]': {'attributes': {'updated': true}}}}}",
	  "$.keys.kv1.cmk[0].attributes.updated: expected an integer"),
	P("{'keys': {'kv1': {'cmk[0]': {'attributes': {'nbf': 1.5}}}}}",
	  "$.keys.kv1.cmk[0].attributes.nbf: expected an integer"),
	P("{'keys': {'kv1': {'cmk[0]': {'attributes': {'exp': 'never'}}}}}",
	  "$.keys.kv1.cmk[0].attributes.exp: expected an integer"),
	P("{'keys': {'kv1': {'cmk[0]': {'attributes': {'recoveryLevel': "
	  "90}}}}}",
	  "$.keys.kv1.cmk[0].attributes.recoveryLevel: expected a string"),
	P("{'keys': {'kv1': {'cmk[0]': {'attributes': {'recoverableDays': 90, "
	  "'exp': 1900000000, 'nbf': 0}}}}}",
	  NULL),
	P("{'keys': {'kv1': {'cmk[0]': {'attributes': {'expIn': 1296000}}}}}",
	  NULL),
	P("{'keys': {'kv1': {'cmk[0]': {'attributes': {'expIn': -86400}}}}}",
	  NULL),
	P("{'keys': {'kv1': {'cmk[0]': {'attributes': {'expIn': 60, "
	  "'exp': 1900000000}}}}}",
	  "$.keys.kv1.cmk[0].attributes.expIn: expected exp or expIn, not "
	  "both"),
	P("{'keys': {'kv1': {'cmk[0]': {'attributes': {'expIn': "
	  "9223372036854775807}}}}}",
	  "$.keys.kv1.cmk[0].attributes.expIn: expected seconds from now, "
	  "within 100 years either way"),
	P("{'keys': {'kv1': {'cmk[0]': {'attributes': {'expIn': '15d'}}}}}",
	  "$.keys.kv1.cmk[0].attributes.expIn: expected seconds from now, "
	  "within 100 years either way"),
	P("{'keys': {'kv1': {'cmk[0]': {'tags': {'owner': 5}}}}}",
	  "$.keys.kv1.cmk[0].tags.owner: expected a string"),
	P("{'keys': {'kv1': {'cmk[0]': {'deleted': 'no'}}}}",
	  "$.keys.kv1.cmk[0].deleted: expected true or false"),
	P("{'keys': {'kv1': {'cmk[+]': {'version': "
	  "'0123456789ABCDEF0123456789ABCDEF', 'kty': 'RSA'}}}}",
	  "$.keys.kv1.cmk[1].version: duplicates $.keys.kv1.cmk[0].version"),
	P("{'keys': {'kv1': {'cmk[+]': {'version': "
	  "'fedcba9876543210fedcba9876543210', 'kty': 'RSA', 'deleted': "
	  "true}}}}",
	  NULL),
	/* role assignments */
	P("{'roleAssignments': {}}",
	  "$.roleAssignments: expected an array of objects"),
	P("{'roleAssignments[0]': {'scope': null}}",
	  "$.roleAssignments[0].scope: missing"),
	P("{'roleAssignments[0]': {'scope': 'subscriptions/" SUB "'}}",
	  "$.roleAssignments[0].scope: expected \"/\" or a string starting "
	  "with /subscriptions/"),
	P("{'roleAssignments[0]': {'scope': '/'}}", NULL),
	P("{'roleAssignments[0]': {'scope': "
	  "'/providers/Microsoft.Management/managementGroups/mg1'}}",
	  NULL),
	P("{'roleAssignments[0]': {'principalId': 'ops'}}",
	  "$.roleAssignments[0].principalId: expected a UUID string"),
	P("{'roleAssignments[0]': {'principalId': null}}",
	  "$.roleAssignments[0].principalId: missing"),
	P("{'roleAssignments[0]': {'roleDefinitionId': '/subscriptions/" SUB
	  "/providers/Microsoft.Authorization/roleDefinitions/" ROLE "'}}",
	  NULL),
	P("{'roleAssignments[0]': {'roleDefinitionId': "
	  "'/providers/Microsoft.Authorization/roleDefinitions/Reader'}}",
	  "$.roleAssignments[0].roleDefinitionId: expected a UUID or a string "
	  "ending in /roleDefinitions/{UUID}"),
	P("{'roleAssignments[0]': {'roleDefinitionId': "
	  "'/providers/Microsoft.Authorization/roles/" ROLE "'}}",
	  "$.roleAssignments[0].roleDefinitionId: expected a UUID"),
	P("{'roleAssignments[0]': {'roleDefinitionId': null}}",
	  "$.roleAssignments[0].roleDefinitionId: missing"),
	P("{'roleAssignments[0]': {'name': 'ra1'}}",
	  "$.roleAssignments[0].name: expected a UUID string"),
	P("{'roleAssignments[0]': {'principalType': 'Robot'}}",
	  "$.roleAssignments[0].principalType: expected one of "
	  "ServicePrincipal, User, Group, ForeignGroup"),
	P("{'roleAssignments[0]': {'principalType': 'ForeignGroup', 'name': "
	  "'" UUID1 "', 'createdOn': 1700000000}}",
	  NULL),
	P("{'roleAssignments[0]': {'createdOn': '2023-03-01T10:00:00Z'}}",
	  "$.roleAssignments[0].createdOn: expected an integer"),
	/* settings */
	P("{'settings': []}", "$.settings: expected an object"),
	P("{'settings': {'latency': 5}}",
	  "$.settings.latency: unknown key; did you mean latencyMs?"),
	P("{'settings': {'verbose': true}}",
	  "$.settings.verbose: unknown key; expected one of latencyMs,"),
	P("{'settings': {'latencyMs': -1}}",
	  "$.settings.latencyMs: expected an integer >= 0"),
	P("{'settings': {'propagationSeconds': '5'}}",
	  "$.settings.propagationSeconds: expected an integer >= 0"),
	P("{'settings': {'lroPolls': -2}}",
	  "$.settings.lroPolls: expected an integer >= 0"),
	P("{'settings': {'retryAfterSeconds': 0.5}}",
	  "$.settings.retryAfterSeconds: expected an integer >= 0"),
	P("{'settings': {'lroSeconds': -1}}",
	  "$.settings.lroSeconds: expected an integer >= 0"),
	P("{'settings': {'lroSeconds': '30'}}",
	  "$.settings.lroSeconds: expected an integer >= 0"),
	P("{'settings': {'lroSeconds': 2.5}}",
	  "$.settings.lroSeconds: expected an integer >= 0"),
	P("{'settings': {'lroSecond': 3}}",
	  "$.settings.lroSecond: unknown key; did you mean lroSeconds?"),
	P("{'settings': {'tokenLifetimeSeconds': 0}}",
	  "$.settings.tokenLifetimeSeconds: expected an integer >= 1"),
	P("{'settings': {'pageSize': 0}}",
	  "$.settings.pageSize: expected an integer from 1 to 1000"),
	P("{'settings': {'pageSize': 1001}}",
	  "$.settings.pageSize: expected an integer from 1 to 1000"),
	P("{'settings': {'identityHeader': 1}}",
	  "$.settings.identityHeader: expected a string"),
	P("{'settings': {'deviceCodeFlow': 'approve'}}",
	  "$.settings.deviceCodeFlow: expected an array of device code "
	  "answers"),
	P("{'settings': {'deviceCodeFlow': ['slow_down', 'approved']}}",
	  "$.settings.deviceCodeFlow[1]: expected one of "
	  "authorization_pending, slow_down,"),
	P("{'settings': {'clientIp': 10}}",
	  "$.settings.clientIp: expected a string"),
	P("{'settings': {'latencyMs': 5, 'propagationSeconds': 2, 'lroPolls': "
	  "0, 'lroSeconds': 0, 'retryAfterSeconds': 1,"
	  " 'tokenLifetimeSeconds': 3600, 'pageSize': 1000, 'identityHeader': "
	  "'h', 'clientIp': '203.0.113.7',"
	  " 'deviceCodeFlow': ['authorization_pending', 'slow_down', "
	  "'authorization_declined', 'expired_token',"
	  " 'approve']}}",
	  NULL),
	/* faults */
	P("{'faults': {}}", "$.faults: expected an array of objects"),
	P("{'faults[0]': 429}", "$.faults[0]: expected an object"),
	P("{'faults[0]': {'retry': 1}}", "$.faults[0].retry: unknown key; "
					 "expected one of method, host, path,"),
	P("{'faults[0]': {'Status': 503}}",
	  "$.faults[0].Status: unknown key; did you mean status?"),
	P("{'faults[0]': {'method': 'FETCH'}}",
	  "$.faults[0].method: expected one of GET, HEAD, POST, PUT, PATCH,"),
	P("{'faults[0]': {'method': '*', 'host': 'management.azure.com'}}",
	  NULL),
	P("{'faults[0]': {'host': 5}}",
	  "$.faults[0].host: expected a non-empty string"),
	P("{'faults[0]': {'path': null}}",
	  "$.faults[0].path: missing; expected a non-empty string"),
	P("{'faults[0]': {'path': ''}}",
	  "$.faults[0].path: expected a non-empty string"),
	P("{'faults[0]': {'status': 600}}",
	  "$.faults[0].status: expected an integer from 100 to 599"),
	P("{'faults[0]': {'status': 99}}",
	  "$.faults[0].status: expected an integer from 100 to 599"),
	P("{'faults[0]': {'retryAfter': -1}}",
	  "$.faults[0].retryAfter: expected an integer >= 0"),
	P("{'faults[0]': {'retryAfterMs': -1}}",
	  "$.faults[0].retryAfterMs: expected an integer >= 0"),
	P("{'faults[0]': {'times': 0}}",
	  "$.faults[0].times: expected an integer >= 1"),
	P("{'faults[0]': {'latencyMs': -5}}",
	  "$.faults[0].latencyMs: expected an integer >= 0"),
	P("{'faults[0]': {'kind': 'explode'}}",
	  "$.faults[0].kind: expected one of status, reset, truncate, "
	  "malformed, latency, lroFail"),
	P("{'faults[0]': {'code': 429}}",
	  "$.faults[0].code: expected a string"),
	P("{'faults[0]': {'message': ['x']}}",
	  "$.faults[0].message: expected a string"),
	P("{'faults[0]': {'status': null, 'kind': 'status'}}",
	  "$.faults[0].status: missing; expected an integer from 100 to 599 "
	  "because kind is status"),
	P("{'faults[0]': {'kind': 'latency'}}",
	  "$.faults[0].latencyMs: missing; expected an integer >= 0 because "
	  "kind is latency"),
	P("{'faults[0]': {'status': null, 'retryAfter': null, 'times': null}}",
	  "$.faults[0]: expected at least one of status, latencyMs or kind"),
	P("{'faults[0]': {'status': null, 'latencyMs': 2000}}", NULL),
	P("{'faults[0]': {'status': null, 'kind': 'reset'}}", NULL),
	P("{'faults[0]': {'kind': 'lroFail', 'code': 'InternalServerError', "
	  "'message': 'boom', 'retryAfterMs': 10}}",
	  NULL),
	P("{'faults[+]': {'path': '/x', 'kind': 'truncate'}, 'faults[0]': "
	  "null}",
	  NULL),
};

/* Returns a copy of s with every ' turned into ". */
static char *dequote(const char *s)
{
	char *d = xstrdup(s);

	for (char *p = d; *p; p++)
		if (*p == '\'')
			*p = '"';
	return d;
}

/* Parses single-quoted JSON text, failing the test on a syntax error. */
static struct json_object *parse(const char *text)
{
	char *json = dequote(text), *err = NULL;
	struct json_object *o = jx_parse(json, strlen(json), &err);

	if (!o)
		fail_msg("bad test JSON (%s): %s", err, json);
	free(json);
	free(err);
	return o;
}

static void apply_patch(struct json_object *target, struct json_object *patch);

/* Merges one patch member into an object member, as RFC 7386 does. */
static void patch_member(struct json_object *target, const char *key,
			 struct json_object *val)
{
	struct json_object *cur = json_object_object_get(target, key);

	if (!val)
		json_object_object_del(target, key);
	else if (json_object_is_type(val, json_type_object) &&
		 json_object_is_type(cur, json_type_object))
		apply_patch(cur, val);
	else
		json_object_object_add(target, key, jx_copy(val));
}

/* Merges a patch value into array element i ("[+]" appends); null deletes the
 * element. */
static void patch_element(struct json_object *array, const char *index,
			  struct json_object *val)
{
	size_t i = (size_t)strtoul(index, NULL, 10);
	struct json_object *cur = json_object_array_get_idx(array, i);

	assert_true(json_object_is_type(array, json_type_array));
	if (*index == '+')
		json_object_array_add(array, jx_copy(val));
	else if (!val)
		json_object_array_del_idx(array, i, 1);
	else if (json_object_is_type(val, json_type_object) &&
		 json_object_is_type(cur, json_type_object))
		apply_patch(cur, val);
	else
		json_object_array_put_idx(array, i, jx_copy(val));
}

/* Applies a test patch: a merge patch where "name[i]" and "name[+]" reach into
 * arrays. */
static void apply_patch(struct json_object *target, struct json_object *patch)
{
	json_object_object_foreach(patch, key, val)
	{
		const char *bracket = strchr(key, '[');

		if (bracket) {
			char *name = xstrndup(key, (size_t)(bracket - key));

			patch_element(json_object_object_get(target, name),
				      bracket + 1, val);
			free(name);
		} else {
			patch_member(target, key, val);
		}
	}
}

/* Tells whether a message reads "$path: lowercase text" without a trailing
 * period. */
static bool well_formed(const char *msg)
{
	const char *colon = strstr(msg, ": ");
	size_t n = strlen(msg);

	return msg[0] == '$' && colon && colon[2] >= 'a' && colon[2] <= 'z' &&
	       msg[n - 1] != '.' && strchr(msg, '\n') == NULL;
}

/* Runs one row; returns true when the verdict and message match, printing the
 * difference otherwise. */
static bool run_row(size_t n, const struct row *r)
{
	struct json_object *doc = parse(r->doc ? r->doc : BASE);
	char *err = NULL;
	bool valid, good;

	if (r->patch) {
		struct json_object *patch = parse(r->patch);

		apply_patch(doc, patch);
		json_object_put(patch);
	}
	valid = scenario_validate(doc, &err);
	if (r->expect)
		good = !valid && err && strstr(err, r->expect) &&
		       well_formed(err);
	else
		good = valid && !err;
	if (!good)
		print_message("row %zu (%s): expected %s, got %s\n", n,
			      r->patch ? r->patch : r->doc,
			      r->expect ? r->expect : "valid",
			      err ? err : "valid");
	free(err);
	json_object_put(doc);
	return good;
}

/* Every row of the table gets the verdict and message it expects. */
static void test_rows(void **state)
{
	size_t bad = 0, count = sizeof(ROWS) / sizeof(ROWS[0]);

	(void)state;
	for (size_t i = 0; i < count; i++)
		bad += !run_row(i, &ROWS[i]);
	print_message("%zu scenario rows, %zu failed\n", count, bad);
	assert_int_equal(bad, 0);
}

/* A fault rule checked on its own is named from the path it is given. */
struct fault_row {
	const char *fault;
	const char *path;
	const char *expect;
};

static const struct fault_row FAULT_ROWS[] = {
	{ "{'path': '*', 'status': 503}", "$", NULL },
	{ "{'path': '*/keys/*', 'kind': 'malformed', 'times': 1}", NULL, NULL },
	{ "{'path': '*', 'status': 503, 'bogus': 1}", "$",
	  "$.bogus: unknown key" },
	{ "{'path': '*', 'kind': 'status'}", "$", "$.status: missing" },
	{ "{'path': '*'}", "$",
	  "$: expected at least one of status, latencyMs or kind" },
	{ "{'status': 500}", NULL, "$.path: missing" },
	{ "{'path': '*', 'status': 500, 'times': 0}", "$.faults[7]",
	  "$.faults[7].times: expected an integer >= 1" },
	{ "[]", "$", "$: expected an object" },
};

/* scenario_validate_fault checks one rule and names faults below the given
 * path. */
static void test_fault_rows(void **state)
{
	size_t bad = 0, count = sizeof(FAULT_ROWS) / sizeof(FAULT_ROWS[0]);

	(void)state;
	for (size_t i = 0; i < count; i++) {
		const struct fault_row *r = &FAULT_ROWS[i];
		struct json_object *f = parse(r->fault);
		char *err = NULL;
		bool valid = scenario_validate_fault(f, r->path, &err);
		bool good = r->expect
				    ? !valid && err && strstr(err, r->expect) &&
					      well_formed(err)
				    : valid && !err;

		if (!good)
			print_message("fault row %zu: expected %s, got %s\n", i,
				      r->expect ? r->expect : "valid",
				      err ? err : "valid");
		bad += !good;
		free(err);
		json_object_put(f);
	}
	assert_int_equal(bad, 0);
}

/* A NULL err is allowed: only the verdict comes back. */
static void test_null_err(void **state)
{
	struct json_object *doc = parse(BASE), *bad = parse("{'faults': 1}");

	(void)state;
	assert_true(scenario_validate(doc, NULL));
	jx_merge_patch(doc, bad);
	assert_false(scenario_validate(doc, NULL));
	assert_false(scenario_validate_fault(bad, "$", NULL));
	json_object_put(bad);
	json_object_put(doc);
}

/* Reads a whole file into memory; returns NULL when it cannot be opened. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return NULL;
	do {
		cap += 65536;
		buf = xrealloc(buf, cap + 1);
		n += fread(buf + n, 1, cap - n, f);
	} while (n == cap);
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* The scenario the Azure CLI conformance run uses is valid. */
static void test_conformance_scenario(void **state)
{
	const char *path =
		getenv("SCENARIO_AZ")
			? getenv("SCENARIO_AZ")
			: "/work/shared/conformance/scenario-az.json";
	size_t len = 0;
	char *text = slurp(path, &len), *err = NULL;
	struct json_object *doc;

	(void)state;
	if (!text) {
		print_message("skipping: cannot read %s (set SCENARIO_AZ)\n",
			      path);
		skip();
	}
	doc = jx_parse(text, len, &err);
	free(text);
	assert_non_null(doc);
	if (!scenario_validate(doc, &err))
		print_message("%s: %s\n", path, err);
	assert_null(err);
	json_object_put(doc);
}

/* Runs the scenario schema tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_fault_rows),
		cmocka_unit_test(test_null_err),
		cmocka_unit_test(test_conformance_scenario),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
