// Fixed-width text tables for stdout and Markdown tables for the results files.

export type Cell = string | number | null;
export interface Table {
  readonly title: string;
  readonly headers: readonly string[];
  readonly rows: readonly (readonly Cell[])[];
}

/** Formats a number with about three significant digits; null as a dash. */
export function fmt(v: Cell): string {
  if (v === null) return '—';
  if (typeof v === 'string') return v;
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toPrecision(3);
}

/** A plain text table: numbers right-aligned, text left-aligned. */
export function textTable(t: Table): string {
  const cells = t.rows.map((r) => r.map(fmt));
  const widths = t.headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[], raw: readonly Cell[] | null): string => r
    .map((c, i) => (raw !== null && typeof raw[i] === 'number' ? c.padStart(widths[i]) : c.padEnd(widths[i])))
    .join('  ').trimEnd();
  const out = [t.title, line(t.headers, null), widths.map((w) => '-'.repeat(w)).join('  ')];
  cells.forEach((r, i) => out.push(line(r, t.rows[i])));
  return `${out.join('\n')}\n`;
}

/** A GitHub-flavoured Markdown table with a heading. */
export function markdownTable(t: Table): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  const out = [`### ${t.title}`, '', `| ${t.headers.map(esc).join(' | ')} |`,
    `|${t.headers.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
  for (const r of t.rows) out.push(`| ${r.map((c) => esc(fmt(c))).join(' | ')} |`);
  return `${out.join('\n')}\n`;
}
