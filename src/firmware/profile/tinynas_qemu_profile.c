/* tinynas_qemu_profile.c: tinynas_qemu.c's bare-metal program with a timer reading before every
 * layer (`tinynas bench latency`). The same protocol (input.bin in; output.bin, result.bin out),
 * plus layers.bin: per input, TINYNAS_LAYERS + 1 uint32 readings of the CMSDK timer0 (a
 * down-counter, one tick per 40 instructions under -icount shift=0): before each layer, then
 * after the last. Layer i took reading[i] - reading[i + 1] ticks. */
#include <stdint.h>

#include "tinynas_model.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _sstack, _estack;
int main(void);

volatile uint32_t tinynas_layer_ticks[TINYNAS_LAYERS + 1];

#define STACK_PAINT 0x5a5aa5a5u

static int32_t semihost(int32_t op, const void *arg) {
    register int32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static void sh_exit(int ok) {
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
    uintptr_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (dst = &_sstack; (uintptr_t)dst < sp - 64;) *dst++ = STACK_PAINT;
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

#define TIMER0 ((volatile uint32_t *)0x40000000u)

int main(void) {
    const int32_t in = sh_open("input.bin", 1);  /* "rb" */
    const int32_t out = sh_open("output.bin", 5); /* "wb" */
    const int32_t res = sh_open("result.bin", 5);
    const int32_t lay = sh_open("layers.bin", 5);
    if (in < 0 || out < 0 || res < 0 || lay < 0) return 1;
    const int32_t len = sh_flen(in);
    if (len < 0 || len % TINYNAS_INPUT_BYTES != 0) return 1;
    const uint32_t n = (uint32_t)len / TINYNAS_INPUT_BYTES;
    TIMER0[2] = 0xffffffffu;
    TIMER0[1] = 0xffffffffu;
    TIMER0[0] = 1;
    if (sh_write(res, &n, 4) != 0) return 1;
    for (uint32_t i = 0; i < n; i++) {
        if (sh_read(in, tinynas_input(), TINYNAS_INPUT_BYTES) != 0) return 1;
        const uint32_t t0 = TIMER0[1];
        tinynas_run();
        const uint32_t t1 = TIMER0[1];
        tinynas_layer_ticks[TINYNAS_LAYERS] = t1;
        const uint32_t ticks = t0 - t1;
        if (sh_write(out, tinynas_output(), TINYNAS_CLASSES) != 0) return 1;
        if (sh_write(res, &ticks, 4) != 0) return 1;
        if (sh_write(lay, tinynas_layer_ticks, 4 * (TINYNAS_LAYERS + 1)) != 0) return 1;
    }
    uint32_t *p = &_sstack;
    while (p < &_estack && *p == STACK_PAINT) p++;
    const uint32_t stack = (uint32_t)((uintptr_t)&_estack - (uintptr_t)p);
    if (sh_write(res, &stack, 4) != 0) return 1;
    return 0;
}
