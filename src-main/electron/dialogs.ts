/**
 * dialogs.ts: the native open-file dialog behind `window.lshlab.openFileDialog()`. The renderer
 * cannot read local paths by itself (sandboxed, no Node): the user picks a dataset file here and
 * the page gets its absolute path, which it passes to the datasets.import operation. The dialog is
 * modal to the window that asked, and shows the importers' formats first, by dataset kind.
 *
 * Checked like ipc.ts: our origin only; `options` may only hold a known `kind` (anything else is
 * 'bad-request'). It reads no file itself and grants nothing: the import's own checks apply.
 *
 * It does not import electron at runtime: main.ts passes ipcMain, dialog and BrowserWindow in.
 */
import type { BrowserWindow, Dialog, IpcMain, IpcMainInvokeEvent, OpenDialogOptions, WebContents } from 'electron';
import type { ApiResponse } from '../api/contract.js';
import type { DatasetKind } from '../data/types.js';
import { IPC_CHANNELS } from './channels.js';
import { failure, FOREIGN_SENDER_MESSAGE, isTrustedSender, toWireError, type IpcLog } from './ipc.js';

const KINDS: readonly DatasetKind[] = ['text', 'classification', 'qa'];

/** File filters per dataset kind: the formats the importers read (see docs/cli.md). */
export function datasetFileFilters(kind?: DatasetKind): Electron.FileFilter[] {
  const byKind: Record<DatasetKind, Electron.FileFilter> = {
    text: { name: 'Text corpora (txt, jsonl, csv, tsv, parquet)', extensions: ['txt', 'text', 'jsonl', 'csv', 'tsv', 'parquet'] },
    classification: { name: 'Labelled examples (csv, tsv, jsonl, parquet)', extensions: ['csv', 'tsv', 'jsonl', 'parquet'] },
    qa: { name: 'Question answering (SQuAD json, jsonl, parquet)', extensions: ['json', 'jsonl', 'parquet'] },
  };
  const all: Electron.FileFilter = { name: 'All files', extensions: ['*'] };
  if (kind) return [byKind[kind], all];
  return [{ name: 'Datasets', extensions: ['txt', 'text', 'jsonl', 'json', 'csv', 'tsv', 'parquet'] }, all];
}

export function parseDialogOptions(raw: unknown): { kind?: DatasetKind } | { error: string } {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) return { error: 'options: expected an object' };
  const extra = Object.keys(raw).filter((k) => k !== 'kind');
  if (extra.length > 0) return { error: extra.map((k) => `options.${k}: unknown field`).join('; ') };
  const kind = (raw as { kind?: unknown }).kind;
  if (kind === undefined) return {};
  if (typeof kind !== 'string' || !KINDS.includes(kind as DatasetKind))
    return { error: `options.kind: expected one of ${KINDS.join(', ')}` };
  return { kind: kind as DatasetKind };
}

export interface DialogDeps {
  dialog: Pick<Dialog, 'showOpenDialog'>;
  /** BrowserWindow.fromWebContents, to make the dialog modal to the asking window. */
  windowOf: (contents: WebContents) => BrowserWindow | null;
  log?: IpcLog;
}

/** Handles one open-file request (exported for tests). */
export async function handleOpenFileDialog(deps: DialogDeps, event: Pick<IpcMainInvokeEvent, 'senderFrame' | 'sender'>, rawOptions: unknown): Promise<ApiResponse<string | null>> {
  if (!isTrustedSender(event)) return failure('forbidden', FOREIGN_SENDER_MESSAGE);
  const options = parseDialogOptions(rawOptions);
  if ('error' in options) return failure('bad-request', `openFileDialog: ${options.error}`);
  const dialogOptions: OpenDialogOptions = {
    title: 'Import a dataset file',
    properties: ['openFile'],
    filters: datasetFileFilters(options.kind),
  };
  try {
    const win = deps.windowOf(event.sender);
    const r = win ? await deps.dialog.showOpenDialog(win, dialogOptions) : await deps.dialog.showOpenDialog(dialogOptions);
    return { ok: true, result: r.canceled || r.filePaths.length === 0 ? null : r.filePaths[0]! };
  } catch (err) {
    return { ok: false, error: toWireError(err, deps.log) };
  }
}

export function setupDialogs(ipcMain: Pick<IpcMain, 'handle'>, deps: DialogDeps): void {
  ipcMain.handle(IPC_CHANNELS.openFileDialog, (event, options: unknown) => handleOpenFileDialog(deps, event, options));
}
