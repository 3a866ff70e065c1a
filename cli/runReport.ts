// How a run shows itself on the command line: progress lines on stderr while it runs (▶ ✓ ✗ –), and
// the run view (functions/workflow/runView.ts) on stdout with --json, or its timeline.

import type { RunRecord } from '../functions/ports.ts';
import type { ProgressEvent } from '../functions/workflow/localRun.ts';
import { formatRunView, runViewOfRecord } from '../functions/workflow/runView.ts';
import { progress } from './common.ts';

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

export function printProgress(event: ProgressEvent): void {
  switch (event.type) {
    case 'step-start':
      if (event.attempt === 1) progress(`▶ ${event.step}`);
      else progress(`  ↻ ${event.step} attempt ${event.attempt}`);
      break;
    case 'step-retry':
      progress(`  ! ${event.error} — retrying in ${event.delaySeconds}s`);
      break;
    case 'step-end': {
      const mark = event.status === 'failed' ? '✗' : event.status === 'skipped' ? '–' : '✓';
      progress(`${mark} ${event.step} ${seconds(event.ms)}${event.detail ? `: ${event.detail}` : ''}`);
      break;
    }
    case 'state':
      if (event.state === 'WaitGraceWindow') progress('… WaitGraceWindow: observing the failure again once the grace window has passed');
      break;
    case 'end':
      break;
  }
}

/** The timeline of a run record: where it ran and who started it, then the run view's lines. */
export function formatTimeline(record: RunRecord): string {
  return formatRunView(runViewOfRecord(record), `run ${record.runId} on ${record.cluster} (${record.target}), started by ${record.startedBy} at ${record.startedAt}`);
}
