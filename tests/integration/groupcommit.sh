#!/bin/bash
# Group commit: resets made at the same time share log transactions, in both modes, and stay
# correct. Proven here, in separate-database mode and in atomic mode: a burst of concurrent
# resets of many accounts ends with every account's last password binding, one applied record
# per reset and none pending or failed, the hash chain intact, syncd delivering every last
# password, and fewer log transactions (cn=Log Commits) than log writes; a per-requester
# velocity limit under concurrent resets of different accounts (which can share a
# transaction) allows exactly its number; kill -9 of slapd during such resets leaves every
# binding password with its applied record, delivered, nothing pending and the chain intact;
# and a change the backend refuses in atomic mode fails alone, with its record committed as
# failed beside the others.
. "$(cd "$(dirname "$0")/.." && pwd)/lib.sh"

work_dir rg-gc
WORK=$W
ACCOUNTS=${GC_ACCOUNTS:-16}
RESETS=${GC_RESETS:-6}

as_admin_q() { as_admin "$@" >/dev/null 2>&1; }
logsearch() { # FILTER ATTRS...: records, as the auditor reads them
	local f=$1
	shift
	ldapsearch -x -H "$RG_URI" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" -LLL -o ldif-wrap=no \
		-b "$RG_LOG_BASE" -s one "(&(objectClass=rgLogRecord)$f)" "$@" 2>/dev/null
}
nrec() { logsearch "$1" 1.1 | grep -c '^dn:'; }
# nrec_of PREFIX FILTER: records of the accounts PREFIX1.. matching FILTER (a DN has no
# substring matching: one search per account)
nrec_of() {
	local i t=0
	for i in $(seq 1 "$ACCOUNTS"); do
		t=$((t + $(nrec "(rgLogTarget=uid=$1$i,ou=people,$RG_BASE)$2")))
	done
	echo "$t"
}
verify() {
	"$RG_TOP/resetguard-audit" -H "$RG_URI" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" \
		-b "$RG_LOG_BASE" verify
}
counter() { # NAME: a counter of this database under cn=Monitor
	ldapsearch -x -H "$RG_URI" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" -LLL -o ldif-wrap=no \
		-b 'cn=Resetguard,cn=Monitor' -s sub "(cn=$1)" monitorCounter 2>/dev/null |
		sed -n 's/^monitorCounter: //p' | head -n 1
}
wait_for() { # SECONDS CMD...: until CMD succeeds
	local n=$(($1 * 10))
	shift
	for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	return 1
}
legacy_binds() { # DN PW: legacy1 holds PW for the account
	ldapwhoami -x -H "$RG_LEGACY1_URI" -w "$2" \
		-D "uid=$(sed 's/^uid=\([^,]*\),.*/\1/' <<<"$1"),ou=users,dc=legacy1,dc=example"
}
lift_velocity() {
	as_admin_q <<LDIF
dn: cn=default,ou=policies,$RG_BASE
changetype: modify
replace: rgVelocityLimit
rgVelocityLimit: * target 1000000 3600
LDIF
}
mkaccounts() { # PREFIX: $ACCOUNTS accounts PREFIX1.., each also on legacy1
	local i dn
	for i in $(seq 1 "$ACCOUNTS"); do
		dn="uid=$1$i,ou=people,$RG_BASE"
		printf 'dn: %s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: Burst\n\n' \
			"$dn" "$1$i" "$1$i"
	done | as_admin_q -a || return 1
	for i in $(seq 1 "$ACCOUNTS"); do
		printf 'dn: uid=%s,ou=users,dc=legacy1,dc=example\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: Burst\n\n' \
			"$1$i" "$1$i" "$1$i"
	done | ldapadd -x -H "$RG_LEGACY1_URI" -D "$RG_LEGACY1_ADMIN_DN" -w "$RG_LEGACY_ADMIN_PW" \
		>/dev/null 2>&1
}
client() { # DN FILE: $RESETS resets one after the other, each password written down first;
	# FILE.ok gets a line per reset the client was told succeeded
	local i pw
	for i in $(seq 1 "$RESETS"); do
		pw=$(newpw)
		echo "$pw" >>"$2"
		ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" \
			-e "$(ctl "$(token --sub "$1" --ial 2 --amr hwk)")" -s "$pw" "$1" >>"$2.out" 2>&1 &&
			echo "$i" >>"$2.ok"
	done
}

