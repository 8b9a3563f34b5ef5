#!/bin/bash
# Two providers replicating the directory and the reset log to each other (scripts/sandbox
# --providers 2: serverIDs 1 and 2, syncrepl in multi-provider mode). Each numbers and
# chains its own records, so resets on both at once never collide; the log converges and
# verifies on both after one provider was stopped and after one was killed during a burst;
# a record missing from the middle of a chain is found; velocity limits count both
# providers' records; a token used on one is refused on the other once replicated, and one
# used on both within the replication lag is flagged for review with an alert.
. "$(cd "$(dirname "$0")/.." && pwd)/lib.sh"

T_START=$(date +%s)
sandbox_up --providers 2 --syncd --no-receiver

W=$(mktemp -d "${TMPDIR:-/tmp}/rg-mp.XXXXXX") || { echo "Bail out! mktemp failed"; exit 1; }
cleanup() {
	rm -rf "$W"
	_sandbox_cleanup
}
trap cleanup EXIT
export LDAPNOINIT=1

P1=$RG_URI P2=$RG_URI2
CHAIN1=281474976710656 CHAIN2=562949953421312 # serverID << 48

now_ms() { echo $(($(date +%s%N) / 1000000)); }
waitfor() { # SECONDS CMD...
	local end=$(($(now_ms) + $1 * 1000))
	shift
	while [ "$(now_ms)" -lt "$end" ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	"$@"
}
reset_on() { # URI TARGET [TOKEN]
	local t=${3:-$(token --sub "$2" --ial 2 --amr hwk)}
	ldappasswd -x -H "$1" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" -e "$(ctl "$t")" -s "$(newpw)" "$2"
}
records() { # URI [FILTER]: "NUMBER OUTCOME ENTRYCSN" of every record, sorted
	ldapsearch -x -H "$1" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" -LLL -o ldif-wrap=no \
		-b "$RG_LOG_BASE" -s one "(&(objectClass=rgLogRecord)${2:-})" rgLogChangeNumber \
		rgLogOutcome entryCSN 2>/dev/null |
		awk '/^rgLogChangeNumber:/ { n = $2 } /^rgLogOutcome:/ { o = $2 } /^entryCSN:/ { c = $2 }
			/^$/ { if (n != "") print n, o, c; n = ""; o = ""; c = "" }
			END { if (n != "") print n, o, c }' | sort
}
count() { records "$@" | wc -l; }
converged() { # the two logs hold the same records with the same outcomes
	records "$P1" >"$W/r1" && records "$P2" >"$W/r2" && [ -s "$W/r1" ] && cmp -s "$W/r1" "$W/r2" ||
		{ diff "$W/r1" "$W/r2" | head -n 10; return 1; }
}
verifies() { # URI: resetguard-audit verify succeeds and reports both chains
	local out
	out=$("$RG_TOP/resetguard-audit" -H "$1" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" -b "$RG_LOG_BASE" verify 2>&1) ||
		{ echo "$out"; return 1; }
	grep -q "^chain of serverID 1: verified" <<<"$out" && grep -q "^chain of serverID 2: verified" <<<"$out" ||
		{ echo "$out"; return 1; }
}
pw_of() { # URI DN: the stored userPassword, as the rootdn reads it
	ldapsearch -x -H "$1" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" -LLL -o ldif-wrap=no -b "$2" -s base \
		userPassword 2>/dev/null | sed -n 's/^userPassword:: //p'
}
same_pw() { [ -n "$(pw_of "$P1" "$1")" ] && [ "$(pw_of "$P1" "$1")" = "$(pw_of "$P2" "$1")" ]; }
add_people() { # N PREFIX: accounts without a password, added on provider 1
	for i in $(seq 1 "$1"); do
		printf 'dn: uid=%s%d,ou=people,%s\nobjectClass: inetOrgPerson\nuid: %s%d\ncn: %s %d\nsn: %d\n\n' \
			"$2" "$i" "$RG_BASE" "$2" "$i" "$2" "$i" "$i"
	done | as_admin -a >/dev/null
}
# Replication paused and resumed through cn=config: the syncrepl of both databases of a
# provider is removed, and put back as it was.
pause_repl() { # LDAPI NAME
	ldapsearch -Q -Y EXTERNAL -H "$1" -LLL -o ldif-wrap=no -b cn=config '(olcSyncrepl=*)' \
		olcSyncrepl >"$W/$2.sr"
	sed -n 's/^dn: //p' "$W/$2.sr" | while read -r dn; do
		printf 'dn: %s\nchangetype: modify\ndelete: olcSyncrepl\n\n' "$dn"
	done | ldapmodify -Q -Y EXTERNAL -H "$1" >/dev/null
}
resume_repl() { # LDAPI NAME
	awk '/^dn: / { if (d) print ""; print; print "changetype: modify"; print "add: olcSyncrepl"; d = 1; next }
		/^olcSyncrepl:/ { print }' "$W/$2.sr" | ldapmodify -Q -Y EXTERNAL -H "$1" >/dev/null
}

echo "# 1. resets on both providers at once"
add_people 12 mp
for i in $(seq 1 6); do reset_on "$P1" "uid=mp$i,ou=people,$RG_BASE" >"$W/a$i" 2>&1 & done
for i in $(seq 7 12); do reset_on "$P2" "uid=mp$i,ou=people,$RG_BASE" >"$W/a$i" 2>&1 & done
# the same account on both, at once
for i in 1 2 3; do
	reset_on "$P1" "$RG_USER_DN" >"$W/b1$i" 2>&1 &
	reset_on "$P2" "$RG_USER_DN" >"$W/b2$i" 2>&1 &
done
wait
check "18 concurrent resets on two providers all succeed" \
	bash -c "! grep 'Result\|error' $W/a* $W/b1* $W/b2*"
check "the logs converge: 18 records on each" waitfor 20 converged
check_eq "provider 1 wrote 9 records to its chain" 9 "$(count "$P1" "(rgLogChangeNumber>=$CHAIN1)(rgLogChangeNumber<=$CHAIN2)")"
check_eq "provider 2 wrote 9 records to its chain" 9 "$(count "$P1" "(rgLogChangeNumber>=$CHAIN2)")"
check "no record of a log collision (log-failed) on either" \
	bash -c "! grep -q 'log-failed\|cannot write reset log record' $RG_DIR/slapd.log $RG_DIR2/slapd.log"
check "provider 1 verifies both chains" verifies "$P1"
check "provider 2 verifies both chains" verifies "$P2"
check "alice's password converged" waitfor 10 same_pw "$RG_USER_DN"
# The contextCSN of each database that holds accounts or records: one value per provider,
# the same on both once they have converged (in atomic mode the log has no database of its
# own).
ctxcsn() { # URI
	ldapsearch -x -H "$1" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" -LLL -b "$RG_BASE" -s base contextCSN
	[ "$RG_LOG_MODE" = atomic ] ||
		ldapsearch -x -H "$1" -D "$RG_LOG_ADMIN_DN" -w "$RG_ADMIN_PW" -LLL -b cn=resetlog -s base contextCSN
}
same_ctxcsn() {
	local a b
	a=$(ctxcsn "$P1") && b=$(ctxcsn "$P2") && [ "$a" = "$b" ] &&
		[ "$(grep -c '^contextCSN: .*#00[12]#' <<<"$a")" = "$([ "$RG_LOG_MODE" = atomic ] && echo 2 || echo 4)" ] ||
		{ printf '%s\n--\n%s\n' "$a" "$b"; return 1; }
}
check "the contextCSNs agree, one per provider" waitfor 20 same_ctxcsn
# Concurrent resets of one account on both providers are where a replicated change can
# overwrite a newer local one (slapd/replorder.c); one round rarely shows it (about one in
# sixteen did in atomic mode without replorder), so sixteen rounds, one account each.
csn_pw() { # URI DN
	ldapsearch -x -H "$1" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" -LLL -o ldif-wrap=no -b "$2" -s base \
		userPassword entryCSN 2>/dev/null | grep -v '^dn:' | sort
}
all_same() { # N PREFIX: every account has one password and entryCSN on both providers
	local i dn bad=0
	for i in $(seq 1 "$1"); do
		dn="uid=$2$i,ou=people,$RG_BASE"
		[ "$(csn_pw "$P1" "$dn")" = "$(csn_pw "$P2" "$dn")" ] || { echo "$dn differs"; bad=1; }
	done
	return $bad
}
add_people 16 mc
waitfor 10 test -n "$(csn_pw "$P2" "uid=mc16,ou=people,$RG_BASE")"
for i in $(seq 1 16); do
	for u in "$P1" "$P2" "$P1" "$P2" "$P1" "$P2"; do
		reset_on "$u" "uid=mc$i,ou=people,$RG_BASE" >>"$W/c$i" 2>&1 &
	done
	wait
done
check "16 rounds of 6 resets of one account, 3 on each provider at once, all succeed" \
	bash -c "! grep 'Result\|error' $W/c*"
# In separate-database mode a local change commits after the log lock is released, so
# replorder cannot order it against a replicated one: plain syncrepl's window stays open
# there (slapo-resetguard(5), REPLICATION), and it is reported, not checked.
if [ "$RG_LOG_MODE" = atomic ]; then
	check "each of the 16 has one password and entryCSN on both providers" waitfor 20 all_same 16 mc
else
	sleep 3
	printf '# separate mode: %d of 16 accounts differ between the providers\n' \
		"$(all_same 16 mc | grep -c differs)"
fi
audit() { "$RG_TOP/resetguard-audit" -H "$P1" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" -b "$RG_LOG_BASE" "$@"; }
cp_files() { audit verify --checkpoint "$W/cp" && test -s "$W/cp" && test -s "$W/cp.sid1" && test -s "$W/cp.sid2"; }
check "verify --checkpoint keeps each chain's head in a file of its own" cp_files
# Both chains in 4 slices: slice 2 starts inside chain 1 and slice 4 inside chain 2 (how
# many records there are by now depends on the mode: atomic mode's sixteen rounds above add
# theirs); each chain is verified whole and its checkpoint confirmed.
slice_start() { sed -n "s/.*slice $1 (&(rgLogChangeNumber>=\([0-9]*\)).*/\1/p" <<<"$2"; }
jobs_cp() {
	local out n1 n2 lo2 lo4
	n1=$(count "$P1" "(rgLogChangeNumber>=$CHAIN1)(rgLogChangeNumber<=$CHAIN2)")
	n2=$(count "$P1" "(rgLogChangeNumber>=$CHAIN2)")
	out=$(audit -v verify -j 4 --checkpoint "$W/cp" 2>&1) || { echo "$out"; return 1; }
	lo2=$(slice_start 2 "$out")
	lo4=$(slice_start 4 "$out")
	if [ -n "$lo2" ] && [ "$lo2" -gt $((CHAIN1 + 1)) ] && [ "$lo2" -lt "$CHAIN2" ] &&
	    [ -n "$lo4" ] && [ "$lo4" -gt $((CHAIN2 + 1)) ] &&
	    grep -q "^chain of serverID 1: verified $n1 records" <<<"$out" &&
	    grep -q "^chain of serverID 2: verified $n2 records" <<<"$out" &&
	    [ "$(grep -c 'is still in the chain with its hash' <<<"$out")" -ge 2 ]; then
		return 0
	fi
	echo "$out"
	return 1
}
check "  read in 4 slices (-j 4) cut in both chains: both verified, the checkpoints confirmed" jobs_cp
cp "$W/cp.sid2" "$W/cp.sid3"
out=$(audit verify --checkpoint "$W/cp" 2>&1)
check_eq "a chain whose checkpoint is there but whose records are all gone is reported" \
	"truncated: the chain of serverID 3 has no record left" \
	"$(grep -o '^truncated: the chain of serverID 3 has no record left' <<<"$out")"
rm -f "$W/cp.sid3"
sorted_by_time() { # report --format csv: the time column never goes back
	audit report --format csv | awk -F, 'NR > 1 { if ($2 < last) { print "out of order: " $0; bad = 1 } last = $2 } END { exit bad }'
}
check "report merges the chains in time order" sorted_by_time

echo "# 2. a velocity limit counts the records of both providers"
V="uid=mp12,ou=people,$RG_BASE" # one reset so far, on provider 2
for i in $(seq 1 12); do reset_on "$P1" "$V" >/dev/null 2>&1 || echo "reset $i failed" >>"$W/vel"; done
check "13 resets of one account (12 on provider 1)" test ! -e "$W/vel"
check "they reach provider 2" waitfor 20 converged
for i in $(seq 1 7); do reset_on "$P2" "$V" >/dev/null 2>&1 || echo "reset $i failed" >>"$W/vel"; done
check "7 more on provider 2 make 20, the limit" test ! -e "$W/vel"
check_result "the 21st, on provider 2, passes the limit of 20 an hour" 19 velocity-exceeded \
	reset_on "$P2" "$V"

echo "# 3. a token used on provider 1 is refused on provider 2 once replicated"
CAROL="uid=carol,ou=people,$RG_BASE"
T=$(token --sub "$CAROL" --ial 2 --amr hwk)
check "carol is reset on provider 1" reset_on "$P1" "$CAROL" "$T"
check "her account replicates" waitfor 20 same_pw "$CAROL"
check_result "the same token on provider 2 is refused" 50 evidence-replayed reset_on "$P2" "$CAROL" "$T"

echo "# 4. a token used on both within the replication lag: flagged, alerted, never silent"
pause_repl "$RG_LDAPI" p1
pause_repl "$RG_LDAPI2" p2
ACC="uid=mp11,ou=people,$RG_BASE"
T=$(token --sub "$ACC" --ial 2 --amr hwk)
check "provider 1 accepts the token" reset_on "$P1" "$ACC" "$T"
check "provider 2, not yet told, accepts it too" reset_on "$P2" "$ACC" "$T"
resume_repl "$RG_LDAPI" p1
resume_repl "$RG_LDAPI2" p2
check "the logs converge" waitfor 20 converged
flagged() { # URI: both providers' review records of the double use
	local n
	n=$(ldapsearch -x -H "$1" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" -LLL -b "$RG_LOG_BASE" -s one \
		"(&(rgLogRule=token-used-on-two-providers)(rgLogTarget=$ACC)(rgLogReviewRequired=TRUE)(rgLogAlert=TRUE))" \
		rgLogChangeNumber 2>/dev/null | grep -c '^rgLogChangeNumber:')
	[ "$n" = 2 ] || { echo "$n review records"; return 1; }
}
check "each provider wrote a record for review with an alert, on both" waitfor 10 flagged "$P2"
check "provider 1's slapd.log has the alert" grep -q "ALERT: token .* used twice within the replication lag" "$RG_DIR/slapd.log"
check "provider 2's slapd.log has the alert" grep -q "ALERT: token .* used twice within the replication lag" "$RG_DIR2/slapd.log"
check "pending-review lists them" bash -c "'$RG_TOP/resetguard-audit' -H '$P1' -D '$RG_AUDITOR_DN' -w '$RG_AUDITOR_PW' -b '$RG_LOG_BASE' pending-review | grep -c token-used-on-two-providers | grep -qx 2"
check "mp11's password converged" waitfor 10 same_pw "$ACC"
check "both verify" verifies "$P1"

echo "# 5. provider 2 stopped, resets on provider 1, restarted: converged"
kill "$(cat "$RG_PID_FILE2")"
check "provider 2 stops" waitfor 10 bash -c "! kill -0 $(cat "$RG_PID_FILE2") 2>/dev/null"
for i in $(seq 1 6); do reset_on "$P1" "uid=mp$i,ou=people,$RG_BASE" >/dev/null 2>&1 || echo "$i" >>"$W/down"; done
check "6 resets on provider 1 while provider 2 is down" test ! -e "$W/down"
check "both providers start again" bash "$RG_TOP/scripts/sandbox" restart "$RG_DIR"
check "the logs converge" waitfor 30 converged
check "provider 1 verifies" verifies "$P1"
check "provider 2 verifies" verifies "$P2"

echo "# 6. provider 1 killed (kill -9) during a burst"
# Four clients reset accounts of their own in turn until provider 1 dies under them; each
# writes "try DN PW" before a reset and "ok DN PW" after one that was acknowledged.
burst() { # K
	local i=0 dn pw
	while [ ! -e "$W/stop" ]; do
		dn="uid=mp$(($1 + 4 * (i % 2))),ou=people,$RG_BASE" pw=$(newpw)
		echo "try $dn $pw" >>"$W/burst$1"
		ldappasswd -x -H "$P1" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" \
			-e "$(ctl "$(token --sub "$dn" --ial 2 --amr hwk)")" -s "$pw" "$dn" >/dev/null 2>&1 ||
			break
		echo "ok $dn $pw" >>"$W/burst$1"
		i=$((i + 1))
	done
}
for k in 1 2 3 4; do burst "$k" & done
sleep 1.5
kill -9 "$(cat "$RG_PID_FILE")"
touch "$W/stop"
wait
check "provider 1 is gone" waitfor 5 bash -c "! kill -0 $(cat "$RG_PID_FILE") 2>/dev/null"
check "resets were acknowledged before the kill" test "$(cat "$W"/burst* | grep -c '^ok')" -gt 4
printf '# %d resets acknowledged before the kill\n' "$(cat "$W"/burst* | grep -c '^ok')"
check "both providers start again" bash "$RG_TOP/scripts/sandbox" restart "$RG_DIR"
no_pending() { [ "$(count "$P1" "(rgLogOutcome=pending)")" = 0 ]; }
check "no record is left pending (settled at the start)" waitfor 20 no_pending
check "the logs converge" waitfor 30 converged
check "the contextCSNs agree after the crash" waitfor 20 same_ctxcsn
check "provider 1 verifies" verifies "$P1"
check "provider 2 verifies" verifies "$P2"
# Each account has the password of its last acknowledged reset, or of the one in flight
# when provider 1 died, on both providers: nothing acknowledged was lost.
kept() { # URI
	local f dn line pw want
	for f in "$W"/burst*; do
		for dn in $(awk '{ print $2 }' "$f" | sort -u); do
			want=$(awk -v d="$dn" '$1 == "ok" && $2 == d { p = $3 } END { print p }' "$f")
			line=$(tail -n 1 "$f")
			if [ "${line%% *}" = try ] && [ "$(awk '{ print $2 }' <<<"$line")" = "$dn" ]; then
				pw=$(awk '{ print $3 }' <<<"$line")
				ldapwhoami -x -H "$1" -D "$dn" -w "$pw" >/dev/null 2>&1 && continue
			fi
			[ -z "$want" ] && continue
			ldapwhoami -x -H "$1" -D "$dn" -w "$want" >/dev/null 2>&1 ||
				{ echo "$dn lost its acknowledged password on $1"; return 1; }
		done
	done
}
check "every acknowledged reset holds on provider 1" kept "$P1"
check "and on provider 2" waitfor 20 kept "$P2"
check "a reset on provider 1 works after the crash" reset_on "$P1" "uid=mp7,ou=people,$RG_BASE"
check "and one on provider 2" reset_on "$P2" "uid=mp8,ou=people,$RG_BASE"
check "and converges" waitfor 20 converged

echo "# 7. syncd, following provider 1, propagates a reset made on provider 2"
A2=$(newpw)
t=$(token --sub "$RG_USER_DN" --ial 2 --amr hwk)
check "alice is reset on provider 2" \
	ldappasswd -x -H "$P2" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" -e "$(ctl "$t")" -s "$A2" "$RG_USER_DN"
check "her new password reaches legacy1 through provider 1 and syncd" \
	waitfor 30 ldapwhoami -x -H "$RG_LEGACY1_URI" -D "$RG_LEGACY1_USER_DN" -w "$A2"

echo "# 8. provider 1 stopped: syncd (log-uri lists both) fails over to provider 2"
kill "$(cat "$RG_PID_FILE")"
check "provider 1 stops" waitfor 10 bash -c "! kill -0 $(cat "$RG_PID_FILE") 2>/dev/null"
A3=$(newpw)
t=$(token --sub "$RG_USER_DN" --ial 2 --amr hwk)
check "alice is reset on provider 2" \
	ldappasswd -x -H "$P2" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" -e "$(ctl "$t")" -s "$A3" "$RG_USER_DN"
check "her new password reaches legacy1 through provider 2" \
	waitfor 90 ldapwhoami -x -H "$RG_LEGACY1_URI" -D "$RG_LEGACY1_USER_DN" -w "$A3"
check "both providers start again" bash "$RG_TOP/scripts/sandbox" restart "$RG_DIR"
check "the logs converge" waitfor 30 converged
sleep 2
check "legacy1 still has that last password, nothing older came after it" \
	ldapwhoami -x -H "$RG_LEGACY1_URI" -D "$RG_LEGACY1_USER_DN" -w "$A3"

echo "# 9. a record missing from the middle of provider 1's chain, on provider 2"
bash "$RG_TOP/scripts/sandbox" down "$RG_DIR" >/dev/null 2>&1
MID=$((CHAIN1 + 3))
check "offline: record $MID removed from provider 2's log" \
	slapmodify -q -F "$RG_DIR2/slapd.d" -b "$RG_LOG_BASE" <<LDIF
dn: rgLogChangeNumber=$MID,$RG_LOG_BASE
changetype: delete
LDIF
# provider 2 alone: provider 1 would not send it again anyway (it is older than the cookie)
slapd -n rg-mp2 -h "$P2/" -F "$RG_DIR2/slapd.d" -d 0 >>"$RG_DIR2/slapd.log" 2>&1 &
MP2=$!
waitfor 10 ldapsearch -x -H "$P2" -b '' -s base 1.1 >/dev/null
V2=$("$RG_TOP/resetguard-audit" -H "$P2" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" -b "$RG_LOG_BASE" verify 2>&1)
check_eq "verify finds it" "chain of serverID 1: chain broken: record $MID is missing (deleted) between $((MID - 1)) and $((MID + 1))" \
	"$(grep -m1 'chain broken' <<<"$V2")"
kill "$MP2"
wait "$MP2" 2>/dev/null

printf '# runtime %d s\n' $(($(date +%s) - T_START))
finish
