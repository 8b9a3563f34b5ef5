#!/bin/bash
# Attacks on resetguard (issue 8): every way found to set a password, or to tamper with the
# reset log, around the overlay's judgement. One section per class; each attack asserts the
# answer it must get and that it changed nothing: the account's old password still binds,
# the new one does not, rgResetCount has not moved and no allowed record was added to the log.
# Each attack works on an account of its own, so one that gets through does not disturb the
# next.
#
#   1. ModRDN / ModDN with a password in an RDN; Delete then Add of a known account
#   2. LDAP transactions (RFC 5805)
#   3. Proxied authorization (RFC 4370)
#   4. Log integrity: entries under the log base the overlay did not write; status writes
#   5. Time claims out of range
#   6. Concurrency and failure: velocity races, failed group lookups, groupOfUniqueNames
#   7. Smaller: blank reasons, method case, duplicate amr, ambiguous old passwords, records
#      for requesters without access, long UTF-8 denial texts
# shellcheck source=tests/lib.sh
. "$(cd "$(dirname "$0")/.." && pwd)/lib.sh"

AUDIT=$RG_TOP/resetguard-audit
[ -x "$AUDIT" ] || make -s -C "$RG_TOP" resetguard-audit >/dev/null 2>&1
[ -x "$AUDIT" ] || { echo "Bail out! $AUDIT is not built (make resetguard-audit)"; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rg-attacks.XXXXXX") || { echo "Bail out! mktemp failed"; exit 1; }
trap 'rm -rf "$WORK"; _sandbox_cleanup' EXIT
START=$SECONDS

# ---- helpers ----

audit() { "$AUDIT" -H "$RG_URI" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" "$@"; }

# logsearch FILTER [ATTRS...]: reset log records matching FILTER, read as syncd (who reads
# every attribute), unwrapped LDIF.
logsearch() {
	local f=$1
	shift
	ldapsearch -x -H "$RG_URI" -D "$RG_SYNCD_DN" -w "$RG_SYNCD_PW" -LLL -o ldif-wrap=no \
		-b "$RG_LOG_BASE" -s one "(&(objectClass=rgLogRecord)$f)" "$@" 2>&1
}
# nrec FILTER: how many records match.
nrec() { logsearch "$1" 1.1 | grep -c '^dn: '; }
# allowed_n DN: the allowed records of DN (pending, applied or failed).
allowed_n() { nrec "(rgLogTarget=$1)(rgLogDecision=allowed)"; }
# lastrec DN [ATTRS...]: the newest record about DN.
lastrec() {
	local dn=$1 n
	shift
	n=$(logsearch "(rgLogTarget=$dn)" rgLogChangeNumber | sed -n 's/^rgLogChangeNumber: //p' | sort -n | tail -n 1)
	[ -n "$n" ] && logsearch "(rgLogChangeNumber=$n)" "$@"
}
# val ATTR LDIF: the values of ATTR, joined by ",".
val() { printf '%s\n' "$2" | sed -n "s/^$1: //Ip" | paste -sd, -; }
head_number() { logsearch '' rgLogChangeNumber | sed -n 's/^rgLogChangeNumber: //p' | sort -n | tail -n 1; }

log_db_dn() {
	ldapsearch -Q -Y EXTERNAL -H "$RG_LDAPI" -LLL -o ldif-wrap=no -b cn=config \
		"(olcSuffix=$RG_LOG_BASE)" 1.1 | sed -n 's/^dn: //p'
}
main_db_dn() {
	ldapsearch -Q -Y EXTERNAL -H "$RG_LDAPI" -LLL -o ldif-wrap=no -b cn=config \
		"(olcSuffix=$RG_BASE)" 1.1 | sed -n 's/^dn: //p'
}
# The log database's rootdn has no password in the sandbox: give it one, as an administrator
# who holds cn=config could.
LOGADM_PW=
give_log_rootpw() {
	LOGADM_PW=$(openssl rand -hex 12)
	cfg_modify >/dev/null <<EOF
dn: $(log_db_dn)
changetype: modify
replace: olcRootPW
olcRootPW: $(slappasswd -h '{SSHA}' -s "$LOGADM_PW")
EOF
}
as_logadmin() { ldapmodify -x -H "$RG_URI" -D "$RG_LOG_ADMIN_DN" -w "$LOGADM_PW" "$@"; }

# Accounts: PW[dn] is the password that must bind, CNT[dn] the rgResetCount expected,
# ALW[dn] the number of allowed records expected.
declare -A PW CNT ALW
# mkuser UID [POLICY] [nopw]: an account made by the rootdn (a provisioning Add when it has a
# password), with its own policy if POLICY is given. Prints nothing; sets DN.
mkuser() {
	local uid=$1 pol=${2:-} nopw=${3:-} pw
	DN="uid=$uid,ou=people,$RG_BASE"
	pw=$(newpw)
	{
		printf 'dn: %s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: Attack\n' "$DN" "$uid" "$uid"
		[ -n "$nopw" ] || printf 'userPassword: %s\n' "$pw"
		[ -n "$pol" ] && printf 'rgPolicySubentry: %s\n' "$pol"
	} | as_admin -a >/dev/null 2>&1 || { echo "Bail out! cannot create $DN"; exit 1; }
	if [ -n "$nopw" ]; then PW[$DN]=; else PW[$DN]=$pw; fi
	snap "$DN"
}
# snap DN: the current count and allowed records of DN become the expected ones.
snap() {
	CNT[$1]=$(opattr "$1" rgResetCount)
	ALW[$1]=$(allowed_n "$1")
}
# intact DN NEWPW: DN is as snap left it: its password binds, NEWPW does not, rgResetCount
# and the allowed records are unchanged.
intact() {
	local dn=$1 new=$2 ok=0 n
	if [ -n "${PW[$dn]}" ]; then
		unchanged "$dn" "${PW[$dn]}" "$new" "${CNT[$dn]}" || ok=1
	else
		not_binds "$dn" "$new" >/dev/null 2>&1 || { echo "new password of $dn binds"; ok=1; }
		n=$(opattr "$dn" rgResetCount)
		[ "$n" = "${CNT[$dn]}" ] || { echo "rgResetCount of $dn is '$n', expected '${CNT[$dn]}'"; ok=1; }
	fi
	n=$(allowed_n "$dn")
	[ "$n" = "${ALW[$dn]}" ] || { echo "$n allowed records about $dn, expected ${ALW[$dn]}"; ok=1; }
	return $ok
}
# still DN NEWPW: the check that DN is intact. If the attack did get through, what it left
# becomes the expected state, so that the next attack on DN is judged on its own.
still() {
	check "  account and log unchanged" intact "$@"
	if [ -n "$2" ] && binds "$1" "$2" >/dev/null 2>&1; then PW[$1]=$2; fi
	snap "$1"
}
exists() { ldapsearch -x -H "$RG_URI" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" -LLL -b "$1" -s base 1.1 >/dev/null 2>&1; }

# mkpolicy CN LINE...: a copy of the example policy named CN, without the attributes that
# the LINEs (ATTR: VALUE) give, with those LINEs. Sets POL.
mkpolicy() {
	local cn=$1 l drop=''
	shift
	POL="cn=$cn,ou=policies,$RG_BASE"
	for l in "$@"; do drop+="/^${l%%:*}:/d;"; done
	{
		ldapsearch -x -H "$RG_URI" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" -LLL -o ldif-wrap=no \
			-b "$RG_POLICY_DN" -s base |
			sed -e "s/^dn: .*/dn: $POL/" -e "s/^cn: .*/cn: $cn/" -e '/^description:/d' \
				-e '/^$/d' -e "$drop"
		for l in "$@"; do printf '%s\n' "$l"; done
	} | as_admin -a >/dev/null 2>&1 || { echo "Bail out! cannot create the policy $POL"; exit 1; }
}

# Tokens from the sandbox issuer.
ss_tok() { token --sub "$1" --ial 2 --amr "${2:-hwk}"; }                 # self-service
dl_tok() { token --sub "$1" --ial 1 --amr pwd --approver "$RG_APPROVER_DN" --reason "${2:-INC-1}"; }
agent_passwd() { ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" "$@"; }
hd_passwd() { ldappasswd -x -H "$RG_URI" -D "$RG_HELPDESK_DN" -w "$RG_HELPDESK_PW" "$@"; }
bg_passwd() { ldappasswd -x -H "$RG_URI" -D "$RG_BREAKGLASS_DN" -w "$RG_BREAKGLASS_PW" "$@"; }

# jws PAYLOAD-JSON: a compact JWS, ES256, signed with the sandbox issuer's key, whatever the
# payload says (resetguard-token refuses some of the values tried here). openssl signs; the
# DER signature becomes the raw r||s of JWS.
jws() {
	local hdr pl sig
	hdr=$(b64url '{"alg":"ES256","typ":"JWT"}')
	pl=$(b64url "$1")
	sig=$(printf '%s.%s' "$hdr" "$pl" | openssl dgst -sha256 -sign "$RG_ISSUER_KEY" -binary |
		python3 -c '
import base64, sys
d = sys.stdin.buffer.read()
i = 2 if d[1] < 0x80 else 2 + (d[1] & 0x7f)
out = b""
for _ in range(2):
    assert d[i] == 2
    n = d[i + 1]
    out += int.from_bytes(d[i + 2:i + 2 + n], "big").to_bytes(32, "big")
    i += 2 + n
print(base64.urlsafe_b64encode(out).decode().rstrip("="))') || return 1
	printf '%s.%s.%s' "$hdr" "$pl" "$sig"
}
# claims SUB [KEY=JSON-VALUE...]: a self-service payload for SUB (IAL2, hwk, issued now,
# 300 s) with the given claims replaced or added.
claims() {
	python3 - "$RG_ISSUER" "$@" <<'PY'
import json, os, sys, time
now = int(time.time())
c = {"iss": sys.argv[1], "sub": sys.argv[2], "jti": os.urandom(12).hex(), "iat": now,
     "exp": now + 300, "ial": 2, "amr": ["hwk"]}
for kv in sys.argv[3:]:
    k, v = kv.split("=", 1)
    c[k] = json.loads(v)
print(json.dumps(c, separators=(",", ":"), ensure_ascii=False))
PY
}

# check_denied NAME CMD...: an ldap-utils CMD fails with LDAP 50 or 53 and a resetguard rule
# other than allowed and not-provisioner; the rule is left in RULE.
check_denied() {
	local name=$1 code
	shift
	_run "$@"
	code=$(_ldap_code)
	RULE=$(printf '%s\n' "$T_OUT" | sed -n 's/.*(resetguard rule \([a-z-]*\)).*/\1/p' | tail -n 1)
	if [ "$code" != 50 ] && [ "$code" != 53 ]; then
		_fail "$name" "expected LDAP result 50 or 53, got $code" "$@"
	elif [ -z "$RULE" ] || [ "$RULE" = allowed ] || [ "$RULE" = not-provisioner ]; then
		_fail "$name" "LDAP result $code but rule '$RULE' (a reset's rule expected)" "$@"
	else
		_pass "$name"
	fi
}

# utf8_ok: standard input is valid UTF-8 (strictly).
utf8_ok() {
	python3 -c 'import sys; sys.stdin.buffer.read().decode("utf-8", "strict")' 2>&1
}

slapd_alive() { kill -0 "$(cat "$RG_PID_FILE")" 2>/dev/null; }

###########################################################################################
sandbox_up
give_log_rootpw

# ---- 1. ModRDN / ModDN and Delete+Add ----
echo "# 1. ModRDN / ModDN and Delete then Add"
# rename_attack NAME UID NEWRDN [ldapmodrdn options]: the rootdn renames a fresh account
# uid=UID to NEWRDN, which carries a password value NEW.
rename_attack() {
	local name=$1 uid=$2 newrdn=$3 dn denied
	shift 3
	mkuser "$uid"
	dn=$DN
	denied=$(nrec "(rgLogTarget=$dn)(rgLogDecision=denied)(rgLogOperation=modrdn)")
	check_result "$name" 53 password-in-rdn \
		ldapmodrdn -x -H "$RG_URI" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" "$@" "$dn" "$newrdn"
	check "  the entry keeps its DN" exists "$dn"
	still "$dn" "$NEW"
	check_eq "  a denied modrdn record about it" $((denied + 1)) \
		"$(nrec "(rgLogTarget=$dn)(rgLogDecision=denied)(rgLogOperation=modrdn)")"
}
NEW=$(newpw)
rename_attack "ModRDN to userPassword=NEW: password-in-rdn" rdn1 "userPassword=$NEW"
NEW=$(newpw)
rename_attack "ModRDN to 2.5.4.35=NEW (the OID): password-in-rdn" rdn2 "2.5.4.35=$NEW"
NEW=$(newpw)
rename_attack "ModRDN to userPassword;x-opt=NEW (an option): password-in-rdn" rdn3 "userPassword;x-opt=$NEW"
NEW=$(newpw)
rename_attack "ModRDN to USERPASSWORD=NEW (case), old RDN deleted: password-in-rdn" rdn4 "USERPASSWORD=$NEW" -r
NEW=$(newpw)
rename_attack "ModRDN to a multi-valued RDN uid+userPassword=NEW: password-in-rdn" rdn5 "uid=rdn5+userPassword=$NEW"
NEW=$(newpw)
rename_attack "ModDN to userPassword=NEW under a new superior: password-in-rdn" rdn6 "userPassword=$NEW" \
	-s "ou=staff,$RG_BASE"

# An entry whose RDN is its password: renaming it with deleteoldrdn deletes the password.
OLD=$(newpw)
RDN_DN="userPassword=$OLD,ou=people,$RG_BASE"
check "the rootdn adds an entry named by its password (provisioning)" as_admin -a <<EOF
dn: $RDN_DN
objectClass: inetOrgPerson
uid: rdnpw
cn: rdnpw
sn: Attack
EOF
PW[$RDN_DN]=$OLD
snap "$RDN_DN"
denied=$(nrec "(rgLogTarget=$RDN_DN)(rgLogDecision=denied)(rgLogOperation=modrdn)")
check_result "ModRDN with deleteoldrdn away from userPassword=OLD: password-in-rdn" 53 password-in-rdn \
	ldapmodrdn -x -H "$RG_URI" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" -r "$RDN_DN" "uid=rdnpw"
check "  the entry keeps its DN" exists "$RDN_DN"
still "$RDN_DN" ""
check_eq "  a denied modrdn record about it" $((denied + 1)) \
	"$(nrec "(rgLogTarget=$RDN_DN)(rgLogDecision=denied)(rgLogOperation=modrdn)")"

# Delete then Add: the Add of a DN the reset log knows is a reset of that account.
mkuser del1
DEL1=$DN
check "the rootdn deletes a provisioned account" ldapdelete -x -H "$RG_URI" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" "$DEL1"
NEW=$(newpw)
check_denied "the rootdn re-adds it with a new password: judged as a reset, denied without evidence" \
	ldapadd -x -H "$RG_URI" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" <<EOF
dn: $DEL1
objectClass: inetOrgPerson
uid: del1
cn: del1
sn: Attack
userPassword: $NEW
EOF
check "  the new password does not bind" not_binds "$DEL1" "$NEW"
check_eq "  no allowed record added" "${ALW[$DEL1]}" "$(allowed_n "$DEL1")"
rec=$(lastrec "$DEL1" rgLogKind rgLogDecision)
check_eq "  its record is a denied reset, not provisioning" "denied yes" \
	"$(val rgLogDecision "$rec") $([ "$(val rgLogKind "$rec")" != provisioning ] && echo yes || echo "no ($(val rgLogKind "$rec"))")"

# The same in another spelling of the DN.
mkuser del2
DEL2=$DN
check "the rootdn deletes another provisioned account" ldapdelete -x -H "$RG_URI" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" "$DEL2"
NEW=$(newpw)
check_denied "the rootdn re-adds it as UID=DEL2,OU=PEOPLE,...: denied without evidence" \
	ldapadd -x -H "$RG_URI" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" <<EOF
dn: $(printf %s "$DEL2" | tr a-z A-Z)
objectClass: inetOrgPerson
uid: DEL2
cn: del2
sn: Attack
userPassword: $NEW
EOF
check "  the new password does not bind" not_binds "$DEL2" "$NEW"
check_eq "  no allowed record added" "${ALW[$DEL2]}" "$(allowed_n "$DEL2")"
# The help desk may reset passwords but not delete entries (the sandbox's ACLs).
check_result "the help desk cannot delete an account (ACL): Delete then Add is the rootdn's" 50 - \
	ldapdelete -x -H "$RG_URI" -D "$RG_HELPDESK_DN" -w "$RG_HELPDESK_PW" "$RG_PRIV_USER_DN"

# Review markers survive a Delete and an allowed re-Add. The break-glass identity may not add
# entries with the sandbox's ACLs: it is given add/delete rights on one account (cn=config).
mkuser bgre
BGRE=$DN
NEW=$(newpw)
check "a break-glass reset of an account" bg_passwd -s "$NEW" "$BGRE"
PW[$BGRE]=$NEW
snap "$BGRE"
check_eq "  marks it for review" TRUE "$(opattr "$BGRE" rgReviewRequired)"
check "break-glass is allowed to delete and add that one account (olcAccess)" cfg_modify <<EOF
dn: $(main_db_dn)
changetype: modify
add: olcAccess
olcAccess: {0}to dn.base="ou=people,$RG_BASE" attrs=children by dn.exact="$RG_BREAKGLASS_DN" write by * break
olcAccess: {1}to dn.base="$BGRE" by dn.exact="$RG_BREAKGLASS_DN" write by * break
EOF
check "break-glass deletes the account" ldapdelete -x -H "$RG_URI" -D "$RG_BREAKGLASS_DN" -w "$RG_BREAKGLASS_PW" "$BGRE"
NEW=$(newpw)
check "break-glass re-adds it with a new password (allowed)" \
	ldapadd -x -H "$RG_URI" -D "$RG_BREAKGLASS_DN" -w "$RG_BREAKGLASS_PW" <<EOF
dn: $BGRE
objectClass: inetOrgPerson
uid: bgre
cn: bgre
sn: Attack
userPassword: $NEW
EOF
check_eq "  the new entry is marked for review again" TRUE "$(opattr "$BGRE" rgReviewRequired)"
check_eq "  its rgResetCount continues from the log" "$((CNT[$BGRE] + 1))" "$(opattr "$BGRE" rgResetCount)"

# ---- 2. LDAP transactions (RFC 5805) ----
echo "# 2. LDAP transactions"
# txn_attack NAME BINDDN PW DN [-e control]: a replace of DN's userPassword inside a
# transaction, committed (tests/tools/txn-modify.py, which avoids a crash of slapd's own).
# Refused with 53; the rule is looked for in the answer, on a denied record, or in slapd's
# stats log.
slapd_says() { grep -c "resetguard: .*denied (transaction-refused)" "$RG_DIR/slapd.log"; }
txn_attack() {
	local name=$1 bdn=$2 bpw=$3 dn=$4 denied code applied said
	shift 4
	NEW=$(newpw)
	applied=$(nrec "(rgLogTarget=$dn)(rgLogOutcome=applied)")
	denied=$(nrec "(rgLogTarget=$dn)(rgLogDecision=denied)(rgLogRule=transaction-refused)")
	said=$(slapd_says)
	_run /usr/bin/python3 "$RG_TOP/tests/tools/txn-modify.py" "$RG_URI" "$bdn" "$bpw" "$dn" "$NEW" "$@"
	code=$T_RC
	if [ "$code" != 53 ]; then
		_fail "$name" "expected LDAP result 53, got $code: $T_OUT" txn-modify.py
	elif [[ "$T_OUT" != *"(resetguard rule transaction-refused)"* ]] &&
		[ "$(nrec "(rgLogTarget=$dn)(rgLogDecision=denied)(rgLogRule=transaction-refused)")" = "$denied" ] &&
		[ "$(slapd_says)" = "$said" ]; then
		_fail "$name" "LDAP result 53 but the rule transaction-refused nowhere: answer, record, slapd log"
	else
		_pass "$name"
	fi
	check_eq "  no applied record" "$applied" "$(nrec "(rgLogTarget=$dn)(rgLogOutcome=applied)")"
	still "$dn" "$NEW"
}
mkuser txn1
TXN1=$DN
txn_attack "break-glass reset inside a transaction: transaction-refused" \
	"$RG_BREAKGLASS_DN" "$RG_BREAKGLASS_PW" "$TXN1"
txn_attack "self-service reset with a valid token inside a transaction: transaction-refused" \
	"$RG_AGENT_DN" "$RG_AGENT_PW" "$TXN1" -e "$(ctl "$(ss_tok "$TXN1")")"
txn_attack "self-change (replace) inside a transaction: transaction-refused" \
	"$TXN1" "${PW[$TXN1]}" "$TXN1"
check "slapd still runs" slapd_alive
NEW=$(newpw)
check_result "an ordinary Modify of that entry by the help desk gets its normal answer" 50 evidence-missing \
	modify_pw "$RG_HELPDESK_DN" "$RG_HELPDESK_PW" "$TXN1" replace "$NEW"
still "$TXN1" "$NEW"
NEW=$(newpw)
check "an ordinary self-service reset of it still works" agent_passwd -e "$(ctl "$(ss_tok "$TXN1")")" -s "$NEW" "$TXN1"
check "  and slapd still runs" slapd_alive

# ---- 3. Proxied authorization (RFC 4370) ----
echo "# 3. Proxied authorization"
mkuser px1
PX1=$DN
NEW=$(newpw)
check_result "the rootdn proxying as break-glass (exop): break-glass-proxied" 50 break-glass-proxied \
	ldappasswd -x -H "$RG_URI" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" \
	-e "!authzid=dn:$RG_BREAKGLASS_DN" -s "$NEW" "$PX1"
still "$PX1" "$NEW"
rec=$(lastrec "$PX1" rgLogDecision rgLogRequester rgLogAuthenticated)
check_eq "  its denied record names break-glass as requester, the rootdn as authenticated" \
	"denied|$RG_BREAKGLASS_DN|$RG_ADMIN_DN" \
	"$(val rgLogDecision "$rec")|$(val rgLogRequester "$rec")|$(val rgLogAuthenticated "$rec")"
NEW=$(newpw)
check_result "the rootdn proxying as break-glass (Modify): break-glass-proxied" 50 break-glass-proxied \
	modify_pw "$RG_ADMIN_DN" "$RG_ADMIN_PW" "$PX1" replace "$NEW" -e "!authzid=dn:$RG_BREAKGLASS_DN"
still "$PX1" "$NEW"

# Records awaiting review, and identities proxying as an auditor to give them a verdict.
# bg_record UID: a break-glass reset of a fresh account; REVREC is its record's number.
bg_record() {
	mkuser "$1"
	bg_passwd -s "$(newpw)" "$DN" >/dev/null 2>&1
	REVREC=$(lastrec "$DN" rgLogChangeNumber | sed -n 's/^rgLogChangeNumber: //p')
}
verdict_as() { # BINDDN PW [ldapmodify options]
	local dn=$1 pw=$2
	shift 2
	ldapmodify -x -H "$RG_URI" -D "$dn" -w "$pw" "$@" <<EOF
dn: rgLogChangeNumber=$REVREC,$RG_LOG_BASE
changetype: modify
add: rgLogReviewVerdict
rgLogReviewVerdict: approved by someone else
EOF
}
verdicts() { nrec "(rgLogChangeNumber=$REVREC)(rgLogReviewVerdict=*)"; }
bg_record px2
check_result "the main rootdn proxying as an auditor cannot give a verdict" 50 - \
	verdict_as "$RG_ADMIN_DN" "$RG_ADMIN_PW" -e "!authzid=dn:$RG_AUDITOR_DN"
check_eq "  no verdict written" 0 "$(verdicts)"
# slapd itself lets a rootdn assume only identities in its own databases: the log's rootdn
# is refused with proxiedAuthorizationDenied (123) before any overlay sees the Modify.
bg_record px3
_run verdict_as "$RG_LOG_ADMIN_DN" "$LOGADM_PW" -e "!authzid=dn:$RG_AUDITOR_DN"
code=$(_ldap_code)
if [ "$code" = 50 ] || [ "$code" = 123 ]; then
	_pass "the log's rootdn proxying as an auditor cannot give a verdict ($code)"
else
	_fail "the log's rootdn proxying as an auditor cannot give a verdict" "expected 50 or 123, got $code"
fi
check_eq "  no verdict written" 0 "$(verdicts)"
bg_record px4
check "the auditor, bound as themselves, still can" verdict_as "$RG_AUDITOR_DN" "$RG_AUDITOR_PW"

# ---- 5. Time claims ----
echo "# 5. Time claims"
mkuser tm1
TM1=$DN
now=$(date +%s)
time_attack() { # NAME PAYLOAD-JSON
	NEW=$(newpw)
	check_result "$1" 50 evidence-malformed agent_passwd -e "$(ctl "$(jws "$2")")" -s "$NEW" "$TM1"
	still "$TM1" "$NEW"
}
time_attack "exp beyond the year 9999 (253402300800): evidence-malformed" "$(claims "$TM1" exp=253402300800)"
time_attack "exp 2^62: evidence-malformed" "$(claims "$TM1" exp=4611686018427387904)"
time_attack "exp 2^63-1: evidence-malformed" "$(claims "$TM1" exp=9223372036854775807)"
time_attack "exp 2^62 as a JSON real: evidence-malformed" "$(claims "$TM1" exp=4611686018427387904.0)"
time_attack "exp before iat (iat now+20, exp now+10): evidence-malformed" \
	"$(claims "$TM1" iat=$((now + 20)) exp=$((now + 10)))"
# replay_attack NAME TOKEN: TOKEN, whatever its first use gives, never sets a password a
# second time, even after another allowed change has pruned the expired token ids.
replay_attack() {
	local name=$1 tok=$2 new2
	NEW=$(newpw)
	if agent_passwd -e "$(ctl "$tok")" -s "$NEW" "$TM1" >/dev/null 2>&1 && binds "$TM1" "$NEW" >/dev/null 2>&1; then
		PW[$TM1]=$NEW
	fi
	new2=$(newpw)
	if agent_passwd -e "$(ctl "$(ss_tok "$TM1")")" -s "$new2" "$TM1" >/dev/null 2>&1; then
		PW[$TM1]=$new2
	fi
	snap "$TM1"
	NEW=$(newpw)
	check_fails "$name" agent_passwd -e "$(ctl "$tok")" -s "$NEW" "$TM1"
	still "$TM1" "$NEW"
}
replay_attack "a token with exp 9999-12-31T23:59:59Z cannot be used twice" \
	"$(jws "$(claims "$TM1" exp=253402300799)")"
replay_attack "a token with exp 2^62 cannot be used twice" "$(jws "$(claims "$TM1" exp=4611686018427387904)")"
replay_attack "a token with exp 2^63-1 cannot be used twice" "$(jws "$(claims "$TM1" exp=9223372036854775807)")"

# ---- 6. Concurrency and failure ----
echo "# 6. Concurrency and failure"
mkpolicy velocity-one "rgVelocityLimit: * target 1 3600"
VPOL=$POL
# Three accounts, 20 resets each with 20 distinct valid tokens, all 60 at once (a race lost
# by chance on one account is unlikely to be lost on all three). No password yet: a
# provisioning record would already count towards the limit.
CCS=()
for a in cc1 cc2 cc3; do
	mkuser "$a" "$VPOL" nopw
	CCS+=("$DN")
done
for a in 0 1 2; do
	for i in $(seq 1 20); do
		printf '%s\n' "$(ss_tok "${CCS[$a]}")" >"$WORK/tok.$a.$i"
	done
done
for a in 0 1 2; do
	for i in $(seq 1 20); do
		{
			agent_passwd -e "$(ctl "$(cat "$WORK/tok.$a.$i")")" -s "Conc-$a-$i-$RANDOM" \
				"${CCS[$a]}" >"$WORK/cc.$a.$i" 2>&1
			echo $? >"$WORK/rc.$a.$i"
		} &
	done
done
wait
for a in 0 1 2; do
	dn=${CCS[$a]}
	check_eq "20 concurrent resets of ${dn%%,*} under a per-account limit of 1: 1 allowed record" \
		1 "$(allowed_n "$dn")"
	check_eq "  rgResetCount is 1" 1 "$(opattr "$dn" rgResetCount)"
	check_eq "  1 client was told success" 1 "$(cat "$WORK"/rc."$a".* | grep -cx 0)"
	check_eq "  the other 19 were refused by the velocity limit" 19 \
		"$(cat "$WORK"/cc."$a".* | grep -c 'resetguard rule velocity-exceeded')"
done

mkpolicy group-nowhere "rgPrivilegedGroup: cn=privileged,o=nowhere"
mkuser gf1 "$POL"
GF1=$DN
NEW=$(newpw)
check_result "a privileged group in no database: group-lookup-failed" 53 group-lookup-failed \
	agent_passwd -e "$(ctl "$(ss_tok "$GF1")")" -s "$NEW" "$GF1"
still "$GF1" "$NEW"

check "a groupOfUniqueNames of privileged accounts" as_admin -a <<EOF
dn: cn=uprivileged,ou=groups,$RG_BASE
objectClass: groupOfUniqueNames
cn: uprivileged
uniqueMember: uid=un1,ou=people,$RG_BASE
EOF
mkpolicy unique-privileged "rgPrivilegedGroup: cn=uprivileged,ou=groups,$RG_BASE"
mkuser un1 "$POL"
UN1=$DN
NEW=$(newpw)
check_result "its uniqueMember at IAL2 with face: step-up-required" 19 step-up-required \
	agent_passwd -e "$(ctl "$(ss_tok "$UN1" face)")" -s "$NEW" "$UN1"
still "$UN1" "$NEW"

# ---- 7. Smaller ----
echo "# 7. Smaller"
mkuser sm1
SM1=$DN
NEW=$(newpw)
check_result "a reason of three spaces: reason-missing" 19 reason-missing \
	hd_passwd -e "$(ctl "$(dl_tok "$SM1" '   ')")" -s "$NEW" "$SM1"
still "$SM1" "$NEW"
NEW=$(newpw)
check_result "a reason of tab, space and line feed (JSON claim): reason-missing" 19 reason-missing \
	hd_passwd -e "$(ctl "$(jws "$(claims "$SM1" ial=1 'amr=["pwd"]' "approver=\"$RG_APPROVER_DN\"" 'reason="\t \n"')")")" \
	-s "$NEW" "$SM1"
still "$SM1" "$NEW"
NEW=$(newpw)
check_result "amr hwk,KBA against the ban of kba: method-forbidden" 19 method-forbidden \
	agent_passwd -e "$(ctl "$(ss_tok "$SM1" hwk,KBA)")" -s "$NEW" "$SM1"
still "$SM1" "$NEW"
NEW=$(newpw)
check_result "amr Kba,face: method-forbidden" 19 method-forbidden \
	agent_passwd -e "$(ctl "$(ss_tok "$SM1" Kba,face)")" -s "$NEW" "$SM1"
still "$SM1" "$NEW"

mkuser dup1
DUP1=$DN
NEW=$(newpw)
check "amr hwk,hwk: allowed" agent_passwd -e "$(ctl "$(ss_tok "$DUP1" hwk,hwk)")" -s "$NEW" "$DUP1"
check "  the new password binds" binds "$DUP1" "$NEW"
check_eq "  rgLastResetMethod holds hwk once" hwk "$(opattr "$DUP1" rgLastResetMethod | paste -sd, -)"
check_eq "  the record's rgLogMethod holds hwk once" hwk "$(val rgLogMethod "$(lastrec "$DUP1" rgLogMethod)")"

# Self-change by Modify with several old values: no oracle for guessing passwords.
mkuser sc1
SC1=$DN
# selfmod DELETE-LINES NEW: as SC1, delete these values and add NEW.
selfmod() {
	printf 'dn: %s\nchangetype: modify\n%s\nadd: userPassword\nuserPassword: %s\n' "$SC1" "$1" "$2" |
		ldapmodify -x -H "$RG_URI" -D "$SC1" -w "${PW[$SC1]}"
}
NEW=$(newpw)
check_result "self-change deleting a wrong and the right value: old-password-ambiguous" 19 old-password-ambiguous \
	selfmod "delete: userPassword
userPassword: wrong-$RANDOM
userPassword: ${PW[$SC1]}
-" "$NEW"
still "$SC1" "$NEW"
NEW=$(newpw)
check_result "self-change deleting two wrong values: the same answer" 19 old-password-ambiguous \
	selfmod "delete: userPassword
userPassword: wrong-$RANDOM
userPassword: wrong-$RANDOM
-" "$NEW"
still "$SC1" "$NEW"
NEW=$(newpw)
check_result "self-change with two delete modifications, one right: old-password-ambiguous" 19 old-password-ambiguous \
	selfmod "delete: userPassword
userPassword: wrong-$RANDOM
-
delete: userPassword
userPassword: ${PW[$SC1]}
-" "$NEW"
still "$SC1" "$NEW"
NEW=$(newpw)
check "self-change deleting the one right (cleartext) value still works" selfmod "delete: userPassword
userPassword: ${PW[$SC1]}
-" "$NEW"

# carol may not write another account's userPassword: the server refuses, and nothing is
# recorded for her attempt.
CAROL="uid=carol,ou=people,$RG_BASE"
mkuser acl1
ACL1=$DN
before=$(nrec "(rgLogTarget=$ACL1)")
NEW=$(newpw)
check_result "carol resets another account without evidence: 50" 50 - \
	ldappasswd -x -H "$RG_URI" -D "$CAROL" -w "$RG_USER_PW" -s "$NEW" "$ACL1"
still "$ACL1" "$NEW"
check_eq "  no record written for her attempt" "$before" "$(nrec "(rgLogTarget=$ACL1)")"
NEW=$(newpw)
check_result "carol resets another account with a valid delegated token: 50" 50 - \
	ldappasswd -x -H "$RG_URI" -D "$CAROL" -w "$RG_USER_PW" -e "$(ctl "$(dl_tok "$ACL1")")" -s "$NEW" "$ACL1"
still "$ACL1" "$NEW"
check_eq "  no record written for her attempt" "$before" "$(nrec "(rgLogTarget=$ACL1)")"
NEW=$(newpw)
check_result "carol replaces it by Modify: 50" 50 - modify_pw "$CAROL" "$RG_USER_PW" "$ACL1" replace "$NEW"
still "$ACL1" "$NEW"
check_eq "  no record written for her attempt" "$before" "$(nrec "(rgLogTarget=$ACL1)")"

# A denial quoting a long UTF-8 value: the approver's DN, 300 two-byte characters, with a
# prefix of 4 and of 5 bytes so that a cut at a fixed byte splits a character in one of them.
mkuser utf1
UTF1=$DN
LONG=$(python3 -c 'print("\u00e9" * 300)')
for pre in uid= uid=x; do
	NEW=$(newpw)
	check_result "a ${#LONG}-character UTF-8 approver DN ($pre...): approver-not-authorized" 19 approver-not-authorized \
		hd_passwd -e "$(ctl "$(token --sub "$UTF1" --ial 1 --amr pwd --reason INC-2 \
		--approver "$pre$LONG,ou=staff,$RG_BASE")")" -s "$NEW" "$UTF1"
	check "  the answer is valid UTF-8" utf8_ok <<<"$T_OUT"
	still "$UTF1" "$NEW"
done
sandbox_down

###########################################################################################
# ---- 4. Log integrity ----
echo "# 4. Log integrity"
sandbox_up
give_log_rootpw
mkpolicy velocity-one "rgVelocityLimit: * target 1 3600"
VPOL=$POL
mkuser va1 "$VPOL" nopw
VA1=$DN
mkuser li1
LI1=$DN
check "a reset before the attacks" agent_passwd -e "$(ctl "$(ss_tok "$LI1")")" -s "$(newpw)" "$LI1"
H=$(head_number)
TS=$(date -u +%Y%m%d%H%M%S).000000Z
GEN=0000000000000000000000000000000000000000000000000000000000000000
# fake NAME LDIF: the log's rootdn adds this entry: refused with 53.
fake() {
	check_result "$1" 53 - as_logadmin -a <<<"$2"
}
fake "a fake rgLogRecord" "dn: rgLogChangeNumber=$((H + 50)),$RG_LOG_BASE
objectClass: rgLogRecord
rgLogChangeNumber: $((H + 50))
rgLogTime: $TS
rgLogTarget: $VA1
rgLogKind: self-service
rgLogDecision: allowed
rgLogRule: allowed
rgLogPrevHash: $GEN
rgLogHash: $GEN"
fake "an extensibleObject with the anchor attributes" "dn: cn=anchor-bait,$RG_LOG_BASE
objectClass: organizationalRole
objectClass: extensibleObject
cn: anchor-bait
rgLogAnchorNumber: $((H + 100))
rgLogAnchorHash: $GEN"
fake "a plain organizationalRole" "dn: cn=plain,$RG_LOG_BASE
objectClass: organizationalRole
cn: plain"
# Bait for the velocity count, which searches the log for allowed changes of a target.
fake "an extensibleObject with rgLogTime, rgLogTarget, rgLogKind, rgLogDecision allowed" \
	"dn: cn=velocity-bait,$RG_LOG_BASE
objectClass: organizationalRole
objectClass: extensibleObject
cn: velocity-bait
rgLogTime: $TS
rgLogTarget: $VA1
rgLogKind: self-service
rgLogDecision: allowed"
NEW=$(newpw)
check "the first reset of an account with a velocity limit of 1 is not refused by the bait" \
	agent_passwd -e "$(ctl "$(ss_tok "$VA1")")" -s "$NEW" "$VA1"
# Squatters on the change numbers the overlay will write next.
H=$(head_number)
fake "an organizationalRole named rgLogChangeNumber=<next>" "dn: rgLogChangeNumber=$((H + 1)),$RG_LOG_BASE
objectClass: organizationalRole
objectClass: extensibleObject
cn: squatter
rgLogChangeNumber: $((H + 1))"
fake "an extensibleObject named rgLogChangeNumber=<next+1> with an rgLogHash" \
	"dn: rgLogChangeNumber=$((H + 2)),$RG_LOG_BASE
objectClass: organizationalRole
objectClass: extensibleObject
cn: squatter2
rgLogChangeNumber: $((H + 2))
rgLogHash: $GEN"
check_eq "nothing but records and the root under the log base" 0 \
	"$(ldapsearch -x -H "$RG_URI" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" -LLL -b "$RG_LOG_BASE" \
		'(!(|(objectClass=rgLogRecord)(objectClass=rgLogRoot)))' 1.1 | grep -c '^dn: ')"
NEW=$(newpw)
check "a reset after them succeeds (no log-failed)" agent_passwd -e "$(ctl "$(ss_tok "$LI1")")" -s "$NEW" "$LI1"
NEW=$(newpw)
check "and a second one" agent_passwd -e "$(ctl "$(ss_tok "$LI1")")" -s "$NEW" "$LI1"
check "resetguard-audit verify passes" audit verify

# Status attributes: syncd's to write, in syncd's format.
REC=$(head_number)
status_mod() { # BINDDN PW ATTR VALUE
	ldapmodify -x -H "$RG_URI" -D "$1" -w "$2" <<EOF
dn: rgLogChangeNumber=$REC,$RG_LOG_BASE
changetype: modify
add: $3
$3: $4
EOF
}
GOOD="legacy1 delivered attempts=1 time=$(date -u +%Y%m%d%H%M%SZ)"
check_result "the log's rootdn writes rgLogTargetStatus: refused" 53 - \
	status_mod "$RG_LOG_ADMIN_DN" "$LOGADM_PW" rgLogTargetStatus "$GOOD"
check_result "the log's rootdn writes rgLogHookStatus: refused" 53 - \
	status_mod "$RG_LOG_ADMIN_DN" "$LOGADM_PW" rgLogHookStatus "caep ${GOOD#* }"
check_result "the log's rootdn writes an rgLogClaim: refused" 53 - \
	status_mod "$RG_LOG_ADMIN_DN" "$LOGADM_PW" rgLogClaim "rootdn $(date -u +%Y%m%d%H%M%SZ)"
check_result "syncd writes a malformed rgLogTargetStatus: refused" 19 - \
	status_mod "$RG_SYNCD_DN" "$RG_SYNCD_PW" rgLogTargetStatus "nothing to see here"
check_result "syncd writes a malformed rgLogHookStatus: refused" 19 - \
	status_mod "$RG_SYNCD_DN" "$RG_SYNCD_PW" rgLogHookStatus "caep delivered attempts=x time=yesterday"
rec=$(logsearch "(rgLogChangeNumber=$REC)" rgLogTargetStatus rgLogHookStatus)
check_eq "  no status on the record" "" "$(val rgLogTargetStatus "$rec")$(val rgLogHookStatus "$rec")"
check "syncd writes a well-formed status" status_mod "$RG_SYNCD_DN" "$RG_SYNCD_PW" rgLogTargetStatus "legacy2 ${GOOD#* }"
check "resetguard-audit verify still passes" audit verify

echo "# runtime $((SECONDS - START)) s"
finish
