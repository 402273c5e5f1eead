// A small line chart on a <canvas>, with no library: a few series sharing
// one y axis from 0, the latest `capacity` points of each, and a legend
// with the latest values.
//
// After every draw the canvas carries what it shows: `data-values` (JSON,
// one array per series, oldest first) and `data-draws` (how many draws),
// so a test or a tool can read the drawn values.
"use strict";

class LineChart {
  constructor(canvas, series, capacity = 60) {
    this.canvas = canvas;
    this.series = series; // [{ name, color }]
    this.capacity = capacity;
    this.values = series.map(() => []);
    this.draws = 0;
    window.addEventListener("resize", () => this.draw());
    this.draw();
  }

  // Adds one point to each series, in the order of the series.
  push(...points) {
    points.forEach((point, i) => {
      const values = this.values[i];
      values.push(point);
      if (values.length > this.capacity) values.shift();
    });
    this.draw();
  }

  draw() {
    const { canvas } = this;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);

    const plot = { left: 56, top: 26, right: width - 8, bottom: height - 6 };
    const max = roundUp(Math.max(1, ...this.values.flat()));
    // The x axis widens with the data up to `capacity` points, so the
    // lines span the chart from the first seconds on; then it scrolls.
    const slots = Math.max(10, ...this.values.map((values) => values.length));
    const x = (i) => plot.left + (i * (plot.right - plot.left)) / (slots - 1);
    const y = (value) => plot.bottom - (value / max) * (plot.bottom - plot.top);

    ctx.font = "11px system-ui, sans-serif";
    ctx.lineWidth = 1;
    ctx.strokeStyle = "#e3e6ee";
    ctx.fillStyle = "#667085";
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (let step = 0; step <= 5; step++) {
      const value = (max * step) / 5;
      ctx.beginPath();
      ctx.moveTo(plot.left, y(value));
      ctx.lineTo(plot.right, y(value));
      ctx.stroke();
      ctx.fillText(compact(value), plot.left - 6, y(value));
    }

    ctx.lineWidth = 2;
    this.values.forEach((values, s) => {
      const first = slots - values.length; // newest at the right edge
      ctx.strokeStyle = ctx.fillStyle = this.series[s].color;
      ctx.beginPath();
      values.forEach((value, i) => ctx.lineTo(x(first + i), y(value)));
      ctx.stroke();
      if (values.length > 0) {
        ctx.beginPath();
        ctx.arc(x(slots - 1), y(values[values.length - 1]), 3, 0, 2 * Math.PI);
        ctx.fill();
      }
    });

    ctx.textAlign = "left";
    ctx.textBaseline = "alphabetic";
    let left = plot.left;
    this.series.forEach(({ name, color }, s) => {
      const values = this.values[s];
      const label = `${name}: ${values.length ? compact(values[values.length - 1]) : "–"}`;
      ctx.fillStyle = color;
      ctx.fillRect(left, 6, 10, 10);
      ctx.fillStyle = "#1d2330";
      ctx.fillText(label, left + 14, 15);
      left += ctx.measureText(label).width + 32;
    });

    this.draws += 1;
    canvas.dataset.values = JSON.stringify(this.values);
    canvas.dataset.draws = String(this.draws);
  }
}

// The smallest 1, 2 or 5 times a power of ten at or above `value`.
function roundUp(value) {
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((m) => m * power).find((nice) => nice >= value);
}

// 1234567 -> "1.2M".
function compact(value) {
  for (const [unit, size] of [["G", 1e9], ["M", 1e6], ["k", 1e3]]) {
    if (Math.abs(value) >= size) return `${(value / size).toFixed(1)}${unit}`;
  }
  return String(Math.round(value * 10) / 10);
}
