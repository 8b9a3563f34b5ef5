#!/bin/bash
# Proof of possession against Debian's slapd (GnuTLS) over StartTLS on loopback: a proofing
# token bound by cnf to the reset agent's certificate A is accepted over a connection
# authenticated with A, and refused over one with certificate B, with no client certificate
# or without TLS at all; rgRequireBoundEvidence refuses unbound tokens.
. "$(cd "$(dirname "$0")/.." && pwd)/lib.sh"

sandbox_up

tls=$RG_DIR/tls
mkdir -p "$tls"
# A CA, the server's certificate for 127.0.0.1, and two client certificates A and B.
make_certs() {
	local n
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
		-subj /CN=resetguard-test-ca -keyout "$tls/ca.key" -out "$tls/ca.pem" || return
	for n in server a b; do
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-subj "/CN=$n" -keyout "$tls/$n.key" -out "$tls/$n.csr" || return
	done
	printf 'subjectAltName=IP:127.0.0.1\n' > "$tls/server.ext"
	printf 'extendedKeyUsage=clientAuth\n' > "$tls/client.ext"
	openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
		-CAcreateserial -days 1 -extfile "$tls/server.ext" -out "$tls/server.pem" || return
	for n in a b; do
		openssl x509 -req -in "$tls/$n.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
			-CAcreateserial -days 1 -extfile "$tls/client.ext" -out "$tls/$n.pem" || return
	done
}
check "test certificates: a CA, the server, clients A and B" make_certs
check "slapd takes the TLS settings (client certificates optional)" cfg_modify <<LDIF
dn: cn=config
changetype: modify
replace: olcTLSCACertificateFile
olcTLSCACertificateFile: $tls/ca.pem
-
replace: olcTLSCertificateFile
olcTLSCertificateFile: $tls/server.pem
-
replace: olcTLSCertificateKeyFile
olcTLSCertificateKeyFile: $tls/server.key
-
replace: olcTLSVerifyClient
olcTLSVerifyClient: try
LDIF

ALICE=$RG_USER_DN
export LDAPTLS_CACERT=$tls/ca.pem LDAPTLS_REQCERT=demand

# as CERT ARGS...: ldappasswd by the portal over StartTLS with client certificate CERT (a, b),
# over StartTLS without one (none), or without TLS (plain).
as() {
	local cert=$1
	shift
	case "$cert" in
	plain) ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" "$@" ;;
	none) ldappasswd -ZZ -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" "$@" ;;
	*) LDAPTLS_CERT=$tls/$cert.pem LDAPTLS_KEY=$tls/$cert.key \
		ldappasswd -ZZ -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" "$@" ;;
	esac
}
bound() { token --sub "$ALICE" --ial 2 --amr hwk --cnf-cert "$tls/$1.pem"; }
bearer() { token --sub "$ALICE" --ial 2 --amr hwk; }

x5t_a=$(openssl x509 -in "$tls/a.pem" -outform DER | openssl dgst -sha256 -binary | base64 -w0 | tr '+/' '-_' | tr -d '=')
check_eq "resetguard-token --cnf-cert puts A's x5t#S256 in the token" "$x5t_a" \
	"$(bound a | cut -d. -f2 | tr '_-' '/+' | base64 -d 2>/dev/null | sed -n 's/.*"x5t#S256":"\([^"]*\)".*/\1/p')"

tok=$(bound a)
check_result "a token bound to A is refused over client certificate B" 50 possession-mismatch \
	as b -e "$(ctl "$tok")" -s "$(newpw)" "$ALICE"
check_result "  and over TLS without a client certificate" 50 possession-mismatch \
	as none -e "$(ctl "$tok")" -s "$(newpw)" "$ALICE"
check_eq "  which the denial text says" 1 "$([[ $T_OUT == *"presented none"* ]] && echo 1)"
check_result "  and without TLS" 50 possession-mismatch \
	as plain -e "$(ctl "$tok")" -s "$(newpw)" "$ALICE"
check_eq "  none of them changed alice's password" "" "$(opattr "$ALICE" rgResetCount)"
new=$(newpw)
check "  and is accepted over client certificate A" as a -e "$(ctl "$tok")" -s "$new" "$ALICE"
check "  the new password binds" binds "$ALICE" "$new"
check_eq "a refused bound token raises an alert in its record" TRUE "$(ldapsearch -x -H "$RG_URI" \
	-D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" -LLL -o ldif-wrap=no -b cn=resetlog \
	'(&(rgLogRule=possession-mismatch)(rgLogTarget='"$ALICE"'))' rgLogAlert |
	sed -n 's/^rgLogAlert: //p' | sort -u)"
check "a token bound to B is accepted over B" as b -e "$(ctl "$(bound b)")" -s "$(newpw)" "$ALICE"

check "a bearer token is accepted while the policy does not require binding" \
	as a -e "$(ctl "$(bearer)")" -s "$(newpw)" "$ALICE"
printf 'dn: %s\nchangetype: modify\nreplace: rgRequireBoundEvidence\nrgRequireBoundEvidence: TRUE\n' \
	"$RG_POLICY_DN" | as_admin >/dev/null
check_result "under rgRequireBoundEvidence TRUE a bearer token is refused, even over A" 50 \
	possession-required as a -e "$(ctl "$(bearer)")" -s "$(newpw)" "$ALICE"
check "  and a token bound to A is accepted over A" as a -e "$(ctl "$(bound a)")" -s "$(newpw)" "$ALICE"
check_result "  but not over B" 50 possession-mismatch \
	as b -e "$(ctl "$(bound a)")" -s "$(newpw)" "$ALICE"

finish
