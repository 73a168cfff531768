#!/bin/sh
# Tests azcmk fix --all and the apply of a fleet plan against the simulator's demo tenant: the plan from the
# audit's findings with its filters and skipped list, the text review's groups and its 80 columns, the refusals
# of a tampered fleet file, an apply stopped half-way by Ctrl-C and finished with --resume, a re-audit that
# finds every planned resource fixed, and --fresh, which plans from an audit taken now instead of the last one.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
# shellcheck source=tests/sim/simlib.sh disable=SC2154
. "$top_srcdir/tests/sim/simlib.sh"
scen=$top_srcdir/tests/scenarios/demo.json
sim_start "$scen"

# The audit that fix --all reads (it keeps its report in the state directory).
az audit -o json >"$work/audit.json" 2>"$work/audit.err"
[ $? -eq 1 ] && ok "the audit finds resources without a customer-managed key" || bad "audit: $(cat "$work/audit.err")"
python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
ids = sorted({f["resourceId"].lower() for f in d["findings"] if f["rule"] == "resource.cmk"})
print("\n".join(ids))' "$work/audit.json" >"$work/lacking"

# The review as JSON: every resource of the report is planned or skipped with a reason, none both, and the
# fleet file is private.
az fix --all --dry-run -o json >"$work/review.json" 2>"$work/review.err"
rc=$?
[ $rc -eq 0 ] && ok "fix --all --dry-run plans and stops" || bad "fix --all --dry-run: exit $rc: $(cat "$work/review.err")"
check "the review plans several resources and skips others with their reasons" \
	'len(d["resources"]) >= 5 and len(d["skipped"]) >= 1 and all(s["reason"] and s["rule"] for s in d["skipped"])' \
	"$work/review.json"
check "no resource is both planned and skipped, none twice" \
	'len({r["id"].lower() for r in d["resources"]} | {s["id"].lower() for s in d["skipped"]}) == len(d["resources"]) + len(d["skipped"])' \
	"$work/review.json"
check "each planned resource gets its own new key" \
	'all(r["createsKey"] and r["key"] for r in d["resources"]) and len({r["vault"].lower() + "/" + r["key"].lower() for r in d["resources"]}) == len(d["resources"])' \
	"$work/review.json"
# fix looks for a vault in every subscription the operator can see: hb-ch-legacy-clinic's own subscription
# has none, a central one has.
az fix hb-ch-legacy-clinic --dry-run >"$work/out" 2>&1
grep -q "PUT /subscriptions/22222222-2222-4222-8222-222222222222/resourceGroups/rg-prod-ai/providers/Microsoft.KeyVault/vaults/" \
	"$work/out" && grep -q "^Note: that vault is in subscription 22222222-2222-4222-8222-222222222222, not in the resource's own" \
	"$work/out" && ok "fix finds a key vault in another subscription when the resource's own has none, and says so" ||
	bad "fix in another subscription: $(head -c 600 "$work/out")"
check "an irreversible change is skipped without --confirm-irreversible" \
	'any("confirm-irreversible" in s["reason"] for s in d["skipped"])' "$work/review.json"
fleet=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["file"])' "$work/review.json")
[ "$(stat -c %a "$fleet" 2>/dev/null)" = 600 ] && ok "the fleet plan is kept private (0600)" ||
	bad "the fleet plan '$fleet' has mode $(stat -c %a "$fleet" 2>/dev/null)"

# Planning in worker processes (the default) makes the very plan that planning one resource after another makes.
az fix --all --dry-run -o json --parallel 1 >"$work/serial.json" 2>/dev/null
a=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["fleet"])' "$work/review.json")
b=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["fleet"])' "$work/serial.json")
[ -n "$a" ] && [ "$a" = "$b" ] && ok "parallel planning makes the same fleet plan as planning one at a time" ||
	bad "parallel planning gave fleet $a, one at a time $b"

# The filters the audit has, and --resource-group.
az fix --all --dry-run -o json --service openai >"$work/openai.json" 2>/dev/null
check "--service openai plans only Azure OpenAI accounts" \
	'd["resources"] and all(r["service"] == "openai" for r in d["resources"])' "$work/openai.json"
