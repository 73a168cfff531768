#!/bin/sh
# Writes, on standard output, a C source that defines NAME as the bytes of FILE (NUL-terminated) and NAME_len.
set -eu
name=$1
file=$2
echo "/* Generated from $(basename "$file") by build-aux/embed.sh: the demo tenant built into azcmk. */"
echo "#include <stddef.h>"
echo "extern const char ${name}[];"
echo "extern const size_t ${name}_len;"
echo "const char ${name}[] = {"
od -An -v -tx1 "$file" | sed -e 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g' -e 's/^/\t/'
echo "	0x00 };"
echo "const size_t ${name}_len = sizeof(${name}) - 1;"
