#!/bin/sh
# Tests what test-fleet.sh leaves out of fix --all and the apply of a fleet plan, against the simulator's demo
# tenant: the refusals of fix --all's options (nothing written, nothing asked of Azure that changes it, and what
# to do said), --from and --key (--vault-subscription is in test-create-vault.sh); a resource whose step Azure
# refuses fails alone (its line, the summary's line with the step and Azure's words, exit 2) and --resume
# finishes it once the fault is gone; resources whose vault permission was taken away after planning fail
# before their first step, saying what is missing, with nothing written; a fleet whose whole process group is
# killed (SIGKILL) half-way is finished by --resume and audits clean; and a shared vault's missing purge
# protection or firewall bypass is fixed by one PATCH for every resource on it.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
# shellcheck source=tests/sim/simlib.sh disable=SC2154
. "$top_srcdir/tests/sim/simlib.sh"
scen=$top_srcdir/tests/scenarios/demo.json
sub=22222222-2222-4222-8222-222222222222
sim_start "$scen"

az audit -o json >"$work/audit.json" 2>"$work/audit.err"
[ $? -eq 1 ] && ok "the audit finds resources without a customer-managed key" || bad "audit: $(cat "$work/audit.err")"

# writes FILE: the requests of the simulator's log that change Azure (any but a read or a sign-in), one a line.
writes() {
	simget /log | python3 -c 'import json, sys
for e in json.load(sys.stdin)["value"]:
    if e["method"] not in ("GET", "HEAD") and e["host"] != "login.microsoftonline.com":
        print(e["method"], e["host"], e["path"])' >"$1"
}

# refused NAME PATTERN ARGS...: fix --all with ARGS exits 2 saying PATTERN (what to do), writes no file (neither
# --file's nor a fleet plan in the state directory) and sends Azure nothing that changes it.
refused() {
	name=$1 pattern=$2
	shift 2
	simadmin DELETE /log >/dev/null
	rm -f "$work/refused.out"
	ls -A "$XDG_STATE_HOME/azcmk" 2>/dev/null | sort >"$work/files-before"
	az fix --all "$@" >"$work/out" 2>&1
	rc=$?
	ls -A "$XDG_STATE_HOME/azcmk" 2>/dev/null | sort >"$work/files-after"
	writes "$work/writes"
	if [ $rc -ne 2 ]; then
		bad "$name: exit $rc, wanted 2: $(head -c 400 "$work/out")"
	elif ! grep -q -- "$pattern" "$work/out"; then
		bad "$name: the refusal lacks '$pattern': $(head -c 400 "$work/out")"
	elif [ -e "$work/refused.out" ] || ! cmp -s "$work/files-before" "$work/files-after"; then
		bad "$name: a file was written: $(ls "$work/refused.out" 2>/dev/null) $(diff "$work/files-before" "$work/files-after")"
	elif [ -s "$work/writes" ]; then
		bad "$name: Azure was asked to change: $(head -c 400 "$work/writes")"
	else
		ok "$name"
	fi
}
refused "fix --all refuses --create-key, saying --key names one key" "fix --all creates a key per resource, or uses the one --key names" \
	--create-key k1 --confirm-irreversible --file "$work/refused.out"
refused "fix --all refuses --key NAME with several --vault, saying to give one --vault or --key URI" \
	"give one --vault with it, or --key URI" --key cmk-openai --vault kv-ch-prod-ai --vault kv-ch-dev-keys \
	--yes --file "$work/refused.out"
refused "fix --all refuses --format az without --file, saying --file is needed" "--format az needs --file FILE" \
	--format az --yes
refused "fix --all refuses a FINDING or RESOURCE, saying what it fixes instead" \
	"fix --all takes no FINDING or RESOURCE: it fixes every finding of the report that --subscription" \
	oai-ch-coding --yes --file "$work/refused.out"
refused "fix --all refuses --vault-subscription without --create-vault, saying they go together" \
	"--vault-group and --vault-subscription go with --create-vault" --vault-subscription $sub --yes \
	--file "$work/refused.out"
refused "fix --all refuses --create-vault beside --key, saying --key already names where the key is" \
	"--vault and --key already name where the keys go" --create-vault kv-new --vault-group rg-prod-ai \
	--key cmk-openai --confirm-irreversible --yes --file "$work/refused.out"