burst() { # PREFIX
	local p=$1 i dn pids=() commits0 writes0 commits writes n all_bind=0 all_legacy=0
	check "$ACCOUNTS accounts for the burst ($RG_LOG_MODE)" mkaccounts "$p"
	commits0=$(counter 'Log Commits')
	writes0=$(counter 'Log Writes')
	for i in $(seq 1 "$ACCOUNTS"); do
		client "uid=$p$i,ou=people,$RG_BASE" "$WORK/$p$i" &
		pids+=($!)
	done
	wait "${pids[@]}"
	commits=$(($(counter 'Log Commits') - commits0))
	writes=$(($(counter 'Log Writes') - writes0))
	n=$((ACCOUNTS * RESETS))
	check_eq "$n concurrent resets ($RG_LOG_MODE): every client was told success" "$n" \
		"$(cat "$WORK/$p"*.ok 2>/dev/null | grep -c .)"
	for i in $(seq 1 "$ACCOUNTS"); do
		dn="uid=$p$i,ou=people,$RG_BASE"
		binds "$dn" "$(tail -n 1 "$WORK/$p$i")" >/dev/null 2>&1 && all_bind=$((all_bind + 1))
	done
	check_eq "  every account binds with the last password sent" "$ACCOUNTS" "$all_bind"
	check_eq "  one applied record per reset" "$n" \
		"$(nrec_of "$p" "(rgLogOutcome=applied)")"
	check_eq "  none pending or failed" 0 \
		"$(nrec_of "$p" "(|(rgLogOutcome=pending)(rgLogOutcome=failed))")"
	check "  the log verifies" verify
	check_eq "  cn=Log Writes counts a record per reset" "$n" "$writes"
	# Separate mode writes a record and an outcome per reset, atomic mode one transaction.
	local per=2
	[ "$RG_LOG_MODE" = atomic ] && per=1
	check "  fewer log transactions than log writes ($commits for $((n * per)))" \
		test "$commits" -gt 0 -a "$commits" -lt "$((n * per))"
	for i in $(seq 1 "$ACCOUNTS"); do
		dn="uid=$p$i,ou=people,$RG_BASE"
		wait_for 60 legacy_binds "$dn" "$(tail -n 1 "$WORK/$p$i")" && all_legacy=$((all_legacy + 1))
	done
	check_eq "  syncd delivered every account's last password to legacy1" "$ACCOUNTS" "$all_legacy"
}

