#!/bin/bash
# Atomic mode: the reset log is a subtree of the accounts' database, and each change commits
# with its record in one transaction. Proven here: a change the backend refuses leaves no
# applied record, no sealed password and an unused token; rglog keeps the log's subtree and
# only it; kill -9 of slapd during reset bursts (both modes) leaves every password with its
# applied record, delivered by syncd, and no applied record without its change; a syncrepl
# consumer never sees a rolled-back change, gets the committed ones and the same contextCSN;
# slapd refuses to start with syncprov below resetguard; pre- and post-read controls come with
# the answer.
. "$(cd "$(dirname "$0")/.." && pwd)/lib.sh"

WORK=$(mktemp -d)
CONSUMER_PID=
trap '[ -n "$CONSUMER_PID" ] && kill "$CONSUMER_PID" 2>/dev/null; rm -rf "$WORK"; _sandbox_cleanup' EXIT
CAROL=

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
logsearch() { # FILTER ATTRS...: records, as the auditor reads them
	local f=$1
	shift
	ldapsearch -x -H "$RG_URI" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" -LLL -o ldif-wrap=no \
		-b "$RG_LOG_BASE" -s one "(&(objectClass=rgLogRecord)$f)" "$@" 2>/dev/null
}
numbers() { # FILTER: change numbers of matching records, ascending
	logsearch "$1" rgLogChangeNumber | sed -n 's/^rgLogChangeNumber: //p' | sort -n
}
field() { # NUMBER ATTR
	logsearch "(rgLogChangeNumber=$1)" "$2" | sed -n "s/^$2::\{0,1\} //p"
}
sealed() { # NUMBER: the record's sealed password, which only syncd reads
	ldapsearch -x -H "$RG_URI" -D "$RG_SYNCD_DN" -w "$RG_SYNCD_PW" -LLL -o ldif-wrap=no \
		-b "rgLogChangeNumber=$1,$RG_LOG_BASE" -s base rgLogSealedPassword 2>/dev/null |
		sed -n 's/^rgLogSealedPassword:: //p'
}
reset_to() { # TARGET NEWPW: Password Modify by the portal with a fresh token
	ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" \
		-e "$(ctl "$(token --sub "$1" --ial 2 --amr hwk)")" -s "$2" "$1"
}
verify() {
	"$RG_TOP/resetguard-audit" -H "$RG_URI" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" \
		-b "$RG_LOG_BASE" verify
}
wait_for() { # SECONDS CMD...: until CMD succeeds
	local n=$(($1 * 10))
	shift
	for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	return 1
}
legacy_dn() { printf 'uid=%s,ou=users,dc=legacy1,dc=example' "$(sed 's/^uid=\([^,]*\),.*/\1/' <<<"$1")"; }
delivered() { # NUMBER: legacy1 holds the record's password
	[[ "$(field "$1" rgLogTargetStatus)" == *"legacy1 delivered"* ]]
}
no_pending() { [ -z "$(numbers '(rgLogOutcome=pending)')" ]; }

# ---- one kill -9 trial: bursts of resets on alice and carol, slapd killed in the middle ----
# Each new password is written down before it is sent, so the one that binds afterwards is
# known whether or not its answer arrived.
burst() { # DN FILE
	while :; do
		local pw
		pw=$(newpw)
		echo "$pw" >>"$2"
		reset_to "$1" "$pw" >/dev/null 2>&1
	done
}
after_crash() { # DN FILE TRIAL: the state slapd left
	local dn=$1 f=$2 t=$3 pw n later
	pw=$(current_pw "$dn" "$f")
	n=$(opattr "$dn" rgLastResetChange)
	check "trial $t ($RG_LOG_MODE): $dn binds with one of the passwords sent" test -n "$pw"
	check_eq "trial $t ($RG_LOG_MODE): its last change's record is applied" applied "$(field "$n" rgLogOutcome)"
	later=$(numbers "(rgLogTarget=$dn)(rgLogOutcome=applied)" | awk -v n="$n" '$1 > n')
	check_eq "trial $t ($RG_LOG_MODE): no applied record of $dn after it" "" "$later"
	check "trial $t ($RG_LOG_MODE): syncd delivers that record" wait_for 60 delivered "$n"
	check "trial $t ($RG_LOG_MODE): and legacy1 holds the same password" \
		ldapwhoami -x -H "$RG_LEGACY1_URI" -D "$(legacy_dn "$dn")" -w "$pw"
}
# A trial resets each account as often as the machine allows before the kill; the
# example policy's limit of 20 resets an hour would turn a fast machine's later trials
# into denials, and leave nothing of them to check.
lift_velocity() {
	ldapmodify -x -H "$RG_URI" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" >/dev/null <<LDIF
dn: cn=default,ou=policies,$RG_BASE
changetype: modify
replace: rgVelocityLimit
rgVelocityLimit: * target 1000000 3600
LDIF
}