refused "fix --all refuses a --from report that cannot be read, saying to audit first, give --from or add --fresh" \
	"run 'azcmk audit' first, give --from FILE, or add --fresh to audit now" \
	--from "$work/no-such-report.json" --yes --file "$work/refused.out"

# --from REPORT: the fleet is made of that report's findings, not of the last audit's.
python3 - "$work/audit.json" "$work/two.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
keep = ("/accounts/oai-ch-coding", "/healthbots/hb-ch-intake-prod")
d["findings"] = [f for f in d["findings"] if f["resourceId"].lower().endswith(keep)]
json.dump(d, open(sys.argv[2], "w"))
EOF
az fix --all --dry-run -o json --from "$work/two.json" >"$work/from.json" 2>"$work/from.err"
check "--from REPORT plans the resources of that report only" \
	'sorted(r["id"].rsplit("/", 1)[1] for r in d["resources"]) == ["hb-ch-intake-prod", "oai-ch-coding"] and not d["skipped"]' \
	"$work/from.json"
printf '{"findings": 3}' >"$work/bad-report.json"
expect "--from a report of another shape is refused, naming it" 2 "cannot use the audit report '$work/bad-report.json'" -- \
	az fix --all --dry-run --from "$work/bad-report.json"

# --key NAME with one --vault: every resource the vault can serve uses that key, none gets a key of its own.
az fix --all --dry-run -o json --service openai --subscription $sub --vault kv-ch-prod-ai --key cmk-openai \
	>"$work/key.json" 2>"$work/key.err"
check "--key NAME --vault V: every planned resource uses that existing key, no key is created" \
	'len(d["resources"]) >= 2 and all(r["key"] == "cmk-openai" and not r["createsKey"] and r["vault"].endswith("/kv-ch-prod-ai") for r in d["resources"]) and "create-key" not in d["changes"]' \
	"$work/key.json"

# One resource's step refused by Azure: that resource fails alone, at its step, with Azure's words; the others
# are done; exit 2 with how to resume. Once the fault is gone, --resume finishes it and exits 0.
az fix --all --dry-run --confirm-irreversible --file "$work/fleet.json" >/dev/null 2>&1
n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["plans"]))' "$work/fleet.json")
simadmin POST /faults '{"method": "PATCH", "host": "management.azure.com", "path": "*/accounts/oai-ch-coding",
	"status": 400, "code": "AccountLockedForTest", "message": "The account oai-ch-coding is locked by a test."}' \
	>"$work/fault.out"
grep -q '"status"' "$work/fault.out" || bad "the simulator refused the fault rule: $(cat "$work/fault.out")"
az --yes --propagation-wait 0 apply --parallel 4 "$work/fleet.json" >"$work/fail.out" 2>&1
rc=$?
save='[0-9]*\. Save key cmk-oai-ch-coding on oai-ch-coding (Azure OpenAI)[^:]*'
azure='PATCH https://management.azure.com/subscriptions/[^ ]*/accounts/oai-ch-coding?api-version=[^:]*: The account oai-ch-coding is locked by a test\. (AccountLockedForTest, HTTP 400)'
[ $rc -eq 2 ] && ok "a fleet with a failed resource exits 2" || bad "apply with a fault: exit $rc: $(tail -c 800 "$work/fail.out")"
grep -q "^\[[0-9]*/$n\] FAILED  oai-ch-coding at $save: $azure" "$work/fail.out" &&
	ok "the failed resource's line names its step and gives Azure's words" ||
	bad "no FAILED line with the step and Azure's words: $(cat "$work/fail.out")"
grep -q "^Fleet plan [0-9a-f]\{8\}: $((n - 1)) done, 1 failed, 0 stopped, 13 skipped, 0 not started\.$" "$work/fail.out" &&
	[ "$(grep -c "^\[[0-9]*/$n\] done " "$work/fail.out")" -eq $((n - 1)) ] &&
	! grep -v oai-ch-coding "$work/fail.out" | grep -q "FAILED\|failed: " &&
	ok "every other resource of the fleet is done ($((n - 1)))" || bad "the other resources: $(cat "$work/fail.out")"
grep -q "^  failed: oai-ch-coding at $save: $azure" "$work/fail.out" &&
	ok "the summary's failed line names the resource, its step and Azure's words" ||
	bad "the summary lacks the failed line with the step: $(tail -c 800 "$work/fail.out")"
