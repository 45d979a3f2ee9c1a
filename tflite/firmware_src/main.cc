// keras-nas measurement firmware: runs a .tflite model with TFLite Micro on an
// emulated Cortex-M and prints what it measured (see keras_nas/tflite/emulator.py).
//
// Files, over semihosting, in QEMU's working directory:
//   model.tflite  the model (unless one is linked in, see knas_linked_model)
//   inputs.bin    optional: samples, each the concatenated bytes of every input
//                 tensor; without it one sample of a fixed pseudo-random pattern
//   outputs.bin   written: per sample, the concatenated bytes of every output
// Stdout: `KNAS key=value` lines, ending with `KNAS status=ok` on success
// (tick counts printed as 32-bit: newlib-nano's printf has no %llu).
//
// Time: SysTick on the processor clock; under QEMU's `-icount shift=0` every
// executed instruction advances the clock by 1 ns, so ticks count executed
// instructions. The firmware measures instructions per tick with a loop of a
// known instruction count.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "knas_firmware.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_log.h"
#include "tensorflow/lite/micro/micro_profiler_interface.h"
#include "tensorflow/lite/schema/schema_generated.h"

extern "C" volatile uint32_t knas_systick_wraps;
extern "C" uint32_t __stack_bottom, __stack_top;
extern "C" const knas::OpEntry __knas_ops_start[], __knas_ops_end[];

__attribute__((weak)) const knas::LinkedModel* knas_linked_model() { return nullptr; }

namespace {

constexpr uint32_t kPaint = 0xC5A5C5A5u;
constexpr size_t kModelCapacity = KNAS_MODEL_CAPACITY;
constexpr size_t kArenaCapacity = KNAS_ARENA_CAPACITY;
constexpr size_t kIoCapacity = KNAS_IO_CAPACITY;
constexpr int kMaxSamples = 4096;
constexpr int kMaxOpEvents = 1024;

alignas(16) __attribute__((section(".knas_big.model"))) uint8_t g_model[kModelCapacity];
alignas(16) __attribute__((section(".knas_big.arena"))) uint8_t g_arena[kArenaCapacity];
alignas(16) __attribute__((section(".knas_big.inputs"))) uint8_t g_inputs[kIoCapacity];
alignas(16) __attribute__((section(".knas_big.outputs"))) uint8_t g_outputs[kIoCapacity];
// Harness-only state also lives in the big RAM, so .data + .bss stay what a deployment needs.
__attribute__((section(".knas_big.ticks"))) uint64_t g_sample_ticks[kMaxSamples];

volatile uint32_t* const kSysTickCsr = reinterpret_cast<volatile uint32_t*>(0xE000E010);
volatile uint32_t* const kSysTickRvr = reinterpret_cast<volatile uint32_t*>(0xE000E014);
volatile uint32_t* const kSysTickCvr = reinterpret_cast<volatile uint32_t*>(0xE000E018);

void StartSysTick() {
  *kSysTickRvr = 0xFFFFFF;
  *kSysTickCvr = 0;
  *kSysTickCsr = 0x7;  // enable, interrupt on wrap, processor clock
}

// Monotonic SysTick count (the 24-bit down-counter plus its wraps).
uint64_t Ticks() {
  uint32_t wraps, value;
  do {
    wraps = knas_systick_wraps;
    value = *kSysTickCvr;
  } while (wraps != knas_systick_wraps);
  return (static_cast<uint64_t>(wraps) << 24) + (0xFFFFFFu - value);
}

// Executes 2 * n instructions (subs + bne per iteration).
__attribute__((noinline)) void Spin(uint32_t n) {
  __asm volatile("1: subs %0, %0, #1\n bne 1b\n" : "+r"(n) : : "cc");
}

// Per-op SysTick counts of one Invoke (TFLM calls BeginEvent/EndEvent per op).
class OpProfiler : public tflite::MicroProfilerInterface {
 public:
  uint32_t BeginEvent(const char* tag) override {
    if (count_ >= kMaxOpEvents) return kMaxOpEvents;
    tags_[count_] = tag;
    start_[count_] = Ticks();
    return count_++;
  }
  void EndEvent(uint32_t handle) override {
    if (handle < kMaxOpEvents) ticks_[handle] = Ticks() - start_[handle];
  }
  void Reset() { count_ = 0; }
  void Print() const {
    for (uint32_t i = 0; i < count_; ++i) {
      printf("KNAS op=%lu tag=%s ticks=%lu\n", static_cast<unsigned long>(i), tags_[i],
             static_cast<unsigned long>(ticks_[i]));
    }
  }

