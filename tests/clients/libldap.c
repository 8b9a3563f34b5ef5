/* A reset with the proofing control, by libldap (libldap-dev): the
 * Password Modify operation. cc -o reset libldap.c -lldap -llber */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldap.h>

#define PROOFING_OID "2.25.30299494411348485370983023088693649332.3.1"

static struct berval
bv(const char *s)
{
    struct berval b = { strlen(s), (char *)s };
    return b;
}

int
main(void)
{
    struct berval cred = bv(getenv("BIND_PW"));
    struct berval user = bv(getenv("TARGET_DN"));
    struct berval newpw = bv(getenv("NEW_PW")), generated = { 0, NULL };
    /* the value is the token's bytes; 1 marks the control critical */
    LDAPControl proofing = { PROOFING_OID, bv(getenv("TOKEN")), 1 };
    LDAPControl *sctrls[] = { &proofing, NULL };
    int version = LDAP_VERSION3, rc;
    char *diag = NULL;
    LDAP *ld;

    if (ldap_initialize(&ld, getenv("LDAP_URI")) != LDAP_SUCCESS)
        return 2;
    ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
    rc = ldap_sasl_bind_s(ld, getenv("BIND_DN"), LDAP_SASL_SIMPLE, &cred,
        NULL, NULL, NULL);
    if (rc == LDAP_SUCCESS)
        rc = ldap_passwd_s(ld, &user, NULL, &newpw, &generated, sctrls,
            NULL);
    if (rc != LDAP_SUCCESS) {
        /* the code names the class, the diagnostic message the rule */
        ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
        fprintf(stderr, "%s (%d): %s\n", ldap_err2string(rc), rc,
            diag ? diag : "");
        ldap_memfree(diag);
    } else {
        puts("password set");
    }
    ber_memfree(generated.bv_val);
    ldap_unbind_ext_s(ld, NULL, NULL);
    return rc == LDAP_SUCCESS ? 0 : 1;
}
