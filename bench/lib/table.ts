import type { Row, SectionResult } from './types.js';

export interface Report {
  date: Date;
  machine: { cpu: string; cores: number; memoryGiB: number; os: string; node: string };
  /** Short commit, noting uncommitted changes outside bench/. */
  commit: string;
  totalMs: number;
  sections: Array<{ title: string; durationMs: number } & SectionResult>;
}

const COLUMNS = ['Section', 'Case', 'Metric', 'Value', 'Target', 'Result'] as const;

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function result(row: Row): string {
  if (row.pass === undefined) return '';
  return row.pass ? 'pass' : '**FAIL**';
}

/** The combined table, with the date and machine it was measured on, and the notes under it. */
export function renderMarkdown({ date, machine, commit, totalMs, sections }: Report): string {
  const lines = [
    `Measured ${date.toISOString().slice(0, 16).replace('T', ' ')} UTC at commit ${commit}, on ${machine.cpu} (${machine.cores} cores, ` +
      `${machine.memoryGiB} GiB), ${machine.os}, Node ${machine.node}. The bench took ${(totalMs / 1000).toFixed(0)} s ` +
      `(${sections.map((section) => `${section.title.toLowerCase()} ${(section.durationMs / 1000).toFixed(0)} s`).join(', ')}).`,
    '',
    `| ${COLUMNS.join(' | ')} |`,
    `| ${COLUMNS.map(() => '---').join(' | ')} |`,
  ];
  for (const section of sections) {
    for (const row of section.rows) {
      lines.push(`| ${[row.section, row.case, row.metric, row.value, row.target ?? '', result(row)].map(cell).join(' | ')} |`);
    }
  }
  const notes = sections.flatMap((section) => section.notes ?? []);
  if (notes.length > 0) lines.push('', ...notes.map((note) => `- ${note}`));
  return lines.join('\n');
}
