// Microsoft's Azure SDK for JavaScript, unmodified, against azcmk-sim: one line per case, then "N passed, N failed".
//
// run.sh starts the simulator and sets HTTPS_PROXY (its CONNECT proxy) and NODE_EXTRA_CA_CERTS (its CA);
// the SDK clients then talk to the real host names and need nothing else. Each case is one SDK call or
// one poller run, asserted on what the SDK returns: where the SDK and the simulator disagree, the
// simulator is wrong (the SDKs are generated from Microsoft's REST specifications).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { appendFileSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const modules = resolve(process.env.AZCMK_JS_MODULES || join(here, "node_modules"));
// Packages load, through require, from the directory named above (or NODE_PATH, which run.sh sets to it).
const require = createRequire(join(modules, "conformance-js.cjs"));

const { ClientSecretCredential } = require("@azure/identity");
const { KeyClient } = require("@azure/keyvault-keys");
const { CognitiveServicesManagementClient } = require("@azure/arm-cognitiveservices");
const { KeyVaultManagementClient } = require("@azure/arm-keyvault");
const { AuthorizationManagementClient } = require("@azure/arm-authorization");
const { ManagedServiceIdentityClient } = require("@azure/arm-msi");
const { ResourceGraphClient } = require("@azure/arm-resourcegraph");
const { HealthcareApisManagementClient } = require("@azure/arm-healthcareapis");
const { HealthbotClient } = require("@azure/arm-healthbot");
const { MicrosoftResourceHealth } = require("@azure/arm-resourcehealth");
const { ResourceManagementClient } = require("@azure/arm-resources");
const { SubscriptionClient } = require("@azure/arm-resources-subscriptions");
const { createHttpPoller } = require("@azure/core-lro");
const { createHttpHeaders, createPipelineRequest } = require("@azure/core-rest-pipeline");

const scenario = JSON.parse(readFileSync(process.env.AZCMK_JS_SCENARIO || join(here, "scenario.json"), "utf8"));
const T = scenario.tenantId;
const S = scenario.subscriptions[0].subscriptionId;
const RG = "rg-js";
const RGID = `/subscriptions/${S}/resourceGroups/${RG}`;
const idOf = (type, name) => `${RGID}/providers/${type}/${name}`;
const VAULT = "kv-js";
const VAULT_ID = idOf("Microsoft.KeyVault/vaults", VAULT);
const VAULT_URI = `https://${VAULT}.vault.azure.net/`;
// Scope and resourceUri parameters go into paths "/{scope}/providers/..." unencoded: Microsoft's samples
// (RoleAssignments_ListForScope.js in azure-rest-api-specs-examples) pass them without the leading slash.
const VAULT_SCOPE = VAULT_ID.slice(1);
const UAI_ID = idOf("Microsoft.ManagedIdentity/userAssignedIdentities", "uai-cmk");
const UAI = scenario.resources.find((r) => r.id === UAI_ID);
const DICOM_ID = idOf("Microsoft.HealthcareApis/workspaces", "hdsjs") + "/dicomservices/dicomjs";
const KVCSEU = "e147488a-f6f5-4113-8e2d-b22465e65bf6"; // Key Vault Crypto Service Encryption User
const ROLE_TARGET = "88888888-8888-4888-8888-888888888888";
const CMK_RSA = scenario.keys[VAULT]["cmk-rsa"].at(-1).version;
const MANY = scenario.keys[VAULT]["cmk-many"].length;
// Pollers: the simulator asks for Retry-After 0; a small interval keeps the suite fast whatever it says.
const POLL = { updateIntervalInMs: 20 };

// Every ARM request an SDK client sends, as "METHOD url", so cases can assert that pollers really polled.
// With AZCMK_JS_DUMP=FILE, each exchange is also appended to FILE as a JSON line, to debug a failing case.
const seen = [];
const dump = process.env.AZCMK_JS_DUMP;
const recorder = {
	position: "perRetry",
	policy: {
		name: "conformanceRecorder",
		sendRequest: async (req, next) => {
			seen.push(`${req.method} ${req.url}`);
			const res = await next(req);
			if (dump) appendFileSync(dump, JSON.stringify({ method: req.method, url: req.url, status: res.status,
				headers: res.headers.toJSON(), body: res.bodyAsText }) + "\n");
			return res;
		},
	},
};
const clientOptions = { additionalPolicies: [recorder] };
const sinceMark = () => {
	const start = seen.length;
	return () => seen.slice(start);
};

const credential = new ClientSecretCredential(T, scenario.operator.clientId, scenario.operator.clientSecret);
const subs = new SubscriptionClient(credential, clientOptions);
const arm = new ResourceManagementClient(credential, S, clientOptions);
const kvm = new KeyVaultManagementClient(credential, S, clientOptions);
const keys = new KeyClient(VAULT_URI, credential, clientOptions);
const authz = new AuthorizationManagementClient(credential, S, clientOptions);
const msi = new ManagedServiceIdentityClient(credential, S, clientOptions);
const graph = new ResourceGraphClient(credential);
const cog = new CognitiveServicesManagementClient(credential, S, clientOptions);
const hca = new HealthcareApisManagementClient(credential, S, clientOptions);
const bots = new HealthbotClient(credential, S, clientOptions);
const health = new MicrosoftResourceHealth(credential, S, clientOptions);