# A per-requester limit counts every record of the help desk, including those written in the
# same transaction: concurrent resets of different accounts pass it by exactly its number.
requester_limit() { # PREFIX
	local p=$1 i dn ok=0 refused=0 pol="cn=gc-limit,ou=policies,$RG_BASE"
	{
		ldapsearch -x -H "$RG_URI" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" -LLL -o ldif-wrap=no \
			-b "$RG_POLICY_DN" -s base |
			sed -e "s/^dn: .*/dn: $pol/" -e 's/^cn: .*/cn: gc-limit/' -e '/^rgVelocityLimit:/d' \
				-e '/^description:/d' -e '/^$/d'
		echo "rgVelocityLimit: delegated requester 3 3600"
	} | as_admin_q -a
	check "a policy limiting the help desk to 3 delegated resets an hour ($RG_LOG_MODE)" \
		ldapsearch -x -H "$RG_URI" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" -b "$pol" -s base 1.1
	for i in $(seq 1 "$ACCOUNTS"); do
		printf 'dn: uid=%s,ou=people,%s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: Limit\nrgPolicySubentry: %s\n\n' \
			"$p$i" "$RG_BASE" "$p$i" "$p$i" "$pol"
	done | as_admin_q -a
	for i in $(seq 1 "$ACCOUNTS"); do
		dn="uid=$p$i,ou=people,$RG_BASE"
		token --sub "$dn" --ial 1 --amr pwd --reason "ticket GC-$i" --approver "$RG_APPROVER_DN" \
			>"$WORK/$p$i.tok"
	done
	for i in $(seq 1 "$ACCOUNTS"); do
		dn="uid=$p$i,ou=people,$RG_BASE"
		{
			ldappasswd -x -H "$RG_URI" -D "$RG_HELPDESK_DN" -w "$RG_HELPDESK_PW" \
				-e "$(ctl "$(cat "$WORK/$p$i.tok")")" -s "$(newpw)" "$dn" >"$WORK/$p$i.hd" 2>&1
			echo $? >"$WORK/$p$i.rc"
		} &
	done
	wait
	for i in $(seq 1 "$ACCOUNTS"); do
		[ "$(cat "$WORK/$p$i.rc")" = 0 ] && ok=$((ok + 1))
		grep -q 'resetguard rule velocity-exceeded' "$WORK/$p$i.hd" && refused=$((refused + 1))
	done
	check_eq "  $ACCOUNTS concurrent delegated resets: 3 succeed" 3 "$ok"
	check_eq "  the other $((ACCOUNTS - 3)) are refused by the limit" "$((ACCOUNTS - 3))" "$refused"
	check_eq "  3 allowed records by the help desk" 3 \
		"$(nrec_of "$p" "(rgLogDecision=allowed)")"
	check "  the log verifies" verify
}

# ---- kill -9 of slapd while resets of many accounts share transactions ----
# Each account's new password is written down before it is sent; afterwards the one that
# binds must have its change's record applied, no applied record after it, and syncd must
# deliver it; nothing is left pending and the chain verifies.
field() { logsearch "(rgLogChangeNumber=$1)" "$2" | sed -n "s/^$2::\{0,1\} //p"; }
hammer() { # DN FILE: resets until killed
	while :; do
		local pw
		pw=$(newpw)
		echo "$pw" >>"$2"
		ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" \
			-e "$(ctl "$(token --sub "$1" --ial 2 --amr hwk)")" -s "$pw" "$1" >/dev/null 2>&1
	done
}
no_pending() { [ "$(nrec '(rgLogOutcome=pending)')" = 0 ]; }
delivered() { [[ "$(field "$1" rgLogTargetStatus)" == *"legacy1 delivered"* ]]; }
kill_trial() { # PREFIX
	local p=$1 i dn pids=() pw n later bound=0 applied=0 last=0 delivered_n=0
	for i in $(seq 1 "$ACCOUNTS"); do
		: >"$WORK/k$p$i"
		hammer "uid=$p$i,ou=people,$RG_BASE" "$WORK/k$p$i" &
		pids+=($!)
	done
	sleep 2
	kill -9 "$(cat "$RG_PID_FILE")"
	kill "${pids[@]}" 2>/dev/null
	wait "${pids[@]}" 2>/dev/null
	check "kill -9 during resets of $ACCOUNTS accounts ($RG_LOG_MODE): slapd starts again" \
		bash "$RG_TOP/scripts/sandbox" restart "$RG_DIR"
	check "  no record is left pending" wait_for 10 no_pending
	for i in $(seq 1 "$ACCOUNTS"); do
		dn="uid=$p$i,ou=people,$RG_BASE"
		pw=$(current_pw "$dn" "$WORK/k$p$i") && bound=$((bound + 1))
		n=$(opattr "$dn" rgLastResetChange)
		[ -n "$n" ] && [ "$(field "$n" rgLogOutcome)" = applied ] && applied=$((applied + 1))
		later=$(logsearch "(rgLogTarget=$dn)(rgLogOutcome=applied)" rgLogChangeNumber |
			sed -n 's/^rgLogChangeNumber: //p' | awk -v n="$n" '$1 > n')
		[ -z "$later" ] && last=$((last + 1))
		[ -n "$pw" ] && wait_for 60 delivered "$n" && legacy_binds "$dn" "$pw" >/dev/null 2>&1 &&
			delivered_n=$((delivered_n + 1))
	done
	check_eq "  every account binds with one of the passwords sent" "$ACCOUNTS" "$bound"
	check_eq "  each one's last change has its record, applied" "$ACCOUNTS" "$applied"
	check_eq "  and no applied record after it" "$ACCOUNTS" "$last"
	check_eq "  syncd delivered each binding password to legacy1" "$ACCOUNTS" "$delivered_n"
	check "  the log verifies" verify
}

