/* A digest of several fields that names secrets without holding them. */
#ifndef AZ_DIGEST_H
#define AZ_DIGEST_H

#include <stddef.h>

char *az_digest_fields(const char *const *fields, size_t n);

#endif
