#!/bin/bash
# A record is written before the change it records and its outcome after. When slapd stops
# in between, the next start settles the record against the account (rgLastResetChange):
# applied, with its sealed password kept for syncd, or failed, with it removed. The stop is
# made exact here by editing the databases offline into that state.
. "$(cd "$(dirname "$0")/.." && pwd)/lib.sh"

sandbox_up

ALICE=$RG_USER_DN CAROL="uid=carol,ou=people,$RG_BASE"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"; _sandbox_cleanup' EXIT

logsearch() { # FILTER ATTRS...: records as syncd reads them
	local f=$1
	shift
	ldapsearch -x -H "$RG_URI" -D "$RG_SYNCD_DN" -w "$RG_SYNCD_PW" -LLL -o ldif-wrap=no \
		-b "$RG_LOG_BASE" -s one "(&(objectClass=rgLogRecord)$f)" "$@" 2>/dev/null
}
record_of() { # TARGET: the change number of the last allowed record of TARGET
	logsearch "(rgLogTarget=$1)(rgLogDecision=allowed)" rgLogChangeNumber |
		sed -n 's/^rgLogChangeNumber: //p' | sort -n | tail -n 1
}
field() { # NUMBER ATTR
	logsearch "(rgLogChangeNumber=$1)" "$2" | sed -n "s/^$2::\{0,1\} //p" | head -c 40
}
reset() { # TARGET
	ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" \
		-e "$(ctl "$(token --sub "$1" --ial 2 --amr hwk)")" -s "$(newpw)" "$1"
}
slapmod() { # BASE: slapmodify of that database, LDIF on stdin
	slapmodify -q -F "$RG_DIR/slapd.d" -b "$1" >"$WORK/slapmodify.out" 2>&1
}

check "alice is reset" reset "$ALICE"
check "carol is reset" reset "$CAROL"
A=$(record_of "$ALICE") C=$(record_of "$CAROL")
check_eq "alice's rgLastResetChange is her record's number" "$A" "$(opattr "$ALICE" rgLastResetChange)"
check_eq "carol's rgLastResetChange is her record's number" "$C" "$(opattr "$CAROL" rgLastResetChange)"
check "the applied record carries the sealed password" test -n "$(field "$A" rgLogSealedPassword)"

# The state a stop leaves: both records pending; alice's change committed, carol's did not.
sandbox_down
check "offline: both records back to pending" slapmod "$RG_LOG_BASE" <<LDIF
dn: rgLogChangeNumber=$A,$RG_LOG_BASE
changetype: modify
replace: rgLogOutcome
rgLogOutcome: pending

dn: rgLogChangeNumber=$C,$RG_LOG_BASE
changetype: modify
replace: rgLogOutcome
rgLogOutcome: pending
LDIF
check "offline: carol's account without that change" slapmod "$RG_BASE" <<LDIF
dn: $CAROL
changetype: modify
replace: rgLastResetChange
rgLastResetChange: $((C - 1))
LDIF
check "slapd starts again" bash "$RG_TOP/scripts/sandbox" restart "$RG_DIR"

settled() { [ "$(field "$A" rgLogOutcome)" != pending ] && [ "$(field "$C" rgLogOutcome)" != pending ]; }
for _ in $(seq 50); do settled && break; sleep 0.1; done
check_eq "alice's record is settled applied, with no change made" applied "$(field "$A" rgLogOutcome)"
check "  and keeps its sealed password for syncd" test -n "$(field "$A" rgLogSealedPassword)"
check_eq "carol's record is settled failed" failed "$(field "$C" rgLogOutcome)"
check_eq "  without its sealed password" "" "$(field "$C" rgLogSealedPassword)"
check "  with a text saying why" grep -q "slapd stopped before the change committed" \
	<<<"$(logsearch "(rgLogChangeNumber=$C)" rgLogOutcomeText)"
check "the log still verifies" "$RG_TOP/resetguard-audit" -H "$RG_URI" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" verify
check "and resets go on" reset "$ALICE"
check_eq "  recorded applied" applied "$(field "$(record_of "$ALICE")" rgLogOutcome)"

finish
