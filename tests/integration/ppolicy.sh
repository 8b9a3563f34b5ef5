#!/bin/bash
# resetguard stacked with ppolicy: ppolicy's quality and history checks still apply to
# allowed resets, a refused password does not consume the token, and a delegated reset
# forces a change at the next login (pwdReset).
. "$(cd "$(dirname "$0")/.." && pwd)/lib.sh"

ppolicy_checks() {
	local mode=$1 ALICE=$RG_USER_DN CAROL="uid=carol,ou=people,$RG_BASE" tok new short
	local alice_pw=$RG_USER_PW alice_n='' carol_pw=$RG_USER_PW
	agent_passwd() { ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" "$@"; }

	# ---- quality: a refused password does not consume the token ----
	tok=$(token --sub "$ALICE" --ial 2 --amr hwk,face)
	short=s$(openssl rand -hex 2)
	_run agent_passwd -e "$(ctl "$tok")" -s "$short" "$ALICE"
	if [ "$(_ldap_code)" = 19 ] && [[ "$T_OUT" == *"quality"* ]] && [[ "$T_OUT" != *"resetguard rule"* ]]; then
		_pass "$mode: a 5-character password in an allowed reset is refused by ppolicy"
	else
		_fail "$mode: a 5-character password in an allowed reset is refused by ppolicy" \
			"expected ppolicy's constraint violation (19)" agent_passwd -e TOKEN -s "$short" "$ALICE"
	fi
	check "  old password still binds, new does not, count unchanged" unchanged "$ALICE" "$alice_pw" "$short" "$alice_n"
	new=$(newpw)
	check "  the same token with a good password is then allowed" agent_passwd -e "$(ctl "$tok")" -s "$new" "$ALICE"
	check "  the new password binds" binds "$ALICE" "$new"
	alice_pw=$new alice_n=1
	check_eq "  rgResetCount is 1" 1 "$(opattr "$ALICE" rgResetCount)"
	check_result "  and the token is now used up" 50 evidence-replayed \
		agent_passwd -e "$(ctl "$tok")" -s "$(newpw)" "$ALICE"

	tok=$(token --sub "$ALICE" --ial 2 --amr hwk)
	check_result "$mode: a short password by Modify replace is refused by ppolicy" 19 - \
		modify_pw "$RG_AGENT_DN" "$RG_AGENT_PW" "$ALICE" replace "$short" -e "$(ctl "$tok")"
	check "  old password still binds, new does not, count unchanged" unchanged "$ALICE" "$alice_pw" "$short" "$alice_n"
	new=$(newpw)
	check "  the same token by Modify replace with a good password is allowed" \
		modify_pw "$RG_AGENT_DN" "$RG_AGENT_PW" "$ALICE" replace "$new" -e "$(ctl "$tok")"
	check "  the new password binds" binds "$ALICE" "$new"
	alice_pw=$new alice_n=2
	check "  and is stored hashed ({SSHA})" bash -c '[[ $(ldapsearch -x -H "$1" -D "$2" -w "$3" -LLL -b "$4" -s base userPassword | sed -n "s/^userPassword:: //p" | base64 -d) == "{SSHA}"* ]]' \
		_ "$RG_URI" "$RG_ADMIN_DN" "$RG_ADMIN_PW" "$ALICE"
	check_eq "  a self-service reset does not set pwdReset" "" "$(opattr "$ALICE" pwdReset)"

	# ---- delegated: forced change ----
	new=$(newpw)
	tok=$(token --sub "$ALICE" --ial 1 --amr pwd --approver "$RG_APPROVER_DN" --reason "ticket 1")
	check "$mode: a delegated reset is allowed" \
		ldappasswd -x -H "$RG_URI" -D "$RG_HELPDESK_DN" -w "$RG_HELPDESK_PW" -e "$(ctl "$tok")" -s "$new" "$ALICE"
	alice_pw=$new alice_n=3
	check_eq "  pwdReset is TRUE" TRUE "$(opattr "$ALICE" pwdReset)"
	check_eq "  rgLastResetKind is delegated" delegated "$(opattr "$ALICE" rgLastResetKind)"
	check "  alice can still bind" binds "$ALICE" "$alice_pw"
	check_result "  but ppolicy restricts her to changing the password" 50 - \
		ldapsearch -x -H "$RG_URI" -D "$ALICE" -w "$alice_pw" -b "$ALICE" -s base 1.1
	new=$(newpw)
	check "  her self-change with the old password is allowed" \
		ldappasswd -x -H "$RG_URI" -D "$ALICE" -w "$alice_pw" -a "$alice_pw" -s "$new"
	prev=$alice_pw alice_pw=$new alice_n=4
	check_eq "  pwdReset is cleared" "" "$(opattr "$ALICE" pwdReset)"
	check "  she can search again" ldapsearch -x -H "$RG_URI" -D "$ALICE" -w "$alice_pw" -b "$ALICE" -s base 1.1

	# ---- history ----
	_run ldappasswd -x -H "$RG_URI" -D "$ALICE" -w "$alice_pw" -a "$alice_pw" -s "$prev"
	if [ "$(_ldap_code)" = 19 ] && [[ "$T_OUT" == *"history"* ]]; then
		_pass "$mode: a self-change back to the previous password is refused by ppolicy's history"
	else
		_fail "$mode: a self-change back to the previous password is refused by ppolicy's history" \
			"expected ppolicy's constraint violation (19)" ldappasswd -a OLD -s PREVIOUS
	fi
	check "  old password still binds, previous does not, count unchanged" unchanged "$ALICE" "$alice_pw" "$prev" "$alice_n"
	_run self_change_modify "$ALICE" "$alice_pw" "$prev"
	if [ "$T_RC" = 19 ] && [[ "$T_OUT" == *"history"* ]]; then
		_pass "  also as a Modify delete-old + add-new"
	else
		_fail "  also as a Modify delete-old + add-new" "expected ppolicy's constraint violation (19)"
	fi
	check "  old password still binds, previous does not, count unchanged" unchanged "$ALICE" "$alice_pw" "$prev" "$alice_n"

	# ppolicy accepts the old password in cleartext in a Modify delete.
	new=$(newpw)
	check "$mode: a Modify delete-old (cleartext) + add-new self-change is allowed" \
		self_change_modify "$ALICE" "$alice_pw" "$new"
	check "  the new password binds" binds "$ALICE" "$new"
	check "  the old one does not" not_binds "$ALICE" "$alice_pw"
	alice_pw=$new alice_n=5
	check_eq "  rgResetCount is 5" 5 "$(opattr "$ALICE" rgResetCount)"

	# A denied reset is not turned into something else by ppolicy.
	new=$(newpw)
	check_result "$mode: a reset without evidence is still denied by resetguard" 50 evidence-missing \
		agent_passwd -s "$new" "$CAROL"
	check "  old password still binds, new does not, count unchanged" unchanged "$CAROL" "$carol_pw" "$new" ""
}

sandbox_up --ppolicy
check_eq "resetguard is the second overlay in cn=config" \
	"olcOverlay={1}resetguard,olcDatabase={2}mdb,cn=config" "$(rg_cfg_dn)"
ppolicy_checks cn=config
sandbox_down

sandbox_up --ppolicy --slapd-conf
ppolicy_checks slapd.conf

finish
