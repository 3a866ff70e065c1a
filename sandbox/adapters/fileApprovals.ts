// A restore's approval on the sandbox (functions/steps/AwaitApproval.ts LocalApprovalPort): files beside
// the run records, in `<run store>/.approvals/`:
//
//   file                     written by                                          once
//   <runId>.request.json     AwaitApproval: the request, its deadline             the first request stands (a resumed run keeps its deadline)
//   <runId>.answer.json      `etcd-replace approve RUN_ID --target sandbox`:       the first answer stands; AwaitApproval writes
//                            approved or declined, who and when                   timed-out when the deadline passes unanswered
//
// Each file is written whole to a temporary name, then linked to its own name, which fails when the file
// exists: two answers at once, or an answer and the deadline, never both stand.

import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RefusedError, errorMessage } from '../../functions/errors.ts';
import type { ApprovalAnswer, LocalApprovalPort, LocalApprovalRequest } from '../../functions/steps/AwaitApproval.ts';
import * as validate from '../../functions/validate.ts';

/** `node:fs`'s error code, or undefined. */
function codeOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | null)?.code;
}

export class FileApprovals implements LocalApprovalPort {
  readonly dir: string;

  /** `runsDir`: the run store's folder (FileRunStore.dir). */
  constructor(runsDir: string) {
    this.dir = join(runsDir, '.approvals');
  }

  approveCommand(runId: string, cluster: string): string {
    return `etcd-replace approve ${runId} --target sandbox --sandbox ${cluster}`;
  }

  private path(runId: string, kind: 'request' | 'answer'): string {
    return join(this.dir, `${validate.runId('runId', runId)}.${kind}.json`);
  }

  /** Writes `value` as the file, unless it exists: false then, and the file is left as it was. */
  private async createOnce(file: string, value: unknown): Promise<boolean> {
    await mkdir(this.dir, { recursive: true });
    const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(temporary, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
    try {
      await link(temporary, file);
      return true;
    } catch (error) {
      if (codeOf(error) === 'EEXIST') return false;
      throw error;
    } finally {
      await unlink(temporary).catch(() => undefined);
    }
  }

  private async read<T>(file: string): Promise<T | null> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if (codeOf(error) === 'ENOENT') return null;
      throw error;
    }
    try {
      return JSON.parse(text) as T;
    } catch (error) {
      throw new Error(`approval file ${file} is not JSON: ${errorMessage(error)}`, { cause: error });
    }
  }

  async request(request: LocalApprovalRequest): Promise<{ kept: LocalApprovalRequest; first: boolean }> {
    const file = this.path(request.runId, 'request');
    if (await this.createOnce(file, request)) return { kept: request, first: true };
    const kept = await this.read<LocalApprovalRequest>(file);
    if (!kept) throw new Error(`approval request ${file} vanished while it was read`);
    return { kept, first: false };
  }

  /** The run's request, or null when it never asked. */
  pending(runId: string): Promise<LocalApprovalRequest | null> {
    return this.read<LocalApprovalRequest>(this.path(runId, 'request'));
  }

  answer(runId: string): Promise<ApprovalAnswer | null> {
    return this.read<ApprovalAnswer>(this.path(runId, 'answer'));
  }

  async expire(runId: string, at: string): Promise<ApprovalAnswer> {
    const timedOut: ApprovalAnswer = { answer: 'timed-out', at };
    if (await this.createOnce(this.path(runId, 'answer'), timedOut)) return timedOut;
    const first = await this.answer(runId);
    if (!first) throw new Error(`approval answer of run ${runId} vanished while it was read`);
    return first;
  }

  /**
   * Answers the run's pending request (`etcd-replace approve`), once. RefusedError (exit 3) when nothing is
   * pending: the run never asked, it was answered already, or its deadline has passed.
   */
  async give(runId: string, answer: Exclude<ApprovalAnswer, { answer: 'timed-out' }>): Promise<void> {
    const request = await this.pending(runId);
    if (!request) throw new RefusedError(`run ${runId} has no pending approval: no such run waits for one`);
    const earlier = await this.answer(runId);
    if (earlier) throw new RefusedError(`run ${runId} has no pending approval: ${answerText(earlier)}; nothing was answered`);
    if (Date.parse(answer.at) >= Date.parse(request.expiresAt)) {
      throw new RefusedError(`run ${runId} has no pending approval: it timed out at ${request.expiresAt}; nothing was answered`);
    }
    if (!(await this.createOnce(this.path(runId, 'answer'), answer))) {
      const first = await this.answer(runId);
      throw new RefusedError(`run ${runId} has no pending approval: ${first ? answerText(first) : 'it was answered meanwhile'}; nothing was answered`);
    }
  }
}

/** An answer as a refusal names it. */
function answerText(answer: ApprovalAnswer): string {
  return answer.answer === 'timed-out' ? `it timed out at ${answer.at}` : `it was ${answer.answer} by ${answer.by} at ${answer.at}`;
}
