(umask 077 && openssl genpkey -algorithm EC \
    -pkeyopt ec_paramgen_curve:P-256 -out issuer.key)
openssl pkey -in issuer.key -pubout -out "$KEYDIR/issuer.pem"
(umask 077 && openssl req -x509 -newkey ec \
    -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj /CN=resetguard-syncd -days 3650 \
    -keyout "$SYNCDIR/syncd.key" -out "$SYNCDIR/syncd.crt")
chmod 644 "$SYNCDIR/syncd.crt"
cp "$SYNCDIR/syncd.crt" "$KEYDIR/syncd.crt"
(umask 077 && openssl rand -base64 24 | tr -d '\n' >"$SYNCDIR/syncd.pw")
chown _resetguard: "$SYNCDIR/syncd.key" "$SYNCDIR/syncd.pw"
