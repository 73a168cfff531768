#!/bin/sh
# Drives the wizard in tmux on the demo tenant: first frame, sign-in and scope, findings, explanation,
# filter (also one typed while a list is read), resources, help, resize and "too small", going back, quitting,
# SIGHUP, Ctrl-C, a fleet of marked findings (review, apply, a failure retried, Ctrl-C stopping it), and the
# French run through every step up to the review.
# A private tmux server, a fixed 80x24 size, a pinned locale and TERM; every wait polls for text.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=$(cd "${top_builddir:-.}" && pwd)
azcmk=$top_builddir/src/azcmk
work=$(mktemp -d)
. "$top_srcdir/tests/ui/lib.sh"
trap '$T kill-server 2>/dev/null; rm -rf "$work"' EXIT

# start LANG-SETTINGS [OPTIONS]: runs the wizard on the demo tenant in a fresh 80x24 window named w.
start() {
	$T kill-session -t w 2>/dev/null
	$T new-session -d -s w -x 80 -y 24 "env -i PATH=/usr/bin:/bin HOME=$work TERM=screen-256color \
		XDG_STATE_HOME=$work/state AZCMK_LOCALEDIR=$work/locale $1 $azcmk --demo ${2:-}; echo EXIT=\$?; sleep 60"
	$T set-option -t w -g escape-time 0 >/dev/null
}

mkdir -p "$work/locale/fr/LC_MESSAGES"
msgfmt -o "$work/locale/fr/LC_MESSAGES/azcmk.mo" "$top_srcdir/po/fr.po" || exit 99

# Sign-in and scope, on the demo tenant, in English.
start "LC_ALL=C.UTF-8"
wait_for "azcmk [DEMO]  Sign in and scope" "first frame: title bar with DEMO"
wait_for "[x] Contoso Health Prod" "subscriptions listed, all in scope"
wait_for "Signed in as 0a0a0a0a-0a0a-4a0a-8a0a-0a0a0a0a0a0a" "who is signed in"
keys Space
wait_for "[ ] Contoso Health Prod" "Space takes a subscription out of scope"
keys Space
wait_for "[x] Contoso Health Prod" "Space puts it back"
keys '?'
wait_for "Keys (any key closes this help):" "? shows help from the key table"
wait_for "Filter the list: type, then Enter" "help lists the filter key"
keys x
gone "Keys (any key closes this help):" "any key closes help"

# Findings: the audit, an explanation, the filter, every resource.
keys Enter
wait_for "Findings and resources" "Enter goes on to the findings"
wait_for "Findings: 37 blockers, 25 warnings, 20 notes, in 43 resources" "the audit's summary"
wait_for "BLOCKER" "findings with their severity"
keys e
wait_for "Why it matters:" "e opens the explanation"
wait_for "What to do:" "with what to do"
keys Escape
gone "Why it matters:" "Esc closes it"
keys / ; keys -l legacy-faq ; keys Enter
wait_for "hb-ch-legacy-faq cannot use a customer-managed key" "/ filters the findings"
wait_for "(1 of 82 shown)" "the filter says how many match"
keys / ; keys Escape
gone "shown)" "Esc in the filter clears it"
keys v
wait_for "Every resource: 43, 24 of them on a customer-managed key" "v shows every resource"
wait_for "Microsoft-managed" "with its encryption"

# Resize: too small, then back.
$T resize-window -t w -x 60 -y 20
wait_for "The terminal is 60x20; azcmk needs at least 80x24." "too small screen below 80x24"
$T resize-window -t w -x 100 -y 30
wait_for "Every resource: 43" "redrawn after growing back"
wait_for "step 2 of 7" "title bar at the new width"

# Back, and quit.
keys Escape
wait_for "Sign in and scope" "Esc goes back a step"
keys q
wait_for "EXIT=0" "q quits with status 0"
$T capture-pane -p -t w | grep -q "Sign in and scope" && bad "the terminal was not restored after q" ||
	ok "terminal restored after q"

# SIGHUP, as when SSH drops: the wizard ends and gives the terminal back.
start "LC_ALL=C.UTF-8"
wait_for "[x] Contoso Health Prod" "started again"
pid=$($T list-panes -t w -F '#{pane_pid}')
pkill -HUP -P "$pid" -x azcmk
wait_for "EXIT=129" "SIGHUP ends it (status 129)"
wait_for "stopped by a signal" "and says so"
$T capture-pane -p -t w | grep -q "Sign in and scope" && bad "the terminal was not restored after SIGHUP" ||
	ok "terminal restored after SIGHUP"

# Ctrl-C: the same, with status 130.
start "LC_ALL=C.UTF-8"
wait_for "[x] Contoso Health Prod" "started once more"
keys C-c
wait_for "EXIT=130" "Ctrl-C ends it (status 130)"
$T capture-pane -p -t w | grep -q "Sign in and scope" && bad "the terminal was not restored after Ctrl-C" ||
	ok "terminal restored after Ctrl-C"

