/**
 * study-paper.ts: the BERT-LSH paper's experiment as a ready study: BERT-tiny pretrained with
 * masked LM (the paper's Table 2), then fine-tuned from that checkpoint on classification
 * (Table 3, SST-2 in the paper) and on question answering (Table 4, SQuAD), with
 *   exact             softmax attention, the paper's baseline
 *   bert-lsh          the paper's settings: 2 bands, table size 64, 1 hash function (section 3.1),
 *                     non-colliding logits zero as in its released code
 *   bert-lsh-masked   the same hashes, only colliding pairs attended (fill=masked)
 *   yoso, reformer    the other LSH attentions, at their defaults
 * over 3 seeds. Datasets: the built-ins (builtin-text, builtin-spam, builtin-qa, made by
 * `lshlab datasets add-builtin`) unless the user names their own imports (BookCorpus, SST-2,
 * SQuAD: they must share the pretraining dataset's tokenizer).
 *
 * Budgets (per run; the same for every variant and seed):
 *   --quick  mlm 250 steps, classification 120 steps, qa 150 steps, batch 16: the 45 runs take
 *            about 7 minutes on an idle 2-core machine (docs/results.md has the measured time)
 *   full     mlm 3000 steps of batch 32, classification and qa 2 epochs of batch 32
 */

export const PAPER_SEEDS = [1, 2, 3];

export const PAPER_VARIANTS = [
  { key: 'exact', attention: 'exact' },
  { key: 'bert-lsh', attention: 'bert-lsh', params: { bands: 2, table_size: 64, num_hashes: 1 } },
  { key: 'bert-lsh-masked', attention: 'bert-lsh', params: { bands: 2, table_size: 64, num_hashes: 1, fill: 'masked' } },
  { key: 'yoso', attention: 'yoso' },
  { key: 'reformer', attention: 'reformer' },
];

export interface PaperStudyOptions {
  quick: boolean;
  pretrain?: string | undefined;
  classification?: string | undefined;
  qa?: string | undefined;
  name?: string | undefined;
}

export const PAPER_BUILTINS = { pretrain: 'builtin-text', classification: 'builtin-spam', qa: 'builtin-qa' } as const;

/** The study definition (raw: checkStudyShape normalizes and checks it). */
export function paperStudy(o: PaperStudyOptions): Record<string, unknown> {
  const pretrain = o.pretrain ?? PAPER_BUILTINS.pretrain;
  const classification = o.classification ?? PAPER_BUILTINS.classification;
  const qa = o.qa ?? PAPER_BUILTINS.qa;
  const custom = o.pretrain !== undefined || o.classification !== undefined || o.qa !== undefined;
  const base = o.quick ? 'paper-quick' : 'paper';
  const name = o.name ?? (custom ? `${base}-${pretrain}-${classification}-${qa}`.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 48) : base);
  const stages = o.quick
    ? [
        { name: 'pretrain', task: 'mlm', dataset: pretrain, steps: 250, batchSize: 16, warmupSteps: 25, evalBatches: 8 },
        { name: 'classification', task: 'classification', dataset: classification, steps: 120, batchSize: 16, lr: 5e-4, warmupSteps: 12, evalBatches: 16 },
        { name: 'qa', task: 'qa', dataset: qa, steps: 150, batchSize: 16, lr: 5e-4, warmupSteps: 15, evalBatches: 20 },
      ]
    : [
        { name: 'pretrain', task: 'mlm', dataset: pretrain, steps: 3000, batchSize: 32, warmupSteps: 300, evalEvery: 500, evalBatches: 50 },
        { name: 'classification', task: 'classification', dataset: classification, epochs: 2, batchSize: 32, lr: 5e-4, warmupSteps: 50, evalBatches: 0 },
        { name: 'qa', task: 'qa', dataset: qa, epochs: 2, batchSize: 32, lr: 5e-4, warmupSteps: 50, evalBatches: 0 },
      ];
  return {
    name,
    description:
      "The BERT-LSH paper's experiment (Tables 2-4): BERT-tiny pretrained with masked LM, then fine-tuned from it on classification and QA, " +
      `with exact, bert-lsh (2 bands, table 64, 1 hash), bert-lsh fill=masked, yoso and reformer attention, 3 seeds${o.quick ? ' (quick budget)' : ''}.`,
    seeds: PAPER_SEEDS,
    variants: PAPER_VARIANTS,
    stages,
  };
}
