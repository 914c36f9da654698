/* fuzz_request.c — fuzz target for everything a request byte stream reaches before the rules:
 * the MessagePack decoder (checked against msgpack-c's unpacker), CDS Hooks validation, the clinical view and the C
 * screening, with the shipped knowledge base.
 *
 * Built two ways:
 *   - by default, a replay driver (ctest `fuzz_request_replay`): every file under the corpus
 *     directories given on the command line, plus every prefix and a set of byte flips of each,
 *     must come back as OK or bad_request without a sanitizer report;
 *   - with clang: cmake -DCDSD_FUZZ=ON -DCMAKE_C_COMPILER=clang gives a libFuzzer binary
 *     (build/fuzz_request corpus/ -max_total_time=300) whose finds belong in tests/fuzz/corpus/;
 *     with CC=afl-clang-fast the same option gives an AFL++ target (see README "Fuzzing"). */
#include "fuzz_pipeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_msgpack_request(data, size); }

#include "fuzz_replay.h"
