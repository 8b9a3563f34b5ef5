#include "seal.h"

#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

static void
openssl_error(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[160] = "";

	if (e != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(err, errlen, "%s%s%s", what, buf[0] ? ": " : "", buf);
	ERR_clear_error();
}

X509 *
rg_seal_load_cert(const char *path, char *err, size_t errlen)
{
	BIO *in = BIO_new_file(path, "r");
	X509 *cert = NULL;
	EVP_PKEY *key;

	if (in == NULL) {
		snprintf(err, errlen, "cannot open certificate %s", path);
		ERR_clear_error();
		return NULL;
	}
	cert = PEM_read_bio_X509(in, NULL, NULL, NULL);
	BIO_free(in);
	if (cert == NULL) {
		openssl_error(err, errlen, "no PEM certificate could be read");
		return NULL;
	}
	key = X509_get0_pubkey(cert);
	if (key == NULL || !(EVP_PKEY_is_a(key, "EC") || EVP_PKEY_is_a(key, "RSA"))) {
		snprintf(err, errlen, "certificate %s has neither an EC nor an RSA key: a CMS "
			"recipient needs one", path);
		X509_free(cert);
		return NULL;
	}
	return cert;
}

int
rg_seal(X509 *recipient, const unsigned char *secret, size_t len, unsigned char **der,
	size_t *derlen, char *err, size_t errlen)
{
	STACK_OF(X509) *certs = sk_X509_new_null();
	BIO *in = NULL, *out = NULL;
	CMS_ContentInfo *cms = NULL;
	BUF_MEM *mem;
	int rc = -1;

	*der = NULL;
	*derlen = 0;
	if (certs == NULL || !sk_X509_push(certs, recipient))
		goto out;
	if ((in = BIO_new_mem_buf(secret, (int)len)) == NULL)
		goto out;
	/* An AEAD cipher makes OpenSSL build AuthEnvelopedData: tampering is detected. */
	cms = CMS_encrypt(certs, in, EVP_aes_256_gcm(), CMS_BINARY);
	if (cms == NULL) {
		openssl_error(err, errlen, "cannot seal the password for syncd");
		goto out;
	}
	if ((out = BIO_new(BIO_s_mem())) == NULL || i2d_CMS_bio(out, cms) != 1) {
		openssl_error(err, errlen, "cannot encode the sealed password");
		goto out;
	}
	BIO_get_mem_ptr(out, &mem);
	if ((*der = OPENSSL_malloc(mem->length)) == NULL)
		goto out;
	memcpy(*der, mem->data, mem->length);
	*derlen = mem->length;
	rc = 0;
out:
	if (rc != 0 && err[0] == '\0')
		snprintf(err, errlen, "out of memory sealing the password");
	CMS_ContentInfo_free(cms);
	/* The input BIO only points at the caller's buffer, which the caller cleanses. */
	BIO_free(in);
	BIO_free(out);
	sk_X509_free(certs);
	return rc;
}

int
rg_unseal(EVP_PKEY *key, X509 *cert, const unsigned char *der, size_t derlen,
	unsigned char **secret, size_t *len, char *err, size_t errlen)
{
	BIO *in = BIO_new_mem_buf(der, (int)derlen), *out = NULL;
	CMS_ContentInfo *cms = NULL;
	BUF_MEM *mem;
	int rc = -1;

	*secret = NULL;
	*len = 0;
	err[0] = '\0';
	if (in == NULL || (cms = d2i_CMS_bio(in, NULL)) == NULL) {
		openssl_error(err, errlen, "sealed password is not CMS");
		goto out;
	}
	if ((out = BIO_new(BIO_s_secmem())) == NULL)
		goto out;
	if (CMS_decrypt(cms, key, cert, NULL, out, CMS_BINARY) != 1) {
		openssl_error(err, errlen, "cannot unseal the password with syncd's key");
		goto out;
	}
	BIO_get_mem_ptr(out, &mem);
	if ((*secret = OPENSSL_secure_malloc(mem->length + 1)) == NULL)
		goto out;
	memcpy(*secret, mem->data, mem->length);
	(*secret)[mem->length] = '\0';
	*len = mem->length;
	OPENSSL_cleanse(mem->data, mem->length);
	rc = 0;
out:
	if (rc != 0 && err[0] == '\0')
		snprintf(err, errlen, "out of memory unsealing the password");
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	BIO_free(out);
	return rc;
}

void
rg_unseal_free(unsigned char *secret, size_t len)
{
	if (secret != NULL)
		OPENSSL_secure_clear_free(secret, len + 1);
}
