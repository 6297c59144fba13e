/*
 * adamw.h: AdamW with decoupled weight decay and bias correction (Loshchilov & Hutter, as
 * torch.optim.AdamW), the linear warmup/decay schedule (as HF's get_linear_schedule_with_warmup)
 * and global-norm gradient clipping (as torch.nn.utils.clip_grad_norm_).
 */
#pragma once
#include <cstdint>
#include <vector>

#include "core/common.h"
#include "model/params.h"
#include "train/trainer.h"

namespace lshlab {

// Learning rate for the update after `step` completed steps.
double linear_schedule_lr(const TrainConfig& tc, int64_t step);

// Global L2 norm of all gradients (accumulated in double, in a fixed order: deterministic).
double grad_global_norm(const ParamSet<float>& ps);

// The factor that scales gradients to a global norm of at most max_norm: max/(norm+1e-6) as
// PyTorch's clip_grad_norm_, or 1 when max_norm <= 0 or the norm is already small enough.
double clip_coefficient(double norm, double max_norm);

struct AdamWState {
  Buffer<float> m, v;  // first and second moments, parameter layout
  int64_t t = 0;       // updates applied
  void init(size_t n) { m.resize(n); v.resize(n); m.zero(); v.zero(); t = 0; }
};

// One AdamW update of every parameter with learning rate lr, on gradients multiplied by
// grad_scale (the clipping coefficient, folded in so the gradients are read once).
void adamw_update(ParamSet<float>& ps, AdamWState& st, const TrainConfig& tc, double lr,
                  double grad_scale = 1.0);

}  // namespace lshlab
