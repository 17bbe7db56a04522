# Turns the file IN into a C source OUT defining `const char sp_spec_json[]`.
file(READ ${IN} content HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${content}")
file(WRITE ${OUT} "/* generated from spec/spec.json; do not edit */\n#include <stddef.h>\nconst char sp_spec_json[] = {${bytes} 0x00};\nconst size_t sp_spec_json_len = sizeof(sp_spec_json) - 1;\n")
