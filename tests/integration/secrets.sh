#!/bin/bash
# No cleartext password is left anywhere under the sandbox directory (databases, slapd.log,
# configuration) after a run of allowed and denied resets. Run with ppolicy, which hashes
# cleartext written by Modify and Add (ppolicy_hash_cleartext); the exop hashes by itself.
. "$(cd "$(dirname "$0")/.." && pwd)/lib.sh"

sandbox_up --ppolicy

ALICE=$RG_USER_DN CAROL="uid=carol,ou=people,$RG_BASE" BOB=$RG_PRIV_USER_DN
used=()
agent_passwd() { ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" "$@"; }
remember() { used+=("$1"); }

# allowed: exop self-service
p1=$(newpw); remember "$p1"
check "exop self-service reset" agent_passwd -e "$(ctl "$(token --sub "$ALICE" --ial 2 --amr hwk)")" -s "$p1" "$ALICE"
# allowed: exop self-change
p2=$(newpw); remember "$p2"
check "exop self-change" ldappasswd -x -H "$RG_URI" -D "$ALICE" -w "$p1" -a "$p1" -s "$p2"
# allowed: exop delegated
p3=$(newpw); remember "$p3"
check "exop delegated reset" ldappasswd -x -H "$RG_URI" -D "$RG_HELPDESK_DN" -w "$RG_HELPDESK_PW" \
	-e "$(ctl "$(token --sub "$CAROL" --ial 1 --amr pwd --approver "$RG_APPROVER_DN" --reason T-7)")" -s "$p3" "$CAROL"
# allowed: exop server-generated
_run agent_passwd -e "$(ctl "$(token --sub "$ALICE" --ial 2 --amr face)")" "$ALICE"
gen=$(printf '%s\n' "$T_OUT" | sed -n 's/^New password: //p')
check "exop with a server-generated password returns one" test -n "$gen"
remember "$gen"
check "  it binds" binds "$ALICE" "$gen"
# allowed: break-glass
p4=$(newpw); remember "$p4"
check "exop break-glass reset" ldappasswd -x -H "$RG_URI" -D "$RG_BREAKGLASS_DN" -w "$RG_BREAKGLASS_PW" -s "$p4" "$BOB"
# allowed: Modify replace, hashed by ppolicy
p5=$(newpw); remember "$p5"
check "Modify replace self-service reset" modify_pw "$RG_AGENT_DN" "$RG_AGENT_PW" "$ALICE" replace "$p5" \
	-e "$(ctl "$(token --sub "$ALICE" --ial 2 --amr hwk)")"
# allowed: Modify delete-old + add-new self-change
p6=$(newpw); remember "$p6"
check "Modify self-change" self_change_modify "$ALICE" "$p5" "$p6"
# allowed: Add (provisioning)
p7=$(newpw); remember "$p7"
check "Add with userPassword (provisioning)" as_admin -a <<EOF
dn: uid=gina,ou=people,$RG_BASE
objectClass: inetOrgPerson
uid: gina
cn: gina
sn: Test
userPassword: $p7
EOF
check "  gina binds" binds "uid=gina,ou=people,$RG_BASE" "$p7"
# denied ones
for what in exop modify; do
	d=$(newpw); remember "$d"
	if [ $what = exop ]; then
		check_result "denied exop reset" 50 evidence-missing agent_passwd -s "$d" "$ALICE"
	else
		check_result "denied Modify reset" 19 level-insufficient modify_pw "$RG_AGENT_DN" "$RG_AGENT_PW" \
			"$ALICE" replace "$d" -e "$(ctl "$(token --sub "$ALICE" --ial 1 --amr hwk)")"
	fi
done
d=$(newpw); remember "$d"
check_result "password refused by ppolicy history" 19 - self_change_modify "$ALICE" "$p6" "$p5"

# ---- the search ----
sandbox_down
check "the sandbox holds databases and a log" test -s "$RG_DIR/db/data.mdb" -a -s "$RG_DIR/logdb/data.mdb" -a -s "$RG_DIR/slapd.log"
check "the log recorded resetguard's decisions" grep -q "resetguard: self-service .*allowed" "$RG_DIR/slapd.log"
check "grep finds a cleartext secret that is there (the sandbox's own env file)" \
	grep -rqaF -- "$RG_AGENT_PW" "$RG_DIR"
for i in "${!used[@]}"; do
	_run grep -rlaF -- "${used[$i]}" "$RG_DIR"
	if [ "$T_RC" -eq 1 ]; then
		_pass "new password #$((i + 1)) appears nowhere under the sandbox directory"
	else
		_fail "new password #$((i + 1)) appears nowhere under the sandbox directory" \
			"found in these files (exit status $T_RC)"
	fi
done

finish
