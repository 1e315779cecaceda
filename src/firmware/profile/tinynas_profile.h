/* tinynas_profile.h: compiled into every object of a per-layer profile build (`-include`):
 * TINYNAS_LAYER_HOOK(i), called by tinynas_run() before layer i, keeps the CMSDK timer0's value
 * (a down-counter; under QEMU's -icount shift=0 one tick is 40 instructions). */
#ifndef TINYNAS_PROFILE_H_
#define TINYNAS_PROFILE_H_

#include <stdint.h>

extern volatile uint32_t tinynas_layer_ticks[];
#define TINYNAS_LAYER_HOOK(i) \
    (tinynas_layer_ticks[i] = *(volatile const uint32_t *)0x40000004u)

#endif /* TINYNAS_PROFILE_H_ */
