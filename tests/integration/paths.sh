#!/bin/bash
# Every way a password is set (Password Modify exop with and without a new password, Modify
# replace/add/delete, Add), by every kind of requester, allowed and denied. After each
# denial the target's old password still binds, the new one does not, and rgResetCount has
# not moved.
. "$(cd "$(dirname "$0")/.." && pwd)/lib.sh"

sandbox_up

ALICE=$RG_USER_DN CAROL="uid=carol,ou=people,$RG_BASE" BOB=$RG_PRIV_USER_DN
alice_pw=$RG_USER_PW carol_pw=$RG_USER_PW
alice_n='' carol_n='' bob_n=''

agent_passwd() { ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" "$@"; }
ss_token() { token --sub "$1" --ial 2 --amr hwk,face; }
deleg_token() {
	token --sub "$1" --ial 1 --amr pwd --approver "$RG_APPROVER_DN" --reason "ticket $(openssl rand -hex 3)"
}

# ---- Password Modify exop, new password given ----
new=$(newpw)
check_result "exop by agent without evidence is denied" 50 evidence-missing \
	agent_passwd -s "$new" "$ALICE"
check "  old password still binds, new does not, count unchanged" unchanged "$ALICE" "$alice_pw" "$new" "$alice_n"

tok=$(ss_token "$ALICE")
check "exop by agent with a self-service token is allowed" agent_passwd -e "$(ctl "$tok")" -s "$new" "$ALICE"
check "  new password binds" binds "$ALICE" "$new"
check "  old password no longer binds" not_binds "$ALICE" "$alice_pw"
alice_pw=$new alice_n=1
check_eq "  rgResetCount is 1" 1 "$(opattr "$ALICE" rgResetCount)"
check_eq "  rgLastResetKind is self-service" self-service "$(opattr "$ALICE" rgLastResetKind)"
check_eq "  rgLastResetBy is the agent" "$RG_AGENT_DN" "$(opattr "$ALICE" rgLastResetBy)"
check_eq "  rgLastResetIAL is 2" 2 "$(opattr "$ALICE" rgLastResetIAL)"
check_eq "  rgLastResetIssuer is the issuer" "$RG_ISSUER" "$(opattr "$ALICE" rgLastResetIssuer)"
check_eq "  rgLastResetMethod lists the token's amr" "face hwk" \
	"$(opattr "$ALICE" rgLastResetMethod | sort | xargs)"
check_eq "  rgLastResetTime is set" 1 "$(opattr "$ALICE" rgLastResetTime | grep -c '^[0-9]\{14\}Z$')"
check_eq "  no rgReviewRequired after a self-service reset" "" "$(opattr "$ALICE" rgReviewRequired)"

# ---- Password Modify exop, server-generated password ----
check_result "exop without a new password and without evidence is denied" 50 evidence-missing \
	agent_passwd "$ALICE"
check "  old password still binds, count unchanged" unchanged "$ALICE" "$alice_pw" "" "$alice_n"

tok=$(ss_token "$ALICE")
_run agent_passwd -e "$(ctl "$tok")" "$ALICE"
gen=$(printf '%s\n' "$T_OUT" | sed -n 's/^New password: //p')
if [ "$T_RC" -eq 0 ] && [ -n "$gen" ]; then
	T_OUT= _pass "exop without a new password is allowed and returns the generated password"
else
	_fail "exop without a new password is allowed and returns the generated password" \
		"exit status $T_RC" agent_passwd "$ALICE"
fi
check "  the generated password binds" binds "$ALICE" "$gen"
check "  the previous password no longer binds" not_binds "$ALICE" "$alice_pw"
alice_pw=$gen alice_n=2
check_eq "  rgResetCount is 2" 2 "$(opattr "$ALICE" rgResetCount)"

# ---- Password Modify exop, self-change ----
new=$(newpw)
check_result "exop self-change without the old password is denied" 19 old-password-required \
	ldappasswd -x -H "$RG_URI" -D "$ALICE" -w "$alice_pw" -s "$new"
check "  old password still binds, new does not, count unchanged" unchanged "$ALICE" "$alice_pw" "$new" "$alice_n"

check "exop self-change with the old password is allowed" \
	ldappasswd -x -H "$RG_URI" -D "$ALICE" -w "$alice_pw" -a "$alice_pw" -s "$new"
check "  new password binds" binds "$ALICE" "$new"
check "  old password no longer binds" not_binds "$ALICE" "$alice_pw"
alice_pw=$new alice_n=3
check_eq "  rgLastResetKind is self-change" self-change "$(opattr "$ALICE" rgLastResetKind)"
check_eq "  rgLastResetBy is the user" "$ALICE" "$(opattr "$ALICE" rgLastResetBy)"
check_eq "  rgLastResetIAL is cleared (no evidence)" "" "$(opattr "$ALICE" rgLastResetIAL)"
check_eq "  rgResetCount is 3" 3 "$(opattr "$ALICE" rgResetCount)"

# ---- Modify replace ----
new=$(newpw)
check_result "Modify replace by agent without evidence is denied" 50 evidence-missing \
	modify_pw "$RG_AGENT_DN" "$RG_AGENT_PW" "$ALICE" replace "$new"
check "  old password still binds, new does not, count unchanged" unchanged "$ALICE" "$alice_pw" "$new" "$alice_n"

tok=$(ss_token "$ALICE")
check "Modify replace by agent with a token is allowed" \
	modify_pw "$RG_AGENT_DN" "$RG_AGENT_PW" "$ALICE" replace "$new" -e "$(ctl "$tok")"
check "  new password binds" binds "$ALICE" "$new"
check "  old password no longer binds" not_binds "$ALICE" "$alice_pw"
alice_pw=$new alice_n=4
check_eq "  rgResetCount is 4" 4 "$(opattr "$ALICE" rgResetCount)"

# ---- Modify delete (all values) then add, on carol ----
check_result "Modify delete by agent without evidence is denied" 50 evidence-missing \
	modify_pw "$RG_AGENT_DN" "$RG_AGENT_PW" "$CAROL" delete ""
check "  old password still binds, count unchanged" unchanged "$CAROL" "$carol_pw" "" "$carol_n"

tok=$(ss_token "$CAROL")
check "Modify delete by agent with a token is allowed" \
	modify_pw "$RG_AGENT_DN" "$RG_AGENT_PW" "$CAROL" delete "" -e "$(ctl "$tok")"
check "  old password no longer binds" not_binds "$CAROL" "$carol_pw"
check_eq "  carol has no userPassword" "" "$(opattr "$CAROL" userPassword)"
carol_n=1
check_eq "  rgResetCount is 1" 1 "$(opattr "$CAROL" rgResetCount)"

new=$(newpw)
check_result "Modify add by agent without evidence is denied" 50 evidence-missing \
	modify_pw "$RG_AGENT_DN" "$RG_AGENT_PW" "$CAROL" add "$new"
check "  new password does not bind" not_binds "$CAROL" "$new"
check_eq "  rgResetCount unchanged" "$carol_n" "$(opattr "$CAROL" rgResetCount)"

tok=$(ss_token "$CAROL")
check "Modify add by agent with a token is allowed" \
	modify_pw "$RG_AGENT_DN" "$RG_AGENT_PW" "$CAROL" add "$new" -e "$(ctl "$tok")"
check "  new password binds" binds "$CAROL" "$new"
carol_pw=$new carol_n=2
check_eq "  rgResetCount is 2" 2 "$(opattr "$CAROL" rgResetCount)"

# ---- Modify by the user: self-change ----
new=$(newpw)
check_result "Modify replace by the user (no old value) is denied" 19 old-password-required \
	modify_pw "$ALICE" "$alice_pw" "$ALICE" replace "$new"
check "  old password still binds, new does not, count unchanged" unchanged "$ALICE" "$alice_pw" "$new" "$alice_n"

check_result "Modify delete-all + add by the user (no old value) is denied" 19 old-password-required \
	ldapmodify -x -H "$RG_URI" -D "$ALICE" -w "$alice_pw" <<EOF
dn: $ALICE
changetype: modify
delete: userPassword
-
add: userPassword
userPassword: $new
EOF
check "  old password still binds, new does not, count unchanged" unchanged "$ALICE" "$alice_pw" "$new" "$alice_n"

# The deleted value must verify as the old password (alice's is stored in cleartext since the
# Modify replace above: without ppolicy slapd stores what a Modify sends).
check_result "Modify delete-old + add-new with a wrong old value is denied" 19 old-password-wrong \
	ldapmodify -x -H "$RG_URI" -D "$ALICE" -w "$alice_pw" <<EOF
dn: $ALICE
changetype: modify
delete: userPassword
userPassword: not-$alice_pw
-
add: userPassword
userPassword: $new
EOF
check "  old password still binds, new does not, count unchanged" unchanged "$ALICE" "$alice_pw" "$new" "$alice_n"

# The deleted value must be the old password, not any value: one added earlier in the same
# Modify proves nothing.
decoy=$(newpw) new2=$(newpw)
check_result "Modify by the user deleting a value it added itself (no old password) is denied" \
	19 old-password-wrong ldapmodify -x -H "$RG_URI" -D "$CAROL" -w "$carol_pw" <<EOF
dn: $CAROL
changetype: modify
add: userPassword
userPassword: $decoy
-
delete: userPassword
userPassword: $decoy
-
add: userPassword
userPassword: $new2
EOF
check "  old password still binds, new does not, count unchanged" unchanged "$CAROL" "$carol_pw" "$new2" "$carol_n"

check "Modify delete-old + add-new by the user is allowed (self-change)" \
	self_change_modify "$ALICE" "$alice_pw" "$new"
check "  new password binds" binds "$ALICE" "$new"
check "  old password no longer binds" not_binds "$ALICE" "$alice_pw"
alice_pw=$new alice_n=5
check_eq "  rgLastResetKind is self-change" self-change "$(opattr "$ALICE" rgLastResetKind)"
check_eq "  rgResetCount is 5" 5 "$(opattr "$ALICE" rgResetCount)"

# ---- Add: provisioning ----
DAVE="uid=dave,ou=people,$RG_BASE" dave_pw=$(newpw)
add_person() { # DN PW [extra LDIF lines] -- as the rootdn
	local dn=$1 pw=$2 uid
	uid=${dn%%,*}
	uid=${uid#uid=}
	shift 2
	{
		printf 'dn: %s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: Test\nuserPassword: %s\n' \
			"$dn" "$uid" "$uid" "$pw"
		for l in "$@"; do printf '%s\n' "$l"; done
	} | as_admin -a
}
check "Add of an entry with userPassword by the rootdn is allowed (provisioning)" add_person "$DAVE" "$dave_pw"
check "  the new entry's password binds" binds "$DAVE" "$dave_pw"
check_eq "  rgLastResetKind is provisioning" provisioning "$(opattr "$DAVE" rgLastResetKind)"
check_eq "  rgLastResetBy is the rootdn" "$RG_ADMIN_DN" "$(opattr "$DAVE" rgLastResetBy)"
check_eq "  rgResetCount is 1" 1 "$(opattr "$DAVE" rgResetCount)"

# A policy naming its provisioners refuses everyone else.
check "a policy with rgProvisioner can be added" as_admin -a <<EOF
dn: cn=provisioners-only,ou=policies,$RG_BASE
objectClass: rgPolicy
cn: provisioners-only
rgProvisioner: $RG_BREAKGLASS_DN
EOF
ERIN="uid=erin,ou=people,$RG_BASE" erin_pw=$(newpw)
check_result "Add by a non-provisioner under that policy is denied" 50 not-provisioner \
	add_person "$ERIN" "$erin_pw" "rgPolicySubentry: cn=provisioners-only,ou=policies,$RG_BASE"
check_eq "  the entry does not exist" "" "$(opattr "$ERIN" uid)"
check "an Add without userPassword is not governed" as_admin -a <<EOF
dn: $ERIN
objectClass: inetOrgPerson
uid: erin
cn: erin
sn: Test
rgPolicySubentry: cn=provisioners-only,ou=policies,$RG_BASE
EOF
check_eq "  and gets no rgResetCount" "" "$(opattr "$ERIN" rgResetCount)"

# ---- break-glass ----
new=$(newpw)
check "break-glass reset without evidence is allowed" \
	ldappasswd -x -H "$RG_URI" -D "$RG_BREAKGLASS_DN" -w "$RG_BREAKGLASS_PW" -s "$new" "$BOB"
check "  new password binds" binds "$BOB" "$new"
check "  old password no longer binds" not_binds "$BOB" "$RG_PRIV_USER_PW"
bob_pw=$new bob_n=1
check_eq "  rgLastResetKind is break-glass" break-glass "$(opattr "$BOB" rgLastResetKind)"
check_eq "  rgReviewRequired is TRUE" TRUE "$(opattr "$BOB" rgReviewRequired)"
check_eq "  rgLastResetBy is the break-glass identity" "$RG_BREAKGLASS_DN" "$(opattr "$BOB" rgLastResetBy)"
check_eq "  rgResetCount is 1" 1 "$(opattr "$BOB" rgResetCount)"

# root.bob's password is hashed (the exop hashes it); he may read the hash, but deleting it
# does not prove that he knows the password.
hash=$(ldapsearch -x -H "$RG_URI" -D "$BOB" -w "$bob_pw" -LLL -b "$BOB" -s base userPassword 2>/dev/null |
	sed -n 's/^userPassword:: //p' | base64 -d)
check "root.bob can read his own password hash" test -n "$hash"
new=$(newpw)
check_result "Modify by the user deleting the stored hash + add-new is denied" 19 old-password-wrong \
	ldapmodify -x -H "$RG_URI" -D "$BOB" -w "$bob_pw" <<EOF
dn: $BOB
changetype: modify
delete: userPassword
userPassword: $hash
-
add: userPassword
userPassword: $new
EOF
check "  old password still binds, new does not, count unchanged" unchanged "$BOB" "$bob_pw" "$new" "$bob_n"

# A later self-service reset does not hide the break-glass one from review.
tok=$(token --sub "$BOB" --ial 3 --amr hwk)
new=$(newpw)
check "self-service reset of root.bob after break-glass is allowed" agent_passwd -e "$(ctl "$tok")" -s "$new" "$BOB"
bob_pw=$new bob_n=2
check_eq "  rgReviewRequired stays TRUE" TRUE "$(opattr "$BOB" rgReviewRequired)"
check_eq "  rgLastResetKind is self-service" self-service "$(opattr "$BOB" rgLastResetKind)"

# ---- delegated (help desk) ----
hd_passwd() { ldappasswd -x -H "$RG_URI" -D "$RG_HELPDESK_DN" -w "$RG_HELPDESK_PW" "$@"; }
new=$(newpw)
check_result "delegated reset without evidence is denied" 50 evidence-missing hd_passwd -s "$new" "$ALICE"
check "  old password still binds, new does not, count unchanged" unchanged "$ALICE" "$alice_pw" "$new" "$alice_n"

tok=$(deleg_token "$ALICE")
check "delegated reset with approver and reason is allowed" hd_passwd -e "$(ctl "$tok")" -s "$new" "$ALICE"
check "  new password binds" binds "$ALICE" "$new"
check "  old password no longer binds" not_binds "$ALICE" "$alice_pw"
alice_pw=$new alice_n=6
check_eq "  rgLastResetKind is delegated" delegated "$(opattr "$ALICE" rgLastResetKind)"
check_eq "  rgLastResetApprover is the approver" "$RG_APPROVER_DN" "$(opattr "$ALICE" rgLastResetApprover)"
check_eq "  rgLastResetBy is the help desk" "$RG_HELPDESK_DN" "$(opattr "$ALICE" rgLastResetBy)"
check_eq "  rgLastResetIAL is 1" 1 "$(opattr "$ALICE" rgLastResetIAL)"
check_eq "  rgResetCount is 6" 6 "$(opattr "$ALICE" rgResetCount)"

# ---- the rootdn is governed ----
root_passwd() { ldappasswd -x -H "$RG_URI" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" "$@"; }
new=$(newpw)
check_result "rootdn exop reset without evidence is denied" 50 evidence-missing root_passwd -s "$new" "$ALICE"
check "  old password still binds, new does not, count unchanged" unchanged "$ALICE" "$alice_pw" "$new" "$alice_n"
check_result "rootdn Modify replace without evidence is denied" 50 evidence-missing \
	modify_pw "$RG_ADMIN_DN" "$RG_ADMIN_PW" "$ALICE" replace "$new"
check "  old password still binds, new does not, count unchanged" unchanged "$ALICE" "$alice_pw" "$new" "$alice_n"
tok=$(deleg_token "$ALICE")
check "rootdn reset with a delegated token is allowed" root_passwd -e "$(ctl "$tok")" -s "$new" "$ALICE"
check "  new password binds" binds "$ALICE" "$new"
alice_pw=$new alice_n=7
check_eq "  rgLastResetKind is delegated" delegated "$(opattr "$ALICE" rgLastResetKind)"

# ---- resetguard's own attributes cannot be written ----
for relax in "-e relax" ""; do
	check_result "rootdn Modify of rgResetCount ${relax:+with relax }is refused" 19 - \
		as_admin $relax <<EOF
dn: $ALICE
changetype: modify
replace: rgResetCount
rgResetCount: 0
EOF
	check_eq "  rgResetCount unchanged" "$alice_n" "$(opattr "$ALICE" rgResetCount)"
done
check_result "rootdn Modify deleting rgReviewRequired with relax is refused" 19 - \
	as_admin -e relax <<EOF
dn: $BOB
changetype: modify
delete: rgReviewRequired
EOF
check_eq "  rgReviewRequired still TRUE" TRUE "$(opattr "$BOB" rgReviewRequired)"
FRANK="uid=frank,ou=people,$RG_BASE"
check_result "rootdn Add of an entry carrying rgResetCount with relax is refused" 19 - \
	as_admin -a -e relax <<EOF
dn: $FRANK
objectClass: inetOrgPerson
uid: frank
cn: frank
sn: Test
userPassword: $(newpw)
rgResetCount: 42
EOF
check_eq "  the entry does not exist" "" "$(opattr "$FRANK" uid)"

finish