# --color beats NO_COLOR both ways: the title bar is white on blue (SGR 44) only when colour is on.
# colour SETTINGS OPTIONS WANT NAME: starts the wizard and checks the title bar's colour (WANT: yes or no).
colour() {
	start "LC_ALL=C.UTF-8 $1" "$2"
	wait_for "[x] Contoso Health Prod" "$4: started" || return
	if $T capture-pane -e -p -t w | head -1 | grep -q '44m azcmk'; then got=yes; else got=no; fi
	[ "$got" = "$3" ] && ok "$4" || bad "$4: colour is '$got', not '$3'"
	keys q
	wait_for "EXIT=0" "$4: quits"
}
colour "" "" yes "colour by default"
colour "NO_COLOR=1" "" no "NO_COLOR turns colour off"
colour "NO_COLOR=1" "--color=always" yes "--color=always beats NO_COLOR"
colour "NO_COLOR=1" "--color=auto" yes "--color=auto beats NO_COLOR on a colour terminal"
colour "AZURE_CORE_NO_COLOR=true" "--color=auto" yes "--color=auto beats AZURE_CORE_NO_COLOR"
colour "" "--color=never" no "--color=never turns colour off"
colour "TERM=vt100" "--color=auto" no "--color=auto on a terminal without colours"
start "LC_ALL=C.UTF-8" "--color=sometimes"
wait_for "invalid --color 'sometimes': use auto, always or never" "a bad --color says what to use"
wait_for "EXIT=2" "a bad --color exits with status 2"

# A terminal curses cannot draw on: azcmk's own message, exit status 2, and the terminal left alone.
start "LC_ALL=C.UTF-8 TERM=dumb"
wait_for "EXIT=2" "TERM=dumb: refused with status 2"
wait_for "cannot draw on terminal type 'dumb'" "TERM=dumb: says why"
wait_for "set TERM to your terminal's type" "TERM=dumb: and what to do instead"
start "LC_ALL=C.UTF-8 TERM=azcmk-no-such-terminal"
wait_for "EXIT=2" "unknown TERM: refused with status 2"
wait_for "terminal type 'azcmk-no-such-terminal' is not kn" "unknown TERM: says why"
start "LC_ALL=C.UTF-8 TERM="
wait_for "EXIT=2" "empty TERM: refused with status 2"
wait_for "TERM is not set" "empty TERM: says why"
if locale -a 2>/dev/null | grep -qi '^fr_FR\.utf-\?8$'; then
	start "LANG=fr_FR.UTF-8 LC_ALL=fr_FR.UTF-8 TERM=dumb"
	wait_for "ne peut pas dessiner sur le terminal de type" "TERM=dumb: in French too"
fi

# pick TEXT: filters the list for TEXT and chooses the first match.
pick() {
	keys / ; keys -l "$1" ; keys Enter
	wait_for "(1 of " || return 1
	keys Enter
}

# Managed HSMs are listed beside the vaults, with their badges; their keys are chosen as a vault's are (azcmk
# creates no key in an HSM), and the role step proposes the HSM's local role.
start "LC_ALL=C.UTF-8"
wait_for "[x] Contoso Health Prod" "HSM: started"
keys Enter
wait_for "Findings: " "HSM: findings"
keys v
wait_for "Every resource: " "HSM: resources"
pick "chprodimaging/dermatology"
wait_for "The identity that is to reach the key" "HSM: identity step"
keys Enter
wait_for "mhsm-ch-prod" "HSM: the Managed HSM is listed beside the vaults"
wait_for "[HSM]" "HSM: marked as one"
pick "mhsm-ch-prod"
wait_for "cmk-hsm-dicom" "HSM: its keys are listed"
$T capture-pane -p -t w | grep -q "create a new RSA key" && bad "HSM: offers to create a key in the HSM" ||
	ok "HSM: no key creation offered in an HSM"
pick "cmk-hsm-dicom "
wait_for "created" "HSM: the key's versions"
keys Enter
wait_for "local role Managed HSM Crypto" "HSM: the role step proposes the HSM's local role"
keys q
wait_for "EXIT=0" "HSM: quits"

# A finding chosen on the start screen preselects what its fix needs: for a lost grant, the vault, key and
# version in use, so Enter at each level leads back to the same key; for a key of the wrong type, a new key.
start "LC_ALL=C.UTF-8"
wait_for "[x] Contoso Health Prod" "preselect: started"
keys Enter
wait_for "Findings: " "preselect: findings"
pick "hb-ch-pharmacy cannot use key"
wait_for "The identity that is to reach the key" "preselect: identity step"
keys Enter
wait_for "kv-chdevold2019" "preselect: vaults"
keys Enter
wait_for "Keys in kv-ch-prod-bots" "preselect: the vault in use is preselected"
keys Enter
wait_for "follow the newest version" "preselect: the key in use is preselected"
keys Escape ; keys Escape
wait_for "kv-chdevold2019" "preselect: back at the vaults"
keys Escape ; keys Escape
wait_for "Findings: " "preselect: back at the findings"
keys / ; keys Escape
pick "key cmk-chat is of type EC"
wait_for "The identity that is to reach the key" "preselect: identity step again"
keys Enter
wait_for "kv-chdevold2019" "preselect: vaults again"
keys Enter
wait_for "+ create a new RSA key" "preselect: the keys of the vault in use"
keys Enter
wait_for "is to be created in" "preselect: a key of the wrong type preselects a new key"
keys q
wait_for "EXIT=0" "preselect: quits"

# A vault that cannot hold the key (OpenAI with a vault in another region): Enter says why and stays.
start "LC_ALL=C.UTF-8"
wait_for "[x] Contoso Health Prod" "unusable vault: started"
keys Enter
wait_for "Findings: " "unusable vault: findings"
keys v
wait_for "Every resource: " "unusable vault: resources"
pick "oai-ch-triage"
wait_for "The identity that is to reach the key" "unusable vault: identity step"
keys Enter
wait_for "x same-region" "unusable vault: its badge marks it"
pick "kv-ch-triage-eus"
wait_for "no plan can fix this, choose another vault: vault kv-ch-triage-eus is in" \
	"unusable vault: Enter says why instead of opening it"
$T capture-pane -p -t w | grep -q "Keys in kv-ch-triage-eus" && bad "unusable vault: opened anyway" ||
	ok "unusable vault: stays on the vaults"
