#!/bin/sh
# Walks each service's flow in the wizard, end to end, against azcmk-sim on the demo tenant: a resource on
# Microsoft-managed keys chosen from the findings, its identity, a vault, key and version, the role, the
# identity type, the review, and apply after typing yes; then the simulator's /state must show the key saved.
# A private tmux server, a fixed 100x30 size, a pinned locale and TERM; every wait polls for text.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=$(cd "${top_builddir:-.}" && pwd)
azcmk=$top_builddir/src/azcmk
sim=$top_builddir/src/azcmk-sim
work=$(mktemp -d)
sock=azcmk-flow-$$
T="tmux -L $sock -f /dev/null"
pass=0 fail=0
simpid=
trap '$T kill-server 2>/dev/null; [ -n "$simpid" ] && kill "$simpid" 2>/dev/null; rm -rf "$work"' EXIT

command -v tmux >/dev/null 2>&1 || { echo "skip: tmux is not installed"; exit 77; }
command -v curl >/dev/null 2>&1 || { echo "skip: curl is not installed"; exit 77; }

ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); $T capture-pane -p -t w 2>/dev/null | sed 's/^/     | /'; }

"$sim" --scenario "$top_srcdir/tests/scenarios/demo.json" --port-file "$work/ports.json" --ca-out "$work/ca.pem" \
	>/dev/null 2>&1 &
simpid=$!
i=0
while [ ! -s "$work/ports.json" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
proxy=$(sed 's/.*"proxy": *\([0-9]*\).*/\1/' "$work/ports.json")
[ -n "$proxy" ] || { echo "the simulator did not start"; exit 99; }

# state ID: prints the resource as the simulator holds it now.
state() {
	curl -s -x "http://127.0.0.1:$proxy" --cacert "$work/ca.pem" "https://sim.local/state" |
		python3 -c 'import json,sys
d=json.load(sys.stdin)
print(json.dumps([r for r in d["resources"] if r["id"].lower() == sys.argv[1].lower()][0]))' "$1"
}

# wait_for TEXT [NAME]: polls the screen for TEXT for up to 20 s.
wait_for() {
	i=0
	while [ $i -lt 400 ]; do
		if $T capture-pane -p -t w 2>/dev/null | grep -qF -- "$1"; then
			[ -n "${2:-}" ] && ok "$2"
			return 0
		fi
		sleep 0.05
		i=$((i + 1))
	done
	bad "${2:-wait}: '$1' never appeared"
	return 1
}

keys() { $T send-keys -t w "$@"; }

# pick TEXT: filters the list on the screen for TEXT and chooses the first match.
pick() {
	keys / ; keys -l "$1" ; keys Enter
	wait_for "(1 of " || return 1
	keys Enter
}

# flow SERVICE RESOURCE VAULT KEY FIELD WANT GRANT: the whole wizard for one resource, then the key in /state.
flow() {
	service=$1 resource=$2 vault=$3 key=$4 field=$5 want=$6 grant=$7
	$T kill-session -t w 2>/dev/null
	$T new-session -d -s w -x 100 -y 30 "env -i PATH=/usr/bin:/bin HOME=$work TERM=screen-256color LC_ALL=C.UTF-8 \
		XDG_STATE_HOME=$work/state HTTPS_PROXY=http://127.0.0.1:$proxy \
		AZURE_TENANT_ID=11111111-1111-4111-8111-111111111111 AZURE_CLIENT_ID=0a0a0a0a-0a0a-4a0a-8a0a-0a0a0a0a0a0a \
		AZURE_CLIENT_SECRET=demo-secret AZURE_POD_IDENTITY_AUTHORITY_HOST=http://127.0.0.1:9 \
		$azcmk --ca-file $work/ca.pem --auth environment --propagation-wait 0; echo EXIT=\$?; sleep 60"
	$T set-option -g escape-time 0 >/dev/null
	wait_for "[x] Contoso Health Prod" || return
	keys Enter
	wait_for "Findings: " "$service: findings" || return
	keys v
	wait_for "Every resource: " || return
	pick "$resource"
	wait_for "The identity that is to reach the key" "$service: identity step" || return
	keys Enter
	wait_for "$vault" "$service: vaults with their badges" || return
	pick "$vault"
	wait_for "Keys in $vault" "$service: the vault's keys" || return
	pick "$key "
	wait_for "Versions of the key in $vault" "$service: the key's versions" || return
	keys Enter
	wait_for "Key https://$vault.vault.azure.net/keys/$key" "$service: role and prerequisites" || return
	wait_for "the plan grants it $grant" "$service: least-privileged access proposed" || return
	keys Enter
	wait_for "will use its system-assigned identity" "$service: identity type" || return
	keys Enter
	wait_for "Plan " "$service: the plan" || return
	wait_for "Save key $key on" "$service: the save in the plan" || return
	keys a
	wait_for "Type yes and Enter" "$service: apply asks first" || return
	keys -l yes ; keys Enter
	wait_for "now uses key $key, verified" "$service: applied and verified" || return
	if state "$resource_id" | python3 -c "import json,sys
r=json.load(sys.stdin)
v=r
for p in '$field'.split('.'):
    v=(v or {}).get(p)
sys.exit(0 if v and '$want' in v else 1)"; then ok "$service: /state has the key"; else bad "$service: /state lacks $want at $field"; fi
	keys q
	wait_for "EXIT=0" "$service: quits"
}

P=/subscriptions/22222222-2222-4222-8222-222222222222/resourceGroups
resource_id=$P/rg-prod-ai/providers/Microsoft.CognitiveServices/accounts/oai-ch-summaries
role="the role Key Vault Crypto" policy="an access policy with get, wrapKey"
flow openai oai-ch-summaries kv-ch-prod-ai cmk-openai properties.encryption.keyVaultProperties.keyName cmk-openai "$role"
resource_id=$P/rg-prod-bots/providers/Microsoft.HealthBot/healthBots/hb-ch-intake-prod
flow healthbot hb-ch-intake-prod kv-ch-prod-bots cmk-bot properties.keyVaultProperties.keyName cmk-bot "$policy"
resource_id=$P/rg-prod-imaging/providers/Microsoft.HealthcareApis/workspaces/chprodimaging/dicomservices/dermatology
flow dicom dermatology kv-ch-prod-imaging cmk-cardio \
	properties.encryption.customerManagedKeyEncryption.keyEncryptionKeyUrl kv-ch-prod-imaging.vault.azure.net/keys/cmk-cardio/ \
	"$role"
resource_id=$P/rg-prod-ai/providers/Microsoft.CognitiveServices/accounts/fdy-ch-copilot
flow foundry fdy-ch-copilot kv-ch-prod-ai cmk-foundry properties.encryption.keyVaultProperties.keyName cmk-foundry "$role"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
