#!/bin/bash
# syncd's ad target against a real Active Directory: Samba's AD DC (Debian's samba-ad-dc,
# scripts/lib/samba.sh), beside the sandbox's slapd with resetguard and resetguard-syncd
# (sandbox --ad). Over LDAPS with the DC's certificate verified: an allowed reset reaches
# AD (the new password binds there, the old one no longer does); AD's password policy
# refusals (0000052D) end as a failed status saying so, after one attempt, with no password
# in it; a password AD already has is not written again (the bind-first check); an account
# AD does not have fails clearly; a DC whose certificate the configured CA did not sign gets
# nothing; a service identity without the Reset Password right fails saying so; under AD's
# account lockout, the bind-first check costs a failed logon per reset and bind-check no
# avoids it. syncd binds to AD as an account with the Reset Password right only. Needs root
# (Samba, and a loopback address of its own).
. "$(cd "$(dirname "$0")/.." && pwd)/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v samba-tool >/dev/null; then
	echo "# ad-samba.sh runs Samba's AD DC: it needs root and samba-ad-dc (scripts/bootstrap); skipped"
	finish
fi

T_START=$(date +%s)
sandbox_up --syncd --ad
T_UP=$(($(date +%s) - T_START))

work_dir rg-ad
export LDAPNOINIT=1

SYNCD=${RG_SYNCD_BIN:-$RG_TOP/resetguard-syncd}
HEALTH_URL=${RG_SYNCD_METRICS_URL%/metrics}/health
ALICE=$RG_USER_DN BOB=$RG_PRIV_USER_DN CAROL="uid=carol,ou=people,$RG_BASE"
AD_ALICE=$RG_AD_USER_DN AD_BOB=$RG_AD_PRIV_USER_DN
USED=()

