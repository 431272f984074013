// Hand-written SVG grouped bar chart (no dependencies): one group per config, one bar per series.

export interface ChartGroup {
  readonly label: string;
  /** One value per series, in series order; null leaves a gap. */
  readonly values: readonly (number | null)[];
}
export interface ChartSpec {
  readonly title: string;
  readonly yLabel: string;
  readonly series: readonly string[];
  readonly groups: readonly ChartGroup[];
  /** A dashed horizontal reference line (e.g. 1.0 for speedups). */
  readonly referenceLine?: number;
}

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#9c755f'];
const BAR_W = 14;
const GROUP_GAP = 18;
const MARGIN = { left: 64, right: 24, top: 56, bottom: 110 };
const PLOT_H = 300;

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A "nice" tick step (1, 2 or 5 × 10^e) giving about five ticks up to `max`. */
function tickStep(max: number): number {
  const raw = max / 5;
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

function label(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

/** Renders the chart as a standalone SVG document. */
export function renderChart(spec: ChartSpec): string {
  const groupW = spec.series.length * BAR_W + GROUP_GAP;
  const plotW = Math.max(groupW * spec.groups.length, 760);
  const width = MARGIN.left + plotW + MARGIN.right;
  const height = MARGIN.top + PLOT_H + MARGIN.bottom;
  const all = spec.groups.flatMap((g) => g.values.filter((v): v is number => v !== null && Number.isFinite(v)));
  const max = Math.max(...all, spec.referenceLine ?? 0, 1e-9) * 1.1;
  const step = tickStep(max);
  const y = (v: number): number => MARGIN.top + PLOT_H - (v / max) * PLOT_H;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(spec.title)}</text>`,
    `<text transform="translate(16 ${MARGIN.top + PLOT_H / 2}) rotate(-90)" text-anchor="middle">${esc(spec.yLabel)}</text>`,
  ];
  for (let t = 0; t <= max; t += step) {
    out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#ddd"/>`,
      `<text x="${MARGIN.left - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end">${label(t)}</text>`);
  }
  spec.groups.forEach((g, gi) => {
    const x0 = MARGIN.left + gi * groupW + GROUP_GAP / 2;
    g.values.forEach((v, si) => {
      if (v === null || !Number.isFinite(v)) return;
      const x = x0 + si * BAR_W;
      out.push(`<rect x="${x}" y="${y(v).toFixed(1)}" width="${BAR_W - 2}" height="${(y(0) - y(v)).toFixed(1)}" ` +
        `fill="${PALETTE[si % PALETTE.length]}"><title>${esc(`${g.label} ${spec.series[si]}: ${label(v)}`)}</title></rect>`);
      out.push(`<text transform="translate(${x + BAR_W / 2} ${(y(v) - 3).toFixed(1)}) rotate(-90)" font-size="8">${label(v)}</text>`);
    });
    const cx = x0 + (spec.series.length * BAR_W) / 2;
    out.push(`<text transform="translate(${cx} ${MARGIN.top + PLOT_H + 12}) rotate(-40)" text-anchor="end">${esc(g.label)}</text>`);
  });
  out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${y(0)}" y2="${y(0)}" stroke="#333"/>`);
  if (spec.referenceLine !== undefined) {
    const ry = y(spec.referenceLine).toFixed(1);
    out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${ry}" y2="${ry}" stroke="#333" stroke-dasharray="4 3"/>`);
  }
  spec.series.forEach((s, si) => {
    const lx = MARGIN.left + (si % 4) * 180;
    const ly = 34 + Math.floor(si / 4) * 14;
    out.push(`<rect x="${lx}" y="${ly - 9}" width="10" height="10" fill="${PALETTE[si % PALETTE.length]}"/>`,
      `<text x="${lx + 14}" y="${ly}">${esc(s)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
