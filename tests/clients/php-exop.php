<?php
// A reset with the proofing control, by PHP's ldap extension (php-ldap):
// the Password Modify operation through ldap_exop(), its request value
// BER-encoded here, since ldap_exop_passwd() cannot send a request
// control.
const PROOFING_OID = '2.25.30299494411348485370983023088693649332.3.1';

function ber(int $tag, string $content): string
{
    $n = strlen($content);
    $len = $n < 0x80 ? chr($n)
        : ($n < 0x100 ? "\x81" . chr($n) : "\x82" . pack('n', $n));
    return chr($tag) . $len . $content;
}

// PasswdModifyRequestValue ::= SEQUENCE {
//     userIdentity [0] OCTET STRING, newPasswd [2] OCTET STRING }
$request = ber(0x30, ber(0x80, getenv('TARGET_DN'))
    . ber(0x82, getenv('NEW_PW')));
$proofing = ['oid' => PROOFING_OID, 'iscritical' => true,
    'value' => getenv('TOKEN')];

$ld = ldap_connect(getenv('LDAP_URI'));
ldap_set_option($ld, LDAP_OPT_PROTOCOL_VERSION, 3);
if (!ldap_bind($ld, getenv('BIND_DN'), getenv('BIND_PW'))) {
    exit(2);
}
$result = ldap_exop($ld, LDAP_EXOP_MODIFY_PASSWD, $request, [$proofing]);
if ($result === false
    || !ldap_parse_result($ld, $result, $code, $matched, $diag)) {
    fwrite(STDERR, 'ldap_exop: ' . ldap_error($ld) . "\n");
    exit(1);
}
if ($code !== 0) {
    // ldap_error() names the result; the rule is in the diagnostic.
    fwrite(STDERR, ldap_err2str($code) . " ($code): $diag\n");
    exit(1);
}
echo "password set\n";
