/**
 * Text from tenants (log lines, error reasons) made safe for a terminal: control characters,
 * escape sequences among them, are shown as \u escapes instead of acting on the terminal.
 */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Columns padded to their widest cell; the last column is not padded, so lines end cleanly. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => printable(row[column] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map(printable)
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

/** `label  value` lines for one record, skipping what it does not have. */
export function fields(entries: [string, string | number | undefined][]): string {
  const present = entries.filter((entry): entry is [string, string | number] => entry[1] !== undefined && entry[1] !== '');
  const width = Math.max(...present.map(([label]) => label.length));
  return present.map(([label, value]) => `${`${label}:`.padEnd(width + 1)}  ${printable(String(value))}`).join('\n') + '\n';
}

/** An ISO timestamp to the second, in UTC: short enough for a table, still sortable. */
export function shortTime(iso: string | undefined): string {
  if (!iso) return '-';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : `${date.toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

export function money(cost: { amount: number; currency: string } | undefined): string {
  return cost ? `${cost.amount.toFixed(4)} ${cost.currency}` : '-';
}

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}
