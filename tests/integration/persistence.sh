#!/bin/bash
# Single use of proofing tokens: the consumed id is an entry under the nonce base that
# survives a restart, is not written for a denied change, is released when the backend
# refuses an allowed change, and lets exactly one of several concurrent uses through.
. "$(cd "$(dirname "$0")/.." && pwd)/lib.sh"

sandbox_up

ALICE=$RG_USER_DN CAROL="uid=carol,ou=people,$RG_BASE"
alice_pw=$RG_USER_PW

# The nonce entries as LDIF, read with slapcat (the log database admits no one over LDAP);
# only the entries below the nonce base (slapcat -s crashes in slapd 2.5.13's slap_tool_init).
nonces() {
	slapcat -F "$RG_DIR/slapd.d" -b "$RG_NONCE_BASE" -o ldif-wrap=no 2>/dev/null |
		awk -v base=",$(printf %s "$RG_NONCE_BASE" | tr A-Z a-z)" '
			/^dn: / { dn = tolower($0); keep = length(dn) > length(base) &&
				substr(dn, length(dn) - length(base) + 1) == base }
			keep'
}
nonce_count() { nonces | grep -c '^dn: rgNonceId='; }
# nonce_id ISS JTI: the RDN value resetguard derives, sha256 of iss NUL jti in hex.
nonce_id() { printf '%s\0%s' "$1" "$2" | sha256sum | cut -d' ' -f1; }
# nonce_attr ID ATTR: ATTR of the nonce entry ID.
nonce_attr() {
	nonces | awk -v dn="dn: rgNonceId=$1,$RG_NONCE_BASE" -v a="$2: " '
		/^dn: / { on = tolower($0) == tolower(dn) }
		on && index($0, a) == 1 { print substr($0, length(a) + 1) }'
}
agent_passwd() { ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" "$@"; }

check_eq "the nonce container starts empty" 0 "$(nonce_count)"

# ---- a used token is recorded ----
now=$(date +%s)
jti=persist-$(openssl rand -hex 6)
tok=$(token --sub "$ALICE" --ial 2 --amr hwk --jti "$jti" --iat "$now" --ttl 300)
new=$(newpw)
check "a self-service reset with a fresh token is allowed" agent_passwd -e "$(ctl "$tok")" -s "$new" "$ALICE"
alice_pw=$new
id=$(nonce_id "$RG_ISSUER" "$jti")
check_eq "  its nonce entry exists under $RG_NONCE_BASE" 1 "$(nonces | grep -ci "^dn: rgNonceId=$id,")"
check_eq "  rgNonceExpires is the token's exp plus the 30s clock skew" \
	"$(date -u -d "@$((now + 330))" +%Y%m%d%H%M%SZ)" "$(nonce_attr "$id" rgNonceExpires)"
check_eq "  rgNonceTarget is alice" "$(printf %s "$ALICE")" "$(nonce_attr "$id" rgNonceTarget)"
check_eq "  the nonce entry keeps no token contents (no jti in clear)" 0 "$(nonces | grep -c "$jti")"

# ---- a restart keeps it ----
check "slapd restarts" bash "$RG_TOP/scripts/sandbox" restart "$RG_DIR"
new=$(newpw)
check_result "after the restart the same token is evidence-replayed" 50 evidence-replayed \
	agent_passwd -e "$(ctl "$tok")" -s "$new" "$ALICE"
check "  old password still binds, new does not, count unchanged" unchanged "$ALICE" "$alice_pw" "$new" 1
check_result "  also on another path (Modify replace)" 50 evidence-replayed \
	modify_pw "$RG_AGENT_DN" "$RG_AGENT_PW" "$ALICE" replace "$new" -e "$(ctl "$tok")"
check "  old password still binds, new does not, count unchanged" unchanged "$ALICE" "$alice_pw" "$new" 1

# ---- a denied change consumes nothing ----
before=$(nonce_count)
jti2=denied-$(openssl rand -hex 6)
weak=$(token --sub "$ALICE" --ial 1 --amr hwk --jti "$jti2")
check_result "a denied reset (level-insufficient)" 19 level-insufficient \
	agent_passwd -e "$(ctl "$weak")" -s "$(newpw)" "$ALICE"
check_eq "  writes no nonce entry" "$before" "$(nonce_count)"
check "  and the same jti in a good token is then accepted" \
	agent_passwd -e "$(ctl "$(token --sub "$ALICE" --ial 2 --amr hwk --jti "$jti2")")" -s "$(newpw)" "$ALICE"
check_eq "  which writes its nonce entry" $((before + 1)) "$(nonce_count)"
alice_pw=$(newpw)
check "  (alice is reset again for the next checks)" agent_passwd \
	-e "$(ctl "$(token --sub "$ALICE" --ial 2 --amr hwk)")" -s "$alice_pw" "$ALICE"
alice_n=$(opattr "$ALICE" rgResetCount)

# ---- a change the backend refuses releases the token ----
jti3=release-$(openssl rand -hex 6)
tok3=$(token --sub "$ALICE" --ial 1 --amr pwd --jti "$jti3" --approver "$RG_APPROVER_DN" --reason T-9)
new=$(newpw)
before=$(nonce_count)
# The rootdn (no ACLs) with a delegated token, so that the backend's refusal is the only one.
check_result "an allowed reset that the backend refuses (deleting a missing value)" 16 - \
	as_admin -e "$(ctl "$tok3")" <<EOF
dn: $ALICE
changetype: modify
replace: userPassword
userPassword: $new
-
delete: description
description: no-such-value
EOF
check "  old password still binds, new does not, count unchanged" unchanged "$ALICE" "$alice_pw" "$new" "$alice_n"
check_eq "  leaves no nonce entry behind" "$before" "$(nonce_count)"
check "  the token can then be used" modify_pw "$RG_ADMIN_DN" "$RG_ADMIN_PW" "$ALICE" replace "$new" -e "$(ctl "$tok3")"
check "  the new password binds" binds "$ALICE" "$new"
alice_pw=$new alice_n=$((alice_n + 1))
check_eq "  its nonce entry now exists" 1 "$(nonces | grep -ci "^dn: rgNonceId=$(nonce_id "$RG_ISSUER" "$jti3"),")"

# ---- concurrent uses ----
tok4=$(token --sub "$CAROL" --ial 2 --amr hwk)
tmp=$RG_DIR/race
mkdir -p "$tmp"
for i in 1 2 3 4 5 6 7 8; do
	(agent_passwd -e "$(ctl "$tok4")" -s "Race-$i-$(openssl rand -hex 6)" "$CAROL" >"$tmp/$i.out" 2>&1
		echo $? >"$tmp/$i.rc") &
done
wait
ok=$(cat "$tmp"/*.rc | grep -c '^0$')
replayed=$(grep -l 'resetguard rule evidence-replayed' "$tmp"/*.out | wc -l)
check_eq "8 concurrent uses of one token: exactly one succeeds" 1 "$ok"
check_eq "  the 7 others are evidence-replayed" 7 "$replayed"
check_eq "  carol's rgResetCount is 1" 1 "$(opattr "$CAROL" rgResetCount)"

# ---- after another restart ----
n=$(nonce_count)
check "slapd restarts again" bash "$RG_TOP/scripts/sandbox" restart "$RG_DIR"
check_eq "  every nonce entry is still there" "$n" "$(nonce_count)"
check_result "  the raced token is still replayed" 50 evidence-replayed \
	agent_passwd -e "$(ctl "$tok4")" -s "$(newpw)" "$CAROL"
new=$(newpw)
check "  a fresh token works" agent_passwd -e "$(ctl "$(token --sub "$ALICE" --ial 2 --amr face)")" -s "$new" "$ALICE"
check "  the new password binds" binds "$ALICE" "$new"
check_eq "  alice's rgResetCount survived and counts on" $((alice_n + 1)) "$(opattr "$ALICE" rgResetCount)"

# ---- expired ids are purged ----
# With no clock skew a token's id may go once the token has expired; the purge task runs
# when slapd starts and then every olcRgNoncePurge seconds.
check "olcRgClockSkew can be set to 0" cfg_modify <<EOF
dn: $(rg_cfg_dn)
changetype: modify
replace: olcRgClockSkew
olcRgClockSkew: 0
EOF
jti5=short-$(openssl rand -hex 6)
tok5=$(token --sub "$ALICE" --ial 2 --amr hwk --jti "$jti5" --ttl 2)
new=$(newpw)
check "a reset with a token that expires in 2s is allowed" agent_passwd -e "$(ctl "$tok5")" -s "$new" "$ALICE"
alice_pw=$new
id5=$(nonce_id "$RG_ISSUER" "$jti5")
check_eq "  its nonce entry exists" 1 "$(nonces | grep -ci "^dn: rgNonceId=$id5,")"
n=$(nonce_count)
sleep 3
check "slapd restarts once the token has expired" bash "$RG_TOP/scripts/sandbox" restart "$RG_DIR"
for _ in 1 2 3 4 5 6 7 8 9 10; do
	[ "$(nonces | grep -ci "^dn: rgNonceId=$id5,")" = 0 ] && break
	sleep 0.3
done
check_eq "  the expired token's nonce entry is purged" 0 "$(nonces | grep -ci "^dn: rgNonceId=$id5,")"
check_eq "  the unexpired ones stay" $((n - 1)) "$(nonce_count)"
check_result "  the purged token is refused as expired" 50 evidence-expired \
	agent_passwd -e "$(ctl "$tok5")" -s "$(newpw)" "$ALICE"
check_result "  a token used before the restart is still replayed" 50 evidence-replayed \
	agent_passwd -e "$(ctl "$tok")" -s "$(newpw)" "$ALICE"
check "  alice's password is the one set last" binds "$ALICE" "$alice_pw"

finish
