/**
 * handler.ts: the shape of an operation's implementation: it gets the API context and the payload
 * already validated by the contract, and returns the operation's result. Each feature file
 * (datasets.ts, runs.ts, ...) exports the handlers of its operations; lab-api.ts joins them and
 * checks at compile time that every operation of the contract has exactly one.
 */
import type { OpName, OpPayload, OpResult } from './contract.js';
import type { ApiContext } from './context.js';

export type Handler<O extends OpName> = (ctx: ApiContext, payload: OpPayload<O>) => Promise<OpResult<O>> | OpResult<O>;
export type Handlers<K extends OpName> = { [O in K]: Handler<O> };
