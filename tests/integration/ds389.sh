#!/bin/bash
# resetguard on 389 Directory Server (resetguard-plugin.so): the core scenarios against a
# sandbox made with --server 389ds. Self-service resets by Password Modify and by Modify,
# the denials with their rule names and texts (in the Password Modify response too, where
# 389-DS would say "Failed to update password"), single-use tokens, the Add and ModRDN
# paths, the reset log (records, chain, resetguard-audit verify) and its immutability
# against the Directory Manager, a break-glass reset's review, the plugin entry refusing a
# bad value, and no cleartext in the server's logs. Skipped where 389-DS is not installed or the plugin is not built.
. "$(cd "$(dirname "$0")/.." && pwd)/lib.sh"

if [ ! -x /usr/sbin/ns-slapd ] || [ ! -f "$RG_TOP/.libs/resetguard-plugin.so" ]; then
	echo "ok - skipped: 389-ds-base or resetguard-plugin.so is missing # SKIP"
	finish
fi
sandbox_up --server 389ds

ALICE=$RG_USER_DN BOB=$RG_PRIV_USER_DN CAROL="uid=carol,ou=people,$RG_BASE"
DM=$RG_ADMIN_DN
alice_pw=$RG_USER_PW
ERRORS=$RG_DS_LOG_DIR/errors
secrets=()

# nrec FILTER: how many log records match (&(objectClass=rgLogRecord)FILTER), as the auditor.
nrec() {
	ldapsearch -x -H "$RG_URI" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" -LLL -b cn=resetlog \
		-s one "(&(objectClass=rgLogRecord)$1)" 1.1 | grep -c '^dn:'
}
passwd_as() { # BINDDN PW TARGET NEWPW [TOKEN]
	local ctl=()
	[ -n "${5:-}" ] && ctl=(-e "$(ctl "$5")")
	ldappasswd -x -H "$RG_URI" -D "$1" -w "$2" "${ctl[@]}" -s "$4" "$3"
}
replace_as() { # BINDDN PW TARGET NEWPW [TOKEN]
	local ctl=()
	[ -n "${5:-}" ] && ctl=(-e "$(ctl "$5")")
	printf 'dn: %s\nchangetype: modify\nreplace: userPassword\nuserPassword: %s\n' "$3" "$4" |
		ldapmodify -x -H "$RG_URI" -D "$1" -w "$2" "${ctl[@]}"
}

echo "# allowed self-service resets"
new=$(newpw) secrets+=("$new")
tok=$(token --sub "$ALICE" --ial 2 --amr hwk)
check "Password Modify by the portal with a token: allowed" \
	passwd_as "$RG_AGENT_DN" "$RG_AGENT_PW" "$ALICE" "$new" "$tok"
check "  the new password binds" binds "$ALICE" "$new"
check "  the old one does not" not_binds "$ALICE" "$alice_pw"
alice_pw=$new
check_eq "  rgResetCount is 1" 1 "$(opattr "$ALICE" rgResetCount)"
check_eq "  rgLastResetKind is self-service" self-service "$(opattr "$ALICE" rgLastResetKind)"
check_eq "  one allowed, applied passwordModify record with a sealed password" 1 \
	"$(ldapsearch -x -H "$RG_URI" -D "$RG_SYNCD_DN" -w "$RG_SYNCD_PW" -LLL -b cn=resetlog -s one \
		'(&(rgLogDecision=allowed)(rgLogOutcome=applied)(rgLogOperation=passwordModify)(rgLogSealedPassword=*))' 1.1 |
		grep -c '^dn:')"

new=$(newpw)
check_result "the same token again: evidence-replayed, with the rule's text in the response" \
	50 evidence-replayed passwd_as "$RG_AGENT_DN" "$RG_AGENT_PW" "$ALICE" "$new" "$tok"
check "  the new password does not bind" not_binds "$ALICE" "$new"

new=$(newpw) secrets+=("$new")
check "Modify replace by the portal with a token: allowed" \
	replace_as "$RG_AGENT_DN" "$RG_AGENT_PW" "$ALICE" "$new" "$(token --sub "$ALICE" --ial 2 --amr face)"
check "  the new password binds" binds "$ALICE" "$new"
alice_pw=$new
check_eq "  rgResetCount is 2" 2 "$(opattr "$ALICE" rgResetCount)"
check_eq "  one applied modify record" 1 "$(nrec '(rgLogDecision=allowed)(rgLogOperation=modify)')"

new=$(newpw) secrets+=("$new")
check "self-change by Modify (old value deleted, new added): allowed" \
	self_change_modify "$ALICE" "$alice_pw" "$new"
check "  the new password binds" binds "$ALICE" "$new"
alice_pw=$new
check_eq "  rgLastResetKind is self-change" self-change "$(opattr "$ALICE" rgLastResetKind)"

