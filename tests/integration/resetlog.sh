#!/bin/bash
# The reset log against real slapd sandboxes: one hash-chained record per attempted password
# change, for every path, kind and decision; the chain verified by resetguard-audit over
# thousands of records and across restarts; tampering (offline with slapcat/slapadd, online
# by every identity) detected or refused; review verdicts; who reads what; retention (purge)
# with its anchor; velocity limits counted from the log; and no secret anywhere.
# shellcheck source=tests/lib.sh
. "$(cd "$(dirname "$0")/.." && pwd)/lib.sh"

AUDIT=$RG_TOP/resetguard-audit
[ -x "$AUDIT" ] || make -s -C "$RG_TOP" resetguard-audit >/dev/null 2>&1
[ -x "$AUDIT" ] || { echo "Bail out! $AUDIT is not built (make resetguard-audit)"; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rg-resetlog.XXXXXX") || { echo "Bail out! mktemp failed"; exit 1; }
trap 'rm -rf "$WORK"; _sandbox_cleanup' EXIT
TRANSCRIPT=$WORK/transcript    # everything the clients were told, for the secrets check
: >"$TRANSCRIPT"
GENESIS=0000000000000000000000000000000000000000000000000000000000000000
START=$SECONDS

# ---- helpers ----

sandbox_cmd() { bash "$RG_TOP/scripts/sandbox" "$1" "$RG_DIR" >>"$WORK/sandbox.out" 2>&1; }

audit() { "$AUDIT" -H "$RG_URI" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" "$@"; }

# search_as DN PW FILTER [ATTRS...]: one level under the log base, unwrapped LDIF.
search_as() {
	local dn=$1 pw=$2 f=$3
	shift 3
	if [ -z "$dn" ]; then
		ldapsearch -x -H "$RG_URI" -LLL -o ldif-wrap=no -b "$RG_LOG_BASE" "$f" "$@" 2>&1
	else
		ldapsearch -x -H "$RG_URI" -D "$dn" -w "$pw" -LLL -o ldif-wrap=no -b "$RG_LOG_BASE" "$f" "$@" 2>&1
	fi
}
# logsearch FILTER [ATTRS...]: records as syncd, who reads every attribute.
logsearch() {
	local f=$1
	shift
	ldapsearch -x -H "$RG_URI" -D "$RG_SYNCD_DN" -w "$RG_SYNCD_PW" -LLL -o ldif-wrap=no \
		-b "$RG_LOG_BASE" -s one "(&(objectClass=rgLogRecord)$f)" "$@" 2>&1
}
nentries() { printf '%s\n' "$1" | grep -c '^dn: '; }
# val ATTR [LDIF]: the values of ATTR in LDIF (default $REC), joined by ",".
val() { printf '%s\n' "${2-$REC}" | sed -n "s/^$1: //Ip" | paste -sd, -; }
record() { logsearch "(rgLogChangeNumber=$1)" '*'; }

# The auditors and syncd read the whole log: grant them what a deployment would (the
# sandbox leaves the default size limit of 500 on the log database).
grant_log_limits() {
	cfg_modify >/dev/null <<EOF
dn: $(log_db_dn)
changetype: modify
add: olcLimits
olcLimits: group/groupOfNames/member="cn=auditors,ou=groups,$RG_BASE" size=unlimited size.prtotal=unlimited
olcLimits: dn.exact="$RG_SYNCD_DN" size=unlimited size.prtotal=unlimited
EOF
}

log_db_dn() {
	ldapsearch -Q -Y EXTERNAL -H "$RG_LDAPI" -LLL -o ldif-wrap=no -b cn=config \
		"(olcSuffix=$RG_LOG_BASE)" 1.1 | sed -n 's/^dn: //p'
}

# pending NUMBER...: pending-review lists exactly these change numbers.
pending() {
	local out got
	out=$(audit pending-review) || { echo "$out"; return 1; }
	got=$(printf '%s\n' "$out" | awk '$1 ~ /^[0-9]+$/ {print $1}' | sort -n | xargs)
	[ "$got" = "$*" ] || { printf 'listed: %s\nexpected: %s\n%s\n' "$got" "$*" "$out"; return 1; }
}

# Chain state as the checks have seen it.
LAST=0 LAST_TIME=0 LAST_HASH=$GENESIS
reset_chain() { LAST=0 LAST_TIME=0 LAST_HASH=$GENESIS; }
# sync_chain: LAST* from the newest record in the log.
sync_chain() {
	local nums
	nums=$(logsearch '' rgLogChangeNumber | sed -n 's/^rgLogChangeNumber: //p' | sort -n | tail -n 1)
	[ -n "$nums" ] || return 0
	REC=$(record "$nums")
	LAST=$nums LAST_TIME=$(val rgLogTime) LAST_HASH=$(val rgLogHash)
}

# expect_one NAME ATTR=VALUE...: the attempt just made (its client output in T_OUT) left
# exactly one new record, numbered LAST+1, later than the previous one (microseconds), whose
# prev hash is the previous record's hash, with these values. Unnamed evidence, approver,
# outcome and review attributes must be absent (FALSE for the booleans); a denial's
# rgLogRuleText is the text the client got, an allowed change has none.
expect_one() {
	local name=$1 client=$T_OUT kv k got errs='' n t rtext
	shift
	printf '%s\n' "$client" >>"$TRANSCRIPT"
	local -A want=([rgLogApprover]='' [rgLogIssuer]='' [rgLogLevel]='' [rgLogMethod]=''
		[rgLogJti]='' [rgLogReason]='' [rgLogReviewRequired]=FALSE [rgLogAlert]=FALSE
		[rgLogOutcome]='' [rgLogOutcomeText]='' [rgLogPolicy]="$RG_POLICY_DN")
	for kv in "$@"; do want[${kv%%=*}]=${kv#*=}; done
	if [ "${want[rgLogDecision]}" = denied ]; then
		rtext=$(printf '%s\n' "$client" |
			sed -n 's/^[[:space:]]*[Aa]dditional info: \(.*\) (resetguard rule [^)]*)$/\1/p')
		want[rgLogRuleText]=${rtext:-(the client got no resetguard text)}
	else
		want[rgLogRuleText]=''
	fi
	REC=$(logsearch "(rgLogChangeNumber>=$((LAST + 1)))" '*')
	n=$(nentries "$REC")
	[ "$n" = 1 ] || errs+="$n new records after change $LAST, expected exactly 1"$'\n'
	got=$(val rgLogChangeNumber)
	[ "$got" = $((LAST + 1)) ] || errs+="rgLogChangeNumber '$got', expected $((LAST + 1))"$'\n'
	t=$(val rgLogTime)
	[[ $t =~ ^[0-9]{14}\.[0-9]{6}Z$ ]] || errs+="rgLogTime '$t' is not YYYYmmddHHMMSS.ffffffZ"$'\n'
	# shellcheck disable=SC2071 # fixed-width generalizedTime: string order is time order
	[[ $t > $LAST_TIME ]] || errs+="rgLogTime '$t' is not after the previous record's $LAST_TIME"$'\n'
	got=$(val rgLogPrevHash)
	[ "$got" = "$LAST_HASH" ] || errs+="rgLogPrevHash '$got', expected the previous hash $LAST_HASH"$'\n'
	for k in "${!want[@]}"; do
		got=$(val "$k")
		[ "$got" = "${want[$k]}" ] || errs+="$k: '$got', expected '${want[$k]}'"$'\n'
	done
	if [ "$n" = 1 ]; then
		LAST=$((LAST + 1)) LAST_TIME=$t LAST_HASH=$(val rgLogHash)
	else
		sync_chain
	fi
	if [ -z "$errs" ]; then
		T_OUT=
		_pass "$name"
	else
		T_OUT="${errs}client said: $client
new records:
$REC"
		_fail "$name" "the log does not hold the expected single record"
	fi
}

# refused NAME CMD...: an LDAP write that must fail with the rglog overlay's refusal (53 and
# a reset log text) or an access control error (50).
refused() {
	local name=$1 code
	shift
	_run "$@"
	printf '%s\n' "$T_OUT" >>"$TRANSCRIPT"
	code=$(_ldap_code)
	if [ "$code" = 53 ] && [[ "$T_OUT" == *"reset log"* ]]; then
		_pass "$name"
	elif [ "$code" = 50 ]; then
		_pass "$name"
	else
		_fail "$name" "expected 53 with the rglog text or 50, got $code" "$@"
	fi
}

# result_text NAME CODE TEXT CMD...: fails with LDAP CODE and a message containing TEXT.
result_text() {
	local name=$1 code=$2 text=$3 got
	shift 3
	_run "$@"
	printf '%s\n' "$T_OUT" >>"$TRANSCRIPT"
	got=$(_ldap_code)
	if [ "$got" != "$code" ]; then
		_fail "$name" "expected LDAP result $code, got $got" "$@"
	elif [[ "$T_OUT" != *"$text"* ]]; then
		_fail "$name" "LDAP result $code but not the text \"$text\"" "$@"
	else
		_pass "$name"
	fi
}

# Passwords: CLEAR_PWS went to the backend in cleartext through a Modify or an Add, which
# slapd stores as given in the main database (only there may they appear); every other
# password tried (exop, which slapd hashes, or denied) must appear in no file at all.
ANY_PWS=() CLEAR_PWS=() TOKENS=()
pw_any() { NEW=$(newpw); ANY_PWS+=("$NEW"); }
pw_clear() { NEW=$(newpw); CLEAR_PWS+=("$NEW"); }
# Tokens: TOK and JTI.
ss_tok() { # TARGET [REASON]: also sets REASON
	JTI=$(openssl rand -hex 10) REASON=${2-}
	TOK=$(token --sub "$1" --ial 2 --amr hwk,face --jti "$JTI" ${2:+--reason "$2"})
	TOKENS+=("$TOK")
}
deleg_tok() { # TARGET REASON [APPROVER]: also sets REASON
	local appr=()
	[ $# -ge 3 ] && appr=(--approver "$3")
	JTI=$(openssl rand -hex 10) REASON=$2
	TOK=$(token --sub "$1" --ial 1 --amr pwd --jti "$JTI" --reason "$REASON" "${appr[@]}")
	TOKENS+=("$TOK")
}
agent_passwd() { ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" "$@"; }
hd_passwd() { ldappasswd -x -H "$RG_URI" -D "$RG_HELPDESK_DN" -w "$RG_HELPDESK_PW" "$@"; }
bg_passwd() { ldappasswd -x -H "$RG_URI" -D "$RG_BREAKGLASS_DN" -w "$RG_BREAKGLASS_PW" "$@"; }
add_person() { # DN PW [extra LDIF lines]: an Add as the rootdn
	local dn=$1 pw=$2 uid l
	uid=${dn%%,*}
	uid=${uid#uid=}
	shift 2
	{
		printf 'dn: %s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: Test\nuserPassword: %s\n' \
			"$dn" "$uid" "$uid" "$pw"
		for l in "$@"; do printf '%s\n' "$l"; done
	} | as_admin -a
}
verdict() { # BINDDN PW RECORD-NUMBER [extra modify lines...]
	local dn=$1 pw=$2 n=$3 l
	shift 3
	{
		printf 'dn: rgLogChangeNumber=%s,%s\nchangetype: modify\nadd: rgLogReviewVerdict\nrgLogReviewVerdict: approved: incident %s\n' \
			"$n" "$RG_LOG_BASE" "$n"
		for l in "$@"; do printf '%s\n' "$l"; done
	} | if [ -n "$dn" ]; then ldapmodify -x -H "$RG_URI" -D "$dn" -w "$pw"; else ldapmodify -x -H "$RG_URI"; fi
}

###########################################################################################
echo "# 1. one record per attempt: every path, kind and decision"
sandbox_up
ALICE=$RG_USER_DN CAROL="uid=carol,ou=people,$RG_BASE" BOB=$RG_PRIV_USER_DN
alice_pw=$RG_USER_PW carol_pw=$RG_USER_PW bob_pw=$RG_PRIV_USER_PW
(umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/other.key" 2>/dev/null)
reset_chain
check_eq "the log starts empty" 0 "$(nentries "$(logsearch '' 1.1)")"

# -- Password Modify extended operation --
pw_any
check_result "exop, self-service without evidence: denied" 50 evidence-missing \
	agent_passwd -s "$NEW" "$ALICE"
expect_one "  one record: self-service passwordModify denied evidence-missing" rgLogKind=self-service \
	rgLogDecision=denied rgLogRule=evidence-missing rgLogOperation=passwordModify \
	rgLogTarget="$ALICE" rgLogRequester="$RG_AGENT_DN"

JTI=$(openssl rand -hex 10)
TOK=$(token --key "$WORK/other.key" --sub "$ALICE" --ial 2 --amr hwk --jti "$JTI")
TOKENS+=("$TOK")
check_result "exop, self-service with a token of an unknown key: denied" 50 evidence-bad-signature \
	agent_passwd -e "$(ctl "$TOK")" -s "$NEW" "$ALICE"
expect_one "  one record, no evidence fields (not verified)" rgLogKind=self-service \
	rgLogDecision=denied rgLogRule=evidence-bad-signature rgLogOperation=passwordModify \
	rgLogTarget="$ALICE" rgLogRequester="$RG_AGENT_DN"

ss_tok "$ALICE" "portal session $(openssl rand -hex 3)"
check "exop, self-service with a token: allowed" agent_passwd -e "$(ctl "$TOK")" -s "$NEW" "$ALICE"
alice_pw=$NEW
expect_one "  one record: allowed, evidence fields, reason, outcome applied" rgLogKind=self-service \
	rgLogDecision=allowed rgLogRule=allowed rgLogOperation=passwordModify rgLogTarget="$ALICE" \
	rgLogRequester="$RG_AGENT_DN" rgLogIssuer="$RG_ISSUER" rgLogLevel=2 rgLogMethod=hwk,face \
	rgLogJti="$JTI" rgLogReason="$REASON" rgLogOutcome=applied
SEALED_REC=$LAST
check "  the new password binds (applied is true)" binds "$ALICE" "$alice_pw"

pw_any
check_result "exop, self-change without the old password: denied" 19 old-password-required \
	ldappasswd -x -H "$RG_URI" -D "$ALICE" -w "$alice_pw" -s "$NEW"
expect_one "  one record: self-change denied old-password-required" rgLogKind=self-change \
	rgLogDecision=denied rgLogRule=old-password-required rgLogOperation=passwordModify \
	rgLogTarget="$ALICE" rgLogRequester="$ALICE"

check "exop, self-change with the old password: allowed" \
	ldappasswd -x -H "$RG_URI" -D "$ALICE" -w "$alice_pw" -a "$alice_pw" -s "$NEW"
alice_pw=$NEW
expect_one "  one record: self-change allowed applied" rgLogKind=self-change rgLogDecision=allowed \
	rgLogRule=allowed rgLogOperation=passwordModify rgLogTarget="$ALICE" rgLogRequester="$ALICE" \
	rgLogOutcome=applied

pw_any
deleg_tok "$ALICE" "ticket INC-$RANDOM"
check_result "exop, delegated without an approver: denied" 19 approver-missing \
	hd_passwd -e "$(ctl "$TOK")" -s "$NEW" "$ALICE"
expect_one "  one record: delegated denied, verified evidence recorded, no approver" \
	rgLogKind=delegated rgLogDecision=denied rgLogRule=approver-missing \
	rgLogOperation=passwordModify rgLogTarget="$ALICE" rgLogRequester="$RG_HELPDESK_DN" \
	rgLogIssuer="$RG_ISSUER" rgLogLevel=1 rgLogMethod=pwd rgLogJti="$JTI" rgLogReason="$REASON"

deleg_tok "$ALICE" "ticket INC-$RANDOM" "$RG_APPROVER_DN"
check "exop, delegated with approver and reason: allowed" hd_passwd -e "$(ctl "$TOK")" -s "$NEW" "$ALICE"
alice_pw=$NEW
expect_one "  one record: delegated allowed with approver, reason, applied" rgLogKind=delegated \
	rgLogDecision=allowed rgLogRule=allowed rgLogOperation=passwordModify rgLogTarget="$ALICE" \
	rgLogRequester="$RG_HELPDESK_DN" rgLogApprover="$RG_APPROVER_DN" rgLogIssuer="$RG_ISSUER" \
	rgLogLevel=1 rgLogMethod=pwd rgLogJti="$JTI" rgLogReason="$REASON" rgLogOutcome=applied

pw_any
check "exop, break-glass: allowed" bg_passwd -s "$NEW" "$ALICE"
alice_pw=$NEW
expect_one "  one record: break-glass, review required, applied" rgLogKind=break-glass \
	rgLogDecision=allowed rgLogRule=break-glass rgLogOperation=passwordModify rgLogTarget="$ALICE" \
	rgLogRequester="$RG_BREAKGLASS_DN" rgLogReviewRequired=TRUE rgLogOutcome=applied
BG1=$LAST

# An identity the ACLs do not let write the password is refused by the backend and leaves
# no record: otherwise anyone could fill the log with denials of other people's accounts.
pw_any
deleg_tok "$CAROL" "ticket INC-$RANDOM" "$RG_APPROVER_DN"
check_result "exop by an identity without write access: refused by the ACL" 50 - \
	ldappasswd -x -H "$RG_URI" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" -e "$(ctl "$TOK")" -s "$NEW" "$CAROL"
check_eq "  no record written" 0 "$(nentries "$(record $((LAST + 1)))")"
check "  carol's password is unchanged" unchanged "$CAROL" "$carol_pw" "$NEW" ""

# An allowed change the backend refuses: a delegated Modify that also writes an attribute
# carol's entry cannot hold.
pw_any
deleg_tok "$CAROL" "ticket INC-$RANDOM" "$RG_APPROVER_DN"
_run ldapmodify -x -H "$RG_URI" -D "$RG_HELPDESK_DN" -w "$RG_HELPDESK_PW" -e "$(ctl "$TOK")" \
	<<<"dn: $CAROL
changetype: modify
replace: userPassword
userPassword: $NEW
-
replace: uidNumber
uidNumber: 5"
if [ "$T_RC" -ne 0 ]; then _pass "Modify, delegated, with a change the backend refuses: allowed, then refused"
else _fail "Modify, delegated, with a change the backend refuses: allowed, then refused" "it succeeded"; fi
acl_text=$(printf '%s\n' "$T_OUT" | sed -n 's/^\tadditional info: //p')
expect_one "  one record: allowed, outcome failed (text as the client got it: '$acl_text')" \
	rgLogKind=delegated rgLogDecision=allowed rgLogRule=allowed rgLogOperation=modify \
	rgLogTarget="$CAROL" rgLogRequester="$RG_HELPDESK_DN" rgLogApprover="$RG_APPROVER_DN" \
	rgLogIssuer="$RG_ISSUER" rgLogLevel=1 rgLogMethod=pwd rgLogJti="$JTI" \
	rgLogReason="$REASON" rgLogOutcome=failed \
	rgLogOutcomeText="$acl_text"
check "  carol's password is unchanged" unchanged "$CAROL" "$carol_pw" "$NEW" ""

# -- Modify replace --
pw_any
check_result "Modify replace, self-service without evidence: denied" 50 evidence-missing \
	modify_pw "$RG_AGENT_DN" "$RG_AGENT_PW" "$ALICE" replace "$NEW"
expect_one "  one record: modify denied" rgLogKind=self-service rgLogDecision=denied \
	rgLogRule=evidence-missing rgLogOperation=modify rgLogTarget="$ALICE" rgLogRequester="$RG_AGENT_DN"

pw_clear
ss_tok "$ALICE"
check "Modify replace, self-service with a token: allowed" \
	modify_pw "$RG_AGENT_DN" "$RG_AGENT_PW" "$ALICE" replace "$NEW" -e "$(ctl "$TOK")"
alice_pw=$NEW
expect_one "  one record: modify allowed applied" rgLogKind=self-service rgLogDecision=allowed \
	rgLogRule=allowed rgLogOperation=modify rgLogTarget="$ALICE" rgLogRequester="$RG_AGENT_DN" \
	rgLogIssuer="$RG_ISSUER" rgLogLevel=2 rgLogMethod=hwk,face rgLogJti="$JTI" rgLogOutcome=applied

pw_any
check_result "Modify replace, self-change without the old value: denied" 19 old-password-required \
	modify_pw "$ALICE" "$alice_pw" "$ALICE" replace "$NEW"
expect_one "  one record: self-change modify denied" rgLogKind=self-change rgLogDecision=denied \
	rgLogRule=old-password-required rgLogOperation=modify rgLogTarget="$ALICE" rgLogRequester="$ALICE"

# alice's password is stored as sent (cleartext) since the Modify replace: deleting it works.
pw_clear
check "Modify delete-old + add-new, self-change: allowed" self_change_modify "$ALICE" "$alice_pw" "$NEW"
alice_pw=$NEW
expect_one "  one record: self-change modify allowed applied" rgLogKind=self-change \
	rgLogDecision=allowed rgLogRule=allowed rgLogOperation=modify rgLogTarget="$ALICE" \
	rgLogRequester="$ALICE" rgLogOutcome=applied

# root.bob's password is stored hashed: resetguard accepts the cleartext old value as proof,
# the backend then cannot delete it (see CAVEATS): allowed, backend refusal with a message.
pw_any
check_result "Modify self-change against a hashed password: allowed, refused by the backend" 16 - \
	self_change_modify "$BOB" "$bob_pw" "$NEW"
expect_one "  one record: outcome failed with the backend's text" rgLogKind=self-change \
	rgLogDecision=allowed rgLogRule=allowed rgLogOperation=modify rgLogTarget="$BOB" \
	rgLogRequester="$BOB" rgLogOutcome=failed \
	rgLogOutcomeText="modify/delete: userPassword: no such value"
check "  root.bob's password is unchanged" unchanged "$BOB" "$bob_pw" "$NEW" ""

# -- Modify delete and add (carol) --
check_result "Modify delete, self-service without evidence: denied" 50 evidence-missing \
	modify_pw "$RG_AGENT_DN" "$RG_AGENT_PW" "$CAROL" delete ""
expect_one "  one record: modify delete denied" rgLogKind=self-service rgLogDecision=denied \
	rgLogRule=evidence-missing rgLogOperation=modify rgLogTarget="$CAROL" rgLogRequester="$RG_AGENT_DN"

ss_tok "$CAROL"
check "Modify delete, self-service with a token: allowed" \
	modify_pw "$RG_AGENT_DN" "$RG_AGENT_PW" "$CAROL" delete "" -e "$(ctl "$TOK")"
expect_one "  one record: modify delete allowed applied" rgLogKind=self-service \
	rgLogDecision=allowed rgLogRule=allowed rgLogOperation=modify rgLogTarget="$CAROL" \
	rgLogRequester="$RG_AGENT_DN" rgLogIssuer="$RG_ISSUER" rgLogLevel=2 rgLogMethod=hwk,face \
	rgLogJti="$JTI" rgLogOutcome=applied

pw_any
check_result "Modify add, delegated without evidence: denied" 50 evidence-missing \
	modify_pw "$RG_HELPDESK_DN" "$RG_HELPDESK_PW" "$CAROL" add "$NEW"
expect_one "  one record: delegated modify add denied" rgLogKind=delegated rgLogDecision=denied \
	rgLogRule=evidence-missing rgLogOperation=modify rgLogTarget="$CAROL" \
	rgLogRequester="$RG_HELPDESK_DN"

pw_clear
ss_tok "$CAROL"
check "Modify add, self-service with a token: allowed" \
	modify_pw "$RG_AGENT_DN" "$RG_AGENT_PW" "$CAROL" add "$NEW" -e "$(ctl "$TOK")"
carol_pw=$NEW
expect_one "  one record: modify add allowed applied" rgLogKind=self-service \
	rgLogDecision=allowed rgLogRule=allowed rgLogOperation=modify rgLogTarget="$CAROL" \
	rgLogRequester="$RG_AGENT_DN" rgLogIssuer="$RG_ISSUER" rgLogLevel=2 rgLogMethod=hwk,face \
	rgLogJti="$JTI" rgLogOutcome=applied
check "  carol's new password binds" binds "$CAROL" "$carol_pw"

pw_clear
check "Modify replace, break-glass: allowed" modify_pw "$RG_BREAKGLASS_DN" "$RG_BREAKGLASS_PW" "$BOB" replace "$NEW"
bob_pw=$NEW
expect_one "  one record: break-glass modify, review required, applied" rgLogKind=break-glass \
	rgLogDecision=allowed rgLogRule=break-glass rgLogOperation=modify rgLogTarget="$BOB" \
	rgLogRequester="$RG_BREAKGLASS_DN" rgLogReviewRequired=TRUE rgLogOutcome=applied
BG2=$LAST

# -- Add (provisioning) --
DAVE="uid=dave,ou=people,$RG_BASE"
pw_clear
check "Add with userPassword by the rootdn: allowed (provisioning)" add_person "$DAVE" "$NEW"
expect_one "  one record: provisioning add allowed applied" rgLogKind=provisioning \
	rgLogDecision=allowed rgLogRule=allowed rgLogOperation=add rgLogTarget="$DAVE" \
	rgLogRequester="$RG_ADMIN_DN" rgLogOutcome=applied
check "  dave's password binds" binds "$DAVE" "$NEW"

check "a policy naming its provisioners can be added (no password: no record)" as_admin -a <<EOF
dn: cn=provisioners-only,ou=policies,$RG_BASE
objectClass: rgPolicy
cn: provisioners-only
rgProvisioner: $RG_BREAKGLASS_DN
EOF
check_eq "  no record for an Add without userPassword" 0 "$(nentries "$(logsearch "(rgLogChangeNumber>=$((LAST + 1)))" 1.1)")"
ERIN="uid=erin,ou=people,$RG_BASE"
pw_any
check_result "Add by a non-provisioner: denied" 50 not-provisioner \
	add_person "$ERIN" "$NEW" "rgPolicySubentry: cn=provisioners-only,ou=policies,$RG_BASE"
expect_one "  one record: provisioning add denied, under that policy" rgLogKind=provisioning \
	rgLogDecision=denied rgLogRule=not-provisioner rgLogOperation=add rgLogTarget="$ERIN" \
	rgLogRequester="$RG_ADMIN_DN" rgLogPolicy="cn=provisioners-only,ou=policies,$RG_BASE"

# -- the whole log --
all=$(logsearch '' rgLogChangeNumber rgLogTime | awk '/^rgLogChangeNumber: /{n=$2} /^rgLogTime: /{t=$2} /^$/{if(n!="")print n, t; n=""} END{if(n!="")print n, t}' | sort -n)
check_eq "change numbers are 1..$LAST without a gap" "$(seq 1 "$LAST" | xargs)" "$(printf '%s\n' "$all" | cut -d' ' -f1 | xargs)"
check_eq "times strictly increase with the change number" "" \
	"$(printf '%s\n' "$all" | awk 'NR>1 && $2 <= prev {print "record " $1 " at " $2 " not after " prev} {prev=$2}')"
check "resetguard-audit verify passes" audit verify

###########################################################################################
echo "# 4. review"
check "pending-review lists the two break-glass records, nothing else" pending "$BG1" "$BG2"
bg1_hash=$(val rgLogHash "$(record "$BG1")")

check_result "alice cannot review her own break-glass record" 50 - verdict "$ALICE" "$alice_pw" "$BG1"
printf '%s\n' "$T_OUT" >>"$TRANSCRIPT"
_run verdict "" "" "$BG1"
if [ "$T_RC" = 8 ] || [ "$T_RC" = 50 ]; then _pass "anonymous cannot review"; else _fail "anonymous cannot review" "exit $T_RC, expected 8 or 50"; fi
check_result "syncd cannot review" 50 - verdict "$RG_SYNCD_DN" "$RG_SYNCD_PW" "$BG1"
result_text "the auditor cannot send its own rgLogReviewer with the verdict" 53 immutable \
	verdict "$RG_AUDITOR_DN" "$RG_AUDITOR_PW" "$BG1" "-" "add: rgLogReviewer" "rgLogReviewer: $ALICE"
result_text "the auditor cannot send its own rgLogReviewTime with the verdict" 53 immutable \
	verdict "$RG_AUDITOR_DN" "$RG_AUDITOR_PW" "$BG1" "-" "add: rgLogReviewTime" "rgLogReviewTime: 20200101000000Z"
REC=$(record "$BG1")
check_eq "  the record still has no verdict, reviewer or review time" "||" \
	"$(val rgLogReviewVerdict)|$(val rgLogReviewer)|$(val rgLogReviewTime)"

check "the auditor adds a verdict" verdict "$RG_AUDITOR_DN" "$RG_AUDITOR_PW" "$BG1"
REC=$(record "$BG1")
check_eq "  rgLogReviewVerdict is stored" "approved: incident $BG1" "$(val rgLogReviewVerdict)"
check_eq "  rgLogReviewer is the auditor (set by the overlay)" "$RG_AUDITOR_DN" "$(val rgLogReviewer)"
rt=$(val rgLogReviewTime)
rt_s=$(date -u -d "${rt:0:8} ${rt:8:2}:${rt:10:2}:${rt:12:2}" +%s 2>/dev/null || echo 0)
check "  rgLogReviewTime is now ($rt)" bash -c '[[ $1 =~ ^[0-9]{14}Z$ ]] && (( $2 <= $3 && $2 >= $3 - 120 ))' _ "$rt" "$rt_s" "$(date +%s)"
check_eq "  the record's hash is unchanged" "$bg1_hash" "$(val rgLogHash)"
result_text "a second verdict is refused" 19 "already reviewed" verdict "$RG_AUDITOR_DN" "$RG_AUDITOR_PW" "$BG1"
printf -v REPLACE 'dn: rgLogChangeNumber=%s,%s\nchangetype: modify\nreplace: rgLogReviewVerdict\nrgLogReviewVerdict: rejected\n' "$BG1" "$RG_LOG_BASE"
result_text "replacing the verdict is refused" 19 "already reviewed" \
	ldapmodify -x -H "$RG_URI" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" <<<"$REPLACE"
check_eq "  the verdict is unchanged" "approved: incident $BG1" "$(val rgLogReviewVerdict "$(record "$BG1")")"
result_text "a verdict on a record that needs no review is refused" 19 "does not require review" \
	verdict "$RG_AUDITOR_DN" "$RG_AUDITOR_PW" "$SEALED_REC"
check_eq "  that record has no verdict" "" "$(val rgLogReviewVerdict "$(record "$SEALED_REC")")"
printf -v DELETE 'dn: rgLogChangeNumber=%s,%s\nchangetype: modify\ndelete: rgLogReviewVerdict\n' "$BG1" "$RG_LOG_BASE"
result_text "the auditor cannot delete the verdict" 53 immutable \
	ldapmodify -x -H "$RG_URI" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" <<<"$DELETE"
check_eq "  the verdict is still there" "approved: incident $BG1" "$(val rgLogReviewVerdict "$(record "$BG1")")"
check "pending-review no longer lists the reviewed record, still the other" pending "$BG2"

# A verdict is final even when several auditors' verdicts arrive at once: 20 clients, bound
# in advance, each send a replace of rgLogReviewVerdict on the same record at the same time.
race_verdicts() { # RECORD-NUMBER CLIENTS: prints how many verdicts were accepted
	local n=$1 k=$2 i pids=() errs
	for i in $(seq 1 "$k"); do
		mkfifo "$WORK/race.$n.$i"
		ldapmodify -x -H "$RG_URI" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" \
			0<>"$WORK/race.$n.$i" >/dev/null 2>"$WORK/race.$n.$i.err" &
		pids+=($!)
	done
	sleep 0.5
	for i in $(seq 1 "$k"); do
		printf 'dn: rgLogChangeNumber=%s,%s\nchangetype: modify\nreplace: rgLogReviewVerdict\nrgLogReviewVerdict: verdict %s\n\n' \
			"$n" "$RG_LOG_BASE" "$i" >"$WORK/race.$n.$i"
	done
	sleep 1.5
	kill "${pids[@]}" 2>/dev/null
	wait "${pids[@]}" 2>/dev/null
	errs=$(cat "$WORK"/race."$n".*.err | grep -c '^ldap_modify: ')
	echo $((k - errs))
}
accepted=$(race_verdicts "$BG2" 20)
check_eq "20 simultaneous verdicts on one record: exactly one is accepted" 1 "$accepted"
check "pending-review lists nothing now" pending
check "verify still passes (review fields are outside the hash)" audit verify

###########################################################################################
echo "# 5. who reads what"
aud=$(search_as "$RG_AUDITOR_DN" "$RG_AUDITOR_PW" '(objectClass=rgLogRecord)' rgLogTarget)
check_eq "the auditor reads all $LAST records" "$LAST" "$(nentries "$aud")"
n_alice=$(printf '%s\n' "$aud" | grep -ci "^rgLogTarget: $ALICE\$")
n_other=$(printf '%s\n' "$aud" | grep -ci -e "^rgLogTarget: $CAROL\$" -e "^rgLogTarget: $BOB\$")
check "  among them records about carol and root.bob ($n_other)" test "$n_other" -gt 0
# dnattr=rgLogTarget: a user reads her own records by their DN.
hers=$(printf '%s\n' "$aud" | awk -v a="$(tr '[:upper:]' '[:lower:]' <<<"rgLogTarget: $ALICE")" \
	'/^dn: /{n=$2; sub(/^[^=]*=/, "", n); sub(/,.*/, "", n)} tolower($0) == a {print n}' | sort -n | xargs)
readable=
for n in $(seq 1 "$LAST"); do
	r=$(ldapsearch -x -H "$RG_URI" -D "$ALICE" -w "$alice_pw" -LLL -b "rgLogChangeNumber=$n,$RG_LOG_BASE" -s base '(objectClass=*)' rgLogTarget 2>/dev/null)
	[ "$(nentries "$r")" = 1 ] && readable+=" $n"
done
check_eq "alice reads by DN exactly her own $n_alice records" "$hers" "${readable# }"
# A search based at the log root needs search access to the root entry; without it (the
# manual's basic rules) the answer is noSuchObject, and the manual's extra rule grants it.
ldapsearch -x -H "$RG_URI" -D "$ALICE" -w "$alice_pw" -LLL -b "$RG_LOG_BASE" -s base '(objectClass=*)' 1.1 >/dev/null 2>&1
if [ $? = 32 ]; then
	check "the manual's rule granting users search on the log root is added" cfg_modify <<EOF
dn: $(log_db_dn)
changetype: modify
add: olcAccess
olcAccess: {5}to dn.base="$RG_LOG_BASE" attrs=entry by group.exact="cn=auditors,ou=groups,$RG_BASE" read by dn.exact="$RG_SYNCD_DN" read by users search by * none
EOF
fi
mine=$(search_as "$ALICE" "$alice_pw" '(objectClass=*)' rgLogTarget)
check_eq "  alice's search returns exactly her own $n_alice records" "$n_alice" "$(nentries "$mine")"
check_eq "  every record alice finds is about her" "" "$(printf '%s\n' "$mine" | sed -n 's/^rgLogTarget: //Ip' | grep -vix "$ALICE")"
check_eq "  a search for carol's or root.bob's records returns none" 0 \
	"$(nentries "$(search_as "$ALICE" "$alice_pw" "(|(rgLogTarget=$CAROL)(rgLogTarget=$BOB))")")"
check_eq "anonymous reads nothing under the log" 0 "$(nentries "$(search_as "" "" '(objectClass=*)')")"
check_eq "the main rootdn reads no record" 0 "$(nentries "$(search_as "$RG_ADMIN_DN" "$RG_ADMIN_PW" '(objectClass=rgLogRecord)')")"

n_sealed=$(logsearch '' rgLogSealedPassword | grep -c '^rgLogSealedPassword::')
check "syncd reads sealed passwords ($n_sealed records)" test "$n_sealed" -gt 0
check "  the record of the first allowed exop carries one" bash -c 'grep -q "^rgLogSealedPassword::"' \
	<<<"$(logsearch "(rgLogChangeNumber=$SEALED_REC)" rgLogSealedPassword)"
check_eq "the auditor gets no rgLogSealedPassword, even asking for it" 0 \
	"$(search_as "$RG_AUDITOR_DN" "$RG_AUDITOR_PW" '(objectClass=*)' rgLogSealedPassword | grep -ci '^rgLogSealedPassword')"
check_eq "  nor with a filter on it" 0 \
	"$(nentries "$(search_as "$RG_AUDITOR_DN" "$RG_AUDITOR_PW" '(rgLogSealedPassword=*)' 1.1)")"
check_eq "alice gets no rgLogSealedPassword on her own records, even asking for it" 0 \
	"$(search_as "$ALICE" "$alice_pw" '(objectClass=*)' rgLogSealedPassword '*' | grep -ci '^rgLogSealedPassword')"
check_eq "  nor reading the record by its DN" 0 \
	"$(ldapsearch -x -H "$RG_URI" -D "$ALICE" -w "$alice_pw" -LLL -b "rgLogChangeNumber=$SEALED_REC,$RG_LOG_BASE" -s base '(objectClass=*)' rgLogSealedPassword '*' 2>&1 | grep -ci '^rgLogSealedPassword')"
check_eq "the main rootdn gets no rgLogSealedPassword" 0 \
	"$(search_as "$RG_ADMIN_DN" "$RG_ADMIN_PW" '(objectClass=*)' rgLogSealedPassword | grep -ci '^rgLogSealedPassword')"

###########################################################################################
echo "# 8. no secret anywhere"
ldapsearch -x -H "$RG_URI" -D "$RG_SYNCD_DN" -w "$RG_SYNCD_PW" -LLL -o ldif-wrap=no -b "$RG_LOG_BASE" '(objectClass=*)' '*' '+' 2>&1 |
	perl -MMIME::Base64 -ne 'if (/^([^:]+):: (.*)$/) { print "$1: ", decode_base64($2), "\n" } else { print }' >"$WORK/dump"
check "the log dump as syncd is complete" test "$(grep -c '^dn: rgLogChangeNumber=' "$WORK/dump")" -eq "$LAST"
sandbox_down
check_eq "${#ANY_PWS[@]} + ${#CLEAR_PWS[@]} new passwords were tried" 1 "$(( ${#ANY_PWS[@]} >= 8 && ${#CLEAR_PWS[@]} >= 5 ))"
leaks=
for p in "${ANY_PWS[@]}" "${CLEAR_PWS[@]}"; do
	grep -qaF -- "$p" "$WORK/dump" && leaks+="record attribute holds $p"$'\n'
	grep -qF -- "$p" "$TRANSCRIPT" && leaks+="a client message holds $p"$'\n'
done
check_eq "no new password in any attribute value of any record, nor in any client message" "" "$leaks"
leaks=
for p in "${ANY_PWS[@]}"; do
	f=$(grep -r -a -l -F -D skip -- "$p" "$RG_DIR" 2>/dev/null)
	[ -n "$f" ] && leaks+="$p in $f"$'\n'
done
check_eq "no exop-set or refused password in any file under the sandbox (db, logdb, slapd.log, config)" "" "$leaks"
leaks=
for p in "${CLEAR_PWS[@]}"; do
	f=$(grep -r -a -l -F -D skip --exclude-dir=db -- "$p" "$RG_DIR" 2>/dev/null)
	[ -n "$f" ] && leaks+="$p in $f"$'\n'
done
check_eq "no Modify/Add-set password outside the main database (which stores it as sent)" "" "$leaks"
leaks=
for t in "${TOKENS[@]}"; do
	grep -qF -- "${t##*.}" "$RG_DIR/slapd.log" && leaks+="signature of token ${t:0:20}... in slapd.log"$'\n'
	f=$(grep -r -a -l -F -D skip -- "$t" "$RG_DIR" 2>/dev/null)
	[ -n "$f" ] && leaks+="token ${t:0:20}... in $f"$'\n'
done
check_eq "no token signature in slapd.log, no token in any file (${#TOKENS[@]} tokens)" "" "$leaks"
check "  (slapd.log did log the changes)" grep -q 'resetguard: ' "$RG_DIR/slapd.log"

###########################################################################################
echo "# 2. the chain over thousands of records and restarts"
sandbox_up
grant_log_limits
reset_chain
N_DENIED=2500 N_ADD=300 N_BG=200
# Denied: self-service Modify replace without evidence, five connections writing at once,
# each a stream of changes.
for s in 1 2 3 4 5; do
	for i in $(seq 1 $((N_DENIED / 5))); do
		printf 'dn: %s\nchangetype: modify\nreplace: userPassword\nuserPassword: Denied-%s-%s\n\n' "$RG_USER_DN" "$s" "$i"
	done | ldapmodify -c -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" >"$WORK/denied.$s.out" 2>&1 &
done
wait
check_eq "$N_DENIED denied Modify requests (5 concurrent streams) were refused" "$N_DENIED" \
	"$(cat "$WORK"/denied.*.out | grep -c 'resetguard rule evidence-missing')"
# Allowed: provisioning Adds (pre-hashed: nothing to seal) and break-glass resets.
hash=$(slappasswd -h '{SSHA}' -s "$(openssl rand -hex 12)")
for i in $(seq 1 "$N_ADD"); do
	printf 'dn: uid=p%s,ou=people,%s\nobjectClass: inetOrgPerson\nuid: p%s\ncn: p%s\nsn: P\nuserPassword: %s\n\n' "$i" "$RG_BASE" "$i" "$i" "$hash"
done | ldapadd -c -x -H "$RG_URI" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" >"$WORK/adds.out" 2>&1
check_eq "$N_ADD provisioning Adds succeeded" "$N_ADD" "$(grep -c '^adding new entry' "$WORK/adds.out")"
for i in $(seq 1 "$N_BG"); do
	printf 'dn: uid=p%s,ou=people,%s\nchangetype: modify\nreplace: userPassword\nuserPassword: %s\n\n' "$((i % 10 + 1))" "$RG_BASE" "$hash"
done | ldapmodify -c -x -H "$RG_URI" -D "$RG_BREAKGLASS_DN" -w "$RG_BREAKGLASS_PW" >"$WORK/bg.out" 2>&1
check_eq "$N_BG break-glass resets succeeded" "$N_BG 0" \
	"$(grep -c '^modifying entry' "$WORK/bg.out") $(grep -ci 'ldap_modify' "$WORK/bg.out")"
TOTAL=$((N_DENIED + N_ADD + N_BG))
check "verify passes over $TOTAL records" audit verify
check "  and names them 1..$TOTAL" grep -q "verified $TOTAL records (1\.\.$TOTAL)" <<<"$T_OUT"
allowed=$(search_as "$RG_AUDITOR_DN" "$RG_AUDITOR_PW" '(&(objectClass=rgLogRecord)(rgLogDecision=allowed)(rgLogOutcome=applied))' 1.1)
check_eq "$((N_ADD + N_BG)) allowed records, all applied" "$((N_ADD + N_BG))" "$(nentries "$allowed")"
times=$(search_as "$RG_AUDITOR_DN" "$RG_AUDITOR_PW" '(objectClass=rgLogRecord)' rgLogChangeNumber rgLogTime |
	awk '/^rgLogChangeNumber: /{n=$2} /^rgLogTime: /{t=$2} /^$/{if(n!="")print n, t; n=""} END{if(n!="")print n, t}' | sort -n)
check_eq "numbers 1..$TOTAL contiguous, times with microseconds strictly increasing" "$TOTAL 0" \
	"$(printf '%s\n' "$times" | awk 'NR!=$1 || length($2)!=22 || $2 !~ /^[0-9]+\.[0-9]+Z$/ || substr($2,15,1)!="." || (NR>1 && $2<=p){bad++} {p=$2} END{print NR, bad+0}')"
sync_chain
check_eq "the head is change $TOTAL" "$TOTAL" "$LAST"

check "restart" sandbox_cmd restart
pw_any
check_result "a change after the restart" 50 evidence-missing agent_passwd -s "$NEW" "$RG_USER_DN"
expect_one "  is change $((TOTAL + 1)), chained to the last record before the restart" \
	rgLogKind=self-service rgLogDecision=denied rgLogRule=evidence-missing \
	rgLogOperation=passwordModify rgLogTarget="$RG_USER_DN" rgLogRequester="$RG_AGENT_DN"
check "restart again" sandbox_cmd restart
ss_tok "$RG_USER_DN"
check "an allowed change after the second restart" agent_passwd -e "$(ctl "$TOK")" "$RG_USER_DN"
expect_one "  is change $((TOTAL + 2)), chained" rgLogKind=self-service rgLogDecision=allowed \
	rgLogRule=allowed rgLogOperation=passwordModify rgLogTarget="$RG_USER_DN" \
	rgLogRequester="$RG_AGENT_DN" rgLogIssuer="$RG_ISSUER" rgLogLevel=2 rgLogMethod=hwk,face \
	rgLogJti="$JTI" rgLogOutcome=applied
TOTAL=$LAST
check "verify passes over $TOTAL records after the restarts" audit verify
check "  and names them 1..$TOTAL" grep -q "verified $TOTAL records (1\.\.$TOTAL)" <<<"$T_OUT"

###########################################################################################
echo "# 3. tampering: refused online, detected offline"
K=5
REC=$(record $K)
before=$(val rgLogRuleText)
mod_ruletext() { ldapmodify -x -H "$RG_URI" -D "$1" -w "$2" <<EOF
dn: rgLogChangeNumber=$K,$RG_LOG_BASE
changetype: modify
replace: rgLogRuleText
rgLogRuleText: nothing happened here
EOF
}
del_record() { ldapdelete -x -H "$RG_URI" -D "$1" -w "$2" "rgLogChangeNumber=$K,$RG_LOG_BASE"; }
add_forged() { ldapadd -x -H "$RG_URI" -D "$1" -w "$2" <<EOF
dn: rgLogChangeNumber=99999,$RG_LOG_BASE
objectClass: rgLogRecord
rgLogChangeNumber: 99999
rgLogTime: 20250101000000.000000Z
rgLogTarget: $RG_USER_DN
rgLogKind: self-service
rgLogDecision: allowed
rgLogRule: allowed
rgLogPrevHash: $GENESIS
rgLogHash: $GENESIS
EOF
}
rename_record() { ldapmodrdn -x -H "$RG_URI" -D "$1" -w "$2" -r "rgLogChangeNumber=$K,$RG_LOG_BASE" "rgLogChangeNumber=88888"; }
move_anchor() { ldapmodify -x -H "$RG_URI" -D "$1" -w "$2" <<EOF
dn: $RG_LOG_BASE
changetype: modify
replace: rgLogAnchorNumber
rgLogAnchorNumber: $((TOTAL - 1))
-
replace: rgLogAnchorHash
rgLogAnchorHash: $GENESIS
EOF
}
for who in auditor admin syncd; do
	case $who in
	auditor) dn=$RG_AUDITOR_DN pw=$RG_AUDITOR_PW ;;
	admin) dn=$RG_ADMIN_DN pw=$RG_ADMIN_PW ;;
	syncd) dn=$RG_SYNCD_DN pw=$RG_SYNCD_PW ;;
	esac
	refused "$who cannot modify rgLogRuleText" mod_ruletext "$dn" "$pw"
	refused "$who cannot delete a record" del_record "$dn" "$pw"
	refused "$who cannot add a forged rgLogRecord" add_forged "$dn" "$pw"
	refused "$who cannot rename a record" rename_record "$dn" "$pw"
	refused "$who cannot move the anchor" move_anchor "$dn" "$pw"
done
check_result "the log database's rootdn has no password: it cannot bind" 49 - \
	ldapwhoami -x -H "$RG_URI" -D "$RG_LOG_ADMIN_DN" -w "$RG_ADMIN_PW"
REC=$(record $K)
check_eq "record $K is unchanged" "$before" "$(val rgLogRuleText)"
check_eq "no forged or renamed record exists" 0 \
	"$(nentries "$(logsearch '(|(rgLogChangeNumber=99999)(rgLogChangeNumber=88888))' 1.1)")"
check_eq "no anchor on the log root" "" "$(ldapsearch -x -H "$RG_URI" -D "$RG_SYNCD_DN" -w "$RG_SYNCD_PW" -LLL -b "$RG_LOG_BASE" -s base rgLogAnchorNumber | sed -n 's/^rgLogAnchorNumber: //p')"
check "verify still passes over $TOTAL records" audit verify
check "  and names them 1..$TOTAL" grep -q "verified $TOTAL records (1\.\.$TOTAL)" <<<"$T_OUT"

cat >"$WORK/edit.py" <<'PY'
import sys
mode, k, src, dst = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
blocks = [b for b in open(src).read().split("\n\n") if b.strip()]
idx = {b.split("\n", 1)[0].lower(): i for i, b in enumerate(blocks)}
def find(n):
    return idx["dn: rglogchangenumber=%d,cn=resetlog" % n]
def keep(l):
    return l.startswith("dn: ") or l.lower().startswith("rglogchangenumber:")
if mode == "delete":
    del blocks[find(k)]
elif mode == "requester":
    i = find(k)
    lines = blocks[i].split("\n")
    new = ["rgLogRequester: uid=mgr.lee,ou=staff,dc=example,dc=com" if l.startswith("rgLogRequester: ") else l for l in lines]
    if new == lines:
        sys.exit("no rgLogRequester to change")
    blocks[i] = "\n".join(new)
elif mode == "swap":
    i, j = find(k), find(k + 1)
    a, b = blocks[i].split("\n"), blocks[j].split("\n")
    blocks[i] = "\n".join([l for l in a if keep(l)] + [l for l in b if not keep(l)])
    blocks[j] = "\n".join([l for l in b if keep(l)] + [l for l in a if not keep(l)])
open(dst, "w").write("\n\n".join(blocks) + "\n")
PY
sandbox_down
cp -a "$RG_DIR/logdb" "$WORK/logdb.orig"
slapcat -F "$RG_DIR/slapd.d" -b "$RG_LOG_BASE" -o ldif-wrap=no -l "$WORK/log.ldif" 2>"$WORK/slapcat.err"
check "slapcat of the log database" test -s "$WORK/log.ldif"
# tamper NAME MODE K EXPECT...: edit the dump, load it into a fresh log database, start
# slapd, verify must exit 1 naming each EXPECT (a change number, a word of the message).
tamper() {
	local name=$1 mode=$2 k=$3 e miss=''
	shift 3
	python3 "$WORK/edit.py" "$mode" "$k" "$WORK/log.ldif" "$WORK/t.ldif" &&
		! cmp -s "$WORK/log.ldif" "$WORK/t.ldif" &&
		rm -rf "$RG_DIR/logdb" && mkdir "$RG_DIR/logdb" &&
		slapadd -q -F "$RG_DIR/slapd.d" -b "$RG_LOG_BASE" -l "$WORK/t.ldif" >"$WORK/slapadd.out" 2>&1 &&
		sandbox_cmd restart
	if [ $? -ne 0 ]; then
		T_OUT=$(cat "$WORK/slapadd.out" 2>/dev/null)
		_fail "$name" "could not load the tampered log"
	else
		_run audit verify
		for e; do grep -qw -- "$e" <<<"$T_OUT" || miss+=" $e"; done
		if [ "$T_RC" -eq 1 ] && [ -z "$miss" ]; then
			_pass "$name"
		else
			_fail "$name" "expected exit 1 naming$*, got exit $T_RC${miss:+, missing$miss}" audit verify
		fi
	fi
	sandbox_down
	rm -rf "$RG_DIR/logdb" && cp -a "$WORK/logdb.orig" "$RG_DIR/logdb"
}
tamper "offline: a deleted record breaks the chain (verify names it)" delete 1500 1500 missing
tamper "offline: a changed rgLogRequester breaks the chain" requester 1200 1200 altered
tamper "offline: two adjacent records with swapped contents break the chain" swap 1000 1000
check "the original log restored" sandbox_cmd restart
check "  verify passes again" audit verify
pw_any
check_result "  and a change after all that" 50 evidence-missing agent_passwd -s "$NEW" "$RG_USER_DN"
expect_one "  is the next record, chained" rgLogKind=self-service rgLogDecision=denied \
	rgLogRule=evidence-missing rgLogOperation=passwordModify rgLogTarget="$RG_USER_DN" \
	rgLogRequester="$RG_AGENT_DN"
sandbox_down

###########################################################################################
echo "# 7. velocity limits counted from the log"
sandbox_up
reset_chain
CAROL="uid=carol,ou=people,$RG_BASE" carol_pw=$RG_USER_PW
ERIN="uid=erin,ou=people,$RG_BASE"
VPOL="cn=velocity,ou=policies,$RG_BASE"
{
	ldapsearch -x -H "$RG_URI" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" -LLL -o ldif-wrap=no -b "$RG_POLICY_DN" -s base |
		sed -e "s/^dn: .*/dn: $VPOL/" -e 's/^cn: .*/cn: velocity/' -e '/^rgVelocityLimit:/d' -e '/^description:/d' -e '/^$/d'
	printf 'rgVelocityLimit: %s\n' "self-service target 2 3600" "delegated requester 1 3600" "break-glass target 1 3600"
} >"$WORK/vpol.ldif"
check "a copy of the policy with tight velocity limits" as_admin -a -f "$WORK/vpol.ldif"
check "carol is put under it" as_admin <<EOF
dn: $CAROL
changetype: modify
add: rgPolicySubentry
rgPolicySubentry: $VPOL
EOF
check "erin is provisioned under it" add_person "$ERIN" "$(newpw)" "rgPolicySubentry: $VPOL"
sync_chain

for i in 1 2 3; do
	pw_any
	check "break-glass reset $i of carol is allowed (never limited)" bg_passwd -s "$NEW" "$CAROL"
	carol_pw=$NEW
done
for i in 1 2; do
	pw_any
	ss_tok "$CAROL"
	check "self-service reset $i of carol is allowed" agent_passwd -e "$(ctl "$TOK")" -s "$NEW" "$CAROL"
	carol_pw=$NEW
done
sync_chain
pw_any
ss_tok "$CAROL"
check_result "the third self-service reset of carol is denied" 19 velocity-exceeded \
	agent_passwd -e "$(ctl "$TOK")" -s "$NEW" "$CAROL"
expect_one "  its record: velocity-exceeded with rgLogAlert TRUE" rgLogKind=self-service \
	rgLogDecision=denied rgLogRule=velocity-exceeded rgLogOperation=passwordModify \
	rgLogTarget="$CAROL" rgLogRequester="$RG_AGENT_DN" rgLogIssuer="$RG_ISSUER" rgLogLevel=2 \
	rgLogMethod=hwk,face rgLogJti="$JTI" rgLogAlert=TRUE rgLogPolicy="$VPOL"
check "  carol's password is unchanged" unchanged "$CAROL" "$carol_pw" "$NEW" 5

pw_any
deleg_tok "$CAROL" "ticket V-1" "$RG_APPROVER_DN"
check "a delegated reset of carol by the help desk is allowed" hd_passwd -e "$(ctl "$TOK")" -s "$NEW" "$CAROL"
carol_pw=$NEW
sync_chain
pw_any
deleg_tok "$ERIN" "ticket V-2" "$RG_APPROVER_DN"
check_result "a second delegated reset by the help desk (of erin) is denied" 19 velocity-exceeded \
	hd_passwd -e "$(ctl "$TOK")" -s "$NEW" "$ERIN"
expect_one "  its record: velocity-exceeded with rgLogAlert TRUE" rgLogKind=delegated \
	rgLogDecision=denied rgLogRule=velocity-exceeded rgLogOperation=passwordModify \
	rgLogTarget="$ERIN" rgLogRequester="$RG_HELPDESK_DN" rgLogApprover="$RG_APPROVER_DN" \
	rgLogIssuer="$RG_ISSUER" rgLogLevel=1 rgLogMethod=pwd rgLogJti="$JTI" rgLogReason="ticket V-2" \
	rgLogAlert=TRUE rgLogPolicy="$VPOL"
pw_any
check "break-glass is still not limited" bg_passwd -s "$NEW" "$CAROL"
carol_pw=$NEW

check "restart" sandbox_cmd restart
sync_chain
pw_any
ss_tok "$CAROL"
check_result "after the restart a third self-service reset of carol is still denied" 19 velocity-exceeded \
	agent_passwd -e "$(ctl "$TOK")" -s "$NEW" "$CAROL"
expect_one "  its record has rgLogAlert TRUE" rgLogKind=self-service rgLogDecision=denied \
	rgLogRule=velocity-exceeded rgLogOperation=passwordModify rgLogTarget="$CAROL" \
	rgLogRequester="$RG_AGENT_DN" rgLogIssuer="$RG_ISSUER" rgLogLevel=2 rgLogMethod=hwk,face \
	rgLogJti="$JTI" rgLogAlert=TRUE rgLogPolicy="$VPOL"
check "  carol's password is unchanged" binds "$CAROL" "$carol_pw"
pw_any
deleg_tok "$ERIN" "ticket V-3" "$RG_APPROVER_DN"
check_result "after the restart the help desk's delegated reset is still denied" 19 velocity-exceeded \
	hd_passwd -e "$(ctl "$TOK")" -s "$NEW" "$ERIN"
check "verify passes" audit verify
sandbox_down

###########################################################################################
echo "# 6. retention: purge with an anchor"
sandbox_up
reset_chain
# make_records N: N denied attempts on one connection.
make_records() {
	local i
	for i in $(seq 1 "$1"); do
		printf 'dn: %s\nchangetype: modify\nreplace: userPassword\nuserPassword: Purge-%s\n\n' "$RG_USER_DN" "$i"
	done | ldapmodify -c -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" >/dev/null 2>&1
}
anchor() {
	ldapsearch -x -H "$RG_URI" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" -LLL -o ldif-wrap=no \
		-b "$RG_LOG_BASE" -s base '(objectClass=*)' rgLogAnchorNumber rgLogAnchorHash |
		sed -n 's/^rgLogAnchor\(Number\|Hash\): //p' | paste -sd' ' -
}
# wait_anchor N: up to 10 s for the anchor to reach change N.
wait_anchor() {
	local i
	for i in $(seq 1 50); do
		[ "$(anchor | cut -d' ' -f1)" = "$1" ] && return 0
		sleep 0.2
	done
	return 1
}
make_records 5
sync_chain
check_eq "five records" 5 "$LAST"
h5=$LAST_HASH
check "olcRgLogPurge set at run time" cfg_modify <<EOF
dn: $(rg_cfg_dn)
changetype: modify
add: olcRgLogPurge
olcRgLogPurge: 00:00:02 00:00:01
EOF
check_eq "  and read back" "00:00:02 00:00:01" "$(cfg_get olcRgLogPurge)"
if wait_anchor 5; then
	_pass "the purge configured at run time removes records older than 2 s"
else
	T_OUT="anchor: '$(anchor)'"
	_fail "the purge configured at run time removes records older than 2 s" "no anchor at 5 after 10 s"
	check "restart (the purge starts at db open)" sandbox_cmd restart
	wait_anchor 5
fi
check_eq "the anchor is the last purged record's number and hash" "5 $h5" "$(anchor)"
check_eq "records 1..5 are gone" 0 "$(nentries "$(logsearch '' 1.1)")"
check "verify passes over the empty remainder" audit verify

check "restart with the purge configured" sandbox_cmd restart
make_records 3
REC=$(record 6)
check_eq "after the restart numbering continues after the anchor" 6 "$(val rgLogChangeNumber)"
check_eq "  and record 6 chains to the anchor's hash" "$h5" "$(val rgLogPrevHash)"
sync_chain
h8=$LAST_HASH
check_eq "  up to 8" 8 "$LAST"
check "  the purge (started at db open) moves the anchor to 8" wait_anchor 8
check_eq "  with record 8's hash" "8 $h8" "$(anchor)"

check "the purge is switched off" cfg_modify <<EOF
dn: $(rg_cfg_dn)
changetype: modify
delete: olcRgLogPurge
EOF
sleep 1.2
make_records 3
REC=$(record 9)
check_eq "new records continue the chain: record 9 follows the anchor's hash" "$h8" "$(val rgLogPrevHash)"
sleep 3
check_eq "with the purge off, records 9..11 stay" "9 10 11" \
	"$(logsearch '' rgLogChangeNumber | sed -n 's/^rgLogChangeNumber: //p' | sort -n | xargs)"
check "verify passes over what remains" audit verify
check "  and counts 9..11 after the anchor" grep -q '(9\.\.11)' <<<"$T_OUT"
sandbox_down

echo "# runtime $((SECONDS - START)) s"
finish