az fix --all --dry-run -o json --resource-group rg-prod-triage >"$work/rg.json" 2>/dev/null
check "--resource-group keeps only that group's findings" \
	'd["resources"] and all("/resourcegroups/rg-prod-triage/" in r["id"].lower() for r in d["resources"] + d["skipped"])' \
	"$work/rg.json"
az fix --all --dry-run -o json --subscription 33333333-3333-4333-8333-333333333333 >"$work/sub.json" 2>/dev/null
check "--subscription keeps only that subscription's findings" \
	'd["resources"] and all(r["id"].startswith("/subscriptions/33333333-") for r in d["resources"] + d["skipped"])' \
	"$work/sub.json"

# --vault, repeatable with --all: one per region; a resource none of them can serve is skipped with the reason.
az fix --all --dry-run -o json --vault kv-ch-prod-ai --vault kv-ch-dev-keys >"$work/vaults.json" 2>/dev/null
check "repeated --vault: every new key goes in one of the vaults named" \
	'd["resources"] and {r["vault"].rsplit("/", 1)[1] for r in d["resources"]} <= {"kv-ch-prod-ai", "kv-ch-dev-keys"}' \
	"$work/vaults.json"
check "repeated --vault: a resource none of them can serve is skipped, saying so" \
	'any("none of the vaults --vault names" in s["reason"] for s in d["skipped"])' "$work/vaults.json"
az plan oai-ch-triage --vault a --vault b --key k >"$work/out" 2>&1
[ $? -eq 2 ] && grep -q -- "--vault is given once" "$work/out" && ok "plan takes --vault once" ||
	bad "plan with two --vault: $(cat "$work/out")"

# --grant-scope vault: a shared user-assigned identity needs one grant per vault, not one per resource; with the
# system identities, one per resource, each on the vault rather than the key.
uai=/subscriptions/22222222-2222-4222-8222-222222222222/resourceGroups/rg-prod-security/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-ch-prod-cmk
az fix --all --dry-run -o json --service openai --subscription 22222222-2222-4222-8222-222222222222 \
	--identity "$uai" --grant-scope vault >"$work/scope.json" 2>"$work/scope.err"
check "--grant-scope vault with one shared identity: one role assignment per vault" \
	'len(d["resources"]) > len({r["vault"].lower() for r in d["resources"]}) and d["changes"].get("assign-role") == len({r["vault"].lower() for r in d["resources"]})' \
	"$work/scope.json"
check "the review's JSON gives each resource its grant scope" \
	'all(r["grantScope"] == "vault" for r in d["resources"])' "$work/scope.json"
# The text review counts grants on a whole vault apart from grants on a key, and notes them under each vault.
az fix --all --dry-run --service openai --subscription 22222222-2222-4222-8222-222222222222 \
	--identity "$uai" --grant-scope vault >"$work/scope.txt" 2>&1
grep -q "grant a role on a whole vault (every key in it)" "$work/scope.txt" &&
	grep -q "of them get.* role on the whole vault" "$work/scope.txt" &&
	! grep -q "grant a role on a key$" "$work/scope.txt" &&
	ok "the text review tells grants on a whole vault from grants on a key" ||
	bad "the review does not tell vault-wide grants: $(cat "$work/scope.txt")"
az fix oai-ch-summaries --grant-scope vault --dry-run >"$work/out" 2>&1
grep -q "on vault kv-ch-prod-ai (every key in it)" "$work/out" &&
	grep -q "PUT /subscriptions/.*/vaults/kv-ch-prod-ai/providers/Microsoft.Authorization/roleAssignments/" "$work/out" &&
	ok "--grant-scope vault plans the role on the vault" || bad "--grant-scope vault: $(cat "$work/out")"
# apply of a plan file shows the steps it will carry out, titled from the plan's typed fields, before asking.
az plan oai-ch-summaries --vault kv-ch-prod-ai --create-key cmk-prompt --file "$work/one.plan" >/dev/null 2>&1
printf 'no\n' | script -qec "$azcmk --ca-file $work/ca.pem --auth environment apply $work/one.plan" /dev/null \
	>"$work/prompt.out" 2>&1
