import * as Plot from '@observablehq/plot';
import { useEffect, useRef } from 'react';

/** An Observable Plot figure rendered into a div (SVG: readable by screen readers and tests). */
export function Chart({ options, label }: { options: Plot.PlotOptions; label: string }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const width = Math.max(320, Math.min(el.clientWidth || 640, 960));
    const fig = Plot.plot({ width, style: { fontSize: '13px', background: 'transparent' }, ariaLabel: label, ...options });
    el.replaceChildren(fig);
    return () => fig.remove();
  }, [options, label]);
  return <figure className="chart" ref={ref} aria-label={label} />;
}

export interface Bar {
  label: string;
  value: number;
  low: number;
  high: number;
}
/** Bars with their confidence intervals drawn as error bars. */
export function intervalChart(bars: Bar[], unit: string): Plot.PlotOptions {
  return {
    marginLeft: 140,
    x: { label: unit, grid: true },
    y: { label: null, domain: bars.map((b) => b.label) },
    marks: [
      Plot.barX(bars, { y: 'label', x: 'value', fill: '#3b6fb6', title: (b: Bar) => `${b.label}: ${b.value.toFixed(1)} [${b.low.toFixed(1)}, ${b.high.toFixed(1)}]` }),
      Plot.ruleY(bars, { y: 'label', x1: 'low', x2: 'high', stroke: '#111', strokeWidth: 2, className: 'interval' }),
      Plot.tickX(bars, { y: 'label', x: 'low', stroke: '#111' }),
      Plot.tickX(bars, { y: 'label', x: 'high', stroke: '#111' }),
      Plot.ruleX([0]),
    ],
  };
}
