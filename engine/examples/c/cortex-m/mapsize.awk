# Sums the .text and .rodata input sections kept in a GNU ld map (after "Linker script and
# memory map"; the discarded ones are listed before it) by origin: the engine's staticlib, the C
# library, libgcc, and the program's own objects.
function hex(s,    i, v) {
    v = 0; s = tolower(s); sub(/^0x/, "", s)
    for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
    return v
}
function add(size, file) {
    if (file ~ /libphonecheck\.a/) engine += size
    else if (file ~ /libc(_nano)?\.a|libg(_nano)?\.a/) libc += size
    else if (file ~ /libgcc\.a/) gcc += size
    else program += size
}
/^Linker script and memory map/ { live = 1; next }
live && /^ \.(text|rodata)([. ]|$)/ {
    if (NF >= 4 && $2 ~ /^0x/) add(hex($3), $4)
    else if (NF == 1) { getline; if ($1 ~ /^0x/ && NF >= 3) add(hex($2), $3) }
}
END { printf "engine %d libc %d libgcc %d program %d\n", engine, libc, gcc, program }
