#!/bin/sh
# Compares every wizard step, at 80x24 on the demo tenant, with its golden screen in tests/ui/golden/.
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

# golden NAME: compares the screen with tests/ui/golden/NAME.txt (or writes it with GENERATE=1).
golden() {
	screen >"$work/$1.txt"
	if [ "${GENERATE:-}" = 1 ]; then
		mkdir -p "$golden" && cp "$work/$1.txt" "$golden/$1.txt" && ok "$1 written"
	elif cmp -s "$work/$1.txt" "$golden/$1.txt"; then
		ok "$1 matches its golden screen"
	else
		bad "$1 differs from its golden screen:"
		diff "$golden/$1.txt" "$work/$1.txt" | sed 's/^/     | /'
	fi
}

$T new-session -d -s w -x 80 -y 24 "env -i PATH=/usr/bin:/bin HOME=$work TERM=screen-256color LC_ALL=C.UTF-8 \
	XDG_STATE_HOME=$work/state $azcmk --demo --propagation-wait 0; echo EXIT=\$?; sleep 30"
$T set-option -g escape-time 0 >/dev/null

settled "[x] Contoso Health Legacy" && golden 1-signin
keys Enter
settled "Findings: 37 blockers" && golden 2-findings
keys e
settled "What to do:" && golden 2-explanation
keys Escape
settled "Findings: 37 blockers"
keys v
settled "Every resource: 43" && golden 2-resources
keys / ; keys -l oai-ch-summaries ; keys Enter
settled "(1 of 43 shown)"
keys Enter
settled "The identity that is to reach the key" && golden 3-identity
keys Enter
settled "mhsm-ch-prod" && golden 4-vaults
keys / ; keys -l "kv-ch-prod-ai " ; keys Enter
settled "(1 of "
keys Enter
settled "cmk-ai-spare" && golden 4-keys
keys / ; keys -l "cmk-openai " ; keys Enter
settled "(1 of "
keys Enter
settled "follow the newest version" && golden 4-versions
keys Enter
settled "Prerequisites that fail" && golden 5-role
keys Enter
settled "will use its system-assigned identity" && golden 6-identity-type
keys Enter
settled "of them irreversible" && golden 7-review
keys a
settled "Type yes and Enter" && golden 7-confirm
keys Escape
settled "nothing was changed"
keys '?'
settled "Keys (any key closes this help):" && golden help
keys x
$T resize-window -t w -x 70 -y 20
settled "The terminal is 70x20" && golden too-small

summary
