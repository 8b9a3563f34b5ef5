cat >"$SYNCDIR/syncd.conf" <<EOF
log-uri $LDAPI
log-base cn=resetlog
bind-dn cn=syncd,ou=services,$SUFFIX
bind-password-file $SYNCDIR/syncd.pw
key-file $SYNCDIR/syncd.key
cert-file $SYNCDIR/syncd.crt
log syslog
EOF