grep -q "^Run 'azcmk apply --resume $work/fleet.json' to finish what is left\.$" "$work/fail.out" &&
	ok "the summary says how to finish with --resume" || bad "no resume hint: $(tail -c 400 "$work/fail.out")"
simadmin DELETE /faults >/dev/null
simadmin DELETE /log >/dev/null
az --yes --propagation-wait 0 apply --resume --parallel 4 "$work/fleet.json" >"$work/resume.out" 2>&1
rc=$?
[ $rc -eq 0 ] && grep -q ": $n done, 0 failed, 0 stopped, 13 skipped, 0 not started\.$" "$work/resume.out" &&
	! grep -q "apply --resume" "$work/resume.out" &&
	ok "once the fault is gone, --resume finishes the failed resource and exits 0" ||
	bad "resume after the fault: exit $rc: $(tail -c 800 "$work/resume.out")"
writes "$work/writes"
# What the others did is not done again: no key created anew, no resource saved again but the failed one (a grant
# is made again on --resume, by design, in case it was removed since: it changes nothing otherwise).
grep -v "/roleAssignments/[0-9a-f-]*$\|/accessPolicies/add$" "$work/writes" >"$work/writes-left"
if [ "$(cat "$work/writes-left")" = "PATCH management.azure.com $(python3 -c 'import json,sys
print([p["resource"] for p in json.load(open(sys.argv[1]))["plans"] if p["resource"].endswith("/oai-ch-coding")][0])' "$work/fleet.json")" ]; then
	ok "--resume saves the failed resource's key and repeats no other resource's change"
else
	bad "--resume changed more than the failed resource's save: $(cat "$work/writes-left")"
fi

# A permission taken away after planning: the operator's Key Vault Administrator role on kv-ch-prod-imaging.
# Its two resources fail before their first step, saying which permission the step needs and that nothing was
# changed; the third resource, on another vault, is done; the resume hint follows the summary.
simadmin POST /reset >/dev/null
export XDG_STATE_HOME="$work/state-perm"
az audit >/dev/null 2>&1
az fix --all --dry-run --resource-group rg-prod-imaging --resource-group rg-prod-bots --file "$work/fleet-perm.json" \
	>/dev/null 2>&1
simadmin DELETE /roleAssignments/2222e005-2222-4222-8222-22222222e005 >/dev/null
simadmin DELETE /log >/dev/null
az --yes --propagation-wait 0 apply --parallel 4 "$work/fleet-perm.json" >"$work/perm.out" 2>&1
rc=$?
need="you lack a permission it needs, so nothing was changed: - step 1 (create-key) needs Microsoft.KeyVault/vaults/keys/create/action on the vault; ask a Key Vault Crypto Officer or Key Vault Administrator of the vault"
if [ $rc -eq 2 ] && [ "$(grep -c "^\[[0-9]/3\] FAILED  \(dermatology\|neurology\) before its first step: .*$need" "$work/perm.out")" -eq 2 ] &&
	[ "$(grep -c "^  failed: \(dermatology\|neurology\) before its first step: .*$need" "$work/perm.out")" -eq 2 ] &&
	grep -q "^\[[0-9]/3\] done    hb-ch-intake-prod " "$work/perm.out" &&
	grep -q "^Fleet plan [0-9a-f]\{8\}: 1 done, 2 failed, 0 stopped, [0-9]* skipped, 0 not started\.$" "$work/perm.out" &&
	! grep -q " at -" "$work/perm.out"; then
	ok "a permission removed after planning fails its resources before their first step, saying what is missing"
else
	bad "permission removed after planning: exit $rc: $(cat "$work/perm.out")"
fi
awk '/^Fleet plan [0-9a-f]+: /{s=NR} /^Run .azcmk apply --resume/{r=NR} END{exit !(s && r > s)}' "$work/perm.out" &&
	ok "the resume hint comes after the summary, in one log of both streams" ||
	bad "the resume hint is not after the summary: $(tail -c 600 "$work/perm.out")"
writes "$work/writes"
grep -qi "kv-ch-prod-imaging\|dermatology\|neurology" "$work/writes" &&
	bad "a resource refused before its first step changed Azure: $(cat "$work/writes")" ||
	ok "nothing was written for the refused resources"

# A hard kill half-way: SIGKILL to the apply's whole process group (the parent and its workers, no chance to
# journal or answer) once some resources have made progress; --resume finishes every resource, exits 0, and the
# re-audit finds them all on their key, with no finding they did not have before (but a note), each key made once.
simadmin POST /reset >/dev/null
export XDG_STATE_HOME="$work/state2"
az audit -o json >"$work/audit2.json" 2>/dev/null
az fix --all --dry-run --confirm-irreversible --file "$work/fleet2.json" >/dev/null 2>&1
n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["plans"]))' "$work/fleet2.json")
# Every ARM answer 150 ms late, so that the kill finds the fleet half-way.
simadmin POST /faults '{"host": "management.azure.com", "kind": "latency", "latencyMs": 150}' >/dev/null
setsid -w "$azcmk" --ca-file "$work/ca.pem" --auth environment --yes --propagation-wait 0 apply --parallel 3 \
	"$work/fleet2.json" >"$work/kill.out" 2>&1 &
