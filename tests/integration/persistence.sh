#!/bin/bash
# Single use of proofing tokens: a used token is recorded on the account itself, as a value
# of the operational attribute rgUsedToken that the same Modify adds with the password. The
# value survives a restart, is not written for a denied change nor for one the backend
# refuses, lets exactly one of several concurrent uses through, is removed by the account's
# next allowed change once the token has expired, and cannot be written by clients.
. "$(cd "$(dirname "$0")/.." && pwd)/lib.sh"

sandbox_up

ALICE=$RG_USER_DN CAROL="uid=carol,ou=people,$RG_BASE"
alice_pw=$RG_USER_PW

# used_tokens DN: the rgUsedToken values of DN, one a line, read as the rootdn with "+".
used_tokens() {
	ldapsearch -x -H "$RG_URI" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" -LLL -o ldif-wrap=no \
		-b "$1" -s base '(objectClass=*)' '+' 2>/dev/null | sed -n 's/^rgUsedToken: //Ip'
}
used_count() { used_tokens "$1" | grep -c .; }
# token_id ISS JTI: the id resetguard records, sha256 of iss NUL jti in hex.
token_id() { printf '%s\0%s' "$1" "$2" | sha256sum | cut -d' ' -f1; }
# used_expiry DN ID: the expiry recorded with the value of token ID on DN ("" if none).
used_expiry() { used_tokens "$1" | awk -v id="$2" '$1 == id { print $2 }'; }
has_used() { used_tokens "$1" | awk -v id="$2" '$1 == id { n++ } END { print n + 0 }'; }
gentime() { date -u -d "@$1" +%Y%m%d%H%M%SZ; }
entry_csn() { opattr "$1" entryCSN; }
# The DNs in the log database other than its root and its records, read with slapcat (the
# log database admits no one over LDAP who could see everything).
log_strays() {
	slapcat -F "$RG_DIR/slapd.d" -b "$RG_LOG_BASE" -o ldif-wrap=no 2>/dev/null |
		sed -n 's/^dn: //p' | grep -Eiv "^(rgLogChangeNumber=[0-9]+,)?$RG_LOG_BASE\$"
}
agent_passwd() { ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" "$@"; }

check_eq "alice starts with no rgUsedToken" 0 "$(used_count "$ALICE")"

# ---- a used token is recorded on its account ----
now=$(date +%s)
jti=persist-$(openssl rand -hex 6)
tok=$(token --sub "$ALICE" --ial 2 --amr hwk --jti "$jti" --iat "$now" --ttl 300)
new=$(newpw)
check "a self-service reset with a fresh token is allowed" agent_passwd -e "$(ctl "$tok")" -s "$new" "$ALICE"
alice_pw=$new
id=$(token_id "$RG_ISSUER" "$jti")
check_eq "  alice now has one rgUsedToken value" 1 "$(used_count "$ALICE")"
check_eq "  its id is the hex SHA-256 of iss NUL jti" 1 "$(has_used "$ALICE" "$id")"
check_eq "  its expiry is the token's exp plus the 30s clock skew" \
	"$(gentime $((now + 330)))" "$(used_expiry "$ALICE" "$id")"
check "  the value is 64 hex digits, a space and a generalizedTime" \
	grep -Eqx '[0-9a-f]{64} [0-9]{14}Z' <<<"$(used_tokens "$ALICE")"
check_eq "  asked for by name, rgUsedToken gives the same value" "$(used_tokens "$ALICE")" \
	"$(opattr "$ALICE" rgUsedToken)"
check_eq "  alice's entry holds no token contents (no jti in clear)" 0 \
	"$(ldapsearch -x -H "$RG_URI" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" -LLL -o ldif-wrap=no \
		-b "$ALICE" -s base '(objectClass=*)' '*' '+' | grep -c "$jti")"
