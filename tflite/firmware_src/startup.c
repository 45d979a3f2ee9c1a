// keras-nas measurement firmware: vector table, reset, SysTick and fault handlers.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end, __stack_top;
extern int main(void);
extern void initialise_monitor_handles(void);
extern void __libc_init_array(void);

// SysTick overflows since it was started (the counter is 24 bits wide).
volatile uint32_t knas_systick_wraps = 0;

void Reset_Handler(void) {
  uint32_t* src = &__data_load;
  for (uint32_t* dst = &__data_start; dst < &__data_end;) *dst++ = *src++;
  for (uint32_t* dst = &__bss_start; dst < &__bss_end;) *dst++ = 0;
  // Full access to CP10/CP11 (FPU and, on Cortex-M55, MVE).
  *(volatile uint32_t*)0xE000ED88 |= (0xFu << 20);
  __asm volatile("dsb\n isb" ::: "memory");
  initialise_monitor_handles();
  __libc_init_array();
  exit(main());
}

// __libc_init_array calls these (crti.o is not linked: -nostartfiles).
void _init(void) {}
void _fini(void) {}
// Normally from crtbegin.o: the handle C++ static destructors register with.
void* __dso_handle = 0;

void SysTick_Handler(void) { knas_systick_wraps++; }

static void Fault_Handler(void) {
  printf("KNAS error=cpu fault (CFSR=0x%08lx, HFSR=0x%08lx): the model crashed the firmware\n",
         (unsigned long)*(volatile uint32_t*)0xE000ED28, (unsigned long)*(volatile uint32_t*)0xE000ED2C);
  exit(3);
}

void Default_Handler(void) { Fault_Handler(); }

__attribute__((section(".vectors"), used)) const void* const knas_vectors[16] = {
    &__stack_top,                   // initial stack pointer
    (const void*)Reset_Handler,     // reset
    (const void*)Default_Handler,   // NMI
    (const void*)Fault_Handler,     // HardFault
    (const void*)Fault_Handler,     // MemManage
    (const void*)Fault_Handler,     // BusFault
    (const void*)Fault_Handler,     // UsageFault
    (const void*)Fault_Handler,     // SecureFault (v8-M)
    0, 0, 0,
    (const void*)Default_Handler,   // SVCall
    (const void*)Default_Handler,   // DebugMonitor
    0,
    (const void*)Default_Handler,   // PendSV
    (const void*)SysTick_Handler,   // SysTick
};
