/* Proof of possession: the x5t#S256 (RFC 8705) of the TLS client certificate of the connection
 * that presents a proofing token, for the cnf claim the token may be bound with. */
#include "resetguard.h"

#include <openssl/evp.h>

#include "b64url.h"

/* Exported by libldap 2.5 (and used by slapd for ldap_pvt_tls_get_peer_dn's siblings) but
 * declared only in tls2.c: the DER of the peer's certificate, LDAP_MALLOC'd. */
LDAP_F(int) ldap_pvt_tls_get_peercert(void *s, struct berval *der);

void
rg_possession_read(Operation *op, struct rg_peer *peer)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	struct berval der = BER_BVNULL;
	char *x5t = NULL;
	void *session;

	memset(peer, 0, sizeof(*peer));
	/* An internal operation has no connection, and so no certificate to be bound to. */
	if (op->o_conn == NULL || op->o_conn->c_sb == NULL)
		return;
	session = ldap_pvt_tls_sb_ctx(op->o_conn->c_sb);
	if (session == NULL)
		return;
	/* -1: TLS without a client certificate. */
	if (ldap_pvt_tls_get_peercert(session, &der) != 0 || der.bv_val == NULL)
		return;
	if (EVP_Digest(der.bv_val, der.bv_len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
		mdlen != 32 || (x5t = rg_b64url_encode(md, mdlen)) == NULL ||
		strlen(x5t) != RG_X5T_LEN) {
		peer->unknown = 1;
		goto out;
	}
	memcpy(peer->x5t, x5t, RG_X5T_LEN + 1);
	peer->present = 1;
out:
	free(x5t);
	ber_memfree(der.bv_val);
}

void
rg_possession_to_request(const struct rg_peer *peer, struct rg_request *req)
{
	req->peer_x5t = peer->present ? peer->x5t : NULL;
	req->peer_unknown = peer->unknown;
}