check_eq "  carol, whom the token does not name, has no rgUsedToken" 0 "$(used_count "$CAROL")"
check_eq "  nothing is written elsewhere: the log database holds only its root and records" "" \
	"$(log_strays)"

# ---- a replay is refused before the backend ----
csn=$(entry_csn "$ALICE")
new=$(newpw)
check_result "the same token again is evidence-replayed" 50 evidence-replayed \
	agent_passwd -e "$(ctl "$tok")" -s "$new" "$ALICE"
check "  old password still binds, new does not, count unchanged" unchanged "$ALICE" "$alice_pw" "$new" 1
check_eq "  alice's entry was not written (entryCSN unchanged)" "$csn" "$(entry_csn "$ALICE")"

# ---- a restart keeps it ----
check "slapd restarts" bash "$RG_TOP/scripts/sandbox" restart "$RG_DIR"
check_eq "  alice's rgUsedToken value is still there" 1 "$(has_used "$ALICE" "$id")"
new=$(newpw)
check_result "after the restart the same token is evidence-replayed" 50 evidence-replayed \
	agent_passwd -e "$(ctl "$tok")" -s "$new" "$ALICE"
check "  old password still binds, new does not, count unchanged" unchanged "$ALICE" "$alice_pw" "$new" 1
check_result "  also on another path (Modify replace)" 50 evidence-replayed \
	modify_pw "$RG_AGENT_DN" "$RG_AGENT_PW" "$ALICE" replace "$new" -e "$(ctl "$tok")"
check "  old password still binds, new does not, count unchanged" unchanged "$ALICE" "$alice_pw" "$new" 1

# ---- a denied change consumes nothing ----
before=$(used_count "$ALICE") csn=$(entry_csn "$ALICE")
jti2=denied-$(openssl rand -hex 6)
weak=$(token --sub "$ALICE" --ial 1 --amr hwk --jti "$jti2")
check_result "a denied reset (level-insufficient)" 19 level-insufficient \
	agent_passwd -e "$(ctl "$weak")" -s "$(newpw)" "$ALICE"
check_eq "  adds no rgUsedToken value" "$before" "$(used_count "$ALICE")"
check_eq "  nor writes alice's entry at all (entryCSN unchanged)" "$csn" "$(entry_csn "$ALICE")"
check "  and the same jti in a good token is then accepted" \
	agent_passwd -e "$(ctl "$(token --sub "$ALICE" --ial 2 --amr hwk --jti "$jti2")")" -s "$(newpw)" "$ALICE"
check_eq "  which adds its value" $((before + 1)) "$(used_count "$ALICE")"
check_eq "  under the id of that jti" 1 "$(has_used "$ALICE" "$(token_id "$RG_ISSUER" "$jti2")")"
alice_pw=$(newpw)
check "  (alice is reset again for the next checks)" agent_passwd \
	-e "$(ctl "$(token --sub "$ALICE" --ial 2 --amr hwk)")" -s "$alice_pw" "$ALICE"
alice_n=$(opattr "$ALICE" rgResetCount)

# ---- a change the backend refuses adds nothing ----
jti3=refused-$(openssl rand -hex 6)
tok3=$(token --sub "$ALICE" --ial 1 --amr pwd --jti "$jti3" --approver "$RG_APPROVER_DN" --reason T-9)
id3=$(token_id "$RG_ISSUER" "$jti3")
new=$(newpw)
before=$(used_count "$ALICE")
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
check_eq "  adds no rgUsedToken value" "$before" "$(used_count "$ALICE")"
check_eq "  none for its token" 0 "$(has_used "$ALICE" "$id3")"
check "  the token can then be used" modify_pw "$RG_ADMIN_DN" "$RG_ADMIN_PW" "$ALICE" replace "$new" -e "$(ctl "$tok3")"
check "  the new password binds" binds "$ALICE" "$new"
alice_pw=$new alice_n=$((alice_n + 1))
check_eq "  its value now exists" 1 "$(has_used "$ALICE" "$id3")"
check_result "  and it is then replayed" 50 evidence-replayed \
	modify_pw "$RG_ADMIN_DN" "$RG_ADMIN_PW" "$ALICE" replace "$(newpw)" -e "$(ctl "$tok3")"

