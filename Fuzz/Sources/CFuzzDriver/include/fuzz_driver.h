// libFuzzer's entry for a program that has its own main (SwiftPM names an executable's entry point itself, so
// libFuzzer's main cannot be used): runs the fuzzing loop over `callback` with the command-line flags.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