keys q
wait_for "EXIT=0" "unusable vault: quits"

# Long lines end with an ellipsis ("..." when the locale is not UTF-8) instead of being cut silently; f shows the
# selected line whole, and says so on the status line.
start "LC_ALL=C.UTF-8"
wait_for "[x] Contoso Health Prod" "ellipsis: started"
keys Enter
wait_for "encrypts its data with Microsoft-m…" "ellipsis: a long finding ends with …"
wait_for "f shows the whole of the selected line" "ellipsis: the status line says which key shows it whole"
keys f
wait_for "The whole line (any key closes it):" "ellipsis: f opens the whole line"
wait_for "Microsoft-managed keys" "ellipsis: with the text that was cut"
keys x
gone "The whole line (any key closes it):" "ellipsis: any key closes it"
keys Down
gone "f shows the whole of the selected line" "ellipsis: no such hint on a line that fits"
keys f
$T capture-pane -p -t w | grep -q "The whole line" && bad "ellipsis: f opens a line that fits" ||
	ok "ellipsis: f does nothing on a line that fits"
keys q
wait_for "EXIT=0" "ellipsis: quits"
start "LC_ALL=C"
wait_for "[x] Contoso Health Prod" "ASCII ellipsis: started"
keys Enter
wait_for "encrypts its data with Microsoft..." "ASCII ellipsis: a long finding ends with ... in the C locale"
keys q
wait_for "EXIT=0" "ASCII ellipsis: quits"

# At 80 columns the badges that decide a vault never fall off the edge: the vault's name is abbreviated first, and
# f shows it whole.
start "LC_ALL=C.UTF-8"
wait_for "[x] Contoso Health Prod" "badges: started"
keys Enter
wait_for "Findings: " "badges: findings"
keys v
wait_for "Every resource: " "badges: resources"
pick oai-ch-summaries
wait_for "The identity that is to reach the key" "badges: identity step"
keys Enter
wait_for "kv-chdevold2… eastus2        fix soft-delete fix purge-protection x same-region" \
	"badges: every badge shows, the name abbreviated"
wait_for " kv-ch-prod-imaging westus3        ! trusted-bypass" "badges: the names that fit stay whole"
keys / ; keys -l kv-chdevold2019 ; keys Enter
wait_for "(1 of 14 shown)" "badges: the filter matches the whole name"
keys f
wait_for "The whole line (any key closes it):" "badges: f opens the abbreviated row"
wait_for "kv-chdevold2019" "badges: with the vault's whole name"
keys x
keys q
wait_for "EXIT=0" "badges: quits"

# Filters reset per screen: a screen shown again, going on or going back, shows its whole list.
start "LC_ALL=C.UTF-8"
wait_for "[x] Contoso Health Prod" "filters: started"
keys / ; keys -l Prod ; keys Enter
wait_for "(1 of 4 shown)" "filters: the subscriptions filtered"
keys Enter
wait_for "Findings: " "filters: findings"
$T capture-pane -p -t w | grep -q "shown)" && bad "filters: the findings open filtered" ||
	ok "filters: the findings open without a filter"
keys Escape
wait_for "Sign in and scope" "filters: back at the subscriptions"
wait_for "[x] Contoso Health Legacy" "filters: every subscription shows again"
gone "shown)" "filters: the subscriptions' filter is gone"
keys Enter
wait_for "Findings: " "filters: findings again"
keys v
wait_for "Every resource: " "filters: resources"
pick oai-ch-summaries
wait_for "The identity that is to reach the key" "filters: identity step"
keys Escape
wait_for "Every resource: " "filters: back at the resources"
gone "(1 of 43 shown)" "filters: the resources' filter is gone"
wait_for "hb-ch-legacy-faq" "filters: every resource shows again"
pick oai-ch-summaries
wait_for "The identity that is to reach the key" "filters: identity step again"
keys Enter
wait_for "mhsm-ch-prod" "filters: vaults"
pick "kv-ch-prod-ai "
wait_for "cmk-ai-spare" "filters: keys"
gone "shown)" "filters: the keys open without the vaults' filter"
keys / ; keys -l "cmk-openai " ; keys Enter
wait_for "(1 of " "filters: the keys filtered"
keys Escape
wait_for "mhsm-ch-prod" "filters: back at the vaults, all of them"
gone "shown)" "filters: the vaults' filter is gone"
keys q
wait_for "EXIT=0" "filters: quits"