echo "# denials"
deny() { # NAME CODE RULE REQUESTER-DN PW TARGET [TOKEN]: a Password Modify that must fail
	local new
	new=$(newpw)
	check_result "$1" "$2" "$3" passwd_as "$4" "$5" "$6" "$new" "${7:-}"
	check "  the new password does not bind" not_binds "$6" "$new"
}
count=$(opattr "$ALICE" rgResetCount)
deny "no token: evidence-missing" 50 evidence-missing "$RG_AGENT_DN" "$RG_AGENT_PW" "$ALICE"
deny "IAL1: level-insufficient" 19 level-insufficient "$RG_AGENT_DN" "$RG_AGENT_PW" "$ALICE" \
	"$(token --sub "$ALICE" --ial 1 --amr hwk)"
deny "privileged root.bob at IAL2: step-up-required" 19 step-up-required \
	"$RG_AGENT_DN" "$RG_AGENT_PW" "$BOB" "$(token --sub "$BOB" --ial 2 --amr face)"
deny "delegated without approver: approver-missing" 19 approver-missing \
	"$RG_HELPDESK_DN" "$RG_HELPDESK_PW" "$ALICE" "$(token --sub "$ALICE" --ial 1 --amr pwd --reason T-1)"
deny "token for carol used on alice: evidence-wrong-subject" 50 evidence-wrong-subject \
	"$RG_AGENT_DN" "$RG_AGENT_PW" "$ALICE" "$(token --sub "$CAROL" --ial 2 --amr hwk)"
check_result "Modify without a token: evidence-missing" 50 evidence-missing \
	replace_as "$RG_AGENT_DN" "$RG_AGENT_PW" "$ALICE" "$(newpw)"
check_result "a malformed proofing control: protocol error" 2 - \
	ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" -e "$RG_CONTROL_OID=YWJjLmRlZg==" \
	-s "$(newpw)" "$ALICE"
check_eq "  rgResetCount unchanged by the denials" "$count" "$(opattr "$ALICE" rgResetCount)"
check_eq "  each denial has its record" 7 "$(nrec '(rgLogDecision=denied)')"

new=$(newpw) secrets+=("$new")
check "delegated reset with an approver and a reason: allowed" \
	passwd_as "$RG_HELPDESK_DN" "$RG_HELPDESK_PW" "$CAROL" "$new" \
	"$(token --sub "$CAROL" --ial 1 --amr pwd --reason T-9 --approver "$RG_APPROVER_DN")"
check_eq "  the record names the approver" 1 \
	"$(nrec "(rgLogDecision=allowed)(rgLogApprover=$RG_APPROVER_DN)(rgLogReason=T-9)")"

echo "# Add and ModRDN"
DAVE="uid=dave,ou=people,$RG_BASE" new=$(newpw) secrets+=("$new")
check "Add with a password by the Directory Manager: provisioning, allowed" \
	as_admin -a <<EOF
dn: $DAVE
objectClass: inetOrgPerson
uid: dave
cn: Dave
sn: Test
userPassword: $new
EOF
check "  the password binds" binds "$DAVE" "$new"
check_eq "  rgLastResetKind is provisioning" provisioning "$(opattr "$DAVE" rgLastResetKind)"
check_eq "  one allowed add record" 1 "$(nrec "(rgLogTarget=$DAVE)(rgLogOperation=add)(rgLogDecision=allowed)")"
# 389-DS itself drops NO-USER-MODIFICATION attributes from a client's Add.
check "Add carrying rgResetCount 42" as_admin -a <<EOF
dn: uid=erin,ou=people,$RG_BASE
objectClass: inetOrgPerson
uid: erin
cn: Erin
sn: Test
userPassword: $(newpw)
rgResetCount: 42
EOF
check_eq "  the client's value does not stand" 1 "$(opattr "uid=erin,ou=people,$RG_BASE" rgResetCount)"
check_result "ModRDN to userPassword=NEW: password-in-rdn" 53 password-in-rdn \
	ldapmodrdn -x -H "$RG_URI" -D "$DM" -w "$RG_ADMIN_PW" "$DAVE" "userPassword=$(newpw)"
check_eq "  a denied modrdn record" 1 "$(nrec "(rgLogTarget=$DAVE)(rgLogOperation=modrdn)(rgLogDecision=denied)")"

echo "# the reset log"
check "resetguard-audit verify: the chain holds" \
	"$RG_TOP/resetguard-audit" -H "$RG_URI" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" verify
first="rgLogChangeNumber=1,cn=resetlog"
check_result "the Directory Manager cannot edit a record" 53 - as_admin <<EOF
dn: $first
changetype: modify
replace: rgLogDecision
rgLogDecision: denied
EOF
check_result "the Directory Manager cannot delete a record" 53 - as_admin <<EOF
dn: $first
changetype: delete
EOF
check_result "the Directory Manager cannot add a record" 53 - as_admin -a <<EOF
dn: rgLogChangeNumber=999,cn=resetlog
objectClass: rgLogRecord
rgLogChangeNumber: 999
rgLogTime: 20300101000000.000000Z
rgLogTarget: $ALICE
rgLogKind: delegated
rgLogDecision: allowed
rgLogRule: allowed
rgLogPrevHash: 0
rgLogHash: 0
EOF
check_result "the Directory Manager cannot rename a record" 53 - \
	ldapmodrdn -x -H "$RG_URI" -D "$DM" -w "$RG_ADMIN_PW" -r "$first" rgLogChangeNumber=1000
