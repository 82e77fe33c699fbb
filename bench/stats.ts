// Small helpers the benchmark scripts share.
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function worst(xs: number[]): number {
  return Math.max(...xs);
}

export const ms = (x: number) => `${x.toFixed(1)} ms`;

export function summary(label: string, xs: number[]): string {
  return `${label.padEnd(34)} median ${ms(median(xs)).padStart(10)}   worst ${ms(worst(xs)).padStart(10)}   (n=${xs.length})`;
}