# A filter typed while a list is being read is kept when its items come (and the cursor is on its first match):
# the demo's simulator, run through a wrapper that says where its proxy and CA are, answers the vault's key
# list, then the key's version list, 3 s late. The filter line must show while the list is read and the list
# come filtered after it, so a list read before the filter was typed fails the test rather than passing it.
cat >"$work/sim" <<EOF
#!/bin/sh
prev=
for a; do [ "\$prev" = --ca-out ] && printf '%s\n' "\$a" >"$work/sim-ca"; prev=\$a; done
exec "$top_builddir/src/azcmk-sim" "\$@" --port-file "$work/sim-ports.json"
EOF
chmod +x "$work/sim"
# slow PATH: the demo's simulator answers the next GET of PATH on the vault kv-ch-prod-ai 3 s late.
slow() {
	port=$(sed 's/.*"proxy": *\([0-9]*\).*/\1/' "$work/sim-ports.json")
	curl -sf -x "http://127.0.0.1:$port" --cacert "$(cat "$work/sim-ca")" -X POST \
		-H 'Content-Type: application/json' https://sim.local/faults \
		-d "{\"method\":\"GET\",\"host\":\"kv-ch-prod-ai.*\",\"path\":\"$1\",\"latencyMs\":3000,\"times\":1}" \
		>/dev/null
}
if command -v curl >/dev/null 2>&1; then
	start "LC_ALL=C.UTF-8 AZCMK_SIM=$work/sim"
	wait_for "[x] Contoso Health Prod" "filter while reading: started"
	keys Enter
	wait_for "Findings: " "filter while reading: findings"
	keys v
	wait_for "Every resource: " "filter while reading: resources"
	pick oai-ch-summaries
	wait_for "The identity that is to reach the key" "filter while reading: identity step"
	keys Enter
	wait_for "mhsm-ch-prod" "filter while reading: vaults"
	slow /keys || bad "filter while reading: the simulator took no fault for the keys"
	pick "kv-ch-prod-ai "
	wait_for "reading the vault's keys" "filter while reading: the keys are being read"
	keys / ; keys -l cmk-ai
	wait_for "/cmk-ai_  (the list is still being read)" "filter while reading: the filter shows while the keys are read"
	wait_for "/cmk-ai_  (1 of 4 shown)" "filter while reading: the keys come filtered, the prompt still open"
	wait_for "cmk-ai-spare" "filter while reading: with the key that matches"
	$T capture-pane -p -t w | grep -q "cmk-foundry" && bad "filter while reading: a key that does not match shows" ||
		ok "filter while reading: the keys that do not match are hidden"
	slow /keys/cmk-ai-spare/versions || bad "filter while reading: the simulator took no fault for the versions"
	keys Enter ; keys Enter
	wait_for "listing the key's versions" "filter while reading: Enter opens the first match"
	keys / ; keys -l 247e ; keys Enter
	wait_for "/247e  (the list is still being read)" "filter while reading: a closed filter shows while the versions are read"
	wait_for "/247e  (1 of 2 shown)" "filter while reading: the versions come filtered"
	wait_for "247e62f5cce06f2eb5a1e2aef525cc60" "filter while reading: the versions are cmk-ai-spare's"
	keys Escape
	wait_for "Keys in kv-ch-prod-ai" "filter while reading: Esc goes back to the keys"
	gone "shown)" "filter while reading: the keys show again without a filter"
	keys q
	wait_for "EXIT=0" "filter while reading: quits"
else
	echo "skip the filter typed while a list is read: curl is not installed"
fi

# The busy line says how far the audit got: the demo's simulator answers the key reads of vault kv-ch-prod-ai
# 3 s late, once, so the audit stays on its deep checks long enough to be seen there, and ends as usual.
if command -v curl >/dev/null 2>&1; then
	start "LC_ALL=C.UTF-8 AZCMK_SIM=$work/sim"
	wait_for "[x] Contoso Health Prod" "audit progress: started"
	port=$(sed 's/.*"proxy": *\([0-9]*\).*/\1/' "$work/sim-ports.json")
	curl -sf -x "http://127.0.0.1:$port" --cacert "$(cat "$work/sim-ca")" -X POST \
		-H 'Content-Type: application/json' https://sim.local/faults \
		-d '{"method":"GET","host":"kv-ch-prod-ai.*","path":"/keys/*","latencyMs":3000,"times":1}' \
		>/dev/null || bad "audit progress: the simulator took no fault"
	keys Enter
	wait_for "checking the keys in use (" "audit progress: the busy line says the deep checks"
	wait_for "Findings: 37 blockers, 25 warnings, 20 notes, in 43 resources" "audit progress: the audit ends"
	gone "checking the keys in use" "audit progress: the busy line is gone"
	keys q
	wait_for "EXIT=0" "audit progress: quits"
fi

# A fleet from the findings: Space marks one finding, a marks every finding a filter shows, Enter plans the marked
# ones into one fleet as fix --all does and shows its review; typing yes applies it, a row per resource.
start "LC_ALL=C.UTF-8" "--propagation-wait 0"
wait_for "[x] Contoso Health Prod" "fleet: started"
keys Enter
wait_for "Findings: " "fleet: findings"
keys / ; keys -l "oai-ch-summaries (Azure" ; keys Enter
wait_for "(1 of " "fleet: filtered to one finding"
keys Space
wait_for "WARNING * oai-ch-summaries (Azure OpenAI) encrypts" "fleet: Space marks the finding in the mark column"
wait_for "1 finding marked: Enter fixes it as a fleet" "fleet: the status line counts the marks"
keys / ; keys Escape
keys / ; keys -l "neurology (DICOM" ; keys Enter
wait_for "(1 of " "fleet: another filter"
keys a
wait_for "WARNING * chprodimaging/neurology (DICOM service)" "fleet: a marks what the filter shows"
wait_for "2 findings marked: Enter fixes them as one fleet" "fleet: two marked"
keys / ; keys Escape
gone "shown)" "fleet: the filter cleared"
$T capture-pane -p -t w | grep -q "WARNING \* fdy-ch-copilot" && bad "fleet: a marked a finding the filter hid" ||
	ok "fleet: a marks only what the filter showed"
keys Enter
wait_for "Fix the marked findings as one fleet" "fleet: Enter opens the fleet"
wait_for "2 resources to protect, 0 skipped" "fleet: the review counts both resources"
wait_for "oai-ch-summaries (Azure OpenAI): new key cmk-oai-ch-summaries" "fleet: the review shows the first"
wait_for "neurology (DICOM service): new key cmk-neurology" "fleet: and the second"
keys a
wait_for "Apply the fleet plan to 2 resources (2 changes cannot be undone)? Type yes" \
	"fleet: a asks for yes, with the irreversible changes"
