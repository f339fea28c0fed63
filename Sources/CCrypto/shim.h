// OpenSSL's libcrypto (already loaded for libcurl's TLS): SHA-256 for the API's token hashes.
#include <openssl/sha.h>
