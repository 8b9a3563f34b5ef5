/* Sealing a new password to syncd: CMS AuthEnvelopedData (AES-256-GCM) for the recipient
 * certificate, so that only the holder of syncd's private key can read it. */
#ifndef RG_SEAL_H
#define RG_SEAL_H

#include <stddef.h>
#include <openssl/x509.h>

/* Loads a PEM certificate with an EC or RSA key that can be a CMS recipient. */
X509 *rg_seal_load_cert(const char *path, char *err, size_t errlen);
/* *der is OPENSSL_malloc'd DER. Returns 0 on success. */
int rg_seal(X509 *recipient, const unsigned char *secret, size_t len, unsigned char **der,
	size_t *derlen, char *err, size_t errlen);
/* *secret is OPENSSL_secure_malloc'd when available (free with rg_unseal_free). */
int rg_unseal(EVP_PKEY *key, X509 *cert, const unsigned char *der, size_t derlen,
	unsigned char **secret, size_t *len, char *err, size_t errlen);
void rg_unseal_free(unsigned char *secret, size_t len);

#endif
