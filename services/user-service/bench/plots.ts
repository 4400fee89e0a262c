/** The report's plots: Vega specs rendered to SVG headlessly (no browser, no canvas). */
import { parse, type Spec, View } from 'vega';
import { SCALING_CASES } from './list-scaling.js';
import type { DbResult } from './results.js';

const FONT = { labelFont: 'sans-serif', titleFont: 'sans-serif' };

export async function renderSvg(spec: Spec): Promise<string> {
  const view = new View(parse(spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return `${svg}\n`;
}

/** Horizontal grouped bars (log scale): each workload's req/s next to the limit it is compared with. */
export function throughputSpec(r: DbResult): Spec {
  const values = Object.values(r.workloads).flatMap((w) => [
    {
      workload: w.label,
      series: 'service',
      value: w.median.rps,
      label: `${Math.round(w.median.rps)}/s (${Math.round(w.ratio * 100)}%)`,
    },
    { workload: w.label, series: `limit`, value: w.limitRps, label: `${Math.round(w.limitRps)}/s ${w.limit}` },
  ]);
  const positive = values.map((v) => v.value).filter((v) => v > 0);
  const lo = 10 ** Math.floor(Math.log10(Math.min(...positive, 10)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...positive, 10) * 3));
  return {
    $schema: 'https://vega.github.io/schema/vega/v6.json',
    width: 560,
    height: 22 * values.length,
    padding: 5,
    title: {
      text: `Throughput against its limit, ${r.db}, ${r.options.users} users (medians of ${r.options.rounds} rounds)`,
    },
    data: [{ name: 'table', values }],
    scales: [
      { name: 'y', type: 'band', domain: { data: 'table', field: 'workload' }, range: 'height', padding: 0.2 },
      { name: 'x', type: 'log', domain: [lo, hi], range: 'width' },
      { name: 'color', type: 'ordinal', domain: ['service', 'limit'], range: ['#4c78a8', '#bab0ac'] },
    ],
    axes: [
      { orient: 'left', scale: 'y', tickSize: 0, labelPadding: 4, labelLimit: 220, ...FONT },
      { orient: 'bottom', scale: 'x', title: 'requests per second (log scale)', grid: true, ...FONT },
    ],
    legends: [{ fill: 'color', orient: 'top', direction: 'horizontal', ...FONT }],
    marks: [
      {
        type: 'group',
        from: { facet: { data: 'table', name: 'facet', groupby: 'workload' } },
        encode: { enter: { y: { scale: 'y', field: 'workload' } } },
        signals: [{ name: 'height', update: "bandwidth('y')" }],
        scales: [{ name: 'pos', type: 'band', range: 'height', domain: { data: 'facet', field: 'series' } }],
        marks: [
          {
            name: 'bars',
            type: 'rect',
            from: { data: 'facet' },
            encode: {
              enter: {
                y: { scale: 'pos', field: 'series' },
                height: { scale: 'pos', band: 1 },
                x: { scale: 'x', value: lo },
                x2: { scale: 'x', field: 'value' },
                fill: { scale: 'color', field: 'series' },
              },
            },
          },
          {
            type: 'text',
            from: { data: 'bars' },
            encode: {
              enter: {
                x: { field: 'x2', offset: 4 },
                y: { field: 'y', offset: { field: 'height', mult: 0.5 } },
                baseline: { value: 'middle' },
                fontSize: { value: 9 },
                fill: { value: '#333' },
                text: { field: 'datum.label' },
              },
            },
          },
        ],
      },
    ],
  };
}

/** p50 latency of a list page (one request at a time) against table size: offset vs cursor, and search. */
export function listLatencySpec(r: DbResult): Spec {
  const values = r.listScaling.flatMap((point) =>
    SCALING_CASES.flatMap((c) => {
      const stat = point.cases[c];
      return stat ? [{ size: point.size, case: c, p50: stat.p50 }] : [];
    }),
  );
  const p50s = values.map((v) => v.p50).filter((v) => v > 0);
  return {
    $schema: 'https://vega.github.io/schema/vega/v6.json',
    width: 480,
    height: 280,
    padding: 5,
    title: { text: `List page of 20 (with total) and search: p50 latency vs table size, ${r.db}` },
    data: [{ name: 'table', values }],
    scales: [
      { name: 'x', type: 'log', domain: { data: 'table', field: 'size' }, range: 'width', padding: 20 },
      {
        name: 'y',
        type: 'log',
        domain: [Math.min(...p50s, 5) / 1.5, Math.max(...p50s, 5) * 1.5],
        range: 'height',
        nice: true,
      },
      { name: 'color', type: 'ordinal', domain: [...SCALING_CASES], range: 'category' },
    ],
    axes: [
      {
        orient: 'bottom',
        scale: 'x',
        title: 'users in the table (log scale)',
        grid: true,
        format: '~s',
        values: r.listScaling.map((p) => p.size),
        ...FONT,
      },
      { orient: 'left', scale: 'y', title: 'p50 ms, one request at a time (log scale)', grid: true, ...FONT },
    ],
    legends: [{ stroke: 'color', fill: 'color', title: 'page', ...FONT }],
    marks: [
      {
        type: 'rule',
        encode: {
          enter: {
            x: { value: 0 },
            x2: { signal: 'width' },
            y: { scale: 'y', value: 5 },
            stroke: { value: '#d62728' },
            strokeDash: { value: [4, 4] },
          },
        },
      },
      {
        type: 'text',
        encode: {
          enter: {
            x: { signal: 'width', offset: -4 },
            y: { scale: 'y', value: 5, offset: -4 },
            align: { value: 'right' },
            fill: { value: '#d62728' },
            fontSize: { value: 10 },
            text: { value: 'target for list pages at 1M: p50 < 5 ms' },
          },
        },
      },
      {
        type: 'group',
        from: { facet: { name: 'series', data: 'table', groupby: 'case' } },
        marks: [
          {
            type: 'line',
            from: { data: 'series' },
            encode: {
              enter: {
                x: { scale: 'x', field: 'size' },
                y: { scale: 'y', field: 'p50' },
                stroke: { scale: 'color', field: 'case' },
                strokeWidth: { value: 2 },
              },
            },
          },
          {
            type: 'symbol',
            from: { data: 'series' },
            encode: {
              enter: {
                x: { scale: 'x', field: 'size' },
                y: { scale: 'y', field: 'p50' },
                fill: { scale: 'color', field: 'case' },
                size: { value: 40 },
              },
            },
          },
        ],
      },
    ],
  };
}