trial() { # NUMBER
	local t=$1 pa pc
	: >"$WORK/alice.$t"
	: >"$WORK/carol.$t"
	burst "$RG_USER_DN" "$WORK/alice.$t" &
	pa=$!
	burst "$CAROL" "$WORK/carol.$t" &
	pc=$!
	sleep "0.$((RANDOM % 6 + 4))"
	kill -9 "$(cat "$RG_PID_FILE")"
	kill "$pa" "$pc" 2>/dev/null
	wait "$pa" "$pc" 2>/dev/null
	check "trial $t ($RG_LOG_MODE): slapd starts again after kill -9" \
		bash "$RG_TOP/scripts/sandbox" restart "$RG_DIR"
	check "trial $t ($RG_LOG_MODE): no record is left pending" wait_for 10 no_pending
	after_crash "$RG_USER_DN" "$WORK/alice.$t" "$t"
	after_crash "$CAROL" "$WORK/carol.$t" "$t"
	check "trial $t ($RG_LOG_MODE): the log verifies" verify
}

# ---- a syncrepl consumer of the accounts' database ----
consumer_up() {
	local d=$WORK/consumer
	CONSUMER_PORT=$(free_port)
	mkdir -p "$d/db"
	cat >"$d/slapd.conf" <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/namedobject.schema
include $RG_TOP/schema/resetguard.schema
pidfile $d/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
moduleload $RG_MODULE
database mdb
suffix "$RG_BASE"
rootdn "cn=admin,$RG_BASE"
rootpw $(slappasswd -h '{SSHA}' -s "$RG_ADMIN_PW")
directory $d/db
syncrepl rid=001 provider=$RG_URI bindmethod=simple binddn="$RG_ADMIN_DN"
  credentials="$RG_ADMIN_PW" searchbase="$RG_BASE" type=refreshAndPersist retry="1 +"
CONF
	/usr/sbin/slapd -h "ldap://127.0.0.1:$CONSUMER_PORT/" -f "$d/slapd.conf" -d 0 \
		>"$d/slapd.log" 2>&1 &
	CONSUMER_PID=$!
	CONSUMER_URI=ldap://127.0.0.1:$CONSUMER_PORT
}
on_both() { # DN ATTR: provider's value = consumer's (rootdn reads)
	local p c
	p=$(ldapsearch -x -H "$RG_URI" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" -LLL -o ldif-wrap=no \
		-b "$1" -s base '(objectClass=*)' "$2" 2>/dev/null | grep -i "^$2:")
	c=$(ldapsearch -x -H "$CONSUMER_URI" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" -LLL \
		-o ldif-wrap=no -b "$1" -s base '(objectClass=*)' "$2" 2>/dev/null | grep -i "^$2:")
	[ -n "$p" ] && [ "$p" = "$c" ]
}
consumer_binds() { ldapwhoami -x -H "$CONSUMER_URI" -D "$1" -w "$2"; }
max_entry_csn() {
	ldapsearch -x -H "$RG_URI" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" -LLL -o ldif-wrap=no \
		-b "$RG_BASE" '(objectClass=*)' entryCSN 2>/dev/null | sed -n 's/^entryCSN: //p' | sort | tail -n 1
}

# ---- atomic mode, cn=config, ppolicy stacked, syncd following the log ----
sandbox_up --atomic --ppolicy --syncd
CAROL="uid=carol,ou=people,$RG_BASE"
check_eq "the sandbox runs in atomic mode" atomic "$RG_LOG_MODE"

PW1=$(newpw)
check "a Password Modify is allowed" reset_to "$RG_USER_DN" "$PW1"
N1=$(opattr "$RG_USER_DN" rgLastResetChange)
check_eq "  its one record says applied" applied "$(field "$N1" rgLogOutcome)"
check "  the new password binds" binds "$RG_USER_DN" "$PW1"
check "  ppolicy's pwdChangedTime was written by the same change" \
	test -n "$(opattr "$RG_USER_DN" pwdChangedTime)"
# syncd removes the sealed password once it has delivered it: delivered, it was there.
check "  and carries the sealed password: syncd delivers it to legacy1" wait_for 30 delivered "$N1"

# A Modify the backend refuses after resetguard allowed it: the portal may write passwords
# but not descriptions, which the backend's ACL check finds.
TOK=$(token --sub "$RG_USER_DN" --ial 2 --amr hwk)
BAD=$(newpw)
refused_modify() {
	printf 'dn: %s\nchangetype: modify\nreplace: userPassword\nuserPassword: %s\n-\ndelete: description\ndescription: no such value\n' \
		"$RG_USER_DN" "$BAD" | ldapmodify -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" \
		-e "$(ctl "$TOK")"
}
check_result "a change the backend refuses fails with the backend's answer" 50 - refused_modify
N2=$(numbers "(rgLogTarget=$RG_USER_DN)" | tail -n 1)
check_eq "  its record says failed" failed "$(field "$N2" rgLogOutcome)"
check_eq "  and has no sealed password" "" "$(sealed "$N2")"
check_eq "  no other record of it is applied" "$N1" \
	"$(numbers "(rgLogTarget=$RG_USER_DN)(rgLogOutcome=applied)" | tail -n 1)"
check "  the password did not change" unchanged "$RG_USER_DN" "$PW1" "$BAD" 1
check "  the token was not used: it still allows the change" \
	ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" -e "$(ctl "$TOK")" -s "$(newpw)" "$RG_USER_DN"
check_result "  once" 50 evidence-replayed \
	ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" -e "$(ctl "$TOK")" -s "$(newpw)" "$RG_USER_DN"
check "  the denial has its record" test -n "$(numbers '(rgLogRule=evidence-replayed)')"

# Response controls of the backend come with the answer, after the commit (RFC 4527).
postread_reset() {
	printf 'dn: %s\nchangetype: modify\nreplace: userPassword\nuserPassword: %s\n' \
		"$RG_USER_DN" "$(newpw)" | ldapmodify -x -H "$RG_URI" -D "$RG_AGENT_DN" \
		-w "$RG_AGENT_PW" -e "$(ctl "$(token --sub "$RG_USER_DN" --ial 2 --amr hwk)")" \
		-e preread=rgLastResetChange -e postread=rgLastResetChange >"$WORK/postread" 2>&1
}
BEFORE=$(opattr "$RG_USER_DN" rgLastResetChange)
check "a reset with the pre-read and post-read controls" postread_reset
AFTER=$(opattr "$RG_USER_DN" rgLastResetChange)
check_eq "  the pre-read control shows the change before" "$BEFORE" \
	"$(sed -n '/# ==> preread/,/# <== preread/s/^rgLastResetChange: //p' "$WORK/postread")"
check_eq "  the post-read control shows the change committed" "$AFTER" \
	"$(sed -n '/# ==> postread/,/# <== postread/s/^rgLastResetChange: //p' "$WORK/postread")"
check "  which is a new one" test "$AFTER" != "$BEFORE"

# rglog keeps the log's subtree, even from the rootdn, and leaves the accounts alone.
check_result "the rootdn cannot add an entry under the log" 53 - as_admin <<LDIF
dn: cn=bait,$RG_LOG_BASE
changetype: add
objectClass: organizationalRole
cn: bait
LDIF
check_result "the rootdn cannot edit a record" 53 - as_admin <<LDIF
dn: rgLogChangeNumber=$N1,$RG_LOG_BASE
changetype: modify
replace: rgLogOutcome
rgLogOutcome: failed
LDIF
check "the rootdn still edits accounts" as_admin <<LDIF
dn: $CAROL
changetype: modify
replace: description
description: edited
LDIF
verdict() { # RECORD-NUMBER: the auditor's verdict on it
	printf 'dn: rgLogChangeNumber=%s,%s\nchangetype: modify\nadd: rgLogReviewVerdict\nrgLogReviewVerdict: approved: incident %s\n' \
		"$1" "$RG_LOG_BASE" "$1" | ldapmodify -x -H "$RG_URI" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW"
}
check "a break-glass reset" ldappasswd -x -H "$RG_URI" -D "$RG_BREAKGLASS_DN" \
	-w "$RG_BREAKGLASS_PW" -s "$(newpw)" "$CAROL"
NB=$(opattr "$CAROL" rgLastResetChange)
check_eq "  its record awaits review" TRUE "$(field "$NB" rgLogReviewRequired)"
check "  the auditor gives a verdict in the log's subtree" verdict "$NB"
check_eq "  rglog records who reviewed" "$RG_AUDITOR_DN" "$(field "$NB" rgLogReviewer)"
check_result "  a verdict is final" 19 - verdict "$NB"
check "the log verifies" verify

# A consumer: the refused change must never reach it, the committed ones must.
consumer_up
check "the consumer catches up" wait_for 30 on_both "$RG_USER_DN" userPassword
BAD2=$(newpw)
TOK=$(token --sub "$RG_USER_DN" --ial 2 --amr hwk)
BAD=$BAD2
check_result "another change the backend refuses" 50 - refused_modify
check "a later write reaches the consumer" as_admin <<LDIF
dn: $CAROL
changetype: modify
replace: description
description: marker
LDIF
check "  (it arrives)" wait_for 30 on_both "$CAROL" description
check_fails "  the refused password does not bind on the consumer" consumer_binds "$RG_USER_DN" "$BAD2"
PW3=$(newpw)
check "a committed reset" reset_to "$RG_USER_DN" "$PW3"
check "  reaches the consumer" wait_for 30 consumer_binds "$RG_USER_DN" "$PW3"
N3=$(opattr "$RG_USER_DN" rgLastResetChange)
check "  with its record" wait_for 30 on_both "rgLogChangeNumber=$N3,$RG_LOG_BASE" rgLogHash
consumer_csn() {
	ldapsearch -x -H "$CONSUMER_URI" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" -LLL -o ldif-wrap=no \
		-b "$RG_BASE" -s base '(objectClass=*)' contextCSN 2>/dev/null | sed -n 's/^contextCSN: //p'
}
csn_caught_up() { [ "$(consumer_csn)" = "$(max_entry_csn)" ]; }
check "  the consumer's contextCSN is the provider's newest entryCSN" wait_for 30 csn_caught_up

# An Add with a password is judged and committed with its record the same way.
DAVE="uid=dave,ou=people,$RG_BASE" DAVE_PW=$(newpw)
check "an Add of an account with a password" as_admin -a <<LDIF
dn: $DAVE
objectClass: inetOrgPerson
uid: dave
cn: Dave Example
sn: Example
userPassword: $DAVE_PW
LDIF
ND=$(opattr "$DAVE" rgLastResetChange)
check_eq "  its record says applied" applied "$(field "$ND" rgLogOutcome)"
check_eq "  for an add" add "$(field "$ND" rgLogOperation)"
check "  the account reaches the consumer" wait_for 30 consumer_binds "$DAVE" "$DAVE_PW"
check "  and so does its record" wait_for 30 on_both "rgLogChangeNumber=$ND,$RG_LOG_BASE" rgLogHash
check "  the consumer's contextCSN follows" wait_for 30 csn_caught_up
check "the log verifies" verify

check "the velocity limit is lifted for the trials" lift_velocity
for t in 1 2; do trial "$t"; done
sandbox_down

# ---- separate mode: the same trials ----
sandbox_up --syncd
CAROL="uid=carol,ou=people,$RG_BASE"
check "the velocity limit is lifted for the trials" lift_velocity
for t in 3 4; do trial "$t"; done
sandbox_down

# ---- atomic mode from slapd.conf ----
sandbox_up --atomic --slapd-conf
check "slapd.conf: a reset in atomic mode" reset_to "$RG_USER_DN" "$(newpw)"
check_eq "  its record says applied" applied \
	"$(field "$(opattr "$RG_USER_DN" rgLastResetChange)" rgLogOutcome)"
check "  the log verifies" verify
sandbox_down

# syncprov below resetguard would tell consumers of changes before they commit.
awk '/^overlay syncprov$/ { next } /^overlay resetguard$/ { print "overlay syncprov" } { print }' \
	"$RG_DIR/slapd.conf" >"$WORK/below.conf"
refused_below() {
	timeout 20 /usr/sbin/slapd -h "ldap://127.0.0.1:$(free_port)/" -f "$WORK/below.conf" -d 0 \
		>"$WORK/below.log" 2>&1
	grep -q "syncprov is configured before resetguard" "$WORK/below.log" || cat "$WORK/below.log"
}
check "slapd refuses syncprov configured before resetguard in atomic mode" refused_below

finish
