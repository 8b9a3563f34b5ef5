#!/bin/bash
# The risk rules of a policy against Debian's slapd with ppolicy: the proofing service's risk
# score, step-up above a threshold, unknown risk, refused network and device facts, and the
# account's recent activity (failed binds and a lockout recorded by ppolicy, a reset minutes
# ago, a changed recovery attribute). Each rule allows below its limit and refuses above it
# with its own rule name.
. "$(cd "$(dirname "$0")/.." && pwd)/lib.sh"

sandbox_up --ppolicy

P=$RG_POLICY_DN
declare -A pw

# policy OP ATTR [VALUE...]: replace, add or delete the attribute of the default policy.
policy() {
	local op=$1 attr=$2 v
	shift 2
	{
		printf 'dn: %s\nchangetype: modify\n%s: %s\n' "$P" "$op" "$attr"
		for v in "$@"; do printf '%s: %s\n' "$attr" "$v"; done
	} | as_admin >/dev/null
}

# person NAME: a new account uid=NAME, provisioned by the rootdn.
person() {
	pw[$1]=$(newpw)
	printf 'dn: uid=%s,ou=people,%s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: %s\nmail: %s@example.com\nuserPassword: %s\n' \
		"$1" "$RG_BASE" "$1" "$1" "$1" "$1" "${pw[$1]}" | as_admin -a >/dev/null
}

dn() { printf 'uid=%s,ou=people,%s' "$1" "$RG_BASE"; }

# reset_cmd NAME NEWPW TOKEN-ARGS...: a self-service reset of NAME to NEWPW by the portal
# with a token made of TOKEN-ARGS (plus --sub).
reset_cmd() {
	local name=$1 new=$2 tok
	shift 2
	tok=$(token --sub "$(dn "$name")" "$@")
	ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" -e "$(ctl "$tok")" \
		-s "$new" "$(dn "$name")"
}
allowed() { # NAME CHECK-NAME TOKEN-ARGS...
	local name=$1 what=$2 new
	shift 2
	new=$(newpw)
	check "$what" reset_cmd "$name" "$new" "$@"
	[ "$T_RC" -eq 0 ] && pw[$name]=$new
}
# A refusal leaves the password and rgResetCount as they were (read as the rootdn: a bind
# attempt would itself be activity, and a locked account cannot bind).
pwhash() {
	ldapsearch -x -H "$RG_URI" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" -LLL -o ldif-wrap=no \
		-b "$(dn "$1")" -s base '(objectClass=*)' userPassword | sed -n 's/^userPassword:: //p'
}
refused() { # NAME CHECK-NAME RULE TOKEN-ARGS...
	local name=$1 what=$2 rule=$3 count hash
	shift 3
	count=$(opattr "$(dn "$name")" rgResetCount)
	hash=$(pwhash "$name")
	[ -n "$hash" ] || hash="(no userPassword read)"
	check_result "$what" 19 "$rule" reset_cmd "$name" "$(newpw)" "$@"
	check_eq "  and the password and rgResetCount are unchanged" "$hash $count" \
		"$(pwhash "$name") $(opattr "$(dn "$name")" rgResetCount)"
}
fail_bind() { ldapwhoami -x -H "$RG_URI" -D "$(dn "$1")" -w "wrong-$(openssl rand -hex 4)" >/dev/null 2>&1; }

for u in ann ben cy dee eve fay gus; do person "$u"; done
check_eq "no account has rgRecoveryChangeTime before resetguard-recovery-attr is set" "" \
	"$(ldapsearch -x -H "$RG_URI" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" -LLL -b "ou=people,$RG_BASE" \
		'(rgRecoveryChangeTime=*)' 1.1)"

# ---- risk score: rgRiskMax ----
policy replace rgRiskMax "self-service 60" "privileged 20"
allowed ann "risk 60 with rgRiskMax self-service 60 is allowed" --ial 2 --amr hwk --risk-score 60
refused ann "risk 61 is refused" risk-too-high --ial 2 --amr hwk --risk-score 61
allowed ann "a level alone counts as the top of its band: medium (66) is refused" --ial 2 --amr hwk --risk-level low
refused ann "  and medium (66) is refused" risk-too-high --ial 2 --amr hwk --risk-level medium
allowed ann "a token without risk is allowed (rgRiskUnknown defaults to allow)" --ial 2 --amr hwk