grep -q "Plan [0-9a-f]\{16\} for /subscriptions/.*/oai-ch-summaries (Azure OpenAI)" "$work/prompt.out" &&
	grep -q " 1\. Create RSA key cmk-prompt (.* bits) in vault kv-ch-prod-ai \[irreversible\]" "$work/prompt.out" &&
	grep -q " 2\. Grant oai-ch-summaries the role Key Vault Crypto Service Encryption User on key cmk-prompt only" \
		"$work/prompt.out" &&
	grep -q "Type yes to go on" "$work/prompt.out" && grep -q "Nothing was changed" "$work/prompt.out" &&
	ok "apply shows a plan file's steps before asking" || bad "apply's prompt: $(cat "$work/prompt.out")"
az fix oai-ch-summaries --grant-scope subscription --dry-run >"$work/out" 2>&1
[ $? -eq 2 ] && grep -q "invalid --grant-scope 'subscription': use key or vault" "$work/out" &&
	ok "--grant-scope takes key or vault only" || bad "--grant-scope subscription: $(cat "$work/out")"

# The text review fits 80 columns on a terminal's width, and names what is skipped.
az fix --all --dry-run --confirm-irreversible --file "$work/fleet.json" >"$work/review.txt" 2>&1
# Grouped by subscription (the resource's), then by vault: each heading once, each resource under its own.
python3 - "$work/review.txt" "$work/fleet.json" >"$work/groups.err" 2>&1 <<'EOF'
import json, re, sys
text, fleet = open(sys.argv[1]).read().split("\n"), json.load(open(sys.argv[2]))
sub = vault = None
seen, subs, vaults = [], [], []
for line in text:
    m = re.match(r"^Subscription (\S+):$", line)
    if m:
        sub, vault = m.group(1), None
        subs.append(sub)
        continue
    m = re.match(r"^ vault (\S+):$", line)
    if m:
        vault = m.group(1)
        vaults.append((sub, vault))
        continue
    m = re.match(r"^   [! ] (\S+) \(.*\): (new )?key \S+, [0-9]+ steps?$", line)
    if m:
        seen.append((sub, vault, m.group(1)))
want = sorted((p["resource"].split("/")[2], p["vault"].rsplit("/", 1)[1], p["resource"].rsplit("/", 1)[1])
              for p in fleet["plans"])
if sorted(seen) != want:
    sys.exit("resources under the wrong headings: %s, not %s" % (sorted(seen), want))
if len(subs) != len(set(subs)) or len(vaults) != len(set(vaults)) or len(set(subs)) < 2:
    sys.exit("a heading twice, or one subscription only: %s %s" % (subs, vaults))
if set(vaults) != {(s, v) for s, v, _ in want}:
    sys.exit("vault headings %s, not %s" % (vaults, sorted({(s, v) for s, v, _ in want})))
EOF
[ $? -eq 0 ] && ok "the text review groups the resources under their subscription, then their vault, each heading once" ||
	bad "the review's groups: $(cat "$work/groups.err")"
# On a terminal (script(1) gives it one, of no size: 80 columns) every line of the review fits, a longer one
# cut with "..." (the C locale's ellipsis), the rest as in the review above. (Standard error, with its notices
# of progress and of where the plan went, is not the review.)
if command -v script >/dev/null 2>&1; then
	script -qec "$azcmk --ca-file $work/ca.pem --auth environment fix --all --dry-run --confirm-irreversible \
		--file $work/fleet-tty.json 2>/dev/null" /dev/null </dev/null >"$work/review-tty.txt" 2>&1
	python3 - "$work/review-tty.txt" "$work/review.txt" >"$work/wide.err" 2>&1 <<'EOF'
import sys
tty = open(sys.argv[1]).read().replace("\r", "").split("\n")
full = open(sys.argv[2]).read().split("\n")
lines = [l for l in tty if l]
if len(lines) < 20:
    sys.exit("too short a review: %r" % lines)
wide = [l for l in lines if len(l) > 80]
cut = [l for l in lines if l.endswith("...") and len(l) == 80]
if wide:
    sys.exit("lines wider than 80 columns: %r" % wide)
if not cut:
    sys.exit("no line was cut to 80 columns, though the review has longer ones")
for l in lines:
    if not (l in full or (l in cut and any(f.startswith(l[:-3]) and len(f) > 80 for f in full))):
        sys.exit("a line the review does not have: %r" % l)
EOF
	[ $? -eq 0 ] && ok "on a terminal every line of the review fits 80 columns, the longer ones cut" ||
		bad "the review on a terminal: $(cat "$work/wide.err")"
else
	echo "skip the review's 80 columns on a terminal: script(1) is not installed"