# ---- concurrent uses ----
# race NAME CMD: runs CMD I PW 8 times at once (the runs start together once all are ready,
# so that several reach the backend before the first has written); sets R_OK (the
# successful runs' numbers), R_50 (how many failed with LDAP 50) and R_TEXT (how many
# outputs carry the rule text).
race() {
	local tmp=$RG_DIR/race-$1 i
	shift
	rm -rf "$tmp"
	mkdir -p "$tmp"
	for i in 1 2 3 4 5 6 7 8; do
		printf 'Race-%s-%s' "$i" "$(openssl rand -hex 6)" >"$tmp/$i.pw"
		(until [ -e "$tmp/go" ]; do sleep 0.005; done
			"$@" "$i" "$(cat "$tmp/$i.pw")" >"$tmp/$i.out" 2>&1
			echo $? >"$tmp/$i.rc") &
	done
	sleep 0.3
	touch "$tmp/go"
	wait
	R_DIR=$tmp
	R_OK=$(grep -lx 0 "$tmp"/*.rc | sed 's,.*/,,; s,\.rc$,,' | xargs)
	R_50=$(grep -Elx '50|1' "$tmp"/*.rc | sed 's,\.rc$,.out,' | xargs -r grep -lE '(Result: |ldap_modify: ).*\(50\)$' | wc -l)
	R_TEXT=$(grep -l 'resetguard rule evidence-replayed)' "$tmp"/*.out | wc -l)
	# Refused before the backend, the text names the jti; refused by the backend (colliding
	# rgUsedToken values), it does not.
	printf '# losers: %s refused before the backend, %s by the backend, %s with no text\n' \
		"$(grep -l 'info: proofing token [^ ]* from .* was already used' "$tmp"/*.out | wc -l)" \
		"$(grep -l 'info: proofing token was already used' "$tmp"/*.out | wc -l)" \
		"$((R_50 - R_TEXT))"
}
# losers_bind DN: prints which of the losing passwords of the last race bind (none should).
losers_bind() {
	local i
	for i in 1 2 3 4 5 6 7 8; do
		[ "$i" = "$R_OK" ] && continue
		binds "$1" "$(cat "$R_DIR/$i.pw")" >/dev/null 2>&1 && echo "Race-$i binds"
	done
	return 0
}
exop_as_agent() { agent_passwd -e "$(ctl "$R_TOKEN")" -s "$2" "$R_DN"; }
modify_as_agent() {
	modify_pw "$RG_AGENT_DN" "$RG_AGENT_PW" "$R_DN" replace "$2" -e "$(ctl "$R_TOKEN")"
}

R_DN=$CAROL R_TOKEN=$(token --sub "$CAROL" --ial 2 --amr hwk)
race exop exop_as_agent
check_eq "8 concurrent Password Modify uses of one token: exactly one succeeds" 1 "$(wc -w <<<"$R_OK")"
check_eq "  the 7 others fail with insufficientAccess (50)" 7 "$R_50"
check_eq "  each with the text (resetguard rule evidence-replayed)" 7 "$R_TEXT"
check "  carol's password is the winner's" binds "$CAROL" "$(cat "$R_DIR/${R_OK%% *}.pw")"
check_eq "  no loser's password binds" "" "$(losers_bind "$CAROL")"
check_eq "  carol's rgResetCount is 1" 1 "$(opattr "$CAROL" rgResetCount)"
check_eq "  carol has exactly one rgUsedToken value" 1 "$(used_count "$CAROL")"
carol_pw=$(cat "$R_DIR/${R_OK%% *}.pw")
raced=$R_TOKEN

R_TOKEN=$(token --sub "$CAROL" --ial 2 --amr face)
race modify modify_as_agent
check_eq "8 concurrent Modify uses of one token: exactly one succeeds" 1 "$(wc -w <<<"$R_OK")"
check_eq "  the 7 others fail with insufficientAccess (50)" 7 "$R_50"
check_eq "  each with the text (resetguard rule evidence-replayed)" 7 "$R_TEXT"
check "  carol's password is the winner's" binds "$CAROL" "$(cat "$R_DIR/${R_OK%% *}.pw")"
check_eq "  no loser's password binds" "" "$(losers_bind "$CAROL")"
check_eq "  carol's rgResetCount is 2" 2 "$(opattr "$CAROL" rgResetCount)"
check_eq "  carol has exactly two rgUsedToken values" 2 "$(used_count "$CAROL")"
carol_pw=$(cat "$R_DIR/${R_OK%% *}.pw")

# ---- after another restart ----
alice_used=$(used_tokens "$ALICE" | sort) carol_used=$(used_tokens "$CAROL" | sort)
check "slapd restarts again" bash "$RG_TOP/scripts/sandbox" restart "$RG_DIR"
check_eq "  alice's rgUsedToken values are all still there" "$alice_used" "$(used_tokens "$ALICE" | sort)"
check_eq "  carol's too" "$carol_used" "$(used_tokens "$CAROL" | sort)"
check_result "  the raced token is still replayed" 50 evidence-replayed \
	agent_passwd -e "$(ctl "$raced")" -s "$(newpw)" "$CAROL"
new=$(newpw)
check "  a fresh token works" agent_passwd -e "$(ctl "$(token --sub "$ALICE" --ial 2 --amr face)")" -s "$new" "$ALICE"
check "  the new password binds" binds "$ALICE" "$new"
alice_pw=$new
check_eq "  alice's rgResetCount survived and counts on" $((alice_n + 1)) "$(opattr "$ALICE" rgResetCount)"

# ---- values of expired tokens are removed by the account's next allowed change ----
# Tokens issued 320s ago with a ttl of 300: still valid for 10s with the 30s clock skew, and
# their values expire at exp + 30s, 10s from now.
now=$(date +%s)
jti5=short-$(openssl rand -hex 6) jti6=short-$(openssl rand -hex 6)
tok5=$(token --sub "$ALICE" --ial 2 --amr hwk --jti "$jti5" --iat $((now - 320)) --ttl 300)
tok6=$(token --sub "$CAROL" --ial 2 --amr hwk --jti "$jti6" --iat $((now - 320)) --ttl 300)
id5=$(token_id "$RG_ISSUER" "$jti5") id6=$(token_id "$RG_ISSUER" "$jti6")
new=$(newpw)
check "a reset of alice with a token valid for another 10s is allowed" \
	agent_passwd -e "$(ctl "$tok5")" -s "$new" "$ALICE"
alice_pw=$new
check_eq "  its value expires at exp + 30s" "$(gentime $((now + 10)))" "$(used_expiry "$ALICE" "$id5")"
new=$(newpw)
check "a reset of carol with another such token is allowed" \
	agent_passwd -e "$(ctl "$tok6")" -s "$new" "$CAROL"
carol_pw=$new
check_eq "  its value expires at exp + 30s" "$(gentime $((now + 10)))" "$(used_expiry "$CAROL" "$id6")"
alice_used=$(used_tokens "$ALICE" | sort) carol_used=$(used_tokens "$CAROL" | sort)
while [ "$(date +%s)" -le $((now + 10)) ]; do sleep 0.5; done
check_eq "once expired, alice's value stays until a change removes it" 1 "$(has_used "$ALICE" "$id5")"
csn=$(entry_csn "$ALICE")
check_result "  a denied change (level-insufficient)" 19 level-insufficient \
	agent_passwd -e "$(ctl "$(token --sub "$ALICE" --ial 1 --amr hwk)")" -s "$(newpw)" "$ALICE"
check_result "  and the expired token itself (evidence-expired)" 50 evidence-expired \
	agent_passwd -e "$(ctl "$tok5")" -s "$(newpw)" "$ALICE"
check_eq "  write nothing (entryCSN unchanged)" "$csn" "$(entry_csn "$ALICE")"
check_eq "  so the expired value is still there" 1 "$(has_used "$ALICE" "$id5")"
new=$(newpw)
check "alice's self-change (no token) is allowed" \
	ldappasswd -x -H "$RG_URI" -D "$ALICE" -w "$alice_pw" -a "$alice_pw" -s "$new"
alice_pw=$new
check_eq "  it removed the expired value" 0 "$(has_used "$ALICE" "$id5")"
check_eq "  kept the unexpired ones and added none" "$(grep -v "^$id5 " <<<"$alice_used")" \
	"$(used_tokens "$ALICE" | sort)"
check_eq "  carol's expired value is untouched by alice's change" 1 "$(has_used "$CAROL" "$id6")"
jti7=fresh-$(openssl rand -hex 6)
new=$(newpw)
check "a reset of carol with a fresh token is allowed" \
	agent_passwd -e "$(ctl "$(token --sub "$CAROL" --ial 2 --amr hwk --jti "$jti7")")" -s "$new" "$CAROL"
carol_pw=$new
check_eq "  it removed carol's expired value" 0 "$(has_used "$CAROL" "$id6")"
check_eq "  kept the unexpired ones and added its own" \
	"$(printf '%s\n' "$(grep -v "^$id6 " <<<"$carol_used")" \
		"$(token_id "$RG_ISSUER" "$jti7") $(used_expiry "$CAROL" "$(token_id "$RG_ISSUER" "$jti7")")" | sort)" \
	"$(used_tokens "$CAROL" | sort)"
check_result "the removed tokens are refused as expired (alice)" 50 evidence-expired \
	agent_passwd -e "$(ctl "$tok5")" -s "$(newpw)" "$ALICE"
check_result "  (carol)" 50 evidence-expired \
	agent_passwd -e "$(ctl "$tok6")" -s "$(newpw)" "$CAROL"
check "  alice's password is the one set last" binds "$ALICE" "$alice_pw"
check "  carol's password is the one set last" binds "$CAROL" "$carol_pw"

# ---- clients cannot write rgUsedToken ----
alice_used=$(used_tokens "$ALICE" | sort)
fake="$(printf '%064d' 0) 20991231235959Z"
for relax in "-e relax" ""; do
	for op in add replace delete; do
		check_result "rootdn Modify ($op) of rgUsedToken ${relax:+with relax }is refused (19)" 19 - \
			as_admin $relax <<EOF
dn: $ALICE
changetype: modify
$op: rgUsedToken
$([ "$op" = delete ] || echo "rgUsedToken: $fake")
EOF
		check "  the message names rgUsedToken" grep -q rgUsedToken <<<"$T_OUT"
	done
done
check_eq "  alice's rgUsedToken values are unchanged" "$alice_used" "$(used_tokens "$ALICE" | sort)"
FRANK="uid=frank,ou=people,$RG_BASE"
check_result "rootdn Add of an entry carrying rgUsedToken with relax is refused (19)" 19 - \
	as_admin -a -e relax <<EOF
dn: $FRANK
objectClass: inetOrgPerson
uid: frank
cn: frank
sn: Test
rgUsedToken: $fake
EOF
check_eq "  the entry does not exist" "" "$(opattr "$FRANK" uid)"
check_result "alice cannot remove her own rgUsedToken values" 19 - \
	ldapmodify -x -H "$RG_URI" -D "$ALICE" -w "$alice_pw" <<EOF
dn: $ALICE
changetype: modify
delete: rgUsedToken
EOF
check_eq "  they are unchanged" "$alice_used" "$(used_tokens "$ALICE" | sort)"

finish
