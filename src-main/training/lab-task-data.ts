/** lab-task-data.ts: placeholder until lab/task-data.ts lands (work in progress this session). */
import type { TaskData } from './loop.js';
import type { RunSpec } from './spec.js';

export async function loadLabTaskData(dataDir: string, spec: RunSpec): Promise<TaskData> {
  throw new Error(`dataset ${spec.dataset} in ${dataDir}: lab datasets are not wired yet`);
}
