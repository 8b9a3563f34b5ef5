#!/bin/bash
# Group membership within one operation: resetguard asks whether the target is in a
# privileged group and whether the approver is in an approver group, and slapd's ACLs ask
# whether the requester is in an ACL group. Each answer must be about its own member: one
# lookup must never decide another (slapd caches group answers per operation by group DN).
. "$(cd "$(dirname "$0")/.." && pwd)/lib.sh"

sandbox_up

ALICE=$RG_USER_DN CAROL="uid=carol,ou=people,$RG_BASE" BOB=$RG_PRIV_USER_DN
HD2="uid=hd.two,ou=staff,$RG_BASE" hd2_pw=$(newpw)
PRIV="cn=privileged,ou=groups,$RG_BASE" HELPDESK="cn=helpdesk,ou=groups,$RG_BASE"
declare -A pw=([$ALICE]=$RG_USER_PW [$CAROL]=$RG_USER_PW [$BOB]=$RG_PRIV_USER_PW [$HD2]=$hd2_pw)
declare -A count=([$ALICE]='' [$CAROL]='' [$BOB]='' [$HD2]='')

# reset NAME CODE RULE REQUESTER_DN REQUESTER_PW TARGET APPROVER: a Password Modify with a
# delegated token (IAL3, hwk, a reason) naming APPROVER, that must give CODE (0: allowed, then
# the new password must bind; otherwise RULE, "-" for none, and nothing changed).
reset() {
	local name=$1 code=$2 rule=$3 rdn=$4 rpw=$5 dn=$6 approver=$7 new tok
	new=$(newpw)
	tok=$(token --sub "$dn" --ial 3 --amr hwk --reason "ticket-$RANDOM" --approver "$approver")
	if [ "$code" = 0 ]; then
		check "$name" ldappasswd -x -H "$RG_URI" -D "$rdn" -w "$rpw" -e "$(ctl "$tok")" -s "$new" "$dn"
		check "  the new password binds" binds "$dn" "$new"
	else
		check_result "$name" "$code" "$rule" \
			ldappasswd -x -H "$RG_URI" -D "$rdn" -w "$rpw" -e "$(ctl "$tok")" -s "$new" "$dn"
		check "  old password still binds, new does not, count unchanged" \
			unchanged "$dn" "${pw[$dn]}" "$new" "${count[$dn]}"
	fi
	if binds "$dn" "$new" >/dev/null 2>&1; then
		pw[$dn]=$new
		count[$dn]=$((${count[$dn]:-0} + 1))
	fi
}
set_policy() { # DN POLICY-CN
	as_admin >/dev/null <<EOF
dn: $1
changetype: modify
replace: rgPolicySubentry
rgPolicySubentry: cn=$2,ou=policies,$RG_BASE
EOF
}

check "setup: policies, a second help-desk operator" as_admin -a -c <<EOF
dn: cn=shared,ou=policies,$RG_BASE
objectClass: rgPolicy
cn: shared
description: the privileged group also approves
rgPrivilegedGroup: $PRIV
rgApproverGroup: $PRIV

dn: cn=privileged-approve,ou=policies,$RG_BASE
objectClass: rgPolicy
cn: privileged-approve
rgApproverGroup: $PRIV

dn: cn=helpdesk-approves,ou=policies,$RG_BASE
objectClass: rgPolicy
cn: helpdesk-approves
description: a second help-desk operator approves
rgApproverGroup: $HELPDESK

dn: cn=helpdesk-privileged,ou=policies,$RG_BASE
objectClass: rgPolicy
cn: helpdesk-privileged
description: help-desk operators are privileged accounts
rgPrivilegedGroup: $HELPDESK

dn: $HD2
objectClass: inetOrgPerson
uid: hd.two
cn: Second Operator
sn: Operator
userPassword: $hd2_pw
EOF
count[$HD2]=1
check "setup: hd.two joins the help desk" as_admin <<EOF
dn: $HELPDESK
changetype: modify
add: member
member: $HD2
EOF

