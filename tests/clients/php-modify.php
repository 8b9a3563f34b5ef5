<?php
// A reset with the proofing control, by PHP's ldap extension (php-ldap):
// a Modify of userPassword with ldap_mod_replace_ext(), which takes
// request controls. slapd stores the value as sent: send a hash (as
// here), or prefer Password Modify (php-exop.php), which slapd hashes
// and resetguard can seal for resetguard-syncd.
const PROOFING_OID = '2.25.30299494411348485370983023088693649332.3.1';

$salt = random_bytes(8);
$hash = '{SSHA}'
    . base64_encode(sha1(getenv('NEW_PW') . $salt, true) . $salt);
$proofing = ['oid' => PROOFING_OID, 'iscritical' => true,
    'value' => getenv('TOKEN')];

$ld = ldap_connect(getenv('LDAP_URI'));
ldap_set_option($ld, LDAP_OPT_PROTOCOL_VERSION, 3);
if (!ldap_bind($ld, getenv('BIND_DN'), getenv('BIND_PW'))) {
    exit(2);
}
$result = ldap_mod_replace_ext($ld, getenv('TARGET_DN'),
    ['userPassword' => $hash], [$proofing]);
if ($result === false
    || !ldap_parse_result($ld, $result, $code, $matched, $diag)) {
    fwrite(STDERR, 'ldap_mod_replace_ext: ' . ldap_error($ld) . "\n");
    exit(1);
}
if ($code !== 0) {
    fwrite(STDERR, ldap_err2str($code) . " ($code): $diag\n");
    exit(1);
}
echo "password set\n";
