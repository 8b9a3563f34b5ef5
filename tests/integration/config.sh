#!/bin/bash
# Configuration: cn=config changes at run time (issuers, default policy, per-entry policy,
# rootdn mode, clock skew, reset log), invalid values refused with a message, the same
# behaviour from slapd.conf, and slaptest naming the file and line of a bad directive.
. "$(cd "$(dirname "$0")/.." && pwd)/lib.sh"

sandbox_up

ALICE=$RG_USER_DN CAROL="uid=carol,ou=people,$RG_BASE"
declare -A pw=([$ALICE]=$RG_USER_PW [$CAROL]=$RG_USER_PW) count=([$ALICE]='' [$CAROL]='')
CFG=$(rg_cfg_dn)
check_eq "the overlay's cn=config entry is where the sandbox puts it" \
	"olcOverlay={0}resetguard,olcDatabase={2}mdb,cn=config" "$CFG"

# reset_ok NAME DN TOKEN-ARGS...: the agent resets DN with a token minted from TOKEN-ARGS
# (default key and issuer unless given); must succeed and the new password must bind.
reset_ok() {
	local name=$1 dn=$2 new tok
	shift 2
	new=$(newpw)
	tok=$(token --sub "$dn" "$@")
	check "$name" ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" \
		-e "$(ctl "$tok")" -s "$new" "$dn"
	if binds "$dn" "$new" >/dev/null 2>&1; then
		pw[$dn]=$new
		count[$dn]=$((${count[$dn]:-0} + 1))
	fi
}
# reset_denied NAME CODE RULE DN TOKEN-ARGS...: the same, denied; then nothing changed.
reset_denied() {
	local name=$1 code=$2 rule=$3 dn=$4 new tok
	shift 4
	new=$(newpw)
	tok=$(token --sub "$dn" "$@")
	check_result "$name" "$code" "$rule" ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" \
		-w "$RG_AGENT_PW" -e "$(ctl "$tok")" -s "$new" "$dn"
	denied_out=$T_OUT
	check "  old password still binds, new does not, count unchanged" \
		unchanged "$dn" "${pw[$dn]}" "$new" "${count[$dn]}"
}
# cfg NAME LDIF-CHANGES: modify the overlay's cn=config entry; must succeed.
cfg() {
	check "$1" cfg_modify <<<"dn: $CFG
changetype: modify
$2"
}
# cfg_refused NAME LDIF-CHANGES MESSAGE: the change fails and its output contains MESSAGE.
cfg_refused() {
	_run cfg_modify <<<"dn: $CFG
changetype: modify
$2"
	if [ "$T_RC" -eq 0 ]; then
		_fail "$1" "the change was accepted"
	elif [[ "$T_OUT" != *"$3"* ]]; then
		_fail "$1" "refused (exit status $T_RC) but the message lacks \"$3\""
	else
		_pass "$1"
	fi
}

reset_ok "baseline: a self-service reset is allowed" "$ALICE" --ial 2 --amr hwk

# ---- issuers ----
SECOND=https://second.example.com
(umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	-out "$RG_DIR/keys/second.key" 2>/dev/null)
openssl pkey -in "$RG_DIR/keys/second.key" -pubout -out "$RG_DIR/keys/second.pem" 2>/dev/null
reset_denied "a token of a not yet configured issuer is denied" 50 evidence-unknown-issuer "$ALICE" \
	--key "$RG_DIR/keys/second.key" --iss "$SECOND" --ial 2 --amr hwk
cfg "a second issuer can be added at run time" "add: olcRgIssuer
olcRgIssuer: $SECOND $RG_DIR/keys/second.pem"
reset_ok "  its tokens are then accepted" "$ALICE" --key "$RG_DIR/keys/second.key" --iss "$SECOND" --ial 2 --amr hwk

cfg "the first issuer can be removed at run time" "delete: olcRgIssuer
olcRgIssuer: $RG_ISSUER $RG_ISSUER_PUB"
check_eq "  only the second issuer is left in cn=config" "$SECOND $RG_DIR/keys/second.pem" "$(cfg_get olcRgIssuer)"
reset_denied "  a valid token of the removed issuer is denied" 50 evidence-unknown-issuer "$ALICE" --ial 2 --amr hwk
reset_ok "  the second issuer's tokens are still accepted" "$ALICE" \
	--key "$RG_DIR/keys/second.key" --iss "$SECOND" --ial 2 --amr hwk
cfg "the first issuer can be added back" "add: olcRgIssuer
olcRgIssuer: $RG_ISSUER $RG_ISSUER_PUB"
reset_ok "  its tokens are accepted again" "$ALICE" --ial 2 --amr hwk

