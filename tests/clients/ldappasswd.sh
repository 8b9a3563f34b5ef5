#!/bin/bash
# A reset with the proofing control, by ldappasswd (ldap-utils): the
# Password Modify operation. The 2.5 tools take the value of a control
# they do not know in base64 after -e OID=; "!" marks it critical.
# -y and -T read the passwords from files (here from the environment,
# through bash's process substitution).
OID=2.25.30299494411348485370983023088693649332.3.1
ldappasswd -x -H "$LDAP_URI" -D "$BIND_DN" -y <(printf %s "$BIND_PW") \
    -e '!'"$OID=$(printf %s "$TOKEN" | base64 -w0)" \
    -T <(printf %s "$NEW_PW") "$TARGET_DN"