check_result "the Directory Manager cannot write propagation status" 53 - as_admin <<EOF
dn: $first
changetype: modify
add: rgLogTargetStatus
rgLogTargetStatus: legacy1 delivered attempts=1 time=20300101000000Z
EOF
check_result "an auditor cannot review a record that needs no review" 19 - \
	ldapmodify -x -H "$RG_URI" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" <<EOF
dn: $first
changetype: modify
add: rgLogReviewVerdict
rgLogReviewVerdict: approved
EOF
check_result "syncd writes a malformed propagation status: refused" 19 - \
	ldapmodify -x -H "$RG_URI" -D "$RG_SYNCD_DN" -w "$RG_SYNCD_PW" <<EOF
dn: $first
changetype: modify
add: rgLogTargetStatus
rgLogTargetStatus: legacy1 delivered attempts=1
EOF
check_result "syncd writes a malformed delivery claim: refused" 19 - \
	ldapmodify -x -H "$RG_URI" -D "$RG_SYNCD_DN" -w "$RG_SYNCD_PW" <<EOF
dn: $first
changetype: modify
replace: rgLogClaim
rgLogClaim: syncd-a tomorrow
EOF
check "syncd writes a well-formed propagation status" \
	ldapmodify -x -H "$RG_URI" -D "$RG_SYNCD_DN" -w "$RG_SYNCD_PW" <<EOF
dn: $first
changetype: modify
add: rgLogTargetStatus
rgLogTargetStatus: legacy1 delivered attempts=1 time=20300101000000Z
EOF
check "resetguard-audit verify still holds" \
	"$RG_TOP/resetguard-audit" -H "$RG_URI" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" verify

echo "# review of a break-glass reset"
new=$(newpw) secrets+=("$new")
check "break-glass Password Modify: allowed" \
	passwd_as "$RG_BREAKGLASS_DN" "$RG_BREAKGLASS_PW" "$CAROL" "$new"
check_eq "  rgReviewRequired on the account" TRUE "$(opattr "$CAROL" rgReviewRequired)"
bg=$(ldapsearch -x -H "$RG_URI" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" -LLL -b cn=resetlog -s one \
	'(&(rgLogKind=break-glass)(rgLogReviewRequired=TRUE))' 1.1 | sed -n 's/^dn: //p' | head -n 1)
check_eq "  its record awaits review" "rgLogChangeNumber" "${bg%%=*}"
review() { # BINDDN PW VERDICT
	printf 'dn: %s\nchangetype: modify\nadd: rgLogReviewVerdict\nrgLogReviewVerdict: %s\n' "$bg" "$3" |
		ldapmodify -x -H "$RG_URI" -D "$1" -w "$2"
}
check "the auditor gives a verdict" review "$RG_AUDITOR_DN" "$RG_AUDITOR_PW" approved
check_eq "  the plugin recorded the reviewer" "$RG_AUDITOR_DN" \
	"$(ldapsearch -x -H "$RG_URI" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" -LLL -o ldif-wrap=no \
		-b "$bg" -s base rgLogReviewer | sed -n 's/^rgLogReviewer: //p')"
# 389-DS's schema check (rgLogReviewVerdict is single-valued) refuses it before the plugin.
check_result "a second verdict is refused: a verdict is final" 65 - \
	review "$RG_AUDITOR_DN" "$RG_AUDITOR_PW" rejected
check_result "  the Directory Manager cannot replace it either" 19 - as_admin <<EOF
dn: $bg
changetype: modify
replace: rgLogReviewVerdict
rgLogReviewVerdict: rejected
EOF

echo "# the plugin entry"
check_result "a bad resetguard-clock-skew is refused with its reason" 53 - cfg_modify <<EOF
dn: cn=resetguard,cn=plugins,cn=config
changetype: modify
replace: resetguard-clock-skew
resetguard-clock-skew: 99999
EOF
check "  the reason names the attribute" grep -q "resetguard-clock-skew" <<<"$T_OUT"
check "a good resetguard-clock-skew is taken" cfg_modify <<EOF
dn: cn=resetguard,cn=plugins,cn=config
changetype: modify
replace: resetguard-clock-skew
resetguard-clock-skew: 60
EOF

echo "# no cleartext"
leaked=0
for s in "${secrets[@]}"; do
	grep -rqF -- "$s" "$RG_DIR/ds/var" "$RG_DIR/slapd.log" && leaked=1
done
check_eq "no new password in the server's logs or database files" 0 "$leaked"
check_eq "the plugin logged no error of its own" "" \
	"$(grep ' - ERR - resetguard - ' "$ERRORS" | grep -v 'refused a write' || true)"

finish