 private:
  uint32_t count_ = 0;
  const char* tags_[kMaxOpEvents];
  uint64_t start_[kMaxOpEvents];
  uint64_t ticks_[kMaxOpEvents];
};

__attribute__((section(".knas_big.profiler"))) OpProfiler g_profiler;

// Fills the stack below the current frame with kPaint (the scan finds the
// deepest word that changed).
__attribute__((noinline)) void PaintStack() {
  uint32_t* sp;
  __asm volatile("mov %0, sp" : "=r"(sp));
  for (uint32_t* p = &__stack_bottom; p < sp - 64; ++p) *p = kPaint;
}

size_t StackHighWater() {
  const uint32_t* p = &__stack_bottom;
  while (p < &__stack_top && *p == kPaint) ++p;
  return reinterpret_cast<uintptr_t>(&__stack_top) - reinterpret_cast<uintptr_t>(p);
}

long ReadFile(const char* path, uint8_t* buffer, size_t capacity, const char* what) {
  FILE* f = fopen(path, "rb");
  if (f == nullptr) return -1;
  long total = 0;
  while (true) {
    size_t room = capacity - static_cast<size_t>(total);
    size_t n = fread(buffer + total, 1, room > 65536 ? 65536 : room, f);
    total += static_cast<long>(n);
    if (n == 0) break;
    if (static_cast<size_t>(total) == capacity) {
      if (fgetc(f) != EOF) {
        printf("KNAS error=%s is larger than the firmware's buffer (%lu bytes)\n", what,
               static_cast<unsigned long>(capacity));
        exit(2);
      }
      break;
    }
  }
  fclose(f);
  return total;
}

[[noreturn]] void Fail(const char* message) {
  printf("KNAS error=%s\n", message);
  exit(2);
}

size_t TensorBytes(const TfLiteTensor* t) { return t->bytes; }

}  // namespace

