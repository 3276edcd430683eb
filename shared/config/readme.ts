import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SETTINGS, type Program, type Setting, type SettingGroup } from './settings.js';

/**
 * The README's configuration tables, written from the declaration: `npm run config:readme`
 * rewrites them, and a test fails while the README says otherwise.
 */

export const BEGIN = '<!-- configuration tables: begin -->';
export const END = '<!-- configuration tables: end -->';

const GROUPS: Record<SettingGroup, string> = {
  api: 'The API, on AWS and in embedded mode, and what every program shares:',
  embedded: 'Embedded mode only (`npm start`):',
  reconciler:
    'The reconciler, which the reconcile and sweep functions run, and the event functions (on AWS the CDK app sets all of these):',
  sweep: 'The sweep and the wake function:',
};

const PROGRAMS: Record<Program, string> = {
  api: 'API',
  wake: 'wake',
  reconciler: 'reconciler',
  sweep: 'sweep',
  'task-events': 'task events',
  'stream-publisher': 'publisher',
  'tenant-data': 'tenant data',
  embedded: 'embedded',
};

/** `` `60`; `5` in the CDK app ``: the default, locally and on AWS, then what the CDK app does. */
export function defaultCell(setting: Setting): string {
  const parts: string[] = [];
  if (setting.localDefault !== undefined) parts.push(`\`${setting.localDefault}\` locally`);
  if (setting.default !== undefined) parts.push(`\`${setting.default}\``);
  else if (setting.unset !== undefined) parts.push(setting.unset);
  else parts.push(setting.localDefault !== undefined ? 'required on AWS' : 'required');
  if (setting.note !== undefined) parts.push(setting.note);
  return parts.join('; ');
}

export function configurationTables(): string {
  const settings = Object.entries(SETTINGS as Record<string, Setting>);
  const tables = (Object.keys(GROUPS) as SettingGroup[]).map((group) =>
    [
      GROUPS[group],
      '',
      '| Variable | Default | Read by | Meaning |',
      '| --- | --- | --- | --- |',
      ...settings
        .filter(([, setting]) => setting.group === group)
        .map(
          ([name, setting]) =>
            `| \`${name}\` | ${defaultCell(setting)} | ${setting.readBy.map((program) => PROGRAMS[program]).join(', ')} | ${setting.meaning} |`,
        ),
    ].join('\n'),
  );
  return [BEGIN, ...tables, END].join('\n\n');
}

/** The README with its configuration tables replaced by `tables`. */
export function withTables(readme: string, tables: string): string {
  const begin = readme.indexOf(BEGIN);
  const end = readme.indexOf(END);
  if (begin === -1 || end < begin) throw new Error(`README.md has no ${BEGIN} … ${END} section`);
  return readme.slice(0, begin) + tables + readme.slice(end + END.length);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const path = fileURLToPath(new URL('../../README.md', import.meta.url));
  writeFileSync(path, withTables(readFileSync(path, 'utf8'), configurationTables()));
}