# ---- unknown risk: rgRiskUnknown ----
policy replace rgRiskUnknown deny
refused ben "rgRiskUnknown deny refuses a token without risk" risk-unknown --ial 2 --amr hwk
allowed ben "  and allows one that states it" --ial 2 --amr hwk --risk-score 10
policy replace rgRiskUnknown step-up
refused ben "rgRiskUnknown step-up refuses a token without risk at IAL2 by face" risk-step-up-required --ial 2 --amr face
allowed ben "  and allows it at IAL3" --ial 3 --amr face
policy delete rgRiskUnknown
policy delete rgRiskMax

# ---- step-up: rgRiskStepUp ----
policy replace rgRiskStepUp "40 3"
allowed cy "risk 40 under rgRiskStepUp 40 3 needs no step-up" --ial 2 --amr face --risk-score 40
refused cy "risk 41 at IAL2 by face is refused" risk-step-up-required --ial 2 --amr face --risk-score 41
allowed cy "  at IAL3 it is allowed" --ial 3 --amr face --risk-score 41
allowed cy "  and by a step-up method (hwk) too" --ial 2 --amr hwk --risk-score 41
policy delete rgRiskStepUp

# ---- facts: rgRiskRefuse ----
policy replace rgRiskRefuse anonymizer unmanaged-device country:KP
allowed dee "no anonymizer, a managed device, from FR: allowed" --ial 2 --amr hwk --anonymizer no --device-managed yes --country FR
refused dee "through an anonymizer: refused" risk-anonymizer --ial 2 --amr hwk --anonymizer yes --device-managed yes --country FR
refused dee "from an unmanaged device: refused" risk-unmanaged-device --ial 2 --amr hwk --anonymizer no --device-managed no --country FR
refused dee "from a refused country: refused" risk-country --ial 2 --amr hwk --anonymizer no --device-managed yes --country KP
policy replace rgRiskRefuse unknown-network unknown-device
refused dee "from an unknown network: refused" risk-unknown-network --ial 2 --amr hwk --network-known no --device-known yes
refused dee "from an unknown device: refused" risk-unknown-device --ial 2 --amr hwk --network-known yes --device-known no
allowed dee "from a known network and device: allowed" --ial 2 --amr hwk --network-known yes --device-known yes
policy delete rgRiskRefuse

# ---- a reset minutes ago: rgMinResetInterval ----
allowed eve "eve's first self-service reset is allowed" --ial 2 --amr hwk
policy replace rgMinResetInterval "self-service 600"
refused eve "a second one within rgMinResetInterval 600 is refused" recent-reset --ial 2 --amr hwk
check "  a delegated reset is not limited by a self-service rule" \
	ldappasswd -x -H "$RG_URI" -D "$RG_HELPDESK_DN" -w "$RG_HELPDESK_PW" \
	-e "$(ctl "$(token --sub "$(dn eve)" --ial 1 --amr pwd --approver "$RG_APPROVER_DN" --reason INC-7)")" \
	-s "$(newpw)" "$(dn eve)"
policy replace rgMinResetInterval "self-service 1"
sleep 1.1
allowed eve "  with an interval of 1 second, a reset a second later is allowed" --ial 2 --amr hwk
policy delete rgMinResetInterval

# ---- recovery attributes: resetguard-recovery-attr, rgRecoveryChangeMinAge ----
check "resetguard-recovery-attr mail is accepted in cn=config" cfg_modify <<LDIF
dn: $(rg_cfg_dn)
changetype: modify
add: olcRgRecoveryAttr
olcRgRecoveryAttr: mail
LDIF
check_eq "  and reads back" mail "$(cfg_get olcRgRecoveryAttr)"
_run cfg_modify <<LDIF
dn: $(rg_cfg_dn)
changetype: modify
add: olcRgRecoveryAttr
olcRgRecoveryAttr: noSuchAttribute
LDIF
check_eq "  an undefined attribute is refused" 1 "$([ "$T_RC" -ne 0 ] && echo 1)"
policy replace rgRecoveryChangeMinAge "self-service 3600"
allowed fay "a reset of an account whose mail never changed is allowed" --ial 2 --amr hwk
check_eq "  fay has no rgRecoveryChangeTime" "" "$(opattr "$(dn fay)" rgRecoveryChangeTime)"
printf 'dn: %s\nchangetype: modify\nreplace: description\ndescription: x\n' "$(dn fay)" | as_admin >/dev/null
check_eq "  a change of another attribute records nothing" "" "$(opattr "$(dn fay)" rgRecoveryChangeTime)"
printf 'dn: %s\nchangetype: modify\nreplace: mail\nmail: attacker@example.net\n' "$(dn fay)" | as_admin >/dev/null
check "  a change of mail records rgRecoveryChangeTime" test -n "$(opattr "$(dn fay)" rgRecoveryChangeTime)"
refused fay "a reset within an hour of the mail change is refused" recovery-changed --ial 2 --amr hwk
check_result "rgRecoveryChangeTime cannot be written by a client" 19 - as_admin <<LDIF
dn: $(dn fay)
changetype: modify
replace: rgRecoveryChangeTime
rgRecoveryChangeTime: 20000101000000Z
LDIF
policy replace rgRecoveryChangeMinAge "delegated 3600"
allowed fay "  once the rule names another kind, the reset is allowed" --ial 2 --amr hwk
policy delete rgRecoveryChangeMinAge
person hal
check "a ModRDN to a new mail RDN is allowed" ldapmodrdn -x -H "$RG_URI" -D "$RG_ADMIN_DN" \
	-w "$RG_ADMIN_PW" "$(dn hal)" "mail=hal2@example.com"
