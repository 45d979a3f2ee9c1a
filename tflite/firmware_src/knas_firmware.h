// keras-nas measurement firmware: shared declarations (see keras_nas/tflite/firmware.py).
#ifndef KERAS_NAS_FIRMWARE_H_
#define KERAS_NAS_FIRMWARE_H_

#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"

namespace knas {

// Room for every op the firmware can register (firmware.FIRMWARE_OPS).
constexpr unsigned int kMaxOps = 64;
using Resolver = tflite::MicroMutableOpResolver<kMaxOps>;

// One op the firmware can run. ops.cc puts one entry per op in its own
// section `knas_ops.<NAME>`; the linker script keeps the sections of the ops a
// firmware image registers (between __knas_ops_start and __knas_ops_end) and
// --gc-sections drops the others with their kernels.
struct OpEntry {
  const char* name;
  bool (*add)(Resolver& resolver);
};

// A model compiled into the firmware (e.g. the C array of
// keras_nas.tflite.write_c_array) instead of loaded over semihosting.
struct LinkedModel {
  const unsigned char* data;
  unsigned int length;
  bool (*register_ops)(Resolver& resolver);
  int declared_arena_bytes;  // the arena size the model's header declares
};

}  // namespace knas

// Weak in main.cc (returns nullptr); a linked-model object defines it.
const knas::LinkedModel* knas_linked_model();

#define KNAS_REGISTER_OP(NAME, METHOD)                                        \
  static bool knas_add_##NAME(knas::Resolver& r) {                            \
    return r.METHOD() == kTfLiteOk;                                           \
  }                                                                           \
  __attribute__((used, section("knas_ops." #NAME))) const knas::OpEntry       \
      knas_entry_##NAME = {#NAME, &knas_add_##NAME};

#endif  // KERAS_NAS_FIRMWARE_H_