apid=$!
# progress: how many steps the journals record done, all resources together.
progress() { cat "$XDG_STATE_HOME"/azcmk/*.journal 2>/dev/null | grep -c '"event": *"done"'; }
i=0
while [ $i -lt 600 ] && [ "$(progress)" -lt 6 ]; do
	sleep 0.05
	i=$((i + 1))
done
# The new group is setsid's own (it runs azcmk in its place), or, when setsid had to fork, its child's; never
# this shell's.
mine=$(ps -o pgid= -p $$ | tr -d ' ')
pg=$(ps -o pgid= -p $apid | tr -d ' ')
[ "$pg" = "$mine" ] && pg=$(ps -o pgid= -p "$(pgrep -P $apid | head -1)" | tr -d ' ')
if [ -n "$pg" ] && [ "$pg" != "$mine" ] && [ "$(progress)" -ge 6 ]; then
	kill -KILL -"$pg"
	wait $apid 2>/dev/null
	python3 - "$work/fleet2.json" "$XDG_STATE_HOME/azcmk" >"$work/kill.state" 2>&1 <<'EOF2'
import json, os, sys
fleet, where = json.load(open(sys.argv[1])), sys.argv[2]
finished = begun = 0
for p in fleet["plans"]:
    path = os.path.join(where, p["id"] + ".journal")
    if not os.path.exists(path):
        continue
    begun += 1
    done = {json.loads(l)["step"] for l in open(path) if l.strip().endswith("}") and '"done"' in l}
    finished += len(p["steps"]) - 1 in done
print(begun, finished)
sys.exit(0 if begun and finished < len(fleet["plans"]) else 1)
EOF2
	[ $? -eq 0 ] && ! grep -q "^Fleet plan [0-9a-f]\{8\}: " "$work/kill.out" &&
		ok "SIGKILL to the group ends the fleet half-way, with no summary (begun, finished: $(cat "$work/kill.state"))" ||
		bad "the kill did not find the fleet half-way: $(cat "$work/kill.state") $(tail -c 400 "$work/kill.out")"
else
	bad "the fleet made no progress to kill in 30 s (pgid '$pg', $(progress) steps done): $(tail -c 400 "$work/kill.out")"
	wait $apid
fi
simadmin DELETE /faults >/dev/null
az --yes --propagation-wait 0 apply --resume --parallel 4 "$work/fleet2.json" >"$work/kill-resume.out" 2>&1
rc=$?
[ $rc -eq 0 ] && grep -q ": $n done, 0 failed, 0 stopped, 13 skipped, 0 not started\.$" "$work/kill-resume.out" &&
	[ "$(grep -c "^\[[0-9]*/$n\] done " "$work/kill-resume.out")" -eq "$n" ] &&
	ok "after the kill, --resume finishes every resource of the fleet ($n) and exits 0" ||
	bad "resume after the kill: exit $rc: $(tail -c 800 "$work/kill-resume.out")"
az audit -o json >"$work/reaudit2.json" 2>/dev/null
simget /state >"$work/state2.json"
python3 - "$work/fleet2.json" "$work/audit2.json" "$work/reaudit2.json" "$work/state2.json" >"$work/reaudit2.err" 2>&1 <<'EOF2'
import json, sys
fleet, before, after, state = (json.load(open(a)) for a in sys.argv[1:5])
planned = {p["resource"].lower() for p in fleet["plans"]}
def findings(a):
    return {(f["resourceId"].lower(), f["rule"]) for f in a["findings"]
            if f["resourceId"].lower() in planned and f["severity"] != "note"}
