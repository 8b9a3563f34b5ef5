#!/bin/bash
# Kill trials of resetguard-syncd (issue 9, item 9): during each burst of resets over three
# accounts (several resets of each), one syncd is killed with SIGKILL at a random moment --
# the only one (it is started again at once), or one of two (the other takes its claims
# over when their lease runs out). After each, every record must end final and the store
# must end with every account's newest password, never having got an account's older
# password after a newer one.
#
# usage: tests/trials/syncd-kill.sh [TRIALS] [LEASE]   (default 10 trials, 3 s lease)
# Prints ok/not ok per failed trial or crashed instance, then "trials N, lost L,
# out-of-order O, not final F, crashed C" and the usual "P passed, F failed" line.
. "$(cd "$(dirname "$0")/.." && pwd)/lib.sh"

TRIALS=${1:-10}
LEASE=${2:-3}
sandbox_up

W=$(mktemp -d "${TMPDIR:-/tmp}/rg-trials.XXXXXX") || { echo "Bail out! mktemp failed"; exit 1; }
cleanup() {
	ha_stop_all
	rm -rf "$W"
	_sandbox_cleanup
}
trap cleanup EXIT
export LDAPNOINIT=1
# shellcheck source=tests/tools/ha-lib.sh
. "$RG_TOP/tests/tools/ha-lib.sh"

as_admin >/dev/null <<EOF
dn: $RG_POLICY_DN
changetype: modify
replace: rgVelocityLimit
rgVelocityLimit: * target 100000 3600
EOF

ha_conf ha-a "$LEASE"
ha_conf ha-b "$LEASE"
ha_start ha-a || { echo "Bail out! ha-a does not start"; exit 1; }

settle() { # FROM: waits up to 3 leases and 20 s for every record to end final
	local end=$(($(ha_now_ms) + (3 * LEASE + 20) * 1000))
	while [ "$(ha_now_ms)" -lt "$end" ]; do
		ha_settled "$1" && return 0
		sleep 0.2
	done
	return 1
}

# An instance that died without being killed here crashed: a failure of its own.
crashed() { # NAME
	[ -n "${HA_PID[$1]:-}" ] && ! kill -0 "${HA_PID[$1]}" 2>/dev/null
}
LOST=0 OOO=0 UNFINAL=0 CRASHED=0 RUN=0 START=$(date +%s)
for t in $(seq 1 "$TRIALS"); do
	for n in ha-a ha-b; do
		if crashed "$n"; then
			CRASHED=$((CRASHED + 1))
			_fail "before trial $t: $n died on its own" "see $W/$n.log"
			wait "${HA_PID[$n]}" 2>/dev/null
			HA_PID[$n]=
		fi
	done
	if [ $((t % 2)) = 1 ]; then
		mode=single victim=ha-a
		ha_stop ha-b
	else
		mode=pair victim=ha-a
		[ $((RANDOM % 2)) = 0 ] && victim=ha-b
		[ -n "${HA_PID[ha-b]:-}" ] || ha_start ha-b
	fi
	[ -n "${HA_PID[ha-a]:-}" ] || ha_start ha-a
	rm -f "$W/sent" "$W/store"
	: >"$W/sent"
	FROM=$(ha_last_change)
	ha_burst 3 &
	burst=$!
	sleep "0.$((RANDOM % 9))"
	ha_kill9 "$victim"
	[ "$mode" = single ] && ha_start ha-a
	wait "$burst"
	RUN=$((RUN + 1))
	settled=1
	settle "$FROM" || settled=0
	read -r _ l _ o _ d < <(ha_verdict)
	LOST=$((LOST + l)) OOO=$((OOO + o))
	[ "$settled" = 1 ] || UNFINAL=$((UNFINAL + 1))
	if [ "$l" != 0 ] || [ "$o" != 0 ] || [ "$settled" != 1 ]; then
		_fail "trial $t ($mode, $victim killed): lost $l, out of order $o, final $settled" \
			"see $W (kept)"
		cp -r "$W" "$W.trial$t" 2>/dev/null
	fi
	[ "$mode" = pair ] && [ -z "${HA_PID[$victim]:-}" ] && ha_start "$victim"
	[ $((t % 50)) = 0 ] && echo "# $t trials in $(($(date +%s) - START)) s: lost $LOST, out-of-order $OOO, not final $UNFINAL, crashed $CRASHED"
done
for n in ha-a ha-b; do
	crashed "$n" && CRASHED=$((CRASHED + 1)) && _fail "at the end: $n died on its own" "see $W/$n.log"
done
echo "trials $RUN, lost $LOST, out-of-order $OOO, not final $UNFINAL, crashed $CRASHED ($(($(date +%s) - START)) s, lease ${LEASE}s)"
[ "$LOST" = 0 ] && [ "$OOO" = 0 ] && [ "$UNFINAL" = 0 ] && [ "$CRASHED" = 0 ] && _pass "$RUN kill -9 trials: 0 lost, 0 out of order, every record final"
finish
