/** A one-line progress bar on a TTY (stderr), or one plain line per update elsewhere. */
export class ProgressBar {
  private readonly start = Date.now();
  private lastDraw = 0;
  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly label: string,
  ) {}

  update(done: number, total: number, detail = '', force = false): void {
    const now = Date.now();
    if (!force && this.out.isTTY && now - this.lastDraw < 100 && done < total) return;
    this.lastDraw = now;
    const frac = total > 0 ? Math.min(1, done / total) : 1;
    const secs = (now - this.start) / 1000;
    const rate = secs > 0 ? done / secs : 0;
    const eta = rate > 0 ? (total - done) / rate : 0;
    const text = `${this.label} ${(frac * 100).toFixed(1).padStart(5)}% ${done}/${total} ${detail} ${rate.toFixed(0)}/s ETA ${fmt(eta)}`;
    if (this.out.isTTY) {
      const width = 30;
      const filled = Math.round(frac * width);
      this.out.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}\x1b[K`);
    } else {
      this.out.write(`${text}\n`);
    }
  }

  finish(message: string): void {
    if (this.out.isTTY) this.out.write('\r\x1b[K');
    this.out.write(`${message} (${fmt((Date.now() - this.start) / 1000)})\n`);
  }
}

function fmt(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${s.toFixed(1)}s`;
}