now_ms() { echo $(($(date +%s%N) / 1000000)); }
waitfor() { # SECONDS CMD...
	local end=$(($(now_ms) + $1 * 1000))
	shift
	while [ "$(now_ms)" -lt "$end" ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	"$@" && return 0
	echo "still failing after the wait"
	return 1
}
stop_pid() {
	kill "$1" 2>/dev/null || return 0
	for _ in $(seq 1 100); do
		kill -0 "$1" 2>/dev/null || { wait "$1" 2>/dev/null; return 0; }
		sleep 0.1
	done
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}
healthy() {
	python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
		"$HEALTH_URL" >/dev/null 2>&1
}
# np VAR: a fresh password that AD's default policy takes (7+ characters, 3 classes).
np() {
	local v
	v="Ad-$(openssl rand -hex 8)"
	USED+=("$v")
	printf -v "$1" %s "$v"
}
reset() { # DN PW
	local tok
	if [ "$1" = "$BOB" ]; then
		tok=$(token --sub "$1" --ial 3 --amr hwk)
	else
		tok=$(token --sub "$1" --ial 2 --amr hwk,face)
	fi
	ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" -e "$(ctl "$tok")" -s "$2" "$1"
}
as_syncd() {
	ldapsearch -x -H "$RG_URI" -D "$RG_SYNCD_DN" -w "$RG_SYNCD_PW" -LLL -o ldif_wrap=no "$@"
}
last_change() {
	as_syncd -b "$RG_LOG_BASE" -s one '(objectClass=rgLogRecord)' rgLogChangeNumber 2>/dev/null |
		sed -n 's/^rgLogChangeNumber: //p' | sort -n | tail -n 1
}
# adstat N: record N's status value for the ad target ("ad STATUS attempts=.. ...").
adstat() {
	as_syncd -b "rgLogChangeNumber=$1,$RG_LOG_BASE" -s base '(objectClass=*)' rgLogTargetStatus \
		2>/dev/null | sed -n 's/^rgLogTargetStatus: \(ad .*\)/\1/p'
}
is_ad() { # N WORD
	local s
	s=$(adstat "$1")
	[[ $s == "ad $2 "* ]] || { echo "record $1: ad status is '${s:-none}', expected $2"; return 1; }
}
# new_reset DN PW: an allowed reset, its record's number in N (0 when there is none). Not
# inside check, whose subshell would lose N.
new_reset() {
	local before
	before=$(last_change)
	N=0
	reset "$1" "$2" >/dev/null 2>&1 || return 0
	N=$(last_change)
	[ "${N:-0}" -gt "${before:-0}" ] || N=0
}
# reset_wait DN PW WORD: new_reset, then its ad status is WORD within 15 s.
reset_wait() {
	new_reset "$1" "$2"
	waitfor 15 is_ad "$N" "$3"
}

# ---- the Samba DC, over LDAPS with its CA ----
adldap() { # TOOL ARGS...
	local tool=$1
	shift
	env -u LDAPNOINIT LDAPTLS_CACERT="$RG_AD_CA" LDAPTLS_REQCERT=demand "$tool" -x -H "$RG_AD_URI" "$@"
}
# Samba answers no Who am I? operation: a base search of the root DSE proves the bind.
ad_binds() { adldap ldapsearch -D "$1" -w "$2" -b '' -s base 1.1 >/dev/null; }
ad_refuses() { # DN PW: the bind fails with invalidCredentials
	local rc
	adldap ldapsearch -D "$1" -w "$2" -b '' -s base 1.1 >/dev/null 2>&1
	rc=$?
	[ "$rc" -eq 49 ] || { echo "bind returned $rc, expected 49"; return 1; }
}
ad_attr() { # DN ATTR
	adldap ldapsearch -D "$RG_AD_ADMIN_DN" -w "$RG_AD_ADMIN_PW" -LLL -o ldif-wrap=no -b "$1" \
		-s base '(objectClass=*)' "$2" 2>/dev/null | sed -n "s/^$2: //p"
}
ad_modify() { adldap ldapmodify -D "$RG_AD_ADMIN_DN" -w "$RG_AD_ADMIN_PW" >/dev/null; }
ad_set_pw() { # DN PW: an administrative reset straight in AD, behind resetguard's back
	printf 'dn: %s\nchangetype: modify\nreplace: unicodePwd\nunicodePwd:: %s\n' "$1" \
		"$(printf '"%s"' "$2" | iconv -f UTF-8 -t UTF-16LE | base64 -w0)" | ad_modify
}

# ---- 1. a reset reaches AD ----
np pw1
t0=$(now_ms)
reset "$ALICE" "$pw1" >/dev/null 2>&1
waitfor 15 ad_binds "$AD_ALICE" "$pw1" >/dev/null
T_PROP=$(($(now_ms) - t0))
check "an allowed reset reaches Active Directory: the new password binds at the DC" \
	ad_binds "$AD_ALICE" "$pw1"
N1=$(last_change)
check "  the record says delivered, after one attempt" \
	waitfor 5 eval '[[ $(adstat "$N1") == "ad delivered attempts=1 "* ]]'
np pw2
check "a second reset is delivered" reset_wait "$ALICE" "$pw2" delivered
check "  the new password binds at the DC" ad_binds "$AD_ALICE" "$pw2"
check "  the one before no longer does" ad_refuses "$AD_ALICE" "$pw1"

# ---- 2. AD's password policy: a permanent refusal, said plainly, never retried ----
short="Ab1-$(openssl rand -hex 1)"
new_reset "$ALICE" "$short"
check "a password AD finds too short fails on the record" waitfor 15 is_ad "$N" failed
S=$(adstat "$N")
check "  after one attempt" eval '[[ $S == "ad failed attempts=1 "* ]]'
check "  the reason names AD's code 0000052D and the password policy" \
	eval '[[ $S == *"error=refused by the domain'"'"'s password policy: modify unicodePwd on $AD_ALICE: "*": 0000052D:"* ]]'
check "  and the DC's whole reason, which says what was wrong" \
	eval '[[ $S == *"the password is too short. It should be equal or longer than 7 characters!" ]]'
check "  and holds no password" eval '[[ $S != *"$short"* ]]'
sleep 3
check "  not retried: still one attempt 3 s later" eval '[[ $(adstat "$N") == "ad failed attempts=1 "* ]]'
check "  AD keeps the password before" ad_binds "$AD_ALICE" "$pw2"
simple="adsimple$(openssl rand -hex 4)"
new_reset "$ALICE" "$simple"
check "a password AD finds not complex enough fails the same way" waitfor 15 is_ad "$N" failed
S=$(adstat "$N")
check "  with 0000052D, one attempt and no password" \
	eval '[[ $S == "ad failed attempts=1 "*": 0000052D:"* && $S != *"$simple"* ]]'

# ---- 3. the bind-first check: a password AD already has is not written again ----
np pw3
check "a reset to a password AD was given behind resetguard's back" ad_set_pw "$AD_ALICE" "$pw3"
usn=$(ad_attr "$AD_ALICE" uSNChanged) set=$(ad_attr "$AD_ALICE" pwdLastSet)
new_reset "$ALICE" "$pw3"
check "  is delivered" waitfor 15 is_ad "$N" delivered
check_eq "  without a write: pwdLastSet and uSNChanged of the account unchanged" \
	"$set $usn" "$(ad_attr "$AD_ALICE" pwdLastSet) $(ad_attr "$AD_ALICE" uSNChanged)"
np pw4
check "a reset to a new password" reset_wait "$ALICE" "$pw4" delivered
check "  is written: pwdLastSet moves" \
	eval '[ "$(ad_attr "$AD_ALICE" pwdLastSet)" -gt "$set" ]'

# ---- 4. an account AD does not have ----
np pwc
new_reset "$CAROL" "$pwc"
check "a reset of an account AD does not have fails on the record" waitfor 15 is_ad "$N" failed
check "  saying no account matches (sAMAccountName=carol)" \
	eval '[[ $(adstat "$N") == "ad failed attempts=1 "*"error=no account matches (sAMAccountName=carol) under CN=Users,$RG_AD_BASE" ]]'

# ---- 5. a DC whose certificate the configured CA did not sign gets nothing ----
# syncd again, with the sandbox's configuration but another CA for the ad target.
stop_pid "$(cat "$RG_SYNCD_PID_FILE")"
syncd_start() { # CONF
	"$SYNCD" -d -f "$1" >>"$W/syncd.log" 2>&1 &
	SYNCD_PID=$!
	MY_PIDS+=("$SYNCD_PID")
	waitfor 10 healthy >/dev/null
}
sed "s,^\(\s*tls-ca-file\) $RG_AD_CA\$,\1 $RG_HOOK_CA," "$RG_SYNCD_CONF" >"$W/wrong-ca.conf"
check "a configuration with another CA for the DC" \
	eval '! cmp -s "$RG_SYNCD_CONF" "$W/wrong-ca.conf"'
syncd_start "$W/wrong-ca.conf"
np pw5
new_reset "$ALICE" "$pw5"
check "  a reset is not delivered to AD: retrying" waitfor 15 is_ad "$N" retrying
check "  the reason: the certificate failed verification" \
	eval '[[ $(adstat "$N") == *"error=service bind to $RG_AD_URI as $RG_AD_SYNC_DN: TLS certificate verification failed"* ]]'
check "  AD still has the password before" ad_binds "$AD_ALICE" "$pw4"
check "  the new one does not bind there" ad_refuses "$AD_ALICE" "$pw5"
stop_pid "$SYNCD_PID"

syncd_start "$RG_SYNCD_CONF"
check "  the same record, once syncd has the right CA again, is delivered" \
	waitfor 30 is_ad "$N" delivered
stop_pid "$SYNCD_PID"

# ---- 6. a service identity without the Reset Password right ----
nr_pw="Nr-$(openssl rand -hex 8)"
USED+=("$nr_pw")
printf 'dn: CN=norights,CN=Users,%s\nchangetype: add\nobjectClass: user\nsAMAccountName: norights\nunicodePwd:: %s\nuserAccountControl: 512\n' \
	"$RG_AD_BASE" "$(printf '"%s"' "$nr_pw" | iconv -f UTF-8 -t UTF-16LE | base64 -w0)" | ad_modify
(umask 077 && printf '%s\n' "$nr_pw" >"$W/norights.pw")
sed -e "s|^\(\s*bind-dn\) $RG_AD_SYNC_DN\$|\1 CN=norights,CN=Users,$RG_AD_BASE|" \
	-e "s|^\(\s*bind-password-file\) $RG_DIR/keys/ad.pw\$|\1 $W/norights.pw|" \
	"$RG_SYNCD_CONF" >"$W/no-right.conf"
check "a configuration binding to AD as an account without the Reset Password right" \
	eval 'grep -q "bind-dn CN=norights," "$W/no-right.conf"'
syncd_start "$W/no-right.conf"
np pw6
new_reset "$ALICE" "$pw6"
check "  a reset fails on the record" waitfor 15 is_ad "$N" failed
check "  saying bind-dn needs the right, after one attempt" \
	eval '[[ $(adstat "$N") == "ad failed attempts=1 "*"error=bind-dn lacks the Reset Password right: modify unicodePwd on $AD_ALICE: Insufficient access"* ]]'
check "  AD keeps the password before" ad_binds "$AD_ALICE" "$pw5"
stop_pid "$SYNCD_PID"

# ---- 7. account lockout: the bind-first check is a failed logon; bind-check no is not ----
syncd_start "$RG_SYNCD_CONF"
printf 'dn: %s\nchangetype: modify\nreplace: lockoutThreshold\nlockoutThreshold: 2\n' "$RG_AD_BASE" |
	ad_modify
np pwb1
np pwb2
reset_wait "$BOB" "$pwb1" delivered >/dev/null
reset_wait "$BOB" "$pwb2" delivered >/dev/null
check "with lockoutThreshold 2, two resets in a row with the bind-first check lock the account" \
	eval '[ "$(ad_attr "$AD_BOB" lockoutTime)" -gt 0 ]'
stop_pid "$SYNCD_PID"
printf 'dn: %s\nchangetype: modify\nreplace: lockoutTime\nlockoutTime: 0\n' "$AD_BOB" | ad_modify
sed 's/^\(\s*\)type ad$/&\n\1bind-check no/' "$RG_SYNCD_CONF" >"$W/no-check.conf"
check "a configuration with bind-check no checks" "$SYNCD" -t -f "$W/no-check.conf"
syncd_start "$W/no-check.conf"
for v in pwb3 pwb4 pwb5; do np "$v"; done
check "  three resets in a row are delivered" \
	eval 'reset_wait "$BOB" "$pwb3" delivered && reset_wait "$BOB" "$pwb4" delivered && reset_wait "$BOB" "$pwb5" delivered'
check_eq "  with no failed logon counted and no lockout" "0 0" \
	"$(ad_attr "$AD_BOB" badPwdCount) $(ad_attr "$AD_BOB" lockoutTime)"
check "  the last password binds at the DC" ad_binds "$AD_BOB" "$pwb5"
stop_pid "$SYNCD_PID"

# ---- no password in syncd's or Samba's files ----
leaks=
for p in "${USED[@]}" "$short" "$simple"; do
	f=$(grep -r -a -l -F -D skip -e "$p" "$RG_DIR/syncd.log" "$W/syncd.log" "$RG_DIR/ad/samba.log" 2>/dev/null)
	[ -n "$f" ] && leaks+=" $f"
done
check_eq "no password in syncd's logs or Samba's" "" "$leaks"

echo "# sandbox with the Samba DC up in ${T_UP} s; propagation of the first reset to AD: ${T_PROP} ms; whole script $(($(date +%s) - T_START)) s"
finish