cfg_refused "an issuer with a missing key file is refused" "add: olcRgIssuer
olcRgIssuer: https://third.example.com $RG_DIR/keys/missing.pem" "cannot read public key"
cfg_refused "an issuer given a private key is refused" "add: olcRgIssuer
olcRgIssuer: https://third.example.com $RG_DIR/keys/second.key" "PUBLIC KEY"
cfg_refused "a duplicate issuer name is refused" "add: olcRgIssuer
olcRgIssuer: $SECOND $RG_ISSUER_PUB" "already configured"
check_eq "  cn=config still lists exactly the two issuers" 2 "$(cfg_get olcRgIssuer | wc -l)"

# ---- default policy ----
check "a self-change-only policy can be added by the rootdn" as_admin -a <<EOF
dn: cn=self-change-only,ou=policies,$RG_BASE
objectClass: rgPolicy
cn: self-change-only
rgAllowedKind: self-change
rgResetAgent: $RG_AGENT_DN
rgBreakGlass: $RG_BREAKGLASS_DN
EOF
cfg "olcRgDefaultPolicy can point at it" "replace: olcRgDefaultPolicy
olcRgDefaultPolicy: cn=self-change-only,ou=policies,$RG_BASE"
reset_denied "  an agent reset with a good token is denied" 50 kind-not-allowed "$ALICE" --ial 3 --amr hwk,face
new=$(newpw)
check_result "  a break-glass reset is denied" 50 kind-not-allowed \
	ldappasswd -x -H "$RG_URI" -D "$RG_BREAKGLASS_DN" -w "$RG_BREAKGLASS_PW" -s "$new" "$ALICE"
check "  old password still binds, new does not, count unchanged" unchanged "$ALICE" "${pw[$ALICE]}" "$new" "${count[$ALICE]}"
new=$(newpw)
check "  a self-change with the old password is allowed" \
	ldappasswd -x -H "$RG_URI" -D "$ALICE" -w "${pw[$ALICE]}" -a "${pw[$ALICE]}" -s "$new"
pw[$ALICE]=$new count[$ALICE]=$((count[$ALICE] + 1))
check "  the new password binds" binds "$ALICE" "$new"
cfg "olcRgDefaultPolicy can be set back" "replace: olcRgDefaultPolicy
olcRgDefaultPolicy: $RG_POLICY_DN"
reset_ok "  agent resets are allowed again" "$ALICE" --ial 2 --amr hwk

cfg "olcRgDefaultPolicy can point at a missing entry" "replace: olcRgDefaultPolicy
olcRgDefaultPolicy: cn=missing,ou=policies,$RG_BASE"
reset_denied "  then every reset is denied: no-policy" 53 no-policy "$ALICE" --ial 2 --amr hwk
cfg "olcRgDefaultPolicy can be deleted" "delete: olcRgDefaultPolicy"
reset_denied "  without any policy a reset is denied: no-policy" 53 no-policy "$ALICE" --ial 2 --amr hwk
cfg "  and set back" "add: olcRgDefaultPolicy
olcRgDefaultPolicy: $RG_POLICY_DN"
reset_ok "  agent resets are allowed again" "$ALICE" --ial 2 --amr hwk

# ---- per-entry policy ----
check "a stricter policy (self-service IAL3) can be added" as_admin -a <<EOF
dn: cn=strict,ou=policies,$RG_BASE
objectClass: rgPolicy
cn: strict
rgResetAgent: $RG_AGENT_DN
rgSelfServiceMinIAL: 3
EOF
check "carol gets rgPolicySubentry pointing at it" as_admin <<EOF
dn: $CAROL
changetype: modify
add: rgPolicySubentry
rgPolicySubentry: cn=strict,ou=policies,$RG_BASE
EOF
reset_denied "  an IAL2 token is denied for carol" 19 level-insufficient "$CAROL" --ial 2 --amr hwk
check "  the denial names the strict policy" grep -q "policy cn=strict,ou=policies,$RG_BASE requires" <<<"$denied_out"
reset_ok "  an IAL2 token is still fine for alice" "$ALICE" --ial 2 --amr hwk
reset_ok "  an IAL3 token is fine for carol" "$CAROL" --ial 3 --amr otp
check "carol's rgPolicySubentry can point at a missing policy" as_admin <<EOF
dn: $CAROL
changetype: modify
replace: rgPolicySubentry
rgPolicySubentry: cn=gone,ou=policies,$RG_BASE
EOF
reset_denied "  then carol's reset is denied: no-policy" 53 no-policy "$CAROL" --ial 3 --amr hwk
check "  the denial names the missing policy" grep -q "cn=gone,ou=policies,$RG_BASE does not exist" <<<"$denied_out"
check "a user cannot change her own rgPolicySubentry" bash -c '! ldapmodify -x -H "$1" -D "$2" -w "$3" >/dev/null 2>&1' _ \
	"$RG_URI" "$CAROL" "${pw[$CAROL]}" <<EOF
