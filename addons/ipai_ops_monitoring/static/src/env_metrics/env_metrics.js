/** @odoo-module **/
// The Monitoring tab of an environment: its collected series
// (ops.environment.metrics) drawn with the Chart.js Odoo ships, over
// 1 h / 24 h / 7 d / 30 d, with runs (deploys, builds, restores, backups),
// container events (died, out of memory) and incidents as markers on the time axis.

import { Component, onMounted, onWillUnmount, useRef, useState } from "@odoo/owl";
import { loadBundle } from "@web/core/assets";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { standardWidgetProps } from "@web/views/widgets/standard_widget_props";

const MB = 1024 * 1024;
const CHARTS = [
    { key: "cpu", title: "CPU (% of one core)", series: [["cpu_pct", "total"], ["cpu_http_pct", "HTTP workers"], ["cpu_cron_pct", "cron workers"]] },
    { key: "memory", title: "Memory (MB)", scale: 1 / MB, series: [["mem_bytes", "used"], ["mem_limit_bytes", "limit"]] },
    { key: "requests", title: "Requests by status", bar: true, series: [["req_2xx", "2xx"], ["req_3xx", "3xx"], ["req_4xx", "4xx"], ["req_5xx", "5xx"]] },
    { key: "latency", title: "Response time (ms)", series: [["p50_ms", "p50"], ["p95_ms", "p95"], ["p99_ms", "p99"]] },
    { key: "concurrency", title: "Requests in flight (max)", series: [["concurrency", "concurrency"]] },
    { key: "sql", title: "SQL share of time (%)", scale: 100, series: [["sql_share", "SQL"]] },
    { key: "storage", title: "Database and filestore (MB)", scale: 1 / MB, series: [["db_bytes", "database"], ["filestore_bytes", "filestore"]] },
];
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"];
const RANGE_SECONDS = { "1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400 };

// A point with no measured neighbour is drawn as a dot (a line needs two):
// one sample is a point, a gap stays a gap.
function isolatedRadius(context) {
    const data = context.dataset.data;
    const i = context.dataIndex;
    const value = (j) => (data[j] ? data[j].y : null);
    return value(i) !== null && value(i - 1) === null && value(i + 1) === null ? 3 : 0;
}
const MARKER_COLORS = { deploy: "#6f42c1", build: "#0d6efd", restore: "#fd7e14", backup: "#20c997", rollback: "#6f42c1", die: "#dc3545", oom: "#dc3545", restart: "#ffc107", incident: "#b02a37" };

// Vertical lines at the markers' times, with their label on hover (title).
const markerPlugin = {
    id: "opsMarkers",
    afterDatasetsDraw(chart, _args, options) {
        const { ctx, chartArea, scales } = chart;
        for (const marker of options.markers || []) {
            const x = scales.x.getPixelForValue(marker.t);
            if (x < chartArea.left || x > chartArea.right) {
                continue;
            }
            ctx.save();
            ctx.strokeStyle = MARKER_COLORS[marker.kind] || "#6c757d";
            ctx.setLineDash([4, 3]);
            ctx.beginPath();
            ctx.moveTo(x, chartArea.top);
            ctx.lineTo(x, chartArea.bottom);
            ctx.stroke();
            ctx.restore();
        }
    },
};

export class EnvMetrics extends Component {
    static template = "ipai_ops_monitoring.EnvMetrics";
    static props = { ...standardWidgetProps };

    setup() {
        this.orm = useService("orm");
        this.root = useRef("root");
        this.charts = [];
        this.state = useState({ range: "1h", error: "", empty: false, since: false, markers: [] });
        this.chartDefs = CHARTS;
        onMounted(async () => {
            await loadBundle("web.chartjs_lib");
            await this.load();
            this.timer = setInterval(() => this.state.range === "1h" && this.load(), 60000);
        });
        onWillUnmount(() => {
            clearInterval(this.timer);
            this.destroy();
        });
    }

    destroy() {
        this.charts.forEach((chart) => chart.destroy());
        this.charts = [];
    }

    async setRange(range) {
        this.state.range = range;
        await this.load();
    }

    async load() {
        const envId = this.props.record.resId;
        if (!envId) {
            return;
        }
        let answer;
        try {
            answer = await this.orm.call("ops.environment", "metrics", [[envId]], { since: this.state.range, markers: true });
        } catch (error) {
            this.state.error = (error.data && error.data.message) || error.message || String(error);
            return;
        }
        this.state.error = "";
        this.state.since = answer.collecting_since;
        this.state.empty = !answer.points.length;
        this.state.markers = answer.markers || [];
        this.draw(answer);
    }

    draw(answer) {
        this.destroy();
        const index = Object.fromEntries(answer.columns.map((name, i) => [name, i]));
        // The axis spans the range asked for (markers of its first minutes included), to the minute.
        const end = Date.now();
        const start = end - RANGE_SECONDS[this.state.range] * 1000;
        const times = answer.points.map((point) => Date.parse(point[0].replace(" ", "T") + "Z"));
        const markers = (answer.markers || []).map((m) => ({ ...m, t: Date.parse(m.time.replace(" ", "T") + "Z") }));
        for (const def of CHARTS) {
            const canvas = this.root.el.querySelector(`canvas[data-chart="${def.key}"]`);
            const datasets = def.series
                .filter(([column]) => column in index)
                .map(([column, label], i) => ({
                    label,
                    data: answer.points.map((point, p) => ({
                        x: times[p],
                        y: point[index[column]] === false || point[index[column]] === null ? null : point[index[column]] * (def.scale || 1),
                    })),
                    borderColor: COLORS[i % COLORS.length],
                    backgroundColor: COLORS[i % COLORS.length],
                    pointRadius: def.bar ? undefined : isolatedRadius,
                    pointHoverRadius: 4,
                    borderWidth: 1.5,
                    spanGaps: false,
                    stack: def.bar ? "requests" : undefined,
                }));
            this.charts.push(new window.Chart(canvas, {
                type: def.bar ? "bar" : "line",
                data: { datasets },
                plugins: [markerPlugin],
                options: {
                    animation: false,
                    maintainAspectRatio: false,
                    parsing: false,
                    interaction: { mode: "nearest", axis: "x", intersect: false },
                    scales: {
                        x: {
                            type: "time", stacked: def.bar, min: start, max: end,
                            time: { minUnit: "minute", tooltipFormat: "yyyy-MM-dd HH:mm" },
                        },
                        y: { beginAtZero: true, stacked: def.bar },
                    },
                    plugins: { legend: { position: "bottom" }, opsMarkers: { markers } },
                },
            }));
        }
    }
}

registry.category("view_widgets").add("ops_env_metrics", { component: EnvMetrics });
