// What a CLI command run in-process writes: stdout and stderr captured with vitest spies. Start it in
// a beforeEach (or a test), read `.out` and `.err`, and restore with vi.restoreAllMocks().

import { vi } from 'vitest';

export interface CapturedOutput {
  out: string;
  err: string;
}

export function captureOutput(): CapturedOutput {
  const captured: CapturedOutput = { out: '', err: '' };
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    captured.out += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    captured.err += String(chunk);
    return true;
  });
  return captured;
}