dn: $CAROL
changetype: modify
replace: rgPolicySubentry
rgPolicySubentry: $RG_POLICY_DN
EOF

# ---- rootdn mode ----
cfg "olcRgRootDN can be set to exempt at run time" "replace: olcRgRootDN
olcRgRootDN: exempt"
new=$(newpw)
check "  the rootdn resets without evidence" \
	ldappasswd -x -H "$RG_URI" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" -s "$new" "$ALICE"
check "  the new password binds" binds "$ALICE" "$new"
pw[$ALICE]=$new count[$ALICE]=$((count[$ALICE] + 1))
check_eq "  the exempt change is still recorded (rgResetCount)" "${count[$ALICE]}" "$(opattr "$ALICE" rgResetCount)"
check_eq "  and flagged for review (rgReviewRequired)" TRUE "$(opattr "$ALICE" rgReviewRequired)"
# Bulk provisioning by an exempt rootdn must not flood the review queue: a new account has
# no holder whose reset could need review.
bulkuid=bulk$RANDOM newacct="uid=$bulkuid,ou=people,$RG_BASE"
check "  the rootdn adds an account with a password" as_admin -a <<EOF
dn: $newacct
objectClass: inetOrgPerson
uid: $bulkuid
cn: Bulk
sn: Bulk
userPassword: $(newpw)
EOF
check_eq "  a new account is not marked for review" "" "$(opattr "$newacct" rgReviewRequired)"
check_eq "  but its change is counted" 1 "$(opattr "$newacct" rgResetCount)"
cfg "olcRgRootDN can be set back to governed" "replace: olcRgRootDN
olcRgRootDN: governed"
new=$(newpw)
check_result "  the rootdn reset without evidence is denied again" 50 evidence-missing \
	ldappasswd -x -H "$RG_URI" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" -s "$new" "$ALICE"
check "  old password still binds, new does not, count unchanged" unchanged "$ALICE" "${pw[$ALICE]}" "$new" "${count[$ALICE]}"

# ---- clock skew ----
cfg "olcRgClockSkew can be set to 0" "replace: olcRgClockSkew
olcRgClockSkew: 0"
reset_denied "  a token issued 15s ahead is then not yet valid" 50 evidence-not-yet-valid "$ALICE" \
	--ial 2 --amr hwk --iat $(($(date +%s) + 15))
cfg "olcRgClockSkew can be set to 60" "replace: olcRgClockSkew
olcRgClockSkew: 60"
reset_ok "  a token issued 45s ahead is then accepted" "$ALICE" --ial 2 --amr hwk --iat $(($(date +%s) + 45))

# ---- invalid values ----
cfg_refused "olcRgClockSkew: abc is refused" "replace: olcRgClockSkew
olcRgClockSkew: abc" "olcRgClockSkew"
cfg_refused "olcRgClockSkew: 99999 is refused" "replace: olcRgClockSkew
olcRgClockSkew: 99999" "is not a number of seconds"
cfg_refused "olcRgClockSkew: -1 is refused" "replace: olcRgClockSkew
olcRgClockSkew: -1" "is not a number of seconds"
check_eq "  olcRgClockSkew is still 60" 60 "$(cfg_get olcRgClockSkew)"
cfg_refused "olcRgRootDN: maybe is refused" "replace: olcRgRootDN
olcRgRootDN: maybe" "neither governed nor exempt"
check_eq "  olcRgRootDN is still governed" governed "$(cfg_get olcRgRootDN)"
cfg_refused "olcRgLogPurge: a zero age is refused" "replace: olcRgLogPurge
olcRgLogPurge: 00:00 01:00" "is not [dd+]hh:mm[:ss]"
cfg_refused "olcRgLogPurge: 24 hours as hh is refused" "replace: olcRgLogPurge
olcRgLogPurge: 01:00 24:00" "is not [dd+]hh:mm[:ss]"
check_eq "  olcRgLogPurge is still unset" "" "$(cfg_get olcRgLogPurge)"
cfg_refused "olcRgDefaultPolicy: not a DN is refused" "replace: olcRgDefaultPolicy
olcRgDefaultPolicy: not a dn" "olcRgDefaultPolicy"
check_eq "  olcRgDefaultPolicy is unchanged" "$RG_POLICY_DN" "$(cfg_get olcRgDefaultPolicy)"

