/* tinynas_host_check.c: runs a generated model on the host, for `tinynas export` and the tests.
 *
 *   tinynas_host_check INPUTS LOGITS
 *
 * INPUTS holds int8 inputs of TINYNAS_INPUT_BYTES each; LOGITS receives TINYNAS_CLASSES int8
 * logits per input. Before that, the first input runs twice on an arena filled with two
 * different poison bytes: every byte that differs from the poison afterwards was touched, and
 * the two runs must agree (a read of memory the model did not write would make them differ).
 * Prints one JSON line: images, seconds, the touched extent of each arena region. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tinynas_model.h"

static unsigned char touched[TINYNAS_ARENA_BYTES];

/* One past the highest touched byte of [lo, hi), relative to lo (0: none). */
static long extent(long lo, long hi) {
    long top = 0;
    for (long i = lo; i < hi; i++)
        if (touched[i]) top = i - lo + 1;
    return top;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s INPUTS LOGITS\n", argv[0]);
        return 2;
    }
    FILE *in = fopen(argv[1], "rb");
    FILE *out = fopen(argv[2], "wb");
    if (!in || !out) {
        fprintf(stderr, "cannot open %s or %s\n", argv[1], argv[2]);
        return 2;
    }
    static int8_t image[TINYNAS_INPUT_BYTES];
    static int8_t logits[2][TINYNAS_CLASSES];
    if (fread(image, 1, sizeof image, in) != sizeof image) {
        fprintf(stderr, "%s: not one whole input of %d bytes\n", argv[1], TINYNAS_INPUT_BYTES);
        return 2;
    }
    const unsigned char poison[2] = {0x55, 0xaa};
    for (int p = 0; p < 2; p++) {
        memset(tinynas_arena, poison[p], TINYNAS_ARENA_BYTES);
        tinynas_invoke(image, logits[p]);
        const unsigned char *a = (const unsigned char *)tinynas_arena;
        for (long i = 0; i < TINYNAS_ARENA_BYTES; i++)
            if (a[i] != poison[p]) touched[i] = 1;
    }
    if (memcmp(logits[0], logits[1], TINYNAS_CLASSES) != 0) {
        fprintf(stderr, "the logits depend on the arena's contents before the run\n");
        return 1;
    }
    rewind(in);
    long n = 0;
    const clock_t t0 = clock();
    while (fread(image, 1, sizeof image, in) == sizeof image) {
        tinynas_invoke(image, logits[0]);
        if (fwrite(logits[0], 1, TINYNAS_CLASSES, out) != TINYNAS_CLASSES) {
            fprintf(stderr, "%s: cannot write\n", argv[2]);
            return 2;
        }
        n++;
    }
    const double seconds = (double)(clock() - t0) / CLOCKS_PER_SEC;
    if (fclose(out) != 0) {
        fprintf(stderr, "%s: cannot write\n", argv[2]);
        return 2;
    }
    const long act = TINYNAS_ACTIVATION_BYTES, scr = TINYNAS_SCRATCH_BYTES;
    printf("{\"images\": %ld, \"seconds\": %.6f, \"activations\": %ld, \"scratch\": %ld, "
           "\"kernel_buffer\": %ld}\n",
           n, seconds, extent(0, act), extent(act, act + scr),
           extent(act + scr, TINYNAS_ARENA_BYTES));
    return 0;
}