let passed = 0, failed = 0;
const CASE_MS = 20_000;

// Runs one case, for CASE_MS at most: "ok   NAME" or "FAIL NAME: why"; known names the simulator's known
// fault, printed when the case fails.
async function check(name, fn, known) {
	let timer;
	try {
		await Promise.race([fn(), new Promise((_, reject) => {
			timer = setTimeout(() => reject(new Error(`no answer in ${CASE_MS / 1000} s`)), CASE_MS);
		})]);
		console.log(`ok   ${name}`);
		passed++;
	} catch (e) {
		const why = e && e.name === "RestError"
			? `RestError ${e.statusCode} ${e.code}: ${String(e.message).split("\n")[0]} [${e.request?.method} ${e.request?.url}]`
			: String(e && e.message ? e.message : e).split("\n").slice(0, 6).join(" | ");
		console.log(`FAIL ${name}: ${why}${known ? ` [known simulator fault: ${known}]` : ""}`);
		failed++;
	} finally {
		clearTimeout(timer);
	}
}

// Collects an async iterator into an array.
async function all(iter) {
	const out = [];
	for await (const x of iter) out.push(x);
	return out;
}

// Expects a promise to reject with the SDK's RestError of a status and code.
async function restError(promise, statusCode, code) {
	try {
		await promise;
	} catch (e) {
		assert.equal(e.name, "RestError", `expected a RestError, got ${e.name}: ${e.message}`);
		assert.equal(e.statusCode, statusCode, `status: ${e.message}`);
		if (code) assert.equal(e.code, code, `code: ${e.message}`);
		return e;
	}
	assert.fail(`expected RestError ${statusCode} ${code || ""}, the call succeeded`);
}

// Decodes a JWT's claims.
const claims = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());

