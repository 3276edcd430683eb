import { runCli, type CliEnvironment } from '../../cli/main.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `dormouse …` in this process, as a terminal would, and keeps what it printed. */
export async function dormouse(argv: string[], environment: Partial<CliEnvironment> = {}): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    env: {},
    pollMs: 100,
    ...environment,
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
  });
  return { code, stdout, stderr };
}