fi
grep -q "^Skipped, with the reason" "$work/review.txt" && grep -q "^Fleet plan [0-9a-f]\{8\}: " "$work/review.txt" &&
	ok "the text review counts the resources and lists the skipped ones" || bad "text review: $(head -c 600 "$work/review.txt")"
[ -s "$work/fleet.json" ] && ok "--file saves the fleet plan where asked" || bad "--file wrote nothing"

# Attacks on the fleet file: each refused before anything changes.
# state FILE: what Azure holds (resources, keys, role assignments), without the simulator's own clock.
state() {
	curl -s -x "$HTTPS_PROXY" --cacert "$work/ca.pem" https://sim.local/state |
		python3 -c 'import json, sys
d = json.load(sys.stdin)
json.dump({k: d[k] for k in ("resources", "keys", "roleAssignments")}, open(sys.argv[1], "w"), sort_keys=True)' "$1"
}
# The fleet as one ARM template (subscription scope): it parses, names the fleet, holds a deployment per resource
# group of the planned resources (and one per vault group whose fixes other groups need), and changes nothing.
state "$work/state-arm-before.json"
az fix --all --confirm-irreversible --format arm --file "$work/fleet-arm.json" -o json >"$work/arm-review.json" 2>"$work/arm.err"
rc=$?
state "$work/state-arm-after.json"
[ $rc -eq 0 ] && ! grep -q "does not write an ARM template" "$work/arm.err" &&
	ok "fix --all --format arm --file writes a template" || bad "fix --all --format arm: exit $rc: $(cat "$work/arm.err")"
python3 - "$work/fleet-arm.json" "$work/arm-review.json" >"$work/arm.check" 2>&1 <<'EOF'
import json, sys
t, r = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
groups = {tuple(x["id"].lower().split("/")[i] for i in (2, 4)) for x in r["resources"]}
tops = t["resources"]
plans = [d for d in tops if "-vaults-" not in d["name"]]
assert t["$schema"].endswith("/2018-05-01/subscriptionDeploymentTemplate.json#"), t["$schema"]
assert t["metadata"]["azcmkFleet"] == r["fleet"], (t["metadata"], r["fleet"])
assert all(d["type"] == "Microsoft.Resources/deployments" for d in tops)
assert len(plans) == len(groups), (len(plans), groups)
assert {(d["subscriptionId"].lower(), d["resourceGroup"].lower()) for d in plans} == groups
inner = [x for d in plans for x in d["properties"]["template"]["resources"] if x["name"].startswith("azcmk-plan-")]
assert len(inner) == len(r["resources"]), (len(inner), len(r["resources"]))
text = open(sys.argv[1]).read().lower()
assert not any(s["id"].lower() in text for s in r["skipped"])
print(len(tops))
EOF
[ $? -eq 0 ] && ok "the fleet's ARM template holds one deployment per resource group ($(cat "$work/arm.check") in all) and no skipped resource" ||
	bad "fleet ARM template: $(tail -c 600 "$work/arm.check")"
cmp -s "$work/state-arm-before.json" "$work/state-arm-after.json" && ok "the ARM export changed nothing in Azure" ||
	bad "fix --all --format arm changed the simulator's state"
az fix --all --format arm >"$work/fleet-arm.out" 2>/dev/null
python3 -c 'import json, sys; json.load(open(sys.argv[1]))["resources"][0]' "$work/fleet-arm.out" 2>/dev/null &&
	ok "without --file the template alone goes to standard output" || bad "fix --all --format arm on stdout: $(head -c 300 "$work/fleet-arm.out")"

state "$work/state-before.json"
tamper() {
	python3 - "$work/fleet.json" "$work/bad.json" "$1" <<'EOF'
import copy, hashlib, json, sys
d = json.load(open(sys.argv[1]))
how = sys.argv[3]
if how == "reason":
    d["skipped"][0]["reason"] = "nothing to see"
elif how == "key":
    d["plans"][0]["keyName"] = "attacker-key"
elif how == "twice":
    d["plans"].append(copy.deepcopy(d["plans"][0]))
json.dump(d, open(sys.argv[2], "w"))
EOF
}
tamper reason
az --yes apply "$work/bad.json" >"$work/out" 2>&1
[ $? -eq 2 ] && grep -q "changed after azcmk wrote it" "$work/out" && ok "an edited fleet plan is refused" ||
	bad "edited fleet plan: $(cat "$work/out")"
