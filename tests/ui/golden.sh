#!/bin/sh
# Compares every wizard step on the demo tenant, and a fleet's review, with its golden screen: at 80x24 in
# English (tests/ui/golden/), and at 80x24 in French, 120x40 in English and 120x40 in French
# (tests/ui/golden/LANG-COLSxROWS/).
# GENERATE=1 writes the screens instead (review the diff before committing them).
# A private tmux server, a pinned locale and TERM; every wait polls for text, then for the screen to settle.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=$(cd "${top_builddir:-.}" && pwd)
azcmk=$top_builddir/src/azcmk
golden=$top_srcdir/tests/ui/golden
work=$(mktemp -d)
. "$top_srcdir/tests/ui/lib.sh"
trap '$T kill-server 2>/dev/null; rm -rf "$work"' EXIT

screen() { $T capture-pane -p -t w | sed 's/ *$//'; }

# settled TEXT: waits for TEXT, then until two captures 100 ms apart agree (no spinner, nothing pending).
settled() {
	wait_for "$1" || return 1
	prev=
	i=0
	while [ $i -lt 300 ]; do
		now=$(screen)
		[ "$now" = "$prev" ] && return 0
		prev=$now
		sleep 0.1
		i=$((i + 1))
	done
}

# golden NAME: compares the screen with $dir/NAME.txt (or writes it with GENERATE=1).
golden() {
	screen >"$work/$1.txt"
	if [ "${GENERATE:-}" = 1 ]; then
		mkdir -p "$dir" && cp "$work/$1.txt" "$dir/$1.txt" && ok "$gset: $1 written"
	elif cmp -s "$work/$1.txt" "$dir/$1.txt"; then
		ok "$gset: $1 matches its golden screen"
	else
		bad "$gset: $1 differs from its golden screen:"
		diff "$dir/$1.txt" "$work/$1.txt" | sed 's/^/     | /'
	fi
}

mkdir -p "$work/locale/fr/LC_MESSAGES"
msgfmt -o "$work/locale/fr/LC_MESSAGES/azcmk.mo" "$top_srcdir/po/fr.po" || exit 99

# texts LANG: what each wait looks for, in English or French.
texts() {
	if [ "$1" = en ]; then
		t_findings="Findings: 37 blockers" t_todo="What to do:" t_every="Every resource: 43"
		t_of="(1 of " t_one="(1 of 43 shown)" t_identity="The identity that is to reach the key"
		t_newest="follow the newest version" t_prereq="Prerequisites that fail"
		t_system="will use its system-assigned identity" t_irrev="of them irreversible"
		t_type="Type yes and Enter" t_nothing="nothing was changed" t_keys="Keys (any key closes this help):"
		t_small="The terminal is 70x20" env="LC_ALL=C.UTF-8"
		t_two="(2 of " t_skip="1 skipped as it needs a change that cannot be undone"
		t_allow="Allow the changes that cannot be undone"
	else
		t_findings="Constats : 37" t_todo="Que faire :" t_every="Toutes les ressources : 43"
		t_of="(1 sur " t_one="(1 sur 43 affichés)" t_identity="L'identité qui doit accéder à la clé"
		t_newest="suivre la version la plus récente" t_prereq="Conditions préalables non remplies"
		t_system="utilisera son identité affectée par le système" t_irrev="irréversibles"
		t_type="Tapez oui" t_nothing="rien n'a été modifié" t_keys="Touches (une touche"
		t_small="Le terminal fait 70x20" env="LANG=fr_FR.UTF-8 LC_ALL=fr_FR.UTF-8"
		t_two="(2 sur " t_skip="1 ignorée car elle demande une modification irréversible"
		t_allow="Permettre les modifications irréversibles"
	fi
}

# run_set LANG COLS ROWS DIR: drives every step at COLSxROWS in LANG (en or fr), comparing with DIR.
run_set() {
	gset=$1-$2x$3 dir=$4
	texts "$1"
	$T kill-session -t w 2>/dev/null
	$T new-session -d -s w -x "$2" -y "$3" "env -i PATH=/usr/bin:/bin HOME=$work TERM=screen-256color $env \
		AZCMK_LOCALEDIR=$work/locale XDG_STATE_HOME=$work/state-$gset $azcmk --demo --propagation-wait 0; \
		echo EXIT=\$?; sleep 30"
	$T set-option -g escape-time 0 >/dev/null
	steps
	$T kill-session -t w 2>/dev/null
	$T new-session -d -s w -x "$2" -y "$3" "env -i PATH=/usr/bin:/bin HOME=$work TERM=screen-256color $env \
		AZCMK_LOCALEDIR=$work/locale XDG_STATE_HOME=$work/state-$gset-fleet $azcmk --demo; echo EXIT=\$?; sleep 30"
	fleet_steps
}

# fleet_steps: a fleet of the marked Foundry findings, whose fix cannot be undone: its review with its choices,
# then the confirmation i opens.
fleet_steps() {
	settled "[x] Contoso Health Legacy"
	keys Enter
	settled "$t_findings"
	keys / ; keys -l fdy-ch-copilot ; keys Enter
	settled "$t_two"
	keys a ; keys Enter
	settled "$t_skip" && golden 8-fleet
	keys i
	settled "$t_allow" && golden 8-fleet-allow
}

# steps: goes through every step, comparing each screen with its golden one.
steps() {
	settled "[x] Contoso Health Legacy" && golden 1-signin
	keys Enter
	settled "$t_findings" && golden 2-findings
	keys e
	settled "$t_todo" && golden 2-explanation
	keys Escape
	settled "$t_findings"
	keys v
	settled "$t_every" && golden 2-resources
	keys / ; keys -l oai-ch-summaries ; keys Enter
	settled "$t_one"
	keys Enter
	settled "$t_identity" && golden 3-identity
	keys Enter
	settled "mhsm-ch-prod" && golden 4-vaults
	keys / ; keys -l "kv-ch-prod-ai " ; keys Enter
	settled "$t_of"
	keys Enter
	settled "cmk-ai-spare" && golden 4-keys
	keys / ; keys -l "cmk-openai " ; keys Enter
	settled "$t_of"
	keys Enter
	settled "$t_newest" && golden 4-versions
	keys Enter
	settled "$t_prereq" && golden 5-role
	keys Enter
	settled "$t_system" && golden 6-identity-type
	keys Enter
	settled "$t_irrev" && golden 7-review
	keys a
	settled "$t_type" && golden 7-confirm
	keys Escape
	settled "$t_nothing"
	keys '?'
	settled "$t_keys" && golden help
	keys x
	$T resize-window -t w -x 70 -y 20
	settled "$t_small" && golden too-small
}

run_set en 80 24 "$golden"
run_set en 120 40 "$golden/en-120x40"
if locale -a 2>/dev/null | grep -qi '^fr_FR\.utf-\?8$'; then
	run_set fr 80 24 "$golden/fr-80x24"
	run_set fr 120 40 "$golden/fr-120x40"
else
	echo "skip the French golden screens: no fr_FR.UTF-8 locale (build-aux/install-deps.sh makes one)"
fi

summary
