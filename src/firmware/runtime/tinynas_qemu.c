/* tinynas_qemu.c: a bare-metal Cortex-M program around a generated model, for `tinynas export
 * --target`: the vector table, a reset handler, and a main that runs the model on inputs read
 * from the host through semihosting (QEMU's `-semihosting`), with no C library beyond memcpy.
 *
 * Reads input.bin (int8 inputs of TINYNAS_INPUT_BYTES each, straight into the arena's input),
 * writes output.bin (TINYNAS_CLASSES int8 logits each) and result.bin (uint32: the number of
 * inputs, per input the CMSDK timer0 ticks of tinynas_run() — under QEMU's -icount shift=0 one
 * tick is 40 instructions — then the stack bytes used). Exit status 0 on success.
 *
 * Built with TINYNAS_PROFILE_LAYERS (and tinynas_profile.h included into every object, whose
 * TINYNAS_LAYER_HOOK(i) keeps timer0's value before layer i: `tinynas bench latency`), it also
 * writes layers.bin: per input, TINYNAS_LAYERS + 1 uint32 readings of timer0, before each layer
 * and after the last; layer i took reading[i] − reading[i + 1] ticks. */
#include <stdint.h>

#include "tinynas_model.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _sstack, _estack;
int main(void);

#define STACK_PAINT 0x5a5aa5a5u

#ifdef TINYNAS_PROFILE_LAYERS
volatile uint32_t tinynas_layer_ticks[TINYNAS_LAYERS + 1];
#endif

static int32_t semihost(int32_t op, const void *arg) {
    register int32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static void sh_exit(int ok) {
    /* SYS_EXIT with ADP_Stopped_ApplicationExit (status 0) or RunTimeErrorUnknown (1). */
    semihost(0x18, (const void *)(uintptr_t)(ok ? 0x20026u : 0x20023u));
    for (;;) {
    }
}

static int32_t sh_open(const char *name, uint32_t mode) {
    uint32_t n = 0;
    while (name[n]) n++;
    const uint32_t a[3] = {(uint32_t)(uintptr_t)name, mode, n};
    return semihost(0x01, a);
}

/* Both return the bytes NOT transferred. */
static int32_t sh_write(int32_t h, const volatile void *b, uint32_t n) {
    const uint32_t a[3] = {(uint32_t)h, (uint32_t)(uintptr_t)b, n};
    return semihost(0x05, a);
}
static int32_t sh_read(int32_t h, void *b, uint32_t n) {
    const uint32_t a[3] = {(uint32_t)h, (uint32_t)(uintptr_t)b, n};
    return semihost(0x06, a);
}
static int32_t sh_flen(int32_t h) {
    const uint32_t a[1] = {(uint32_t)h};
    return semihost(0x0c, a);
}

void Reset_Handler(void) {
    uint32_t *src = &_sidata, *dst = &_sdata;
    while (dst < &_edata) *dst++ = *src++;
    for (dst = &_sbss; dst < &_ebss;) *dst++ = 0;
    /* Paint the stack below this frame, to measure how deep the model's calls go. */
    uintptr_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (dst = &_sstack; (uintptr_t)dst < sp - 64;) *dst++ = STACK_PAINT;
    /* The FPU on (CPACR CP10, CP11): the compiler may use its registers. */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm__ volatile("dsb\n isb" ::: "memory");
    sh_exit(main() == 0);
}

static void hang(void) {
    for (;;) {
    }
}

__attribute__((section(".isr_vector"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))(uintptr_t)&_estack, Reset_Handler, hang, hang, hang, hang, hang, 0, 0, 0, 0,
    hang, hang, 0, hang, hang,
};

/* The CMSDK APB timer0: a 32-bit down-counter at the board's 25 MHz. */
#define TIMER0 ((volatile uint32_t *)0x40000000u)

int main(void) {
    const int32_t in = sh_open("input.bin", 1);  /* "rb" */
    const int32_t out = sh_open("output.bin", 5); /* "wb" */
    const int32_t res = sh_open("result.bin", 5);
    if (in < 0 || out < 0 || res < 0) return 1;
#ifdef TINYNAS_PROFILE_LAYERS
    const int32_t lay = sh_open("layers.bin", 5);
    if (lay < 0) return 1;
#endif
    const int32_t len = sh_flen(in);
    if (len < 0 || len % TINYNAS_INPUT_BYTES != 0) return 1;
    const uint32_t n = (uint32_t)len / TINYNAS_INPUT_BYTES;
    TIMER0[2] = 0xffffffffu; /* RELOAD */
    TIMER0[1] = 0xffffffffu; /* VALUE */
    TIMER0[0] = 1;           /* CTRL: enable */
    if (sh_write(res, &n, 4) != 0) return 1;
    for (uint32_t i = 0; i < n; i++) {
        if (sh_read(in, tinynas_input(), TINYNAS_INPUT_BYTES) != 0) return 1;
        const uint32_t t0 = TIMER0[1];
        tinynas_run();
        const uint32_t t1 = TIMER0[1];
        const uint32_t ticks = t0 - t1;
        if (sh_write(out, tinynas_output(), TINYNAS_CLASSES) != 0) return 1;
        if (sh_write(res, &ticks, 4) != 0) return 1;
#ifdef TINYNAS_PROFILE_LAYERS
        tinynas_layer_ticks[TINYNAS_LAYERS] = t1;
        if (sh_write(lay, tinynas_layer_ticks, 4 * (TINYNAS_LAYERS + 1)) != 0) return 1;
#endif
    }
    uint32_t *p = &_sstack;
    while (p < &_estack && *p == STACK_PAINT) p++;
    const uint32_t stack = (uint32_t)((uintptr_t)&_estack - (uintptr_t)p);
    if (sh_write(res, &stack, 4) != 0) return 1;
    return 0;
}