tamper key
az --yes apply "$work/bad.json" >"$work/out" 2>&1
[ $? -eq 2 ] && grep -q "changed after azcmk wrote it" "$work/out" && ok "a fleet plan with an inner plan edited is refused" ||
	bad "edited inner plan: $(cat "$work/out")"
az --yes apply --parallel 2 "$work/bad.json" >/dev/null 2>&1
state "$work/state-after.json"
cmp -s "$work/state-before.json" "$work/state-after.json" && ok "the refused fleet plans changed nothing in Azure" ||
	bad "a refused fleet plan changed the simulator's state"
az apply "$work/fleet.json" </dev/null >"$work/out" 2>&1
[ $? -eq 2 ] && grep -q "confirm with --yes" "$work/out" && ok "apply of a fleet plan needs --yes off a terminal" ||
	bad "apply without --yes: $(cat "$work/out")"

# Ctrl-C half-way: the workers stop after the step in flight, the journal of each resource is kept, the
# summary says what is left and how to resume; --resume finishes it.
# In a process group of its own, as a service manager or timeout(1) runs it: the group's SIGTERM reaches the
# workers too, and must stop them after their step, never cancel a write in flight.
setsid -w "$azcmk" --ca-file "$work/ca.pem" --auth environment --yes --propagation-wait 3 apply --parallel 4 \
	"$work/fleet.json" >"$work/apply1.out" 2>&1 &
apid=$!
i=0
while [ $i -lt 400 ] && [ "$(ls "$work/state/azcmk/" 2>/dev/null | grep -c '\.journal$')" -lt 2 ]; do
	sleep 0.05
	i=$((i + 1))
done
# The shell starts a background job with SIGINT ignored, so the test sends SIGTERM, which azcmk takes the
# same way as Ctrl-C's SIGINT, to the whole group.
# (setsid may run azcmk as its child: the newest process of this command line is azcmk or one of its workers,
# all in the new group.)
pg=$(ps -o pgid= -p "$(pgrep -n -f -- "apply --parallel 4 $work/fleet.json")" | tr -d ' ')
kill -TERM -"$pg"
wait $apid
rc=$?
if [ $rc -eq 2 ] && grep -q "apply --resume" "$work/apply1.out" && grep -q "^\[[0-9]*/[0-9]*\] stopped " "$work/apply1.out" &&
	grep -q "[1-9][0-9]* stopped, " "$work/apply1.out"; then
	ok "SIGTERM to the group stops the fleet cleanly and says how to resume"
else
	bad "interrupted fleet: exit $rc: $(tail -c 800 "$work/apply1.out")"
fi
grep -q "request was canceled\|FAILED" "$work/apply1.out" && bad "a signal sent once cut a write off: $(cat "$work/apply1.out")" ||
	ok "no write in flight is cancelled by a stop request"
# On a terminal (script(1) gives it one, when it is installed), the overall progress line is redrawn in place.
if command -v script >/dev/null 2>&1; then
	script -qec "$azcmk --ca-file $work/ca.pem --auth environment --yes --propagation-wait 0 apply --resume \
		--parallel 4 $work/fleet.json" /dev/null </dev/null >"$work/apply2.out" 2>&1
	rc=$?
	python3 - "$work/apply2.out" <<'EOF' >"$work/tty.err" 2>&1
import re, sys
out = open(sys.argv[1], "rb").read().decode("utf-8", "replace")
if not re.search(r"\r\x1b\[K[0-9]+/[0-9]+ resources ended, 0 failed, about [0-9]+ s left", out):
    sys.exit("no progress line drawn after a carriage return: %r" % out[-600:])
if re.search(r"resources ended[^\r\n\x1b]*\r?\n", out):
    sys.exit("a progress line was ended with a new line instead of redrawn: %r" % out[-600:])
for line in out.split("\n"):
    if re.search(r"\[[0-9]+/[0-9]+\] done ", line) and not line.split("\x1b[K")[-1].startswith("["):
        sys.exit("a resource's line does not start where the progress line was cleared: %r" % line)
EOF
	[ $? -eq 0 ] && ok "on a terminal the fleet's progress line is redrawn in place, the resources' lines kept" ||
		bad "progress on a terminal: $(cat "$work/tty.err")"