keys -l no ; keys Enter
wait_for "not confirmed: nothing was changed" "fleet: anything but yes changes nothing"
keys a ; keys -l yes ; keys Enter
wait_for "Fleet plan " "fleet: the progress list"
wait_for "2/2 done, 0 failed" "fleet: both resources end done"
wait_for " done     oai-ch-summaries" "fleet: a row for the first"
wait_for " done     neurology" "fleet: a row for the second"
wait_for "the fleet is applied and verified" "fleet: the status says so"
keys Escape
wait_for "Findings: " "fleet: Esc goes back to the findings, audited again"
gone "findings marked" "fleet: no mark is left"
keys q
wait_for "EXIT=0" "fleet: quits"

# A resource whose fix cannot be undone (Foundry) is skipped until the review's i allows it, after a typed yes,
# as --confirm-irreversible does; anything but yes leaves it skipped.
start "LC_ALL=C.UTF-8" "--propagation-wait 0"
wait_for "[x] Contoso Health Prod" "fleet irreversible: started"
keys Enter
wait_for "Findings: " "fleet irreversible: findings"
keys / ; keys -l "fdy-ch-copilot" ; keys Enter
wait_for "(2 of " "fleet irreversible: filtered"
keys a ; keys Enter
wait_for "0 resources to protect, 1 skipped" "fleet irreversible: skipped without the consent"
wait_for "1 skipped as it needs a change that cannot be undone: i allows it." "fleet irreversible: the review says i allows it"
wait_for "i irreversible" "fleet irreversible: the key bar offers i"
keys i
wait_for "Allow the changes that cannot be undone which 1 skipped resource needs" "fleet irreversible: i asks for yes"
keys -l no ; keys Enter
wait_for "not confirmed: nothing was changed" "fleet irreversible: anything but yes changes nothing"
wait_for "0 resources to protect, 1 skipped" "fleet irreversible: still skipped"
keys i ; keys -l yes ; keys Enter
wait_for "1 resource to protect, 0 skipped" "fleet irreversible: planned once allowed"
gone "not given" "fleet irreversible: the review no longer says the consent is not given"
keys i
wait_for "0 resources to protect, 1 skipped" "fleet irreversible: i again takes the consent back"
keys q
wait_for "EXIT=0" "fleet irreversible: quits"

# A fleet in which one resource fails (the simulator refuses its writes): its row says where and Azure's words; once
# the fault is gone, r retries it (after yes), continuing its journal, and the fleet ends done.
if command -v curl >/dev/null 2>&1; then
	# sim ARGS: a request to the demo's simulator through its proxy.
	sim() {
		port=$(sed 's/.*"proxy": *\([0-9]*\).*/\1/' "$work/sim-ports.json")
		curl -sf -x "http://127.0.0.1:$port" --cacert "$(cat "$work/sim-ca")" "$@" >/dev/null
	}
	start "LC_ALL=C.UTF-8 AZCMK_SIM=$work/sim" "--propagation-wait 0"
	wait_for "[x] Contoso Health Prod" "fleet failure: started"
	keys Enter
	wait_for "Findings: " "fleet failure: findings"
	keys / ; keys -l "chprodimaging/" ; keys Enter
	wait_for " of 82 shown)" "fleet failure: the imaging findings"
	keys a
	wait_for "11 findings marked" "fleet failure: every imaging finding marked"
	sim -X POST -H 'Content-Type: application/json' https://sim.local/faults \
		-d '{"method":"PUT","path":"*dermatology*","status":400,"code":"BadRequest","message":"sim-refusal-4711"}' ||
		bad "fleet failure: the simulator took no fault"
	keys Enter
	wait_for "2 resources to protect, 4 skipped" "fleet failure: the review"
	wait_for "ophthalmology" "fleet failure: the skipped resource is listed"
	wait_for "its findings are not a missing" "fleet failure: with its reason"
	keys a ; keys -l yes ; keys Enter
	wait_for "1/2 done, 1 failed" "fleet failure: one fails, the other is done"
	wait_for "FAILED   dermatology                    at 2. Grant chprodimaging/dermatology" \
		"fleet failure: the row says the step it failed at"
	wait_for "dermatology failed: PUT" "fleet failure: under the list, the whole failure"
	wait_for "sim-refusal-4711" "fleet failure: with Azure's words"
	wait_for "r retries what failed" "fleet failure: says r retries"
	sim -X DELETE https://sim.local/faults || bad "fleet failure: the fault was not removed"
	keys r
	wait_for "Apply the fleet plan to 1 resource" "fleet failure: r asks for yes for the failed one"
	keys -l yes ; keys Enter
	wait_for "2/2 done, 0 failed" "fleet failure: the retry ends done"
	wait_for " done     dermatology" "fleet failure: the failed row is done"
	keys q
	wait_for "EXIT=0" "fleet failure: quits"
	# Ctrl-C while the fleet runs (every write 2 s slow) stops it after the steps under way, as the command
	# line's first Ctrl-C does, and leaves the wizard running; r then finishes it.
	start "LC_ALL=C.UTF-8 AZCMK_SIM=$work/sim" "--propagation-wait 0"
	wait_for "[x] Contoso Health Prod" "fleet stop: started"
	keys Enter
	wait_for "Findings: " "fleet stop: findings"
	keys / ; keys -l "neurology (DICOM" ; keys Enter
	wait_for "(1 of " "fleet stop: filtered"
	keys Space
	wait_for "1 finding marked" "fleet stop: marked"
	keys Enter
	wait_for "1 resource to protect, 0 skipped" "fleet stop: the review"
	sim -X POST -H 'Content-Type: application/json' https://sim.local/faults \
		-d '{"method":"PUT","path":"*","latencyMs":2000}' || bad "fleet stop: the simulator took no fault"
	keys a ; keys -l yes ; keys Enter
	wait_for " running  neurology" "fleet stop: the resource runs"
	keys C-c
	# (The "Stopping after the steps under way" line lasts only as long as the step under way: not waited for.)
	wait_for "0/1 done, 0 failed, 1 stopped" "fleet stop: the resource stops after its step"
	wait_for "did not finish: 0 failed, 1 stopped or not started" "fleet stop: the status line counts it stopped, not failed"
	wait_for " stopped  neurology                      after " "fleet stop: its row says after which step"
	$T capture-pane -p -t w | grep -q "EXIT=" && bad "fleet stop: Ctrl-C ended the wizard" ||
		ok "fleet stop: the wizard goes on"
	sim -X DELETE https://sim.local/faults || bad "fleet stop: the fault was not removed"
	keys r
	wait_for "Apply the fleet plan to 1 resource" "fleet stop: r asks for yes"
	keys -l yes ; keys Enter
	wait_for "1/1 done, 0 failed" "fleet stop: the retry finishes it"
	keys q
	wait_for "EXIT=0" "fleet stop: quits"
	# The review's w plans the fleet again with the role on the whole vault (fix --all --grant-scope vault), and
	# says which scope is in effect; applied, the simulator holds the assignment at the vault's scope, none at
	# the key's.
	start "LC_ALL=C.UTF-8 AZCMK_SIM=$work/sim" "--propagation-wait 0"
	wait_for "[x] Contoso Health Prod" "fleet scope: started"
	keys Enter
	wait_for "Findings: " "fleet scope: findings"
	keys / ; keys -l "oai-ch-summaries (Azure" ; keys Enter
	wait_for "(1 of " "fleet scope: filtered"
	keys Space
	keys / ; keys Escape
	keys / ; keys -l "hb-ch-intake-prod (health" ; keys Enter
	wait_for "(1 of " "fleet scope: filtered to a bot, whose vault has access policies"
	keys Space
	wait_for "2 findings marked" "fleet scope: both marked"
	keys Enter
	wait_for "2 resources to protect, 0 skipped" "fleet scope: the review"
	wait_for "Grant scope: each key (w: the whole vault)" "fleet scope: the review says the key scope is in effect"
	wait_for "w scope  a apply  Esc back" "fleet scope: the key bar offers w"
	keys w
	wait_for "Grant scope: the whole vault (w: each key)" "fleet scope: w plans again with the vault scope"
	wait_for "the fleet is planned again" "fleet scope: and says so"
	wait_for "1 resource's vault uses access policies, which are vault-wide" \
		"fleet scope: the review says which vault keeps access policies"
	keys a ; keys -l yes ; keys Enter
	wait_for "2/2 done, 0 failed" "fleet scope: applied"
	port=$(sed 's/.*"proxy": *\([0-9]*\).*/\1/' "$work/sim-ports.json")
	curl -s -x "http://127.0.0.1:$port" --cacert "$(cat "$work/sim-ca")" https://sim.local/log >"$work/scope-log.json"
	if python3 -c 'import json, sys
