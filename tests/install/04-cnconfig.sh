rgldif 01-modules.ldif | ldapmodify -Q -Y EXTERNAL -H "$LDAPI"
ldapadd -Q -Y EXTERNAL -H "$LDAPI" -f /etc/ldap/schema/resetguard.ldif
install -d -o openldap -g openldap -m 700 "$LOGDIR"
rgldif 02-logdb.ldif | ldapadd -Q -Y EXTERNAL -H "$LDAPI"
LOGDATABASE=$(ldapsearch -Q -LLL -o ldif-wrap=no -Y EXTERNAL -H "$LDAPI" \
    -b cn=config '(olcSuffix=cn=resetlog)' dn | sed -n 's/^dn: //p')
rgldif 03-logdb-overlays.ldif | ldapadd -Q -Y EXTERNAL -H "$LDAPI"
rgldif 04-logroot.ldif | ldapadd -Q -Y EXTERNAL -H "$LDAPI"