else
	echo "skip the progress line on a terminal: script(1) is not installed"
	az --yes --propagation-wait 0 apply --resume --parallel 4 "$work/fleet.json" >"$work/apply2.out" 2>&1
	rc=$?
fi
n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["plans"]))' "$work/fleet.json")
if [ $rc -eq 0 ] && grep -q "$n done, 0 failed, 0 stopped" "$work/apply2.out"; then
	ok "--resume finishes every resource of the fleet ($n)"
else
	bad "resume: exit $rc: $(tail -c 800 "$work/apply2.out")"
fi

# The re-audit: every planned resource now uses a customer-managed key; the skipped ones are as they were.
az audit -o json >"$work/audit2.json" 2>/dev/null
python3 - "$work/fleet.json" "$work/audit2.json" "$work/lacking" <<'EOF' >"$work/reaudit.err" 2>&1
import json, sys
fleet, audit = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
lacking = {f["resourceId"].lower() for f in audit["findings"] if f["rule"] == "resource.cmk"}
planned = {p["resource"].lower() for p in fleet["plans"]}
skipped = {s["resource"].lower() for s in fleet["skipped"]}
before = set(open(sys.argv[3]).read().split())
if planned & lacking:
    sys.exit("still without a customer-managed key: %s" % sorted(planned & lacking))
if lacking != before - planned:
    sys.exit("the re-audit's lacking set %s is not the old one %s less the planned" % (sorted(lacking), sorted(before)))
if not (lacking <= skipped | (before - planned)):
    sys.exit("a resource lacking a key was neither planned nor skipped")
EOF
[ $? -eq 0 ] && ok "the re-audit finds every planned resource on a customer-managed key, the rest unchanged" ||
	bad "re-audit: $(cat "$work/reaudit.err")"

# A role granted on the whole vault is one the checks accept: after a reset of the tenant, fix with
# --grant-scope vault ends with the role on the vault and a check that finds the key reachable.
curl -s -o /dev/null --proxy "$HTTPS_PROXY" --cacert "$work/ca.pem" -X POST https://sim.local/reset
az --yes --propagation-wait 0 fix oai-ch-summaries --grant-scope vault >"$work/out" 2>&1
rc=$?
az check oai-ch-summaries -o json >"$work/check.json" 2>&1
[ $rc -eq 0 ] && ok "fix --grant-scope vault applies" || bad "fix --grant-scope vault: exit $rc: $(tail -c 600 "$work/out")"
check "with the role on the vault, the key's access holds and the key is in use" \
	'not any(f["rule"] in ("identity.key-access", "resource.cmk") for f in d["findings"])' "$work/check.json"
curl -s --proxy "$HTTPS_PROXY" --cacert "$work/ca.pem" https://sim.local/log >"$work/log.json"
check "the simulator saw the role assignment made on the vault" \
	'any(e["method"] == "PUT" and e["status"] == 201 and e["path"].startswith("/subscriptions/22222222-2222-4222-8222-222222222222/resourceGroups/rg-prod-ai/providers/Microsoft.KeyVault/vaults/kv-ch-prod-ai/providers/Microsoft.Authorization/roleAssignments/") for e in d["value"])' \
	"$work/log.json"

