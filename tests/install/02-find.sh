DATABASE=$(ldapsearch -Q -LLL -o ldif-wrap=no -Y EXTERNAL -H "$LDAPI" \
    -b cn=config "(olcSuffix=$SUFFIX)" dn | sed -n 's/^dn: //p')
ROOTDN=$(ldapsearch -Q -LLL -o ldif-wrap=no -Y EXTERNAL -H "$LDAPI" \
    -b "$DATABASE" -s base olcRootDN | sed -n 's/^olcRootDN: //p')
echo "database $DATABASE, rootdn $ROOTDN"
rgldif() {
    sed -e "s|@SUFFIX@|$SUFFIX|g" -e "s|@DATABASE@|$DATABASE|g" \
        -e "s|@LOGDATABASE@|${LOGDATABASE:-}|g" \
        -e "s|@LOGDIR@|$LOGDIR|g" -e "s|@KEYDIR@|$KEYDIR|g" \
        -e "s|@ISSUER@|$ISSUER|g" "/usr/share/resetguard/$1"
}