# ---- baseline, default policy ----
reset "default policy: help desk resets root.bob with approver mgr.lee" 0 - \
	"$RG_HELPDESK_DN" "$RG_HELPDESK_PW" "$BOB" "$RG_APPROVER_DN"

# ---- one group both privileged and approving ----
set_policy "$BOB" shared
set_policy "$CAROL" shared
reset "shared group: carol (not a member) cannot approve a reset of root.bob (a member)" \
	19 approver-not-authorized "$RG_HELPDESK_DN" "$RG_HELPDESK_PW" "$BOB" "$CAROL"
reset "shared group: root.bob (a member) may approve a reset of carol (not a member)" 0 - \
	"$RG_HELPDESK_DN" "$RG_HELPDESK_PW" "$CAROL" "$BOB"
reset "shared group: alice (not a member) cannot approve a reset of carol" \
	19 approver-not-authorized "$RG_HELPDESK_DN" "$RG_HELPDESK_PW" "$CAROL" "$ALICE"

# ---- slapd's ACLs keep deciding who may write userPassword ----
# mgr.lee has no write access to passwords; the ACL grants it to the cn=helpdesk group.
set_policy "$ALICE" privileged-approve
reset "ACL: mgr.lee may not reset alice even with an allowed token (approver group not in ACLs)" \
	50 - "$RG_APPROVER_DN" "$RG_APPROVER_PW" "$ALICE" "$BOB"
set_policy "$ALICE" helpdesk-approves
reset "ACL: mgr.lee may not reset alice when her approver is in the ACL's help-desk group" \
	50 - "$RG_APPROVER_DN" "$RG_APPROVER_PW" "$ALICE" "$HD2"
set_policy "$HD2" helpdesk-privileged
reset "ACL: mgr.lee may not reset hd.two, a privileged member of the ACL's help-desk group" \
	50 - "$RG_APPROVER_DN" "$RG_APPROVER_PW" "$HD2" "$BOB"
reset "ACL: the help desk itself may reset alice with approver hd.two" 0 - \
	"$RG_HELPDESK_DN" "$RG_HELPDESK_PW" "$ALICE" "$HD2"

# ---- a break-glass group ----
# Members of an rgBreakGlassGroup reset without evidence, marked for review; the group is
# asked about the requester, not the target.
check "setup: a policy whose break-glass identities are the help-desk group" as_admin -a <<EOF
dn: cn=helpdesk-breakglass,ou=policies,$RG_BASE
objectClass: rgPolicy
cn: helpdesk-breakglass
rgBreakGlassGroup: $HELPDESK
EOF
set_policy "$CAROL" helpdesk-breakglass
new=$(newpw)
check "break-glass group: hd.two resets carol without a token" \
	ldappasswd -x -H "$RG_URI" -D "$HD2" -w "$hd2_pw" -s "$new" "$CAROL"
check "  the new password binds" binds "$CAROL" "$new"
check_eq "  carol is marked for review" TRUE "$(opattr "$CAROL" rgReviewRequired)"
check_eq "  the change was break-glass" break-glass "$(opattr "$CAROL" rgLastResetKind)"
check_result "break-glass group: only under the policy that names it (not alice's)" \
	50 evidence-missing \
	ldappasswd -x -H "$RG_URI" -D "$RG_HELPDESK_DN" -w "$RG_HELPDESK_PW" -s "$(newpw)" "$ALICE"
check "setup: the break-glass group names a group that does not exist" as_admin <<EOF
dn: cn=helpdesk-breakglass,ou=policies,$RG_BASE
changetype: modify
replace: rgBreakGlassGroup
rgBreakGlassGroup: cn=nobody,ou=groups,$RG_BASE
EOF
check_result "break-glass group unreadable: hd.two is judged as the help desk, needs evidence" \
	50 evidence-missing ldappasswd -x -H "$RG_URI" -D "$HD2" -w "$hd2_pw" -s "$(newpw)" "$CAROL"

finish
