rgldif 05-access.ldif | ldapmodify -Q -Y EXTERNAL -H "$LDAPI"
rgldif 06-policy.ldif | ldapadd -x -H "$LDAPI" -D "$ROOTDN" $ROOTAUTH
ldapadd -x -H "$LDAPI" -D "$ROOTDN" $ROOTAUTH <<EOF
dn: cn=syncd,ou=services,$SUFFIX
objectClass: applicationProcess
objectClass: simpleSecurityObject
cn: syncd
userPassword: $(slappasswd -h '{SSHA}' -T "$SYNCDIR/syncd.pw")
EOF