# fix --all --fresh: the tenant was reset after the last audit (the re-audit above), so that report says the
# fleet's resources are fixed while Azure now says they are not, but oai-ch-summaries, fixed since. Without
# --fresh the stale report is planned; with it, an audit taken now, kept as the last audit's.
kept=$work/state/azcmk/last-audit.json
az fix --all --dry-run -o json >"$work/stale.json" 2>/dev/null
summaries=$(python3 -c 'import json, sys
print([p["resource"] for p in json.load(open(sys.argv[1]))["plans"] if p["resource"].endswith("/oai-ch-summaries")][0])' \
	"$work/fleet.json")
check "without --fresh, fix --all plans from the last audit's report: none of the fleet's fixed resources" \
	'not {r["id"].lower() for r in d["resources"]} & {p["resource"].lower() for p in json.load(open("'"$work/fleet.json"'"))["plans"]}' \
	"$work/stale.json"
az fix --all --fresh --dry-run -o json >"$work/fresh.json" 2>"$work/fresh.err"
rc=$?
[ $rc -eq 0 ] && ok "fix --all --fresh --dry-run audits and plans" || bad "fix --all --fresh: exit $rc: $(cat "$work/fresh.err")"
python3 - "$work/fresh.json" "$work/fleet.json" "$summaries" "$kept" >"$work/fresh.check" 2>&1 <<'EOF2'
import json, sys
review, fleet, summaries = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3].lower()
kept = json.load(open(sys.argv[4]))
seen = {r["id"].lower() for r in review["resources"] + review["skipped"]}
again = {p["resource"].lower() for p in fleet["plans"]} - {summaries}
assert again <= seen, "the reset resources not planned again: %s" % sorted(again - seen)
assert summaries not in seen, "oai-ch-summaries, fixed since the last audit, is in the fresh fleet"
lacking = {f["resourceId"].lower() for f in kept["findings"] if f["rule"] == "resource.cmk"}
assert again <= lacking and summaries not in lacking, "the kept report is not the fresh audit's"
EOF2
[ $? -eq 0 ] && ok "--fresh plans from what Azure holds now (the reset resources again, not the one fixed since) and keeps that audit" ||
	bad "fix --all --fresh: $(cat "$work/fresh.check")"
az fix --all --dry-run -o json >"$work/after.json" 2>/dev/null
a=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["fleet"])' "$work/fresh.json")
b=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["fleet"])' "$work/after.json")
[ -n "$a" ] && [ "$a" = "$b" ] && ok "the fresh audit is the last audit: fix --all without --fresh then makes the same fleet" ||
	bad "after --fresh, fix --all made fleet $b, not $a"
# The audit's filters: --subscription narrows the fresh audit itself, as audit's does.
az fix --all --fresh --dry-run -o json --subscription 33333333-3333-4333-8333-333333333333 >"$work/fresh-sub.json" 2>/dev/null
check "--fresh --subscription plans only that subscription's resources" \
	'd["resources"] and all(r["id"].startswith("/subscriptions/33333333-") for r in d["resources"] + d["skipped"])' \
	"$work/fresh-sub.json"
check "--fresh --subscription audits only that subscription, and keeps that report" \
	'([x["subscriptionId"] for x in d["subscriptions"]] == ["33333333-3333-4333-8333-333333333333"] and d["findings"] and
	 all(f["resourceId"].startswith("/subscriptions/33333333-") for f in d["findings"] if f.get("resourceId")))' "$kept"
# Refusals: with --from, and without --all; neither audits (the kept report is untouched).
cp "$kept" "$work/kept-before.json"
az fix --all --fresh --from "$work/audit.json" --dry-run >"$work/out" 2>&1
[ $? -eq 2 ] && grep -q -- "--fresh audits now and --from reads a report already taken: give one of them" "$work/out" &&
	ok "--fresh with --from is refused, saying to give one" || bad "--fresh --from: $(cat "$work/out")"
az fix oai-ch-triage --fresh --dry-run >"$work/out" 2>&1
[ $? -eq 2 ] && grep -q -- "--vault-subscription and --fresh apply to fix --all" "$work/out" &&
	ok "--fresh without --all is refused" || bad "fix --fresh without --all: $(cat "$work/out")"
# A fresh audit that stops plans nothing, never from the older report.
curl -s -o /dev/null --proxy "$HTTPS_PROXY" --cacert "$work/ca.pem" -X POST -H 'Content-Type: application/json' \
	-d '{"host": "management.azure.com", "method": "GET", "path": "/subscriptions", "status": 403, "code": "AuthorizationFailed"}' \
	https://sim.local/faults
az fix --all --fresh --dry-run -o json >"$work/out" 2>"$work/fresh-fail.err"
rc=$?
curl -s -o /dev/null --proxy "$HTTPS_PROXY" --cacert "$work/ca.pem" -X DELETE https://sim.local/faults
[ $rc -eq 2 ] && grep -q "the fresh audit did not end: nothing was planned" "$work/fresh-fail.err" && ! [ -s "$work/out" ] &&
	ok "a fresh audit that stops plans nothing, exit 2" || bad "failed fresh audit: exit $rc: $(cat "$work/fresh-fail.err") $(head -c 300 "$work/out")"
cmp -s "$kept" "$work/kept-before.json" && ok "the refusals and the stopped audit leave the last audit's report as it was" ||
	bad "the kept report changed"

finish
