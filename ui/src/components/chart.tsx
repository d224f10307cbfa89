// A uPlot time-series chart sized to its box; the data is swapped in place on every update.
import { useEffect, useRef } from 'preact/hooks';
import uPlot, { type AlignedData, type Options } from 'uplot';

export interface Series {
  label: string;
  color: string;
  format?: (v: number) => string;
}

export function Chart(props: { title: string; series: Series[]; data: (number | null)[][]; yFormat?: (v: number) => string; testid?: string }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const el = box.current!;
    const fmt = props.yFormat ?? ((v: number) => String(v));
    const opts: Options = {
      width: Math.max(el.clientWidth, 200),
      height: 180,
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] } },
      axes: [
        {
          stroke: 'currentColor',
          grid: { stroke: 'rgba(128,128,128,0.15)' },
          ticks: { stroke: 'rgba(128,128,128,0.3)' },
          space: 70,
          values: (_u, vals) => vals.map((v) => new Date(v * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' })),
        },
        { stroke: 'currentColor', size: 60, grid: { stroke: 'rgba(128,128,128,0.15)' }, ticks: { stroke: 'rgba(128,128,128,0.3)' }, values: (_u, vals) => vals.map((v) => fmt(v)) },
      ],
      series: [{}, ...props.series.map((s) => ({ label: s.label, stroke: s.color, width: 2, spanGaps: false, value: (_u: uPlot, v: number | null) => (v === null ? '–' : (s.format ?? fmt)(v)) }))],
    };
    plot.current = new uPlot(opts, props.data as AlignedData, el);
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(el.clientWidth, 200), height: 180 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [props.series.length]);

  useEffect(() => {
    plot.current?.setData(props.data as AlignedData);
  }, [props.data]);

  return (
    <div class="card chart" data-testid={props.testid}>
      <h3>{props.title}</h3>
      <div ref={box} />
    </div>
  );
}