# ---- reset log ----
# Checked only when the database opens: a value set at run time is used at once, and a log
# that cannot be written makes every allowed change fail closed.
cfg "olcRgLog can point at a database that does not exist" "replace: olcRgLog
olcRgLog: cn=nowhere"
used=$(opattr "$ALICE" rgUsedToken | grep -c .)
reset_denied "  then a reset with a good token fails closed: log-failed" 53 log-failed "$ALICE" --ial 2 --amr hwk
check "  the denial names the log" grep -q "cn=nowhere" <<<"$denied_out"
check_eq "  the token is not recorded as used on alice (rgUsedToken)" "$used" "$(opattr "$ALICE" rgUsedToken | grep -c .)"
cfg "olcRgLog can be set back" "replace: olcRgLog
olcRgLog: $RG_LOG_BASE"
reset_ok "  resets work again" "$ALICE" --ial 2 --amr hwk
check_eq "alice's rgResetCount counts exactly the recorded resets" "${count[$ALICE]}" "$(opattr "$ALICE" rgResetCount)"

# ---- cn=config survives a restart ----
check "slapd restarts with the changed cn=config" bash "$RG_TOP/scripts/sandbox" restart "$RG_DIR"
check_eq "  both issuers are still configured" 2 "$(cfg_get olcRgIssuer | wc -l)"
check_eq "  olcRgClockSkew is still 60" 60 "$(cfg_get olcRgClockSkew)"
reset_ok "  the second issuer's tokens are accepted" "$ALICE" \
	--key "$RG_DIR/keys/second.key" --iss "$SECOND" --ial 2 --amr hwk
sandbox_down

# ---- slapd.conf ----
sandbox_up --slapd-conf
ALICE=$RG_USER_DN
pw=([$ALICE]=$RG_USER_PW) count=([$ALICE]='')
check_eq "the second sandbox runs from slapd.conf" slapd.conf "$RG_CONFIG_MODE"
reset_denied "slapd.conf: a reset with an IAL1 token is denied" 19 level-insufficient "$ALICE" --ial 1 --amr hwk
reset_denied "slapd.conf: a token of an unknown issuer is denied" 50 evidence-unknown-issuer "$ALICE" \
	--iss https://other.example.com --ial 2 --amr hwk
reset_ok "slapd.conf: a self-service reset is allowed" "$ALICE" --ial 2 --amr hwk
check_eq "  rgResetCount is 1" 1 "$(opattr "$ALICE" rgResetCount)"
check_eq "  rgLastResetKind is self-service" self-service "$(opattr "$ALICE" rgLastResetKind)"
new=$(newpw)
check_result "slapd.conf: the rootdn is governed" 50 evidence-missing \
	ldappasswd -x -H "$RG_URI" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" -s "$new" "$ALICE"
check "  old password still binds, new does not, count unchanged" unchanged "$ALICE" "${pw[$ALICE]}" "$new" 1

check "slaptest -u accepts the sandbox's slapd.conf" slaptest -f "$RG_DIR/slapd.conf" -u
# slaptest_bad NAME DIRECTIVE MESSAGE: a copy of slapd.conf with DIRECTIVE appended fails
# slaptest, and the output names the file, the line and MESSAGE.
slaptest_bad() {
	local f=$RG_DIR/bad-$RANDOM.conf line
	cp "$RG_DIR/slapd.conf" "$f"
	printf '%s\n' "$2" >>"$f"
	line=$(wc -l <"$f")
	_run slaptest -f "$f" -u
	if [ "$T_RC" -eq 0 ]; then
		_fail "$1" "slaptest accepted: $2"
	elif [[ "$T_OUT" != *"$f: line $line"* ]]; then
		_fail "$1" "slaptest failed but does not name \"$f: line $line\""
	elif [[ "$T_OUT" != *"$3"* ]]; then
		_fail "$1" "slaptest failed but the message lacks \"$3\""
	else
		_pass "$1"
	fi
}
slaptest_bad "slaptest: resetguard-rootdn sometimes fails naming file and line" \
	"resetguard-rootdn sometimes" "neither governed nor exempt"
slaptest_bad "slaptest: resetguard-clock-skew abc fails naming file and line" \
	"resetguard-clock-skew abc" "resetguard-clock-skew"
slaptest_bad "slaptest: resetguard-issuer with a missing file fails naming file and line" \
	"resetguard-issuer https://x.example.com $RG_DIR/nope.pem" "cannot read public key"
slaptest_bad "slaptest: resetguard-issuer with one argument fails naming file and line" \
	"resetguard-issuer https://x.example.com" "resetguard-issuer"

finish