puts = [e["path"].lower() for e in json.load(open(sys.argv[1]))["value"] if e["method"] == "PUT" and "/providers/microsoft.authorization/roleassignments/" in e["path"].lower()]
vault = [p for p in puts if p.split("/providers/microsoft.authorization/")[0].endswith("/vaults/kv-ch-prod-ai")]
key = [p for p in puts if "/vaults/kv-ch-prod-ai/keys/" in p]
policy = [e for e in json.load(open(sys.argv[1]))["value"] if e["method"] == "PUT" and e["path"].lower().split("?")[0].endswith("/vaults/kv-ch-prod-bots/accesspolicies/add")]
sys.exit(0 if len(vault) == 1 and not key and len(policy) == 1 else 1)' "$work/scope-log.json"; then
		ok "fleet scope: one role assignment on the vault, none on a key, and the access policy on the other vault"
	else
		bad "fleet scope: the role assignments: $(head -c 600 "$work/scope-log.json")"
	fi
	keys q
	wait_for "EXIT=0" "fleet scope: quits"
else
	echo "skip the fleet's failure: curl is not installed"
fi

# A tenant with no key vault (tests/sim/test-create-vault.sh's): every resource is skipped until the review's n
# form names a vault per region, its group and the consent to purge protection (fix --all --create-vault
# --vault-group --confirm-irreversible); a name Key Vault refuses, a name taken in Azure or a missing group is
# said on the form and changes nothing; then the fleet creates both vaults, applies, and the audit is clean.
if command -v curl >/dev/null 2>&1 && command -v python3 >/dev/null 2>&1; then
	python3 "$top_srcdir/tests/sim/gen-no-vault-tenant.py" "$top_srcdir/tests/scenarios/minimal.json" "$work/cv.json"
	"$top_builddir/src/azcmk-sim" --scenario "$work/cv.json" --port-file "$work/cv-ports.json" \
		--ca-out "$work/cv-ca.pem" >/dev/null 2>&1 &
	cvpid=$!
	trap '$T kill-server 2>/dev/null; kill "$cvpid" 2>/dev/null; rm -rf "$work"' EXIT
	i=0
	while [ ! -s "$work/cv-ports.json" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
	cvproxy=http://127.0.0.1:$(sed 's/.*"proxy": *\([0-9]*\).*/\1/' "$work/cv-ports.json")
	cvenv="HTTPS_PROXY=$cvproxy AZURE_TENANT_ID=11111111-1111-4111-8111-111111111111 \
		AZURE_CLIENT_ID=0a0a0a0a-0a0a-4a0a-8a0a-0a0a0a0a0a0a AZURE_CLIENT_SECRET=demo-secret \
		AZURE_POD_IDENTITY_AUTHORITY_HOST=http://127.0.0.1:9"
	# cvget PATH FILE: what the simulator holds (/state) or was asked (/log), into FILE.
	cvget() { curl -s -x "$cvproxy" --cacert "$work/cv-ca.pem" "https://sim.local$1" >"$2"; }
	# cvcheck NAME EXPR FILE: records whether the Python expression holds of the JSON in FILE (as d).
	cvcheck() {
		if python3 -c 'import json, sys
d = json.load(open(sys.argv[2]))
sys.exit(0 if eval(sys.argv[1]) else 1)' "$2" "$3"; then ok "$1"; else bad "$1: $(head -c 400 "$3")"; fi
	}
	# nobs N: N Backspaces.
	nobs() { n=0; while [ $n -lt "$1" ]; do keys BSpace; n=$((n + 1)); done; }
	$T kill-session -t w 2>/dev/null
	$T new-session -d -s w -x 80 -y 24 "env -i PATH=/usr/bin:/bin HOME=$work TERM=screen-256color LC_ALL=C.UTF-8 \
		XDG_STATE_HOME=$work/cv-state $cvenv $azcmk --ca-file $work/cv-ca.pem --auth environment \
		--propagation-wait 0; echo EXIT=\$?; sleep 60"
	$T set-option -t w -g escape-time 0 >/dev/null
	wait_for "[x] Contoso Health Test" "new vault: started"
	keys Enter
	wait_for "Findings: 0 blockers, 5 warnings" "new vault: findings"
	keys a ; keys Enter
	wait_for "0 resources to protect, 4 skipped" "new vault: no vault anywhere, every resource skipped"
	wait_for "4 skipped as no vault in their region is ready: n creates one." "new vault: the review says n creates one"
	wait_for "w scope  n new vault  Esc back" "new vault: the key bar offers n"
	keys n
	wait_for "Vault in westus3     kv-cmk-westus3_" "new vault: a name suggested for the first region"
	wait_for "Vault in eastus      kv-cmk-eastus" "new vault: and for the second"
	wait_for "Resource group       rg-cmk-test" "new vault: the first resource's group suggested"
	nobs 14 ; keys -l 9kv ; keys Enter
	wait_for "'9kv' is not a key vault name: use 3 to 24 letters" "new vault: a name Key Vault refuses is said"
	nobs 3 ; keys -l kv-taken ; keys Enter
	wait_for "type yes to confirm the purge protection" "new vault: the form needs yes"
	keys Up ; keys -l yes ; keys Tab ; nobs 8 ; keys -l kv-cmk-eastus ; keys Enter
	wait_for "kv-cmk-eastus is named for two regions" "new vault: one name for two regions is said"
	nobs 13 ; keys -l kv-taken ; keys Enter
	wait_for "key vault name kv-taken is taken in Azure" "new vault: a name taken in Azure is said on the form"
	wait_for "Change the fields above" "new vault: with what to do"
	nobs 8 ; keys -l kv-cmk-west
	keys Tab ; keys Tab ; nobs 11 ; keys -l rg-nowhere ; keys Enter
	wait_for "resource group rg-nowhere does not exist in subscription" "new vault: a missing group is said on the form"
	cvget /log "$work/cv-log1.json"
	cvcheck "new vault: the refused forms changed nothing (no PUT)" \
		'not [e for e in d["value"] if e["method"] in ("PUT", "PATCH", "DELETE")]' "$work/cv-log1.json"
	nobs 10 ; keys -l rg-cmk-test ; keys Enter
	wait_for "4 resources to protect, 0 skipped" "new vault: planned again with the new vaults"
	wait_for "New vaults, in group rg-cmk-test of subscription" "new vault: the review names them and their subscription"
	wait_for "66666666-6666-4666-8666-666666666666: kv-cmk-west, kv-cmk-eastus." "new vault: the review names the vaults"
	keys a ; keys -l yes ; keys Enter
	wait_for "4/4 done, 0 failed" "new vault: the fleet applies"
	cvget /state "$work/cv-state.json"
	cvcheck "new vault: both vaults made in their regions, RBAC, soft delete 90 days, purge protection" \
		'sorted((r["name"], r["location"]) for r in d["resources"] if r["type"] == "Microsoft.KeyVault/vaults" and "/rg-cmk-test/" in r["id"]) == [("kv-cmk-eastus", "eastus"), ("kv-cmk-west", "westus3")] and all(r["properties"]["enableRbacAuthorization"] and r["properties"]["enablePurgeProtection"] and r["properties"]["softDeleteRetentionInDays"] == 90 for r in d["resources"] if r["type"] == "Microsoft.KeyVault/vaults" and "/rg-cmk-test/" in r["id"])' \
		"$work/cv-state.json"
	cvcheck "new vault: you are granted Key Vault Crypto Officer once on each new vault" \
		'sorted(a["scope"].rsplit("/", 1)[1] for a in d["roleAssignments"] if a["principalId"] == "0b0b0b0b-0b0b-4b0b-8b0b-0b0b0b0b0b0b" and a["roleDefinitionId"].endswith("14b46e9e-c2b7-41b4-b07b-48a6ebf60603")) == ["kv-cmk-eastus", "kv-cmk-west"]' \
		"$work/cv-state.json"
	keys Escape
	wait_for "Findings: 0 blockers" "new vault: Esc goes back to the findings, audited again"
	gone "encrypts its data with Microsoft" "new vault: no resource is left on Microsoft-managed keys"
	env -i PATH=/usr/bin:/bin HOME="$work" XDG_STATE_HOME="$work/cv-state" $cvenv "$azcmk" --ca-file "$work/cv-ca.pem" \
		--auth environment audit -o json >"$work/cv-audit.json" 2>/dev/null
	cvcheck "new vault: the re-audit finds every resource on a customer-managed key" \
		'd["findings"] is not None and not [f for f in d["findings"] if f["rule"] == "resource.cmk"]' "$work/cv-audit.json"
	keys q
	wait_for "EXIT=0" "new vault: quits"
else
	echo "skip the fleet's new vault: curl or python3 is not installed"
fi

# PgUp, PgDn, Home and End page through a list, and through the review's plan (a page at a time, as less does).
start "LC_ALL=C.UTF-8"
wait_for "[x] Contoso Health Prod" "paging: started"
keys Enter
wait_for "fdy-ch-copilot: switching to a customer-managed key" "paging: findings from the top"
keys NPage
gone "fdy-ch-copilot: switching to a customer-managed key" "paging: PgDn turns the findings' page"
keys Home
wait_for "fdy-ch-copilot: switching to a customer-managed key" "paging: Home goes back to the first finding"
keys End
gone "fdy-ch-copilot: switching to a customer-managed key" "paging: End goes to the last finding"
keys PPage ; keys PPage ; keys PPage ; keys PPage ; keys PPage ; keys PPage
wait_for "fdy-ch-copilot: switching to a customer-managed key" "paging: PgUp pages back to the top"
keys v
wait_for "Every resource: " "paging: resources"
pick oai-ch-summaries
wait_for "The identity that is to reach the key" "paging: identity step"
keys Enter
wait_for "mhsm-ch-prod" "paging: vaults"
pick "kv-ch-prod-ai "
wait_for "cmk-ai-spare" "paging: keys"
pick "cmk-openai "
wait_for "follow the newest version" "paging: versions"
keys Enter
wait_for "Prerequisites that fail" "paging: role step"
keys Enter
wait_for "will use its system-assigned identity" "paging: identity type"
keys Enter
wait_for " 1. Grant oai-ch-summaries the role" "paging: the review shows the plan's first step"
keys NPage
wait_for " 4. Read oai-ch-summaries back" "paging: PgDn shows the review's next page"
gone " 1. Grant oai-ch-summaries the role" "paging: and scrolls the first page away"
keys End
wait_for "RBAC." "paging: End shows the plan's last line"
keys Home
wait_for " 1. Grant oai-ch-summaries the role" "paging: Home goes back to the plan's top"
keys NPage ; keys PPage
wait_for " 1. Grant oai-ch-summaries the role" "paging: PgUp pages back"
keys q ; keys q
wait_for "EXIT=0" "paging: quits"

# bar_fits NAME: records whether the French key bar fits 80 columns: whole up to "q sortir", no ellipsis.
bar_fits() {
	bar=$($T capture-pane -p -t w | tail -n 1 | sed 's/ *$//')
	case $bar in
	*"? aide  q sortir") ok "the French key bar fits on the $1 screen" ;;
	*) bad "the French key bar is cut on the $1 screen: $bar" ;;
	esac
}