// Counts the status polls of long-running operations among requests.
const polls = (reqs) => reqs.filter((r) => /^GET .*\/operation(Statuse|Result)s\//i.test(r)).length;

// ---- Entra ID -------------------------------------------------------------------------------------
await check("identity: ClientSecretCredential.getToken for Resource Manager", async () => {
	const t = await credential.getToken("https://management.azure.com/.default");
	assert.ok(t && t.token, "no token");
	assert.ok(t.expiresOnTimestamp > Date.now() + 60_000, `expiresOnTimestamp ${t.expiresOnTimestamp}`);
	const c = claims(t.token);
	assert.equal(c.tid, T);
	assert.equal(c.oid, scenario.operator.objectId);
	assert.match(String(c.aud), /^https:\/\/management\.(core\.windows\.net|azure\.com)\/?$/);
});

await check("identity: ClientSecretCredential.getToken for Key Vault", async () => {
	const t = await credential.getToken("https://vault.azure.net/.default");
	assert.match(String(claims(t.token).aud), /^https:\/\/vault\.azure\.net\/?$/);
});

await check("identity: a wrong client secret is refused (invalid_client, AADSTS7000215)", async () => {
	const bad = new ClientSecretCredential(T, scenario.operator.clientId, "not-the-secret");
	try {
		await bad.getToken("https://management.azure.com/.default");
	} catch (e) {
		// @azure/identity turns every MSAL server error into AuthenticationRequiredError (msal/utils.js handleMsalError).
		assert.equal(e.name, "AuthenticationRequiredError", `${e.name}: ${e.message}`);
		assert.match(e.message, /invalid_client/);
		assert.match(e.message, /AADSTS7000215/);
		return;
	}
	assert.fail("a wrong secret got a token");
});

// ---- Subscriptions and resources (the reads azcmk makes) -------------------------------------------
await check("subscriptions: subscriptions.list", async () => {
	const list = await all(subs.subscriptions.list());
	const s = list.find((x) => x.subscriptionId === S);
	assert.ok(s, `subscription ${S} not listed: ${JSON.stringify(list)}`);
	assert.equal(s.displayName, scenario.subscriptions[0].displayName);
	assert.equal(s.state, "Enabled");
	assert.equal(s.tenantId, T);
});

await check("subscriptions: subscriptions.get", async () => {
	const s = await subs.subscriptions.get(S);
	assert.equal(s.id, `/subscriptions/${S}`);
	assert.equal(s.subscriptionId, S);
});

await check("subscriptions: tenants.list", async () => {
	const list = await all(subs.tenants.list());
	assert.ok(list.some((t) => t.tenantId === T), JSON.stringify(list));
});

await check("resources: resourceGroups.get", async () => {
	const g = await arm.resourceGroups.get(RG);
	assert.equal(g.id, RGID);
	assert.equal(g.properties?.provisioningState, "Succeeded");
});

await check("resources: resources.list with $filter resourceType", async () => {
	const list = await all(arm.resources.list({ filter: "resourceType eq 'Microsoft.KeyVault/vaults'" }));
	assert.deepEqual(list.map((r) => r.name).sort(), ["kv-js", "kv-js-open"]);
	assert.ok(list.every((r) => r.type === "Microsoft.KeyVault/vaults" && r.location === "westus3"));
});

await check("resources: resources.list with $filter resourceType and name", async () => {
	const list = await all(arm.resources.list({
		filter: "resourceType eq 'Microsoft.HealthBot/healthBots' and name eq 'bot-js'" }));
	assert.equal(list.length, 1, JSON.stringify(list));
	assert.equal(list[0].id, idOf("Microsoft.HealthBot/healthBots", "bot-js"));
});

await check("resources: resources.list with $expand createdTime", async () => {
	const list = await all(arm.resources.list({ filter: "resourceType eq 'Microsoft.HealthBot/healthBots'",
		expand: "createdTime" }));
	assert.equal(list.length, 1);
	assert.ok(list[0].createdTime instanceof Date, `createdTime ${list[0].createdTime}`);
	assert.equal(list[0].createdTime.toISOString(), "2023-03-01T10:00:00.000Z");
});

await check("resources: resources.listByResourceGroup pages through every resource", async () => {
	const mark = sinceMark();
	const list = await all(arm.resources.listByResourceGroup(RG));
	const want = scenario.resources.filter((r) => r.id.startsWith(RGID + "/")).length;
	assert.equal(list.length, want, list.map((r) => r.id).join(" "));
	assert.ok(mark().length >= 2, "expected more than one page (settings.pageSize is 2)");
});

await check("resources: providers.get Microsoft.CognitiveServices", async () => {
	const p = await arm.providers.get("Microsoft.CognitiveServices");
	assert.equal(p.namespace, "Microsoft.CognitiveServices");
	assert.equal(p.registrationState, "Registered");
	const t = p.resourceTypes.find((x) => x.resourceType === "accounts");
	assert.ok(t && t.apiVersions.includes("2025-09-01"), JSON.stringify(t));
});

// ---- Key Vault: Resource Manager ------------------------------------------------------------------
await check("keyvault: vaults.get", async () => {
	const v = await kvm.vaults.get(RG, VAULT);
	assert.equal(v.id, VAULT_ID);
	assert.equal(v.properties.vaultUri, VAULT_URI);
	assert.equal(v.properties.tenantId, T);
	assert.equal(v.properties.enableRbacAuthorization, true);
	assert.equal(v.properties.enablePurgeProtection, true);
	assert.equal(v.properties.sku.name, "standard");
});

await check("keyvault: vaults.list", async () => {
	const list = await all(kvm.vaults.list());
	assert.deepEqual(list.map((v) => v.name).sort(), ["kv-js", "kv-js-open"], JSON.stringify(list));
});

await check("keyvault: vaults.listBySubscription", async () => {
	const list = await all(kvm.vaults.listBySubscription());
	assert.deepEqual(list.map((v) => v.name).sort(), ["kv-js", "kv-js-open"]);
	assert.ok(list.every((v) => v.properties && v.properties.vaultUri), JSON.stringify(list));
});

await check("keyvault: vaults.update enables purge protection and the trusted-services bypass", async () => {
	const v = await kvm.vaults.update(RG, "kv-js-open", { properties: {
		enablePurgeProtection: true, networkAcls: { bypass: "AzureServices", defaultAction: "Allow" } } });
	assert.equal(v.properties.enablePurgeProtection, true);
	assert.equal(v.properties.networkAcls.bypass, "AzureServices");
	assert.equal(v.properties.enableSoftDelete, true);
	const again = await kvm.vaults.get(RG, "kv-js-open");
	assert.equal(again.properties.enablePurgeProtection, true);
});

await check("keyvault: vaults.update cannot turn purge protection off (RestError 400)", async () => {
	await restError(kvm.vaults.update(RG, "kv-js-open", { properties: { enablePurgeProtection: false } }), 400);
});

await check("keyvault: vaults.updateAccessPolicy add", async () => {
	const r = await kvm.vaults.updateAccessPolicy(RG, "kv-js-open", "add", { properties: { accessPolicies: [{
		tenantId: T, objectId: ROLE_TARGET, permissions: { keys: ["get", "wrapKey", "unwrapKey"] } }] } });
	assert.equal(r.properties.accessPolicies.length, 1);
	assert.equal(r.properties.accessPolicies[0].objectId, ROLE_TARGET);
	assert.equal(r.type, "Microsoft.KeyVault/vaults/accessPolicies");
	const v = await kvm.vaults.get(RG, "kv-js-open");
	assert.ok(v.properties.accessPolicies.some((p) => p.objectId === ROLE_TARGET));
});

// ---- Key Vault: data plane ------------------------------------------------------------------------
let created;
await check("keys: createRsaKey 3072", async () => {
	created = await keys.createRsaKey("cmk-js", { keySize: 3072, keyOps: ["wrapKey", "unwrapKey"] });
	assert.equal(created.name, "cmk-js");
	assert.equal(created.keyType, "RSA");
	assert.equal(created.key.n.length, 384, `modulus of ${created.key.n.length} bytes`);
	assert.deepEqual([...created.keyOperations].sort(), ["unwrapKey", "wrapKey"]);
	assert.equal(created.properties.enabled, true);
	assert.match(created.properties.version, /^[0-9a-f]{32}$/);
	assert.equal(created.properties.vaultUrl, VAULT_URI.replace(/\/$/, ""));
});

await check("keys: getKey", async () => {
	const k = await keys.getKey("cmk-js");
	assert.equal(k.id, created.id);
	assert.equal(k.properties.version, created.properties.version);
	assert.ok(k.properties.createdOn instanceof Date && !isNaN(k.properties.createdOn));
	assert.equal(k.properties.recoveryLevel, "Recoverable");
});

await check("keys: getKey of a version", async () => {
	const k = await keys.getKey("cmk-rsa", { version: CMK_RSA });
	assert.equal(k.properties.version, CMK_RSA);
	assert.equal(k.key.n.length, 256);
});

await check("keys: getKey of a missing key (RestError 404 KeyNotFound)", async () => {
	await restError(keys.getKey("no-such-key"), 404, "KeyNotFound");
});

await check(`keys: listPropertiesOfKeyVersions across ${MANY} versions (the SDK follows nextLink)`, async () => {
	const mark = sinceMark();
	const list = await all(keys.listPropertiesOfKeyVersions("cmk-many"));
	assert.equal(list.length, MANY);
	assert.equal(new Set(list.map((p) => p.version)).size, MANY);
	assert.ok(list.every((p) => p.name === "cmk-many" && p.enabled === true));
	const pages = mark().filter((r) => r.startsWith("GET ") && r.includes("/keys/cmk-many/versions")).length;
	assert.ok(pages >= 2, `${pages} page requests`);
});

await check("keys: listPropertiesOfKeys", async () => {
	const names = (await all(keys.listPropertiesOfKeys())).map((p) => p.name).sort();
	assert.deepEqual(names, ["cmk-js", "cmk-many", "cmk-rsa"]);
});

await check("keys: rotateKey", async () => {
	const k = await keys.rotateKey("cmk-js");
	assert.equal(k.name, "cmk-js");
	assert.notEqual(k.properties.version, created.properties.version);
	assert.equal(k.key.n.length, 384, "a rotated key keeps its size");
	const versions = await all(keys.listPropertiesOfKeyVersions("cmk-js"));
	assert.equal(versions.length, 2);
});

await check("keys: getKeyRotationPolicy", async () => {
	const p = await keys.getKeyRotationPolicy("cmk-js");
	assert.equal(p.id, `${VAULT_URI}keys/cmk-js/rotationpolicy`);
	assert.ok(Array.isArray(p.lifetimeActions));
});

// Key Vault stamps a policy's created and updated times and adds its default Notify action (30 days before
// expiry) to a policy that has none: GetKeyRotationPolicy-example.json (REST 7.5), and azure-sdk-for-js's
// recording_updatekeyrotationpolicy_supports_creating_a_new_rotation_policy_and_fetching_it.json (service 1.9.576.1).
await check("keys: updateKeyRotationPolicy, then getKeyRotationPolicy", async () => {
	const p = await keys.updateKeyRotationPolicy("cmk-js", {
		expiresIn: "P1Y", lifetimeActions: [{ action: "Rotate", timeBeforeExpiry: "P30D" }] });
	assert.equal(p.expiresIn, "P1Y");
	assert.deepEqual(p.lifetimeActions.map((a) => [a.action, a.timeBeforeExpiry]), [["Rotate", "P30D"], ["Notify", "P30D"]]);
	assert.ok(p.createdOn instanceof Date && !isNaN(p.createdOn), `createdOn ${p.createdOn}`);
	assert.ok(p.updatedOn instanceof Date && !isNaN(p.updatedOn), `updatedOn ${p.updatedOn}`);
	const q = await keys.getKeyRotationPolicy("cmk-js");
	assert.equal(q.expiresIn, "P1Y");
	assert.equal(q.lifetimeActions[0].action, "Rotate");
	assert.equal(q.createdOn.getTime(), p.createdOn.getTime());
});

await check("keys: updateKeyRotationPolicy again keeps createdOn, moves updatedOn", async () => {
	const before = await keys.getKeyRotationPolicy("cmk-js");
	const p = await keys.updateKeyRotationPolicy("cmk-js", { expiresIn: "P2Y",
		lifetimeActions: [{ action: "Rotate", timeAfterCreate: "P90D" }, { action: "Notify", timeBeforeExpiry: "P10D" }] });
	assert.deepEqual(p.lifetimeActions.map((a) => [a.action, a.timeAfterCreate || a.timeBeforeExpiry]),
		[["Rotate", "P90D"], ["Notify", "P10D"]], "a Notify action given is kept, none added");
	assert.equal(p.createdOn.getTime(), before.createdOn.getTime());
	assert.ok(p.updatedOn.getTime() >= before.updatedOn.getTime());
});

// ---- Authorization --------------------------------------------------------------------------------
await check("authorization: roleDefinitions.get", async () => {
	const d = await authz.roleDefinitions.get(`subscriptions/${S}`, KVCSEU);
	assert.equal(d.name, KVCSEU);
	assert.equal(d.roleName, "Key Vault Crypto Service Encryption User");
	assert.equal(d.roleType, "BuiltInRole");
	assert.ok(d.permissions[0].dataActions.includes("Microsoft.KeyVault/vaults/keys/wrap/action"));
});

await check("authorization: roleDefinitions.list with $filter roleName", async () => {
	const list = await all(authz.roleDefinitions.list(VAULT_SCOPE,
		{ filter: "roleName eq 'Key Vault Crypto Service Encryption User'" }));
	assert.equal(list.length, 1, JSON.stringify(list.map((d) => d.roleName)));
	assert.equal(list[0].name, KVCSEU);
});

const raName = randomUUID();
const roleDefinitionId = `/subscriptions/${S}/providers/Microsoft.Authorization/roleDefinitions/${KVCSEU}`;
await check("authorization: roleAssignments.create", async () => {
	const a = await authz.roleAssignments.create(VAULT_SCOPE, raName,
		{ roleDefinitionId, principalId: ROLE_TARGET, principalType: "ServicePrincipal" });
	assert.equal(a.name, raName);
	assert.equal(a.principalId, ROLE_TARGET);
	assert.equal(a.roleDefinitionId, roleDefinitionId);
	assert.equal(a.scope.toLowerCase(), VAULT_ID.toLowerCase());
	assert.equal(a.id, `${VAULT_ID}/providers/Microsoft.Authorization/roleAssignments/${raName}`);
});

await check("authorization: roleAssignments.create again (RestError 409 RoleAssignmentExists)", async () => {
	await restError(authz.roleAssignments.create(VAULT_SCOPE, randomUUID(),
		{ roleDefinitionId, principalId: ROLE_TARGET, principalType: "ServicePrincipal" }), 409, "RoleAssignmentExists");
});

await check("authorization: roleAssignments.listForScope with atScope()", async () => {
	const list = await all(authz.roleAssignments.listForScope(VAULT_SCOPE, { filter: "atScope()" }));
	assert.ok(list.some((a) => a.name === raName), list.map((a) => a.name).join(" "));
	// atScope(): the assignments at the vault and above it, none below (the vault's only child scopes are keys).
	const subAssignment = list.find((a) => a.scope === `/subscriptions/${S}`);
	assert.ok(subAssignment, "the operator's subscription-wide assignment applies at the vault");
});

await check("authorization: roleAssignments.listForScope with principalId eq", async () => {
	const list = await all(authz.roleAssignments.listForScope(VAULT_SCOPE, { filter: `principalId eq '${ROLE_TARGET}'` }));
	assert.deepEqual(list.map((a) => a.name), [raName]);
});

await check("authorization: roleAssignments.delete", async () => {
	const a = await authz.roleAssignments.delete(VAULT_SCOPE, raName);
	assert.equal(a.name, raName);
	const list = await all(authz.roleAssignments.listForScope(VAULT_SCOPE, { filter: `principalId eq '${ROLE_TARGET}'` }));
	assert.equal(list.length, 0);
});

await check("authorization: roleAssignments.get of the deleted one (RestError 404 RoleAssignmentNotFound)", async () => {
	await restError(authz.roleAssignments.get(VAULT_SCOPE, raName), 404, "RoleAssignmentNotFound");
});

// A scope given as ARM writes ids, with its leading slash, reaches ARM as "//subscriptions/..." through the
// "/{scope}/providers/..." template; ARM reads a run of slashes as one.
await check("authorization: roleAssignments.listForScope with a scope that has its leading slash", async () => {
	const list = await all(authz.roleAssignments.listForScope(VAULT_ID, { filter: "atScope()" }));
	assert.ok(list.some((a) => a.scope === `/subscriptions/${S}`), list.map((a) => a.scope).join(" "));
});

await check("authorization: permissions.listForResource (the caller's own actions on the vault)", async () => {
	const list = await all(authz.permissions.listForResource(RG, "Microsoft.KeyVault", "", "vaults", VAULT));
	assert.ok(list.length >= 1);
	const actions = list.flatMap((p) => p.actions || []);
	const data = list.flatMap((p) => p.dataActions || []);
	assert.ok(actions.includes("*"), `Owner at the subscription: ${JSON.stringify(list)}`);
	assert.ok(data.some((a) => a.startsWith("Microsoft.KeyVault/vaults/keys/")), "Key Vault Crypto Officer at the vault");
});

// ---- Managed identity -----------------------------------------------------------------------------
await check("msi: userAssignedIdentities.get", async () => {
	const u = await msi.userAssignedIdentities.get(RG, "uai-cmk");
	assert.equal(u.id, UAI_ID);
	assert.equal(u.principalId, UAI.properties.principalId);
	assert.equal(u.clientId, UAI.properties.clientId);
	assert.equal(u.tenantId, T);
});

await check("msi: userAssignedIdentities.get of a missing identity (RestError 404 ResourceNotFound)", async () => {
	await restError(msi.userAssignedIdentities.get(RG, "no-such-identity"), 404, "ResourceNotFound");
});

await check("msi: userAssignedIdentities.listByResourceGroup", async () => {
	const list = await all(msi.userAssignedIdentities.listByResourceGroup(RG));
	assert.deepEqual(list.map((u) => u.name), ["uai-cmk"]);
});

// ---- Resource Graph -------------------------------------------------------------------------------
await check("resourcegraph: resources() over the four services, $skipToken paging to the end", async () => {
	const query = "Resources | where type in~ ('microsoft.cognitiveservices/accounts', " +
		"'microsoft.healthcareapis/workspaces/dicomservices', 'microsoft.healthbot/healthbots') " +
		"| project id, name, type, kind | order by name asc";
	const rows = [];
	let skipToken, pages = 0, total;
	do {
		const r = await graph.resources({ subscriptions: [S], query,
			options: { top: 2, skipToken, resultFormat: "objectArray" } });
		pages++;
		total = r.totalRecords;
		assert.equal(r.count, r.data.length);
		rows.push(...r.data);
		skipToken = r.skipToken;
		assert.ok(pages < 10, "skipToken never ends");
	} while (skipToken);
	assert.deepEqual(rows.map((x) => x.name), ["bot-js", "foundry-js", "hdsjs/dicomjs", "oai-js"]);
	assert.equal(total, 4);
	assert.equal(pages, 2);
	assert.deepEqual(rows.map((x) => x.kind), ["", "AIServices", "", "OpenAI"]);
});

// resultFormat "table" is one of the two formats of Resources at 2021-03-01 (QueryRequestOptions.resultFormat,
// enum table|objectArray, specification/resourcegraph/.../stable/2021-03-01/resourcegraph.json): data is then
// a Table, {columns: [{name, type}], rows: [[...]]}.
await check("resourcegraph: resources() with resultFormat table", async () => {
	const r = await graph.resources({ subscriptions: [S], query:
		"Resources | where type =~ 'microsoft.healthbot/healthbots' | project name, type",
		options: { resultFormat: "table" } });
	assert.ok(r.data && Array.isArray(r.data.columns) && Array.isArray(r.data.rows),
		`data is not a Table: ${JSON.stringify(r.data).slice(0, 200)}`);
	assert.deepEqual(r.data.columns.map((c) => c.name), ["name", "type"]);
	assert.ok(r.data.columns.every((c) => c.type === "string"));
	assert.deepEqual(r.data.rows, [["bot-js", "microsoft.healthbot/healthbots"]]);
}, "src/sim/rg.c answers every query as objectArray, whatever options.resultFormat says");

// ---- Azure OpenAI and Foundry (Cognitive Services), through the SDK's poller -------------------------
for (const [name, kind] of [["oai-js", "OpenAI"], ["foundry-js", "AIServices"]]) {
	await check(`cognitiveservices: accounts.get ${kind}`, async () => {
		const a = await cog.accounts.get(RG, name);
		assert.equal(a.kind, kind);
		assert.equal(a.identity.type, "SystemAssigned");
		assert.ok(a.properties.capabilities.some((c) => c.name === "CustomerManagedKey"));
	});
	await check(`cognitiveservices: accounts.beginUpdateAndWait ${kind} to Microsoft.KeyVault`, async () => {
		const mark = sinceMark();
		const a = await cog.accounts.beginUpdateAndWait(RG, name, { properties: { encryption: {
			keySource: "Microsoft.KeyVault",
			keyVaultProperties: { keyName: "cmk-rsa", keyVersion: CMK_RSA, keyVaultUri: VAULT_URI } } } }, POLL);
		assert.equal(a.properties.provisioningState, "Succeeded");
		assert.equal(a.properties.encryption.keySource, "Microsoft.KeyVault");
		assert.equal(a.properties.encryption.keyVaultProperties.keyName, "cmk-rsa");
		assert.equal(a.properties.encryption.keyVaultProperties.keyVersion, CMK_RSA);
		assert.ok(polls(mark()) >= 1, `no status poll: ${mark().join(", ")}`);
		const b = await cog.accounts.get(RG, name);
		assert.equal(b.properties.encryption.keySource, "Microsoft.KeyVault");
	});
}

await check("cognitiveservices: Azure OpenAI refuses the 3072-bit key (RestError 400)", async () => {
	// Azure OpenAI takes 2048-bit RSA keys only; Microsoft documents no error code, so none is asserted.
	await restError(cog.accounts.beginUpdateAndWait(RG, "oai-js", { properties: { encryption: {
		keySource: "Microsoft.KeyVault",
		keyVaultProperties: { keyName: "cmk-js", keyVersion: created?.properties.version, keyVaultUri: VAULT_URI } } } },
	POLL), 400);
});

// ---- DICOM service (Healthcare APIs), through the SDK's poller ----------------------------------------
await check("cognitiveservices: accounts.get of a missing account (RestError 404 ResourceNotFound)", async () => {
	await restError(cog.accounts.get(RG, "no-such-account"), 404, "ResourceNotFound");
});

await check("cognitiveservices: accounts.listByResourceGroup", async () => {
	const list = await all(cog.accounts.listByResourceGroup(RG));
	assert.deepEqual(list.map((a) => a.name).sort(), ["foundry-js", "oai-js"]);
});

await check("healthcareapis: workspaces.get and dicomServices.listByWorkspace", async () => {
	const w = await hca.workspaces.get(RG, "hdsjs");
	assert.equal(w.name, "hdsjs");
	assert.equal(w.properties.provisioningState, "Succeeded");
	const list = await all(hca.dicomServices.listByWorkspace(RG, "hdsjs"));
	assert.deepEqual(list.map((d) => d.name), ["hdsjs/dicomjs"]);
});

await check("healthcareapis: dicomServices.get", async () => {
	const d = await hca.dicomServices.get(RG, "hdsjs", "dicomjs");
	assert.equal(d.id, DICOM_ID);
	assert.equal(d.name, "hdsjs/dicomjs");
	assert.equal(d.provisioningState, "Succeeded");
	assert.equal(d.serviceUrl, "https://hdsjs-dicomjs.dicom.azurehealthcareapis.com");
});

await check("healthcareapis: dicomServices.beginUpdateAndWait attaches a user-assigned identity", async () => {
	const mark = sinceMark();
	const d = await hca.dicomServices.beginUpdateAndWait(RG, "dicomjs", "hdsjs", {
		tags: { cmk: "pending" }, identity: { type: "UserAssigned", userAssignedIdentities: { [UAI_ID]: {} } } }, POLL);
	assert.equal(d.provisioningState, "Succeeded");
	assert.equal(d.identity.type, "UserAssigned");
	const u = d.identity.userAssignedIdentities[UAI_ID];
	assert.ok(u, JSON.stringify(d.identity));
	assert.equal(u.principalId, UAI.properties.principalId);
	assert.equal(u.clientId, UAI.properties.clientId);
	assert.deepEqual(d.tags, { cmk: "pending" });
	assert.ok(polls(mark()) >= 1, `no status poll: ${mark().join(", ")}`);
});

await check("healthcareapis: dicomServices.beginCreateOrUpdateAndWait sets the key (PUT)", async () => {
	const cur = await hca.dicomServices.get(RG, "hdsjs", "dicomjs");
	const url = `${VAULT_URI}keys/cmk-rsa/${CMK_RSA}`;
	const mark = sinceMark();
	const d = await hca.dicomServices.beginCreateOrUpdateAndWait(RG, "hdsjs", "dicomjs", {
		location: cur.location, tags: cur.tags, etag: cur.etag,
		identity: { type: "UserAssigned", userAssignedIdentities: { [UAI_ID]: {} } },
		authenticationConfiguration: cur.authenticationConfiguration,
		publicNetworkAccess: cur.publicNetworkAccess,
		encryption: { customerManagedKeyEncryption: { keyEncryptionKeyUrl: url } } }, POLL);
	assert.equal(d.provisioningState, "Succeeded");
	assert.equal(d.encryption?.customerManagedKeyEncryption?.keyEncryptionKeyUrl, url);
	assert.ok(d.identity.userAssignedIdentities[UAI_ID], JSON.stringify(d.identity));
	assert.ok(polls(mark()) >= 1, `no status poll: ${mark().join(", ")}`);
});

await check("resourcehealth: availabilityStatuses.getByResource for the DICOM service", async () => {
	const s = await health.availabilityStatuses.getByResource(DICOM_ID.slice(1));
	assert.equal(s.name, "current");
	assert.equal(s.type, "Microsoft.ResourceHealth/AvailabilityStatuses");
	assert.equal(s.properties.availabilityState, "Available");
	assert.ok(s.properties.reportedTime instanceof Date && !isNaN(s.properties.reportedTime));
	assert.ok(s.properties.occuredTime instanceof Date && !isNaN(s.properties.occuredTime));
});

await check("resourcehealth: availabilityStatuses.getByResource with the id's leading slash", async () => {
	const s = await health.availabilityStatuses.getByResource(DICOM_ID);
	assert.equal(s.id, `${DICOM_ID}/providers/Microsoft.ResourceHealth/availabilityStatuses/current`);
});

// ---- Healthcare agent service (Health Bot) ----------------------------------------------------------
const BOT_ID = idOf("Microsoft.HealthBot/healthBots", "bot-js");
await check("healthbot: bots.listByResourceGroup", async () => {
	const list = await all(bots.bots.listByResourceGroup(RG));
	assert.deepEqual(list.map((b) => b.name), ["bot-js"]);
});

await check("healthbot: bots.get", async () => {
	const b = await bots.bots.get(RG, "bot-js");
	assert.equal(b.id, BOT_ID);
	assert.equal(b.sku.name, "C0");
	assert.equal(b.properties.provisioningState, "Succeeded");
	assert.equal(b.systemData?.createdByType, "User");
});

// Bots_Update at 2025-11-01 (the first version with keyVaultProperties, which @azure/arm-healthbot 2.1.0,
// generated from 2021-06-10, cannot send): a PATCH answered 201 with a Location header only, final state
// via location. It runs through @azure/core-lro's createHttpPoller, the engine the generated SDKs use,
// with the request sent through the Health Bot client's own pipeline (token, proxy, retries).
await check("healthbot: PATCH 2025-11-01 with keyVaultProperties through core-lro (201, Location, final state via location)", async () => {
	const url = `https://management.azure.com${BOT_ID}?api-version=2025-11-01`;
	const body = { identity: { type: "UserAssigned", userAssignedIdentities: { [UAI_ID]: {} } },
		properties: { keyVaultProperties: { keyName: "cmk-rsa", keyVersion: CMK_RSA, keyVaultUri: VAULT_URI,
			userIdentity: UAI_ID } } };
	const send = async (method, u, b) => {
		const r = await bots.sendRequest(createPipelineRequest({ url: u, method,
			headers: createHttpHeaders({ "content-type": "application/json", accept: "application/json" }),
			body: b ? JSON.stringify(b) : undefined }));
		const parsed = r.bodyAsText ? JSON.parse(r.bodyAsText) : undefined;
		if (r.status >= 400) throw Object.assign(new Error(`${r.status} ${r.bodyAsText}`), { statusCode: r.status });
		return { flatResponse: parsed, rawResponse: { statusCode: r.status, headers: r.headers.toJSON(), body: parsed } };
	};
	let first;
	const mark = sinceMark();
	const poller = await createHttpPoller({
		requestMethod: "PATCH", requestPath: url,
		sendInitialRequest: async () => (first = await send("PATCH", url, body)),
		sendPollRequest: (path) => send("GET", path),
	}, { resourceLocationConfig: "location", intervalInMs: POLL.updateIntervalInMs });
	const b = await poller.pollUntilDone();
	assert.equal(first.rawResponse.statusCode, 201);
	assert.ok(first.rawResponse.headers.location, "no Location header");
	assert.ok(!first.rawResponse.headers["azure-asyncoperation"], "an Azure-AsyncOperation header the spec does not declare");
	assert.equal(b.properties.provisioningState, "Succeeded");
	assert.equal(b.properties.keyVaultProperties?.keyName, "cmk-rsa");
	assert.equal(b.identity.type, "UserAssigned");
	const reqs = mark();
	assert.ok(reqs.some((r) => /^GET .*\/operationResults\//i.test(r)), `the poller did not follow Location: ${reqs.join(", ")}`);
});

await check("healthbot: bots.update (2021-06-10: PATCH, 200 or 201, not long-running) changes the tags", async () => {
	const b = await bots.bots.update(RG, "bot-js", { tags: { owner: "js" } });
	assert.deepEqual(b.tags, { owner: "js" });
	assert.equal(b.name, "bot-js");
});

await check("healthbot: bots.beginCreateAndWait", async () => {
	const mark = sinceMark();
	const b = await bots.bots.beginCreateAndWait(RG, "bot-js2", { location: "westus3", sku: { name: "F0" } }, POLL);
	assert.equal(b.name, "bot-js2");
	assert.equal(b.properties.provisioningState, "Succeeded");
	assert.equal(b.sku.name, "F0");
	assert.ok(polls(mark()) >= 1, `no status poll: ${mark().join(", ")}`);
	// What the service fills in on a new bot: ResourceCreationPut.json (Bots_Create, 2025-11-01) answers with
	// properties.botManagementPortalLink and systemData.createdAt.
	assert.ok(b.properties.botManagementPortalLink, "no properties.botManagementPortalLink on the new bot");
	assert.ok(b.systemData?.createdAt instanceof Date, "no systemData.createdAt on the new bot");
	const again = await bots.bots.get(RG, "bot-js2");
	assert.equal(again.properties.provisioningState, "Succeeded");
}, "src/sim/services.c fills in no botManagementPortalLink nor systemData on a service it creates");

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