if any(r == "resource.cmk" for _, r in findings(after)):
    sys.exit("still without a customer-managed key: %s" % sorted(x for x in findings(after) if x[1] == "resource.cmk"))
if not findings(after) <= findings(before):
    sys.exit("new findings on the planned resources: %s" % sorted(findings(after) - findings(before)))
for p in fleet["plans"]:
    vault = p["vault"].rsplit("/", 1)[1]
    versions = state["keys"].get(vault, {}).get(p["keyName"], [])
    if len(versions) != 1:
        sys.exit("key %s in %s has %d versions, not 1" % (p["keyName"], vault, len(versions)))
EOF2
[ $? -eq 0 ] && ok "the re-audit finds every resource of the killed fleet on its key, each key made once" ||
	bad "re-audit after the kill: $(cat "$work/reaudit2.err")"

# A vault fix shared by the resources on it: kv-ch-prod-ai without purge protection, kv-ch-dev-keys behind a
# firewall without the trusted services' bypass, each the vault of several resources of the fleet. Each vault
# is changed by one PATCH, before its other resources start, and every resource is done.
simadmin POST /reset >/dev/null
export XDG_STATE_HOME="$work/state3"
ai=/subscriptions/$sub/resourceGroups/rg-prod-ai/providers/Microsoft.KeyVault/vaults/kv-ch-prod-ai
keys=/subscriptions/33333333-3333-4333-8333-333333333333/resourceGroups/rg-dev-security/providers/Microsoft.KeyVault/vaults/kv-ch-dev-keys
simadmin PATCH "/resources?id=$ai" '{"properties": {"enablePurgeProtection": false}}' >/dev/null
simadmin PATCH "/resources?id=$keys" \
	'{"properties": {"networkAcls": {"bypass": "None", "defaultAction": "Deny", "ipRules": [{"value": "127.0.0.1/32"}]}}}' \
	>/dev/null
az audit >/dev/null 2>&1
az fix --all --dry-run --confirm-irreversible -o json --vault kv-ch-prod-ai --vault kv-ch-dev-keys \
	--file "$work/fleet3.json" >"$work/shared.json" 2>"$work/shared.err"
check "the review counts the shared vault fixes once each, for several resources per vault" \
	'd["changes"].get("enable-purge-protection") == 1 and d["changes"].get("firewall-bypass") == 1 and sum(r["vault"].endswith("/kv-ch-prod-ai") for r in d["resources"]) >= 3 and sum(r["vault"].endswith("/kv-ch-dev-keys") for r in d["resources"]) >= 2' \
	"$work/shared.json"
n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["plans"]))' "$work/fleet3.json")
simadmin DELETE /log >/dev/null
az --yes --propagation-wait 0 apply --parallel 8 "$work/fleet3.json" >"$work/shared.out" 2>&1
rc=$?
[ $rc -eq 0 ] && grep -q ": $n done, 0 failed, 0 stopped, [0-9]* skipped, 0 not started\.$" "$work/shared.out" &&
	ok "every resource on the shared vaults is done ($n)" || bad "apply with shared vault fixes: exit $rc: $(tail -c 800 "$work/shared.out")"
simget /log >"$work/log3.json"
check "kv-ch-prod-ai is patched once, kv-ch-dev-keys once, for all their resources" \
	'sorted(e["path"].lower() for e in d["value"] if e["method"] == "PATCH" and "/vaults/" in e["path"].lower()) == sorted(["'"$ai"'".lower(), "'"$keys"'".lower()])' \
	"$work/log3.json"
check "each vault's fix comes before any key is made in it" \
	'all(k["seq"] > p["seq"] for p in d["value"] if p["method"] == "PATCH" and "/vaults/" in p["path"] for k in d["value"] if k["method"] == "POST" and k["host"].lower() == p["path"].rsplit("/", 1)[1].lower() + ".vault.azure.net" and k["path"].endswith("/create")) and sum(k["path"].endswith("/create") for k in d["value"] if k["method"] == "POST") >= 5' \
	"$work/log3.json"
simget /state >"$work/state3.json"
check "after the fleet kv-ch-prod-ai has purge protection and kv-ch-dev-keys lets trusted services through" \
	'[(r["properties"].get("enablePurgeProtection"), r["properties"]["networkAcls"]["bypass"]) for r in d["resources"] if r["id"] in ("'"$ai"'", "'"$keys"'")] in ([(True, "AzureServices")] * 2,)' \
	"$work/state3.json"

finish
