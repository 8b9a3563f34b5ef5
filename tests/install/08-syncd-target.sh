# the store's password, typed, then Ctrl-D
(umask 077 && cat >"$SYNCDIR/legacy.pw")
chown _resetguard: "$SYNCDIR/legacy.pw"
cat >>"$SYNCDIR/syncd.conf" <<EOF

target legacy {
    type ldap
    uri ldaps://legacy.example.com
    bind-dn cn=resetguard,dc=legacy,dc=example
    bind-password-file $SYNCDIR/legacy.pw
    map-template uid=%r,ou=users,dc=legacy,dc=example
    method passmod
}
EOF