int main() {
  StartSysTick();
  printf("KNAS firmware=keras-nas target=%s kernels=%s\n", KNAS_TARGET, KNAS_KERNELS);

  // Instructions per SysTick tick, from a loop of known length.
  constexpr uint32_t kSpin = 1u << 20;
  uint64_t t0 = Ticks();
  Spin(kSpin);
  uint64_t spin_ticks = Ticks() - t0;
  printf("KNAS calibration_instructions=%lu calibration_ticks=%lu\n",
         static_cast<unsigned long>(2 * kSpin), static_cast<unsigned long>(spin_ticks));

  const knas::LinkedModel* linked = knas_linked_model();
  const uint8_t* model_data;
  long model_length;
  if (linked != nullptr) {
    model_data = linked->data;
    model_length = static_cast<long>(linked->length);
    printf("KNAS model_source=linked declared_arena_bytes=%d\n", linked->declared_arena_bytes);
  } else {
    model_length = ReadFile("model.tflite", g_model, kModelCapacity, "model.tflite");
    if (model_length <= 0) Fail("cannot read model.tflite over semihosting");
    model_data = g_model;
    printf("KNAS model_source=semihosting\n");
  }
  printf("KNAS model_bytes=%ld\n", model_length);

  const tflite::Model* model = tflite::GetModel(model_data);
  if (model->version() != TFLITE_SCHEMA_VERSION) Fail("unsupported .tflite schema version");

  static knas::Resolver resolver;
  if (linked != nullptr) {
    if (!linked->register_ops(resolver)) Fail("the linked model's RegisterOps refused an op");
  } else {
    for (const knas::OpEntry* e = __knas_ops_start; e < __knas_ops_end; ++e) {
      if (!e->add(resolver)) Fail("op resolver full (raise knas::kMaxOps)");
    }
  }

  PaintStack();
  uint64_t alloc_start = Ticks();
  static tflite::MicroInterpreter interpreter(model, resolver, g_arena, kArenaCapacity, nullptr,
                                              &g_profiler);
  if (interpreter.AllocateTensors() != kTfLiteOk) {
    printf("KNAS stack_bytes=%lu\n", static_cast<unsigned long>(StackHighWater()));
    Fail("AllocateTensors failed (see the TFLite Micro log above)");
  }
  uint64_t alloc_ticks = Ticks() - alloc_start;
  size_t allocate_stack_bytes = StackHighWater();

  size_t input_bytes = 0, output_bytes = 0;
  for (size_t i = 0; i < interpreter.inputs_size(); ++i) input_bytes += TensorBytes(interpreter.input(i));
  for (size_t i = 0; i < interpreter.outputs_size(); ++i) output_bytes += TensorBytes(interpreter.output(i));

  long samples = 1;
  long read = ReadFile("inputs.bin", g_inputs, kIoCapacity, "inputs.bin");
  if (read < 0) {
    uint32_t state = 12345;  // fixed pseudo-random input
    for (size_t i = 0; i < input_bytes; ++i) {
      state = state * 1664525u + 1013904223u;
      g_inputs[i] = static_cast<uint8_t>(state >> 24);
    }
  } else {
    if (input_bytes == 0 || read % static_cast<long>(input_bytes) != 0 || read == 0) {
      Fail("inputs.bin is not a whole number of samples of the model's input bytes");
    }
    samples = read / static_cast<long>(input_bytes);
  }
  if (samples > kMaxSamples || static_cast<size_t>(samples) * output_bytes > kIoCapacity) {
    Fail("too many samples in inputs.bin for the firmware's buffers");
  }

  // Paint again: the stack figure covers AllocateTensors and every Invoke, not the file I/O.
  PaintStack();
  for (long s = 0; s < samples; ++s) {
    const uint8_t* in = g_inputs + s * input_bytes;
    for (size_t i = 0; i < interpreter.inputs_size(); ++i) {
      TfLiteTensor* t = interpreter.input(i);
      memcpy(t->data.raw, in, t->bytes);
      in += t->bytes;
    }
    g_profiler.Reset();
    uint64_t start = Ticks();
    TfLiteStatus status = interpreter.Invoke();
    g_sample_ticks[s] = Ticks() - start;
    if (status != kTfLiteOk) Fail("Invoke failed (see the TFLite Micro log above)");
    uint8_t* out = g_outputs + s * output_bytes;
    for (size_t i = 0; i < interpreter.outputs_size(); ++i) {
      const TfLiteTensor* t = interpreter.output(i);
      memcpy(out, t->data.raw, t->bytes);
      out += t->bytes;
    }
  }
  size_t stack_bytes = StackHighWater();
  if (allocate_stack_bytes > stack_bytes) stack_bytes = allocate_stack_bytes;
  if (stack_bytes >= static_cast<size_t>(reinterpret_cast<uintptr_t>(&__stack_top) -
                                         reinterpret_cast<uintptr_t>(&__stack_bottom))) {
    Fail("the stack overflowed its region (raise the firmware's stack size)");
  }

  FILE* f = fopen("outputs.bin", "wb");
  if (f == nullptr) Fail("cannot write outputs.bin over semihosting");
  fwrite(g_outputs, 1, static_cast<size_t>(samples) * output_bytes, f);
  fclose(f);

  printf("KNAS arena_used_bytes=%lu\n", static_cast<unsigned long>(interpreter.arena_used_bytes()));
  printf("KNAS stack_bytes=%lu\n", static_cast<unsigned long>(stack_bytes));
  printf("KNAS allocate_ticks=%lu\n", static_cast<unsigned long>(alloc_ticks));
  printf("KNAS samples=%ld input_bytes=%lu output_bytes=%lu\n", samples,
         static_cast<unsigned long>(input_bytes), static_cast<unsigned long>(output_bytes));
  for (long s = 0; s < samples; ++s) {
    printf("KNAS sample=%ld ticks=%lu\n", s, static_cast<unsigned long>(g_sample_ticks[s]));
  }
  g_profiler.Print();  // the ops of the last Invoke
  printf("KNAS status=ok\n");
  return 0;
}

// TFLite Micro's log, to stdout over semihosting.
extern "C" void DebugLog(const char* format, va_list args) { vprintf(format, args); }
extern "C" int DebugVsnprintf(char* buffer, size_t buf_size, const char* format, va_list vlist) {
  return vsnprintf(buffer, buf_size, format, vlist);
}