# english NAME: records whether the screen shows a common English word (names and JSON fields are not words here).
english() {
	bar_fits "$1"
	screen=$($T capture-pane -p -t w)
	found=
	for word in Findings "Sign in" help quit filter encrypts BLOCKER WARNING explain back choose reload the will \
		Save Grant Wait Read and key of to is uses Enable Choose Review; do
		echo "$screen" | grep -qw -- "$word" && found="$found $word"
	done
	[ -z "$found" ] && ok "no English on the French $1 screen" || bad "English on the French $1 screen:$found"
}

# pick_fr TEXT: filters the list for TEXT and chooses the first match, in French.
pick_fr() {
	keys / ; keys -l "$1" ; keys Enter
	wait_for "(1 sur " || return 1
	keys Enter
}

# The French run shows no English, on every step of a flow up to the review.
if locale -a 2>/dev/null | grep -qi '^fr_FR\.utf-\?8$'; then
	start "LANG=fr_FR.UTF-8 LC_ALL=fr_FR.UTF-8"
	wait_for "Connexion et périmètre" "French title"
	wait_for "Abonnements" "French scope"
	english "sign-in"
	keys Enter
	wait_for "Constats :" "French findings"
	english "findings"
	keys v
	wait_for "Toutes les ressources :" "French resources"
	english "resources"
	pick_fr oai-ch-summaries
	wait_for "L'identité qui doit accéder à la clé" "French identity step"
	english "identity"
	keys o
	wait_for "le plan la désactive après l'enregistrement" "French: o marks the system-assigned identity"
	english "identity (system-assigned off)"
	keys o
	gone "le plan la désactive" "French: o keeps it again"
	keys Enter
	wait_for "Coffre, clé et version" "French vault step"
	english "vaults"
	pick_fr "kv-ch-prod-ai "
	wait_for "Clés de kv-ch-prod-ai" "French keys"
	english "keys"
	pick_fr "cmk-openai "
	wait_for "Versions de la clé dans" "French versions"
	english "versions"
	keys Enter
	wait_for "Attribuer le rôle" "French role step"
	# Enter is refused until the change is read: wait for its findings.
	wait_for "préalables" "French role step: the change is read"
	english "role"
	keys Enter
	wait_for "utilisera son identité affectée par le système" "French identity type"
	english "identity type"
	keys Enter
	wait_for "Plan " "French review"
	wait_for "Revue et enregistrement" "French review title"
	english "review"
	keys '?'
	wait_for "Touches" "French help"
	english "help"
	keys x
	keys q ; keys q
	wait_for "EXIT=0" "French run quits"
else
	echo "skip French run: no fr_FR.UTF-8 locale (build-aux/install-deps.sh makes one)"
fi

summary
