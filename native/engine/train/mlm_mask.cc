/*
 * mlm_mask.cc: BERT's masked-LM corruption (15% of positions; 80% [MASK], 10% random, 10% kept),
 * drawn from Philox stream MlmMask so a (seed, step) pair always masks the same positions.
 * Position i uses draws 3i (chosen?), 3i+1 (which replacement), 3i+2 (random id).
 */
#include <algorithm>

#include "core/philox.h"
#include "train/trainer.h"

namespace lshlab {

void mlm_mask(int32_t* input_ids, int32_t* labels, const int32_t* attention_mask, int B, int T,
              int vocab_size, int mask_id, const std::vector<int32_t>& special_ids, double prob,
              uint64_t seed, uint32_t step) {
  const uint32_t stream = uint32_t(Stream::MlmMask);
  const int64_t N = int64_t(B) * T;
  for (int64_t i = 0; i < N; i++) {
    labels[i] = -100;
    if (attention_mask && !attention_mask[i]) continue;
    const int32_t id = input_ids[i];
    if (std::find(special_ids.begin(), special_ids.end(), id) != special_ids.end()) continue;
    if (philox_uniform(seed, stream, step, 3 * uint64_t(i)) >= prob) continue;
    labels[i] = id;
    const float r = philox_uniform(seed, stream, step, 3 * uint64_t(i) + 1);
    if (r < 0.8f) input_ids[i] = mask_id;
    else if (r < 0.9f) input_ids[i] = int32_t(philox_u32(seed, stream, step, 3 * uint64_t(i) + 2) % uint32_t(vocab_size));
  }
}

}  // namespace lshlab