check "  and records rgRecoveryChangeTime: the RDN added a mail value" test -n \
	"$(opattr "mail=hal2@example.com,ou=people,$RG_BASE" rgRecoveryChangeTime)"
check "olcRgRecoveryAttr can be deleted at run time" cfg_modify <<LDIF
dn: $(rg_cfg_dn)
changetype: modify
delete: olcRgRecoveryAttr
olcRgRecoveryAttr: mail
LDIF
printf 'dn: %s\nchangetype: modify\nreplace: mail\nmail: other@example.net\n' "$(dn ann)" | as_admin >/dev/null
check_eq "  and a change of mail then records nothing" "" "$(opattr "$(dn ann)" rgRecoveryChangeTime)"

# ---- failed binds and lockout recorded by ppolicy ----
printf 'dn: cn=passwords,ou=policies,%s\nchangetype: modify\nreplace: pwdLockout\npwdLockout: TRUE\n-\nreplace: pwdMaxFailure\npwdMaxFailure: 4\n-\nreplace: pwdLockoutDuration\npwdLockoutDuration: 600\n' \
	"$RG_BASE" | as_admin >/dev/null
policy replace rgFailedBindLimit "self-service 2 3600"
fail_bind gus
check_eq "ppolicy recorded gus's failed bind" 1 "$(opattr "$(dn gus)" pwdFailureTime | wc -l)"
allowed gus "one failed bind, below rgFailedBindLimit 2: allowed" --ial 2 --amr hwk
fail_bind gus
fail_bind gus
check_eq "  two more failed binds are recorded" 2 "$(opattr "$(dn gus)" pwdFailureTime | wc -l)"
refused gus "  two failed binds within the hour: refused" recent-failed-binds --ial 2 --amr hwk
policy delete rgFailedBindLimit
policy replace rgLockoutRefuse "self-service 86400"
allowed gus "an account that is not locked may be reset under rgLockoutRefuse" --ial 2 --amr hwk
for _ in 1 2 3 4; do fail_bind gus; done
check "ppolicy locked gus (pwdAccountLockedTime)" test -n "$(opattr "$(dn gus)" pwdAccountLockedTime)"
refused gus "  a self-service reset of the locked account is refused" account-locked --ial 2 --amr hwk
check "  a delegated reset by the help desk is still allowed" \
	ldappasswd -x -H "$RG_URI" -D "$RG_HELPDESK_DN" -w "$RG_HELPDESK_PW" \
	-e "$(ctl "$(token --sub "$(dn gus)" --ial 1 --amr pwd --approver "$RG_APPROVER_DN" --reason INC-8)")" \
	-s "$(newpw)" "$(dn gus)"
check_eq "  and ppolicy's lock is gone with it" "" "$(opattr "$(dn gus)" pwdAccountLockedTime)"
allowed gus "  so self-service is allowed again" --ial 2 --amr hwk

# The denials are in the reset log under their rule names.
check "the reset log holds a record of each risk rule" bash -c '
	rules=$(ldapsearch -x -H "$1" -D "$2" -w "$3" -LLL -o ldif-wrap=no -b cn=resetlog \
		"(rgLogDecision=denied)" rgLogRule | sed -n "s/^rgLogRule: //p" | sort -u)
	for r in risk-too-high risk-unknown risk-step-up-required risk-anonymizer \
		risk-unmanaged-device risk-country risk-unknown-network risk-unknown-device \
		recent-reset recovery-changed recent-failed-binds account-locked; do
		grep -qx "$r" <<<"$rules" || { echo "no denied record with rule $r"; exit 1; }
	done' _ "$RG_URI" "$RG_AUDITOR_DN" "$RG_AUDITOR_PW"

finish