# ---- separate-database mode ----
sandbox_up --syncd
check "the velocity limit is lifted for the burst" lift_velocity
burst sep
requester_limit seplim
kill_trial sep
sandbox_down

# ---- atomic mode ----
sandbox_up --atomic --syncd
check "the velocity limit is lifted for the burst" lift_velocity
burst atm
requester_limit atmlim
kill_trial atm

# A change the backend refuses (the portal may write passwords, not descriptions, which the
# backend's access check finds before it writes anything), among resets of other accounts:
# it fails alone, and its record is committed as failed in the same run of the chain.
echo "# a refusal inside a shared transaction"
pids=()
for i in $(seq 1 "$ACCOUNTS"); do
	dn="uid=atm$i,ou=people,$RG_BASE"
	pw=$(newpw)
	echo "$pw" >"$WORK/q$i"
	extra=
	[ "$i" = 2 ] && extra=$'-\ndelete: description\ndescription: no such value\n'
	{
		printf 'dn: %s\nchangetype: modify\nreplace: userPassword\nuserPassword: %s\n%s' \
			"$dn" "$pw" "$extra" | ldapmodify -x -H "$RG_URI" -D "$RG_AGENT_DN" \
			-w "$RG_AGENT_PW" -e "$(ctl "$(token --sub "$dn" --ial 2 --amr hwk)")" \
			>"$WORK/q$i.out" 2>&1
		echo $? >"$WORK/q$i.rc"
	} &
	pids+=($!)
done
wait "${pids[@]}"
check_eq "the change the backend refuses fails with its answer" 50 "$(cat "$WORK/q2.rc")"
ok=0
for i in $(seq 1 "$ACCOUNTS"); do
	[ "$i" = 2 ] && continue
	[ "$(cat "$WORK/q$i.rc")" = 0 ] && binds "uid=atm$i,ou=people,$RG_BASE" "$(cat "$WORK/q$i")" \
		>/dev/null 2>&1 && ok=$((ok + 1))
done
check_eq "  the $((ACCOUNTS - 1)) others succeed and bind" "$((ACCOUNTS - 1))" "$ok"
check_eq "  its record says failed" 1 \
	"$(nrec "(rgLogTarget=uid=atm2,ou=people,$RG_BASE)(rgLogOutcome=failed)")"
check_eq "  with the text the client got" \
	"$(sed -n 's/^[[:space:]]*additional info: //p' "$WORK/q2.out")" \
	"$(logsearch "(rgLogTarget=uid=atm2,ou=people,$RG_BASE)(rgLogOutcome=failed)" rgLogOutcomeText |
		sed -n 's/^rgLogOutcomeText: //p')"
sealed_attrs() { # the refused reset's record, as syncd reads it: its DN and sealed password
	ldapsearch -x -H "$RG_URI" -D "$RG_SYNCD_DN" -w "$RG_SYNCD_PW" -LLL -o ldif-wrap=no \
		-b "$RG_LOG_BASE" -s one "(&(rgLogTarget=uid=atm2,ou=people,$RG_BASE)(rgLogOutcome=failed))" \
		rgLogSealedPassword | sed -n 's/^\(dn\|rgLogSealedPassword\):.*/\1/p' | paste -sd, -
}
check_eq "  without a sealed password" dn "$(sealed_attrs)"
check "  the log verifies" verify
sandbox_down
finish
