/* UUID formatting: random (version 4) from given bytes, and name-based (version
 * 5). */
#ifndef AZ_UUID_H
#define AZ_UUID_H

#define UUID_STRLEN 37

void uuid_format_v4(const unsigned char bytes[16], char out[UUID_STRLEN]);
void uuid_from_name(const char *name, char out[UUID_STRLEN]);

#endif
